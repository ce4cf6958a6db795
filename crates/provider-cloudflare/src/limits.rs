//! Cloudflare's only accounting signal: `cf-ai-neurons`, the Neurons one call cost.
//!
//! | header | meaning |
//! | --- | --- |
//! | `cf-ai-neurons` | Neurons charged for this request, a decimal (`1.98`) [REC CF10] |
//!
//! No `x-ratelimit-*`, `retry-after` or Neurons-remaining header is documented or recorded
//! (cloudflare.md §6); the generic OpenAI headers are still read in case one appears. The
//! Neurons go to the snapshot's `cost_milli`, in thousandths (`1.98` → 1980, rounded to the
//! nearest). A value that is not a finite non-negative number is left out, never guessed.

use chrono::{DateTime, Utc};
use llmpool_core::RateLimitSnapshot;
use llmpool_openai_compat::HeaderMap;
use llmpool_openai_compat::hooks::default_rate_limits;
use llmpool_openai_compat::transport::header;

/// The header with a call's cost in Neurons.
pub(crate) const NEURONS: &str = "cf-ai-neurons";

/// Parses Cloudflare's headers into a snapshot.
pub(crate) fn parse(headers: &HeaderMap, now: DateTime<Utc>) -> RateLimitSnapshot {
    RateLimitSnapshot {
        cost_milli: header(headers, NEURONS).and_then(milli),
        ..default_rate_limits(headers, now)
    }
}

/// A decimal count in thousandths.
fn milli(text: &str) -> Option<u64> {
    let value: f64 = text.parse().ok()?;
    let milli = (value * 1000.0).round();
    // Far above any call's cost; keeps the conversion exact and in range.
    (milli.is_finite() && (0.0..=1e15).contains(&milli)).then(|| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked finite, whole, non-negative and below 2^53"
        )]
        let n = milli as u64;
        n
    })
}

#[cfg(test)]
mod tests {
    use llmpool_openai_compat::testkit::header_map;

    use super::*;

    #[test]
    fn neurons_present_absent_and_malformed() {
        let s = parse(&header_map(&[(NEURONS, "3.98")]), Utc::now());
        assert_eq!(s.cost_milli, Some(3980));
        assert_eq!(
            parse(&header_map(&[(NEURONS, " 12 ")]), Utc::now()).cost_milli,
            Some(12_000)
        );
        assert_eq!(
            parse(&header_map(&[(NEURONS, "0.0004")]), Utc::now()).cost_milli,
            Some(0)
        );
        let absent = parse(
            &header_map(&[("cf-ray", "9ba40a321e4d0596-IAD")]),
            Utc::now(),
        );
        assert_eq!(absent.cost_milli, None);
        assert!(absent.is_empty());
        for bad in ["-1", "NaN", "inf", "1e300", "", "lots", "1,98"] {
            let s = parse(&header_map(&[(NEURONS, bad)]), Utc::now());
            assert_eq!(s.cost_milli, None, "{bad:?}");
        }
    }

    #[test]
    fn generic_headers_are_still_read() {
        let s = parse(
            &header_map(&[(NEURONS, "1.98"), ("retry-after", "3")]),
            Utc::now(),
        );
        assert_eq!(s.retry_after, Some(std::time::Duration::from_secs(3)));
        assert_eq!(s.cost_milli, Some(1980));
    }
}
