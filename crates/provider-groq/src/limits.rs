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
use llmpool_openai_compat::hooks::default_rate_limits;

/// Parses Groq's headers into a snapshot: OpenAI's headers, with the requests window
/// moved from the minute to the day.
pub(crate) fn parse(headers: &HeaderMap, now: DateTime<Utc>) -> RateLimitSnapshot {
    let mut snapshot = default_rate_limits(headers, now);
    snapshot.requests_day = std::mem::take(&mut snapshot.requests_minute);
    snapshot
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmpool_core::Window;
    use llmpool_openai_compat::testkit::header_map;

    use super::*;

    #[test]
    fn requests_are_per_day_and_tokens_per_minute() {
        let h = header_map(&[
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-limit-tokens", "8000"),
            ("x-ratelimit-remaining-requests", "987"),
            ("x-ratelimit-remaining-tokens", "7355"),
            ("x-ratelimit-reset-requests", "18m41.28s"),
            ("x-ratelimit-reset-tokens", "4.837s"),
            ("retry-after", "12"),
        ]);
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
