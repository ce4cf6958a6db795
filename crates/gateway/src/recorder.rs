//! The dashboard's memory: the last requests and per-minute counts of the last hour.
//!
//! Recording runs on the chat path, so it stays cheap: one short-held mutex around two
//! bounded deques, no formatting, no copies beyond the record the caller built (its trail
//! string is the one the response header was made from). Prompts are kept only when
//! `LLMPOOL_DASHBOARD_KEEP_PROMPTS` is set, and then cut to [`PROMPT_CHARS`].

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Requests kept; at the cap the oldest is dropped for each new one.
pub(crate) const RING_CAPACITY: usize = 200;
/// ChartMinutes of chart data kept (the last hour); older minutes are dropped.
pub(crate) const CHART_MINUTES: usize = 60;
/// Longest prompt excerpt kept when prompts are kept at all.
pub(crate) const PROMPT_CHARS: usize = 200;

/// One finished request, as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestRecord {
    /// When it finished, in Unix milliseconds.
    pub(crate) at_ms: u64,
    /// The `model` the client asked for (`auto` when absent).
    pub(crate) model: String,
    /// The provider that answered, if one did.
    pub(crate) provider: Option<&'static str>,
    /// `ok` or the error outcome (`all_providers_failed`, `no_available_providers`, …).
    pub(crate) outcome: &'static str,
    /// The HTTP status answered.
    pub(crate) status: u16,
    /// Whether the answer was streamed.
    pub(crate) stream: bool,
    /// The route trail (see [`crate::trail`]).
    pub(crate) trail: String,
    /// Number of attempts.
    pub(crate) attempts: usize,
    /// Whole-request latency in milliseconds.
    pub(crate) latency_ms: u64,
    /// Prompt tokens, when known.
    pub(crate) prompt_tokens: Option<u64>,
    /// Completion tokens, when known.
    pub(crate) completion_tokens: Option<u64>,
    /// The last user message, cut, only when prompts are kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prompt: Option<String>,
}

/// One minute of the chart.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct ChartMinute {
    /// Unix minute (seconds / 60).
    pub(crate) minute: u64,
    /// Answered requests per provider.
    pub(crate) providers: Vec<(&'static str, u32)>,
    /// Answered requests that needed more than one attempt.
    pub(crate) failovers: u32,
    /// Requests refused: nothing available (503) or content refused.
    pub(crate) refusals: u32,
    /// Requests every route failed (502, 504).
    pub(crate) failures: u32,
}

#[derive(Debug, Default)]
struct Inner {
    requests: VecDeque<RequestRecord>,
    minutes: VecDeque<ChartMinute>,
    total: u64,
}

/// The last requests and the last hour's counts; cheap to record into.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
    keep_prompts: bool,
}

/// A copy of what the dashboard shows, newest request first.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Snapshot {
    pub(crate) requests: Vec<RequestRecord>,
    pub(crate) minutes: Vec<ChartMinute>,
    pub(crate) total: u64,
    pub(crate) keep_prompts: bool,
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Recorder {
    /// A recorder that keeps prompts (cut) when `keep_prompts` is set.
    pub fn new(keep_prompts: bool) -> Self {
        Self {
            inner: Mutex::default(),
            keep_prompts,
        }
    }

    /// Whether prompts are kept.
    pub(crate) fn keeps_prompts(&self) -> bool {
        self.keep_prompts
    }

    /// Records one finished request.
    pub(crate) fn record(&self, record: RequestRecord) {
        let minute = record.at_ms / 60_000;
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.total = inner.total.saturating_add(1);
        let bucket = match inner.minutes.back_mut() {
            Some(m) if m.minute == minute => m,
            _ => {
                inner.minutes.push_back(ChartMinute {
                    minute,
                    providers: Vec::new(),
                    failovers: 0,
                    refusals: 0,
                    failures: 0,
                });
                let horizon = minute.saturating_sub(CHART_MINUTES as u64 - 1);
                while inner
                    .minutes
                    .front()
                    .is_some_and(|m| m.minute < horizon || inner.minutes.len() > CHART_MINUTES)
                {
                    inner.minutes.pop_front();
                }
                match inner.minutes.back_mut() {
                    Some(m) => m,
                    None => return,
                }
            }
        };
        match (record.provider, record.outcome) {
            (Some(provider), "ok") => {
                match bucket.providers.iter_mut().find(|(p, _)| *p == provider) {
                    Some((_, n)) => *n += 1,
                    None => bucket.providers.push((provider, 1)),
                }
                if record.attempts > 1 {
                    bucket.failovers += 1;
                }
            }
            (_, "no_available_providers" | "content_filtered") => bucket.refusals += 1,
            (_, "all_providers_failed" | "deadline_exceeded") => bucket.failures += 1,
            _ => {}
        }
        if inner.requests.len() == RING_CAPACITY {
            inner.requests.pop_front();
        }
        inner.requests.push_back(record);
    }

    /// A copy for the dashboard (taken off the chat path, on a data request).
    pub(crate) fn snapshot(&self) -> Snapshot {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        Snapshot {
            requests: inner.requests.iter().rev().cloned().collect(),
            minutes: inner.minutes.iter().cloned().collect(),
            total: inner.total,
            keep_prompts: self.keep_prompts,
        }
    }
}

