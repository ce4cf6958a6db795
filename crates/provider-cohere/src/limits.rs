//! Cohere's rate-limit headers, which only trial keys receive.
//!
//! | header | example | parsed into |
//! | --- | --- | --- |
//! | `x-endpoint-monthly-call-limit` | `1000` | `requests_month.limit` |
//! | `x-trial-endpoint-call-limit` | `20` | `requests_minute.limit` |
//! | `x-trial-endpoint-call-remaining` | `19` | `requests_minute.remaining` |
//!
//! The window of the two trial headers is not stated anywhere; 20 matches the documented
//! 20 chat requests per minute of a trial key, so they are read as the per-minute window.
//! No header reports the calls left in the month, none carries a reset time, and all three
//! are absent from 429 answers. `retry-after` is not documented either; it is read in case
//! Cohere starts sending it.

use reqwest::header::HeaderMap;

use llmpool_core::{RateLimitSnapshot, Window};
use llmpool_openai_compat::transport::{header_u64, retry_after};

/// The monthly call cap of the key.
const MONTHLY_LIMIT: &str = "x-endpoint-monthly-call-limit";
/// The trial call limit of this endpoint (per minute, as far as can be told).
const TRIAL_LIMIT: &str = "x-trial-endpoint-call-limit";
/// Calls left in that window.
const TRIAL_REMAINING: &str = "x-trial-endpoint-call-remaining";

/// Parses the trial-key headers of any answer; an empty snapshot when none was sent.
pub(crate) fn parse(headers: &HeaderMap) -> RateLimitSnapshot {
    RateLimitSnapshot {
        requests_month: Window {
            limit: header_u64(headers, MONTHLY_LIMIT),
            ..Window::default()
        },
        requests_minute: Window {
            limit: header_u64(headers, TRIAL_LIMIT),
            remaining: header_u64(headers, TRIAL_REMAINING),
            ..Window::default()
        },
        retry_after: retry_after(headers),
        ..RateLimitSnapshot::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn trial_headers_fill_month_and_minute_windows() {
        let mut h = HeaderMap::new();
        h.insert(MONTHLY_LIMIT, HeaderValue::from_static("1000"));
        h.insert(TRIAL_LIMIT, HeaderValue::from_static("20"));
        h.insert(TRIAL_REMAINING, HeaderValue::from_static("19"));
        let s = parse(&h);
        assert_eq!(s.requests_month.limit, Some(1000));
        assert_eq!(s.requests_month.remaining, None);
        assert_eq!(s.requests_minute.limit, Some(20));
        assert_eq!(s.requests_minute.remaining, Some(19));
        assert!(s.requests_day.is_empty() && s.tokens_minute.is_empty());
        assert_eq!(s.retry_after, None);
    }

    #[test]
    fn production_keys_and_429s_tell_nothing() {
        assert!(parse(&HeaderMap::new()).is_empty());
        let mut h = HeaderMap::new();
        h.insert(TRIAL_REMAINING, HeaderValue::from_static("many"));
        h.insert("retry-after", HeaderValue::from_static("30"));
        let s = parse(&h);
        assert!(s.requests_minute.is_empty());
        assert_eq!(s.retry_after, Some(Duration::from_secs(30)));
    }
}
