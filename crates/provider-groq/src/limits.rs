//! Groq's rate-limit headers.
//!
//! | header | window |
//! | --- | --- |
//! | `x-ratelimit-{limit,remaining,reset}-requests` | requests per **day** |
//! | `x-ratelimit-{limit,remaining,reset}-tokens` | tokens per **minute** |
//! | `retry-after` (429 only) | seconds |
//!
//! Resets are Go durations (`7.66s`, `2m59.56s`). No header reports requests per minute
//! or tokens per day; those come from the catalog and the 429 messages.

use chrono::{DateTime, Utc};
use llmpool_core::RateLimitSnapshot;
use llmpool_openai_compat::HeaderMap;
use llmpool_openai_compat::hooks::window;
use llmpool_openai_compat::transport::retry_after;

/// Parses Groq's headers into a snapshot.
pub(crate) fn parse(headers: &HeaderMap, _now: DateTime<Utc>) -> RateLimitSnapshot {
    RateLimitSnapshot {
        requests_day: window(
            headers,
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ),
        tokens_minute: window(
            headers,
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ),
        retry_after: retry_after(headers),
        ..RateLimitSnapshot::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmpool_core::Window;
    use llmpool_openai_compat::HeaderValue;

    use super::*;

    #[test]
    fn requests_are_per_day_and_tokens_per_minute() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-limit-tokens", "8000"),
            ("x-ratelimit-remaining-requests", "987"),
            ("x-ratelimit-remaining-tokens", "7355"),
            ("x-ratelimit-reset-requests", "18m41.28s"),
            ("x-ratelimit-reset-tokens", "4.837s"),
            ("retry-after", "12"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        let s = parse(&h, Utc::now());
        assert_eq!(
            s.requests_day,
            Window {
                limit: Some(1000),
                remaining: Some(987),
                reset_after: Some(Duration::from_millis(1_121_280)),
            }
        );
        assert_eq!(
            s.tokens_minute,
            Window {
                limit: Some(8000),
                remaining: Some(7355),
                reset_after: Some(Duration::from_millis(4837)),
            }
        );
        assert_eq!(s.retry_after, Some(Duration::from_secs(12)));
        assert!(s.requests_minute.is_empty() && s.tokens_day.is_empty());
    }
}
