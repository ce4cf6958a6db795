//! What Gemini tells about its limits: no headers, only 429 bodies.
//!
//! Gemini sends no `x-ratelimit-*` headers and no `Retry-After` has been observed; we
//! still read `retry-after` should a proxy add one. A 429's `QuotaFailure` names the
//! window (`…PerMinute…`, `…PerDay…`) and often its limit (`quotaValue`), which we turn
//! into a [`RateLimitSnapshot`] so the ledger learns the real limit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use reqwest::header::HeaderMap;

use llmpool_core::{RateLimitSnapshot, Window};
use llmpool_openai_compat::transport;

use crate::wire::Violation;

/// The zone whose midnight resets Gemini's daily quotas (the catalog says the same).
pub(crate) const DAY_RESET_TZ: Tz = chrono_tz::America::Los_Angeles;

/// The snapshot of a response's headers: only `retry-after`, when present.
pub(crate) fn parse(headers: &HeaderMap) -> RateLimitSnapshot {
    RateLimitSnapshot {
        retry_after: transport::retry_after(headers),
        ..RateLimitSnapshot::default()
    }
}

/// The first midnight in US Pacific time strictly after `now`.
pub(crate) fn next_day_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    llmpool_core::next_midnight(now, DAY_RESET_TZ)
}

/// Adds what a 429's violations say to `snapshot`: each window with a known limit is
/// full (requests) or over (tokens) until it resets.
pub(crate) fn learn_from_violations(
    snapshot: &mut RateLimitSnapshot,
    violations: &[&Violation],
    retry_delay: Option<Duration>,
    day_reset_after: Duration,
) {
    for v in violations {
        let Some(limit) = v.limit() else { continue };
        let id = v.quota_id();
        let (window, reset_after) = match (id.contains("PerDay"), id.contains("PerMinute")) {
            (true, _) if v.counts_tokens() => (&mut snapshot.tokens_day, Some(day_reset_after)),
            (true, _) => (&mut snapshot.requests_day, Some(day_reset_after)),
            (false, true) if v.counts_tokens() => (&mut snapshot.tokens_minute, retry_delay),
            (false, true) => (&mut snapshot.requests_minute, retry_delay),
            (false, false) => continue,
        };
        *window = Window {
            limit: Some(limit),
            // A request over a token limit may be refused with tokens left, so only
            // request windows are known to be empty.
            remaining: (!v.counts_tokens()).then_some(0),
            reset_after,
        };
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn next_midnight_pacific_across_dst() {
        // PDT (UTC-7).
        assert_eq!(
            next_day_reset(utc("2026-10-05T18:00:00Z")),
            utc("2026-10-06T07:00:00Z")
        );
        // Exactly midnight: the next one, a day later.
        assert_eq!(
            next_day_reset(utc("2026-10-06T07:00:00Z")),
            utc("2026-10-07T07:00:00Z")
        );
        // The night DST ends (1 Nov 2026): midnight is still PDT.
        assert_eq!(
            next_day_reset(utc("2026-10-31T20:00:00Z")),
            utc("2026-11-01T07:00:00Z")
        );
        // After the switch, PST (UTC-8).
        assert_eq!(
            next_day_reset(utc("2026-11-01T12:00:00Z")),
            utc("2026-11-02T08:00:00Z")
        );
        // Late evening in Los Angeles is already the next day in UTC.
        assert_eq!(
            next_day_reset(utc("2026-12-01T07:30:00Z")),
            utc("2026-12-01T08:00:00Z")
        );
    }

    #[test]
    fn only_retry_after_is_read() {
        let mut h = HeaderMap::new();
        assert!(parse(&h).is_empty());
        h.insert("retry-after", HeaderValue::from_static("7"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        let s = parse(&h);
        assert_eq!(s.retry_after, Some(Duration::from_secs(7)));
        assert!(s.requests_minute.is_empty());
    }

    #[test]
    fn violations_fill_windows() {
        let v = |id: &str, value: &str| -> Violation {
            serde_json::from_value(serde_json::json!({"quotaId": id, "quotaValue": value})).unwrap()
        };
        let rpd = v("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "20");
        let rpm = v("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "5");
        let tpm = v(
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            "250000",
        );
        let mut s = RateLimitSnapshot::default();
        learn_from_violations(
            &mut s,
            &[&rpd, &rpm, &tpm],
            Some(Duration::from_secs(34)),
            Duration::from_secs(3600),
        );
        assert_eq!(
            s.requests_day,
            Window {
                limit: Some(20),
                remaining: Some(0),
                reset_after: Some(Duration::from_secs(3600))
            }
        );
        assert_eq!(s.requests_minute.limit, Some(5));
        assert_eq!(s.requests_minute.reset_after, Some(Duration::from_secs(34)));
        assert_eq!(s.tokens_minute.limit, Some(250_000));
        assert_eq!(s.tokens_minute.remaining, None);
        assert_eq!(s.tokens_day, Window::default());
    }
}
