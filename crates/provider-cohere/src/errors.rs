//! Cohere's failures mapped to core error kinds.
//!
//! Every non-2xx answer carries a flat `{"id": "...", "message": "..."}` body with no code
//! field, so the kind comes from the status **and** the message:
//!
//! | status | message | kind |
//! | --- | --- | --- |
//! | 401, 403 | `invalid api token`, `no api key supplied`, `Your API key has expired…` | `Unauthorized` |
//! | 402 | billing limit reached, no payment method | `PaymentRequired` |
//! | 404 | `model '…' not found…` | `ModelNotFound` |
//! | 400 | `…not supported with '/v1/chat', please use '/v2/chat'…` | `ModelNotFound` (this model is not served on this API version) |
//! | 400 | `too many tokens: size limit exceeded…` | `ContextTooLong` |
//! | 400 | `too many tokens: max tokens must be…` | `BadRequest` (a parameter, not the prompt) |
//! | 404 | anything else (`404 page not found`: a bad path) | `BadRequest` |
//! | 400, 422, 501, other 4xx | anything else | `BadRequest` (the shared table) |
//! | 429 | `/ month`, `/month`, `per month`, `a month`, `monthly` | `QuotaExhausted` until the first instant of next month, UTC |
//! | 429 | anything else (`per minute`, `/ minute`, `tokens per minute`, `Please wait and try again later`) | `RateLimited`, 60 s |
//! | 498 | deny-listed token in request or response | `ContentFiltered` |
//! | 408, 425, 499, 5xx but 501 | | `Transient` (the shared table) |
//! | 401, 403, 402, 3xx | | the shared table ([`fallback_kind`]): `Unauthorized`, `PaymentRequired`, `InvalidResponse` |
//!
//! The monthly trial cap's full wording is not confirmed (only its first sentence, "You are
//! using a Trial key, which is limited to 1000 API calls / month", was seen live), so it is
//! recognised by several month markers rather than one exact phrase; any other 429 is
//! treated as the short per-minute window, the cheaper mistake. When the monthly counter
//! resets is not documented either: llmpool assumes the next calendar month in UTC, as
//! community clients do and as Cohere's billing cap ("reset at the beginning of next
//! month") suggests. "Now" is the upstream's `Date` header when it sent one (its clock
//! decides which month it is), else the provider's clock (the config's, as everywhere).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use llmpool_core::{ErrorKind, ProviderError, RateLimitSnapshot, next_utc_month};
use llmpool_openai_compat::transport::{Reply, body_excerpt, fallback_kind};

use crate::ID;
use crate::wire::ErrorBody;

/// How long a per-minute 429 is waited out: Cohere sends no wait time.
pub(crate) const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Words that mark the monthly trial cap in a 429 message (lowercase).
const MONTHLY_MARKERS: [&str; 5] = ["/ month", "/month", "per month", "a month", "monthly"];

/// The error for a non-2xx answer read by the transport.
pub(crate) fn from_reply(reply: &Reply) -> ProviderError {
    let head = &reply.head;
    from_parts(
        head.status,
        &head.headers,
        &reply.body,
        head.rate_limits,
        head.now,
    )
}

/// The error for a non-2xx answer: `rate_limits` read from `headers`, `clock_now` the
/// provider's clock when the head arrived (the upstream's `Date` header wins over it).
fn from_parts(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    rate_limits: RateLimitSnapshot,
    clock_now: DateTime<Utc>,
) -> ProviderError {
    let message = error_message(body);
    let now = response_date(headers).unwrap_or(clock_now);
    let kind = match classify(status, &message, now) {
        ErrorKind::RateLimited { retry_after } => ErrorKind::RateLimited {
            retry_after: rate_limits.retry_after.or(retry_after),
        },
        kind => kind,
    };
    ProviderError::new(ID, kind)
        .with_status(status)
        .with_message(message)
        .with_rate_limits(rate_limits)
}