/// The prompt excerpt to keep for `req`, if prompts are kept: its last user text, cut.
pub(crate) fn prompt_excerpt(recorder: &Recorder, req: &llmpool::ChatRequest) -> Option<String> {
    if !recorder.keeps_prompts() {
        return None;
    }
    let text = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == llmpool::Role::User)
        .map(|m| m.content.text())?;
    Some(text.chars().take(PROMPT_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at_ms: u64, provider: Option<&'static str>, outcome: &'static str) -> RequestRecord {
        RequestRecord {
            at_ms,
            model: "auto".to_owned(),
            provider,
            outcome,
            status: 200,
            stream: false,
            trail: String::new(),
            attempts: 1,
            latency_ms: 3,
            prompt_tokens: None,
            completion_tokens: None,
            prompt: None,
        }
    }

    #[test]
    fn ring_is_bounded_and_newest_first() {
        let r = Recorder::new(false);
        for i in 0..(RING_CAPACITY as u64 + 5) {
            r.record(rec(i, Some("groq"), "ok"));
        }
        let s = r.snapshot();
        assert_eq!(s.requests.len(), RING_CAPACITY);
        assert_eq!(s.requests[0].at_ms, RING_CAPACITY as u64 + 4);
        assert_eq!(s.requests[RING_CAPACITY - 1].at_ms, 5);
        assert_eq!(s.total, RING_CAPACITY as u64 + 5);
    }

    #[test]
    fn minutes_count_providers_failovers_and_refusals() {
        let r = Recorder::new(false);
        r.record(rec(60_000, Some("groq"), "ok"));
        let mut failover = rec(60_001, Some("gemini"), "ok");
        failover.attempts = 2;
        r.record(failover);
        r.record(rec(60_002, Some("groq"), "ok"));
        r.record(rec(60_003, None, "no_available_providers"));
        r.record(rec(120_000, None, "all_providers_failed"));
        let s = r.snapshot();
        assert_eq!(
            s.minutes,
            vec![
                ChartMinute {
                    minute: 1,
                    providers: vec![("groq", 2), ("gemini", 1)],
                    failovers: 1,
                    refusals: 1,
                    failures: 0,
                },
                ChartMinute {
                    minute: 2,
                    providers: vec![],
                    failovers: 0,
                    refusals: 0,
                    failures: 1,
                },
            ]
        );
    }

    #[test]
    fn only_the_last_hour_is_kept() {
        let r = Recorder::new(false);
        r.record(rec(0, Some("groq"), "ok"));
        r.record(rec(30 * 60_000, Some("groq"), "ok"));
        r.record(rec(60 * 60_000, Some("groq"), "ok"));
        let minutes: Vec<u64> = r.snapshot().minutes.iter().map(|m| m.minute).collect();
        assert_eq!(minutes, vec![30, 60]);
    }
}
