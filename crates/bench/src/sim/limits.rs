//! Limit windows as the providers enforce them: rolling windows (a log of what was
//! counted, forgotten when it ages out) and fixed windows (a counter per calendar day
//! in some zone, or per UTC month).

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Requests.
    Requests,
    /// Prompt plus completion tokens.
    Tokens,
    /// Prompt tokens only (Gemini's TPM quota counts input tokens).
    InputTokens,
    /// Cloudflare's Neurons: prompt and completion tokens at the model's own rates.
    Neurons,
}

/// How a limit's window moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The last `Duration`, sliding (Groq's and Cerebras' replenishing limits, every
    /// per-minute limit).
    Rolling(Duration),
    /// The calendar day of a zone (Gemini: America/Los_Angeles; OpenRouter: UTC).
    Day(Tz),
    /// The calendar month in UTC (Cohere's trial cap).
    Month,
}

/// Which of the provider's named windows a limit is (decides the 429 it answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Kind {
    /// Requests per month.
    Rpmonth,
    /// Tokens per month (Mistral's organisation allowance).
    Tpmonth,
    /// Requests per day.
    Rpd,
    /// Tokens per day.
    Tpd,
    /// Neurons per day (Cloudflare's account allocation).
    Npd,
    /// Tokens per hour.
    Tph,
    /// Requests per hour (Kilo's anonymous free-model limit).
    Rph,
    /// Requests per minute.
    Rpm,
    /// Tokens per minute.
    Tpm,
    /// Requests per second (Mistral's per-key burst limit).
    Rps,
    /// Requests in flight at once (Z.ai's and Ollama's one at a time).
    Concurrency,
}

impl Kind {
    /// Day and month windows: running out means "come back tomorrow".
    pub fn is_quota(self) -> bool {
        matches!(
            self,
            Self::Rpmonth | Self::Tpmonth | Self::Rpd | Self::Tpd | Self::Npd
        )
    }
}

/// One limit: what, over which window, how much.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// The named window.
    pub kind: Kind,
    /// What it counts.
    pub unit: Unit,
    /// How the window moves.
    pub span: Span,
    /// The most it lets through per window.
    pub max: u64,
}

impl Limit {
    /// A limit.
    pub const fn new(kind: Kind, unit: Unit, span: Span, max: u64) -> Self {
        Self {
            kind,
            unit,
            span,
            max,
        }
    }
}

/// A limit and what it has counted.
#[derive(Debug, Clone)]
pub struct Counter {
    /// The limit.
    pub limit: Limit,
    log: VecDeque<(DateTime<Utc>, u64)>,
    sum: u64,
    window: Option<(i32, u32, u32)>,
}