/// The kind of a failed answer with this status and message.
pub(crate) fn classify(status: u16, message: &str, now: DateTime<Utc>) -> ErrorKind {
    let lower = message.to_lowercase();
    match status {
        404 if lower.contains("model") && lower.contains("not found") => ErrorKind::ModelNotFound,
        // Cohere's other 404s are a bad path (`404 page not found`), not a model.
        404 => ErrorKind::BadRequest,
        400 if is_wrong_api_version(&lower) => ErrorKind::ModelNotFound,
        400 if lower.starts_with("too many tokens:") && !lower.contains("max tokens") => {
            ErrorKind::ContextTooLong
        }
        429 if MONTHLY_MARKERS.iter().any(|m| lower.contains(m)) => ErrorKind::QuotaExhausted {
            until: Some(next_utc_month(now)),
        },
        429 => ErrorKind::RateLimited {
            retry_after: Some(RATE_LIMIT_WAIT),
        },
        498 => ErrorKind::ContentFiltered,
        _ => fallback_kind(status, None),
    }
}

/// A 200 answer whose `finish_reason` is `ERROR` or `TIMEOUT`: the generation failed
/// upstream and may work on a retry.
pub(crate) fn failed_generation(finish_reason: &str, detail: Option<&str>) -> ProviderError {
    let mut message = format!("generation ended with finish_reason {finish_reason}");
    if let Some(detail) = detail.map(str::trim).filter(|d| !d.is_empty()) {
        message.push_str(": ");
        message.push_str(detail);
    }
    ProviderError::new(ID, ErrorKind::Transient { status: None })
        .with_status(200)
        .with_message(message)
}

/// A stream that ended (or said `[DONE]`) before its `message-end` event: the answer is
/// incomplete, like a connection reset.
pub(crate) fn cut_stream(what: &str) -> ProviderError {
    ProviderError::new(ID, ErrorKind::Transient { status: None })
        .with_message(format!("stream cut: {what} before message-end"))
}

/// An answer we cannot use (unparseable body, no text).
pub(crate) fn invalid_response(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ID, ErrorKind::InvalidResponse).with_message(message)
}

/// The `message` of a flat error body, or an excerpt of whatever the body was.
fn error_message(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .filter(|m| !m.trim().is_empty());
    match parsed {
        Some(message) => message,
        None if body.iter().all(u8::is_ascii_whitespace) => "empty error body".to_owned(),
        None => body_excerpt(body),
    }
}

/// `this model is not supported with '/v1/chat', please use '/v2/chat' instead`: the model
/// exists but not on the API version this base URL points at.
fn is_wrong_api_version(lower: &str) -> bool {
    lower.contains("not supported with '/v1/chat'")
        || (lower.contains("not supported with") && lower.contains("/v2/chat"))
}

