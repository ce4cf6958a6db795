//! Mistral's rate-limit headers: plain integers, no reset times.
//!
//! | header | window |
//! | --- | --- |
//! | `x-ratelimit-{limit,remaining}-req-minute` | requests per minute |
//! | `x-ratelimit-{limit,remaining}-tokens-minute` | tokens per minute |
//! | `x-ratelimit-{limit,remaining}-tokens-month` | tokens per month (also read by `errors`) |
//! | `x-ratelimit-{limit,remaining}-req-10-second` | burst window (read by `errors`) |
//! | `retry-after` (some 429s) | seconds |
//!
//! The month headers fill the snapshot's `tokens_month` (no reset: the ledger takes "0
//! left" as exhausted until the next UTC month, the same end `errors` gives a 429). A
//! value that is not a plain non-negative integer is left out, never guessed.

use chrono::{DateTime, Utc};
use llmpool_core::RateLimitSnapshot;
use llmpool_openai_compat::HeaderMap;
use llmpool_openai_compat::hooks::window;
use llmpool_openai_compat::transport::{header_u64, retry_after};

/// The monthly token header whose 0 is the monthly wall.
pub(crate) const REMAINING_TOKENS_MONTH: &str = "x-ratelimit-remaining-tokens-month";

/// Parses Mistral's headers into a snapshot.
pub(crate) fn parse(headers: &HeaderMap, _now: DateTime<Utc>) -> RateLimitSnapshot {
    RateLimitSnapshot {
        requests_minute: window(
            headers,
            "x-ratelimit-limit-req-minute",
            "x-ratelimit-remaining-req-minute",
            "x-ratelimit-reset-req-minute",
        ),
        tokens_minute: window(
            headers,
            "x-ratelimit-limit-tokens-minute",
            "x-ratelimit-remaining-tokens-minute",
            "x-ratelimit-reset-tokens-minute",
        ),
        tokens_month: window(
            headers,
            "x-ratelimit-limit-tokens-month",
            REMAINING_TOKENS_MONTH,
            "x-ratelimit-reset-tokens-month",
        ),
        retry_after: retry_after(headers),
        ..RateLimitSnapshot::default()
    }
}

/// Whether any `x-ratelimit-limit-*` header says 0: the model is not on this account's
/// free tier.
pub(crate) fn has_zero_limit(headers: &HeaderMap) -> bool {
    headers.keys().any(|name| {
        name.as_str().starts_with("x-ratelimit-limit-")
            && header_u64(headers, name.as_str()) == Some(0)
    })
}

/// Whether a short window still has room (the 429 was a per-second burst).
pub(crate) fn short_window_has_room(headers: &HeaderMap) -> bool {
    [
        "x-ratelimit-remaining-req-minute",
        "x-ratelimit-remaining-req-10-second",
    ]
    .iter()
    .any(|name| header_u64(headers, name).is_some_and(|n| n > 0))
}

#[cfg(test)]
mod tests {
    use llmpool_openai_compat::testkit::header_map;

    use super::*;

    #[test]
    fn minute_windows_and_zero_limits() {
        let h = header_map(&[
            ("x-ratelimit-limit-req-minute", "60"),
            ("x-ratelimit-remaining-req-minute", "59"),
            ("x-ratelimit-limit-tokens-minute", "500000"),
            ("x-ratelimit-remaining-tokens-minute", "499978"),
            ("x-ratelimit-limit-tokens-month", "1000000000"),
        ]);
        let s = parse(&h, Utc::now());
        assert_eq!(s.requests_minute.limit, Some(60));
        assert_eq!(s.requests_minute.remaining, Some(59));
        assert_eq!(s.tokens_minute.remaining, Some(499_978));
        assert!(s.requests_day.is_empty() && s.tokens_day.is_empty());
        assert!(!has_zero_limit(&h));
        assert!(short_window_has_room(&h));
        let zero = header_map(&[("x-ratelimit-limit-tokens-minute", "0")]);
        assert!(has_zero_limit(&zero));
        assert!(!short_window_has_room(&zero));
    }

    #[test]
    fn month_tokens_present_absent_and_malformed() {
        let h = header_map(&[
            ("x-ratelimit-limit-tokens-month", "4000000"),
            ("x-ratelimit-remaining-tokens-month", "0"),
        ]);
        let s = parse(&h, Utc::now());
        assert_eq!(s.tokens_month.limit, Some(4_000_000));
        assert_eq!(s.tokens_month.remaining, Some(0));
        assert_eq!(s.tokens_month.reset_after, None);
        let absent = parse(
            &header_map(&[("x-ratelimit-limit-req-minute", "60")]),
            Utc::now(),
        );
        assert!(absent.tokens_month.is_empty());
        for bad in ["-5", "lots", "NaN", ""] {
            let s = parse(
                &header_map(&[
                    ("x-ratelimit-limit-tokens-month", "1000000000"),
                    ("x-ratelimit-remaining-tokens-month", bad),
                ]),
                Utc::now(),
            );
            assert_eq!(s.tokens_month.remaining, None, "{bad:?}");
            assert_eq!(s.tokens_month.limit, Some(1_000_000_000), "{bad:?}");
        }
    }
}
