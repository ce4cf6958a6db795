//! Cerebras' rate-limit headers.
//!
//! | header | window |
//! | --- | --- |
//! | `x-ratelimit-{limit,remaining,reset}-requests-day` | requests per day |
//! | `x-ratelimit-{limit,remaining,reset}-tokens-minute` | tokens per minute |
//! | `x-ratelimit-{limit,remaining,reset}-requests-minute`, `-tokens-day` | undocumented variants seen in community parsers; read when present |
//! | `retry-after` | seconds (not documented; seen on a daily-limit 429) |
//!
//! Resets are float seconds (`33011.382867097855`), counts may be written as floats.

use chrono::{DateTime, Utc};
use llmpool_core::RateLimitSnapshot;
use llmpool_openai_compat::HeaderMap;
use llmpool_openai_compat::hooks::window;
use llmpool_openai_compat::transport::retry_after;

/// Parses Cerebras' headers into a snapshot.
pub(crate) fn parse(headers: &HeaderMap, _now: DateTime<Utc>) -> RateLimitSnapshot {
    let suffixed = |what: &str| {
        window(
            headers,
            &format!("x-ratelimit-limit-{what}"),
            &format!("x-ratelimit-remaining-{what}"),
            &format!("x-ratelimit-reset-{what}"),
        )
    };
    RateLimitSnapshot {
        requests_minute: suffixed("requests-minute"),
        requests_day: suffixed("requests-day"),
        tokens_minute: suffixed("tokens-minute"),
        tokens_day: suffixed("tokens-day"),
        retry_after: retry_after(headers),
        ..RateLimitSnapshot::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmpool_openai_compat::testkit::header_map;

    use super::*;

    #[test]
    fn windows_come_from_the_suffixes() {
        let h = header_map(&[
            ("x-ratelimit-limit-requests-day", "14400"),
            ("x-ratelimit-limit-tokens-minute", "60000"),
            ("x-ratelimit-remaining-requests-day", "14370"),
            ("x-ratelimit-remaining-tokens-minute", "59894.0"),
            ("x-ratelimit-reset-requests-day", "33011.382867097855"),
            ("x-ratelimit-reset-tokens-minute", "11.382867097854614"),
        ]);
        let s = parse(&h, Utc::now());
        assert_eq!(s.requests_day.limit, Some(14_400));
        assert_eq!(s.requests_day.remaining, Some(14_370));
        let day = s.requests_day.reset_after.unwrap();
        assert_eq!(day.as_secs(), 33_011);
        assert_eq!(s.tokens_minute.remaining, Some(59_894));
        let minute = s.tokens_minute.reset_after.unwrap();
        assert!(minute > Duration::from_millis(11_382) && minute < Duration::from_millis(11_383));
        assert!(s.requests_minute.is_empty() && s.tokens_day.is_empty());
        assert_eq!(s.retry_after, None);
    }
}