/// The upstream's `Date` header, when it sent a valid one.
fn response_date(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let text = llmpool_openai_compat::transport::header(headers, "date")?;
    DateTime::parse_from_rfc2822(text).ok().map(|d| d.to_utc())
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::limits;

    fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        from_parts(
            status,
            headers,
            body,
            limits::parse(headers),
            at("2026-07-14T10:00:00Z"),
        )
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn kind(status: u16, message: &str) -> ErrorKind {
        classify(status, message, at("2026-07-14T10:00:00Z"))
    }

    #[test]
    fn monthly_cap_is_recognised_in_several_wordings() {
        for message in [
            "You are using a Trial key, which is limited to 1000 API calls / month.",
            "Trial key limit: 1000 calls/month",
            "You have exceeded your monthly API call limit",
            "limit of 1,000 API calls per month reached",
            "Trial keys are limited to 1,000 API calls a month",
        ] {
            assert!(
                matches!(kind(429, message), ErrorKind::QuotaExhausted { until } if until == Some(at("2026-08-01T00:00:00Z"))),
                "{message}"
            );
        }
    }

    #[test]
    fn other_429s_wait_a_minute() {
        for message in [
            "You are past the per minute request limit, please wait and try again later.",
            "You are using a Trial key, which is limited to 40 API calls / minute.",
            "trial token rate limit exceeded, limit is 100000 tokens per minute",
            "Please wait and try again later",
            "something new",
        ] {
            assert!(
                matches!(kind(429, message), ErrorKind::RateLimited { retry_after } if retry_after == Some(RATE_LIMIT_WAIT)),
                "{message}"
            );
        }
    }

    #[test]
    fn status_alone_does_not_decide() {
        assert!(matches!(
            kind(400, "too many tokens: size limit exceeded by 11326 tokens."),
            ErrorKind::ContextTooLong
        ));
        assert!(matches!(
            kind(
                400,
                "too many tokens: max tokens must be less than or equal to 4096, the maximum output for this model"
            ),
            ErrorKind::BadRequest
        ));
        assert!(matches!(
            kind(
                400,
                "invalid request: this model is not supported with '/v1/chat', please use '/v2/chat' instead."
            ),
            ErrorKind::ModelNotFound
        ));
        assert!(matches!(
            kind(
                400,
                "invalid request: temperature must be between 0 and 1.0 inclusive."
            ),
            ErrorKind::BadRequest
        ));
        assert!(matches!(
            kind(
                404,
                "model 'x' not found, make sure the correct model ID was used"
            ),
            ErrorKind::ModelNotFound
        ));
        assert!(matches!(
            kind(404, "404 page not found"),
            ErrorKind::BadRequest
        ));
        assert!(matches!(kind(422, "unprocessable"), ErrorKind::BadRequest));
        assert!(matches!(
            kind(501, "not implemented"),
            ErrorKind::BadRequest
        ));
        assert!(matches!(kind(498, "blocked"), ErrorKind::ContentFiltered));
        assert!(matches!(kind(403, "forbidden"), ErrorKind::Unauthorized));
        for status in [408, 499, 500, 502, 503, 504] {
            assert!(
                matches!(kind(status, "x"), ErrorKind::Transient { status: Some(s) } if s == status),
                "{status}"
            );
        }
        assert!(matches!(kind(302, "moved"), ErrorKind::InvalidResponse));
        assert!(matches!(
            kind(425, "too early"),
            ErrorKind::Transient { status: Some(425) }
        ));
        assert!(matches!(kind(402, "billing"), ErrorKind::PaymentRequired));
        assert!(matches!(
            kind(401, "invalid api token"),
            ErrorKind::Unauthorized
        ));
    }

    #[test]
    fn bodies_are_read_tolerantly() {
        assert_eq!(
            error_message(br#"{"id":"1","message":"invalid api token"}"#),
            "invalid api token"
        );
        assert_eq!(error_message(b"  "), "empty error body");
        assert_eq!(
            error_message(b"upstream connect error"),
            "upstream connect error"
        );
        assert_eq!(
            error_message(b"<html><body>502</body></html>"),
            "non-JSON (HTML) error page"
        );
    }

    #[test]
    fn retry_after_header_wins_and_date_header_sets_now() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = from_response(429, &h, br#"{"message":"Please wait and try again later"}"#);
        assert!(
            matches!(e.kind, ErrorKind::RateLimited { retry_after } if retry_after == Some(Duration::from_secs(7)))
        );
        let mut h = HeaderMap::new();
        h.insert(
            "date",
            HeaderValue::from_static("Thu, 31 Dec 2026 23:30:00 GMT"),
        );
        let e = from_response(
            429,
            &h,
            br#"{"message":"limited to 1000 API calls / month"}"#,
        );
        assert!(
            matches!(e.kind, ErrorKind::QuotaExhausted { until } if until == Some(at("2027-01-01T00:00:00Z")))
        );
        assert_eq!(e.status, Some(429));
        // Without a `Date` header the provider's own clock dates the month (here fixed
        // at 2026-07-14 by `from_response`), not the system clock.
        let e = from_response(
            429,
            &HeaderMap::new(),
            br#"{"message":"limited to 1000 API calls / month"}"#,
        );
        assert!(
            matches!(e.kind, ErrorKind::QuotaExhausted { until } if until == Some(at("2026-08-01T00:00:00Z")))
        );
    }
}
