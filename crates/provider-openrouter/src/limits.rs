//! OpenRouter's rate-limit headers.
//!
//! Successful responses carry none. OpenRouter's own 429s carry `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (a Unix time in **milliseconds**), and
//! `Retry-After` (seconds) comes on 429/503 when the upstreams gave a hint. The headers do
//! not name their window: a reset more than five minutes away (or, without a future reset,
//! a limit above the per-minute cap of 20) is the daily free-model window, otherwise the
//! per-minute one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use llmpool_core::{RateLimitSnapshot, Window};
use llmpool_openai_compat::HeaderMap;
use llmpool_openai_compat::transport::{header_u64, retry_after};

/// OpenRouter's per-minute cap on free models; larger limits are daily.
const PER_MINUTE_CAP: u64 = 20;

/// Parses OpenRouter's headers into a snapshot.
pub(crate) fn parse(headers: &HeaderMap, now: DateTime<Utc>) -> RateLimitSnapshot {
    let reset_at = header_u64(headers, "x-ratelimit-reset").and_then(epoch_millis);
    let window = Window {
        limit: header_u64(headers, "x-ratelimit-limit"),
        remaining: header_u64(headers, "x-ratelimit-remaining"),
        // A reset already past (a stale or replayed response) tells nothing about the wait.
        reset_after: reset_at.and_then(|at| (at - now).to_std().ok()),
    };
    let daily = match window.reset_after {
        Some(reset) => reset > Duration::from_secs(300),
        None => window.limit.is_some_and(|l| l > PER_MINUTE_CAP),
    };
    let mut snapshot = RateLimitSnapshot {
        retry_after: retry_after(headers),
        ..RateLimitSnapshot::default()
    };
    if daily {
        snapshot.requests_day = window;
    } else {
        snapshot.requests_minute = window;
    }
    snapshot
}

/// A Unix time in milliseconds.
pub(crate) fn epoch_millis(ms: u64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)
}

#[cfg(test)]
mod tests {
    use llmpool_openai_compat::testkit::header_map;

    use super::*;

    #[test]
    fn free_daily_reset_is_epoch_milliseconds() {
        let now = DateTime::parse_from_rfc3339("2026-09-07T18:00:00Z")
            .unwrap()
            .to_utc();
        let h = header_map(&[
            ("X-RateLimit-Limit", "50"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "1788825600000"),
        ]);
        let s = parse(&h, now);
        assert_eq!(s.requests_day.limit, Some(50));
        assert_eq!(s.requests_day.remaining, Some(0));
        assert_eq!(
            s.requests_day.reset_after,
            Some(Duration::from_secs(6 * 3600))
        );
        assert!(s.requests_minute.is_empty());
    }

    #[test]
    fn near_resets_are_the_minute_window_and_success_has_nothing() {
        let now = DateTime::parse_from_rfc3339("2026-09-07T23:59:30Z")
            .unwrap()
            .to_utc();
        let h = header_map(&[
            ("x-ratelimit-limit", "20"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1788825600000"),
            ("retry-after", "23"),
        ]);
        let s = parse(&h, now);
        assert_eq!(s.requests_minute.reset_after, Some(Duration::from_secs(30)));
        assert_eq!(s.retry_after, Some(Duration::from_secs(23)));
        assert!(parse(&HeaderMap::new(), now).is_empty());
    }

    #[test]
    fn a_past_reset_is_ignored_and_the_limit_tells_the_window() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .to_utc();
        let h = header_map(&[
            ("X-RateLimit-Limit", "50"),
            ("X-RateLimit-Reset", "1788825600000"),
        ]);
        let s = parse(&h, now);
        assert_eq!(s.requests_day.limit, Some(50));
        assert_eq!(s.requests_day.reset_after, None);
    }
}
