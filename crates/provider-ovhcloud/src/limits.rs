//! OVHcloud's rate-limit headers: IETF draft names without `x-`.
//!
//! | header | window |
//! | --- | --- |
//! | `ratelimit-limit`, `ratelimit-remaining` | requests per minute (per egress IP and model when anonymous) |
//! | `ratelimit-reset` | seconds until the window resets (draft-7; not yet captured) |
//!
//! Only `ratelimit-remaining` was seen in recorded traffic; the others are read when sent.

use chrono::{DateTime, Utc};
use llmpool_core::RateLimitSnapshot;
use llmpool_openai_compat::HeaderMap;
use llmpool_openai_compat::hooks::window;
use llmpool_openai_compat::transport::retry_after;

/// Parses OVHcloud's headers into a snapshot.
pub(crate) fn parse(headers: &HeaderMap, _now: DateTime<Utc>) -> RateLimitSnapshot {
    RateLimitSnapshot {
        requests_minute: window(
            headers,
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
        ),
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
    fn draft_headers_are_the_minute_window() {
        let s = parse(
            &header_map(&[
                ("ratelimit-limit", "2"),
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "37"),
            ]),
            Utc::now(),
        );
        assert_eq!(s.requests_minute.limit, Some(2));
        assert_eq!(s.requests_minute.remaining, Some(0));
        assert_eq!(s.requests_minute.reset_after, Some(Duration::from_secs(37)));
        let only_remaining = parse(&header_map(&[("ratelimit-remaining", "1")]), Utc::now());
        assert_eq!(only_remaining.requests_minute.remaining, Some(1));
        assert_eq!(only_remaining.requests_minute.limit, None);
    }
}