/// The first instant of `date` in `tz`.
fn start_of(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    tz.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map_or_else(
            || date.and_time(chrono::NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

/// The id of the fixed window holding `now` and the instant it ends.
fn fixed_window(span: Span, now: DateTime<Utc>) -> ((i32, u32, u32), DateTime<Utc>) {
    match span {
        Span::Day(tz) => {
            let day = now.with_timezone(&tz).date_naive();
            let next = day.succ_opt().unwrap_or(day);
            ((day.year(), day.month(), day.day()), start_of(tz, next))
        }
        Span::Month | Span::Rolling(_) => {
            let (y, m) = if now.month() == 12 {
                (now.year() + 1, 1)
            } else {
                (now.year(), now.month() + 1)
            };
            let next = Utc
                .with_ymd_and_hms(y, m, 1, 0, 0, 0)
                .single()
                .unwrap_or(now);
            ((now.year(), now.month(), 0), next)
        }
    }
}

impl Counter {
    /// An empty counter.
    pub fn new(limit: Limit) -> Self {
        Self {
            limit,
            log: VecDeque::new(),
            sum: 0,
            window: None,
        }
    }

    fn roll(&mut self, now: DateTime<Utc>) {
        match self.limit.span {
            Span::Rolling(d) => {
                let horizon = now - chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
                while self.log.front().is_some_and(|(t, _)| *t <= horizon) {
                    if let Some((_, n)) = self.log.pop_front() {
                        self.sum -= n;
                    }
                }
            }
            Span::Day(_) | Span::Month => {
                let (id, _) = fixed_window(self.limit.span, now);
                if self.window != Some(id) {
                    self.window = Some(id);
                    self.sum = 0;
                }
            }
        }
    }

    /// What is counted in the window holding `now`.
    pub fn used(&mut self, now: DateTime<Utc>) -> u64 {
        self.roll(now);
        self.sum
    }

    /// What is left now.
    pub fn remaining(&mut self, now: DateTime<Utc>) -> u64 {
        self.limit.max.saturating_sub(self.used(now))
    }

    /// `None` when `cost` fits now, else how long until it would.
    pub fn wait_for(&mut self, now: DateTime<Utc>, cost: u64) -> Option<Duration> {
        self.roll(now);
        if self.sum + cost <= self.limit.max {
            return None;
        }
        Some(match self.limit.span {
            Span::Rolling(d) => {
                // The moment enough of the oldest entries have aged out.
                let mut freed = 0;
                let need = (self.sum + cost).saturating_sub(self.limit.max);
                let mut at = now;
                for (t, n) in &self.log {
                    freed += n;
                    at = *t + chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
                    if freed >= need {
                        break;
                    }
                }
                (at - now).to_std().unwrap_or_default()
            }
            Span::Day(_) | Span::Month => self.reset_after(now),
        })
    }

    /// Time until the window frees everything it holds (rolling) or ends (fixed).
    pub fn reset_after(&mut self, now: DateTime<Utc>) -> Duration {
        self.roll(now);
        match self.limit.span {
            Span::Rolling(d) => self.log.back().map_or(Duration::ZERO, |(t, _)| {
                (*t + chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX) - now)
                    .to_std()
                    .unwrap_or_default()
            }),
            Span::Day(_) | Span::Month => {
                let (_, end) = fixed_window(self.limit.span, now);
                (end - now).to_std().unwrap_or_default()
            }
        }
    }

    /// Counts `amount` now.
    pub fn add(&mut self, now: DateTime<Utc>, amount: u64) {
        self.roll(now);
        self.sum += amount;
        if matches!(self.limit.span, Span::Rolling(_)) {
            self.log.push_back((now, amount));
        }
    }

    /// How many windows of this limit a span of `len` from `start` touches, for capacity
    /// figures (rolling windows: how many fit end to end).
    pub fn windows_in(&self, start: DateTime<Utc>, len: Duration) -> u64 {
        let end = start + chrono::Duration::from_std(len).unwrap_or(chrono::TimeDelta::MAX);
        match self.limit.span {
            Span::Rolling(d) => {
                let d = d.as_secs().max(1);
                len.as_secs().div_ceil(d)
            }
            Span::Day(_) | Span::Month => {
                let mut n = 1;
                let mut t = start;
                for _ in 0..400 {
                    let (_, next) = fixed_window(self.limit.span, t);
                    if next >= end {
                        break;
                    }
                    n += 1;
                    t = next;
                }
                n
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn rolling_window_frees_the_oldest_first() {
        let mut c = Counter::new(Limit::new(
            Kind::Rpm,
            Unit::Requests,
            Span::Rolling(Duration::from_secs(60)),
            2,
        ));
        let t0 = at("2026-11-03T10:00:00Z");
        c.add(t0, 1);
        c.add(t0 + chrono::Duration::seconds(20), 1);
        assert_eq!(
            c.wait_for(t0 + chrono::Duration::seconds(30), 1),
            Some(Duration::from_secs(30))
        );
        assert_eq!(c.wait_for(t0 + chrono::Duration::seconds(60), 1), None);
        assert_eq!(c.used(t0 + chrono::Duration::seconds(80)), 0);
    }

    #[test]
    fn pacific_day_resets_at_local_midnight() {
        let la = chrono_tz::America::Los_Angeles;
        let mut c = Counter::new(Limit::new(Kind::Rpd, Unit::Requests, Span::Day(la), 1));
        let before = at("2026-11-03T07:59:00Z");
        c.add(before, 1);
        assert_eq!(c.wait_for(before, 1), Some(Duration::from_secs(60)));
        assert_eq!(c.wait_for(at("2026-11-03T08:00:00Z"), 1), None);
        // A day from 00:00 UTC touches two Pacific days.
        assert_eq!(
            c.windows_in(at("2026-11-03T00:00:00Z"), Duration::from_secs(86_400)),
            2
        );
        let utc = Counter::new(Limit::new(Kind::Rpd, Unit::Requests, Span::Day(Tz::UTC), 1));
        assert_eq!(
            utc.windows_in(at("2026-11-03T00:00:00Z"), Duration::from_secs(86_400)),
            1
        );
    }

    #[test]
    fn month_window_ends_with_the_month() {
        let mut c = Counter::new(Limit::new(Kind::Rpmonth, Unit::Requests, Span::Month, 1));
        let t = at("2026-11-30T23:00:00Z");
        c.add(t, 1);
        assert_eq!(c.wait_for(t, 1), Some(Duration::from_secs(3600)));
        assert_eq!(c.remaining(at("2026-12-01T00:00:00Z")), 1);
    }
}
