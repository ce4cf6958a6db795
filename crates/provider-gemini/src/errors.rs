//! Gemini error bodies to error kinds, by their content and never by HTTP status alone.
//!
//! The body is a `google.rpc.Status` under `error` (or a JSON array of those). Its
//! canonical `status` name and typed `details` decide: a bad key is a 400
//! `INVALID_ARGUMENT` with `ErrorInfo.reason = API_KEY_INVALID`; a 429
//! `RESOURCE_EXHAUSTED` is a short wait (`…PerMinute…`), a daily wall (`…PerDay…`, until
//! midnight Pacific) or a model without free tier (`limit: 0`). The HTTP status only
//! decides when the body is not Gemini's (a proxy's HTML page, an empty body).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;

use llmpool_core::{ErrorKind, ProviderError, RateLimitSnapshot, parse_duration};
use llmpool_openai_compat::transport::{self, Reply, fallback_kind};

use crate::ID;
use crate::limits;
use crate::wire::{self, Status, Violation};

/// Classifies a failed answer (or a 200 whose body is an error) read by the transport.
pub(crate) fn from_reply(reply: &Reply) -> ProviderError {
    let head = &reply.head;
    classify_with(head.status, &reply.body, head.rate_limits, head.now)
}

/// Classifies a failed response (or a 200 whose body is an error, or a raw error object
/// inside a stream): `http_status` is what the transport saw, `now` the wall clock.
pub(crate) fn classify(
    http_status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> ProviderError {
    classify_with(http_status, body, limits::parse(headers), now)
}

/// [`classify`] with the rate-limit headers already read.
fn classify_with(
    http_status: u16,
    body: &[u8],
    mut rate_limits: RateLimitSnapshot,
    now: DateTime<Utc>,
) -> ProviderError {
    let header_wait = rate_limits.retry_after;
    let Some(status) = wire::error_status(body) else {
        return ProviderError::new(ID, kind_from_http(http_status, header_wait, ""))
            .with_status(http_status)
            .with_message(transport::body_excerpt(body))
            .with_rate_limits(rate_limits);
    };
    // A 200 (stream or body) carrying an error reports the real status inside it.
    let code = match status.http_code() {
        Some(code) if (200..300).contains(&http_status) => code,
        _ => http_status,
    };
    let message = status.message.clone().unwrap_or_default();
    let kind = kind_from_status(code, &status, &message, header_wait, now, &mut rate_limits);
    let message = if message.trim().is_empty() {
        transport::body_excerpt(body)
    } else {
        message
    };
    ProviderError::new(ID, kind)
        .with_status(code)
        .with_message(message)
        .with_rate_limits(rate_limits)
}

fn kind_from_status(
    code: u16,
    status: &Status,
    message: &str,
    header_wait: Option<Duration>,
    now: DateTime<Utc>,
    rate_limits: &mut RateLimitSnapshot,
) -> ErrorKind {
    if is_bad_key(status, message) {
        return ErrorKind::Unauthorized;
    }
    // 402 carries `RESOURCE_EXHAUSTED` too (prepaid credit spent): billing, not a limit.
    if code == 402 {
        return ErrorKind::PaymentRequired;
    }
    match status.status.as_deref().unwrap_or_default() {
        "PERMISSION_DENIED" | "UNAUTHENTICATED" => ErrorKind::Unauthorized,
        "NOT_FOUND" => ErrorKind::ModelNotFound,
        "RESOURCE_EXHAUSTED" => quota(status, message, header_wait, now, rate_limits),
        "INVALID_ARGUMENT" | "OUT_OF_RANGE" if is_context_too_long(message) => {
            ErrorKind::ContextTooLong
        }
        "INVALID_ARGUMENT" | "OUT_OF_RANGE" | "FAILED_PRECONDITION" => ErrorKind::BadRequest,
        "INTERNAL" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "CANCELLED" | "ABORTED" | "UNKNOWN" => {
            ErrorKind::Transient { status: Some(code) }
        }
        // No (or an unknown) status name: a 429 still carries its QuotaFailure.
        _ if code == 429 => quota(status, message, header_wait, now, rate_limits),
        _ => kind_from_http(code, header_wait, message),
    }
}

/// The kind when the body does not say (or says something unknown): context-length
/// wording, else the shared status table (a bare 413 is `BadRequest` there: a payload
/// too large, not necessarily a prompt too long).
fn kind_from_http(code: u16, header_wait: Option<Duration>, message: &str) -> ErrorKind {
    match code {
        400 | 413 if is_context_too_long(message) => ErrorKind::ContextTooLong,
        _ => fallback_kind(code, header_wait),
    }
}

/// A wrong or expired key: Gemini answers 400 `INVALID_ARGUMENT`, not 401.
fn is_bad_key(status: &Status, message: &str) -> bool {
    let by_reason = status.details().iter().any(|d| {
        matches!(
            d.reason.as_deref(),
            Some("API_KEY_INVALID" | "API_KEY_EXPIRED")
        )
    });
    let lower = message.to_ascii_lowercase();
    by_reason || lower.contains("api key not valid") || lower.contains("api key expired")
}

fn is_context_too_long(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    (lower.contains("token count") && lower.contains("exceeds"))
        || lower.contains("exceeds the maximum number of tokens")
        || lower.contains("too many tokens")
        || lower.contains("context length")
}

/// `RESOURCE_EXHAUSTED`: which of the three 429s this is.
fn quota(
    status: &Status,
    message: &str,
    header_wait: Option<Duration>,
    now: DateTime<Utc>,
    rate_limits: &mut RateLimitSnapshot,
) -> ErrorKind {
    let violations: Vec<&Violation> = status
        .details()
        .iter()
        .filter_map(|d| d.violations.as_deref())
        .flatten()
        .collect();
    let retry_delay = status
        .details()
        .iter()
        .find_map(|d| d.retry_delay.as_ref().and_then(value_duration));
    let until = limits::next_day_reset(now);
    let day_reset_after = (until - now).to_std().unwrap_or_default();
    limits::learn_from_violations(rate_limits, &violations, retry_delay, day_reset_after);

    // A limit of zero is "this model has no free tier": waiting never helps.
    if violations.iter().any(|v| v.limit() == Some(0)) || mentions_limit_zero(message) {
        return ErrorKind::ModelNotFound;
    }
    // The short retryDelay of a daily violation is ignored: the day resets at midnight.
    if violations.iter().any(|v| v.quota_id().contains("PerDay")) {
        return ErrorKind::QuotaExhausted { until: Some(until) };
    }
    ErrorKind::RateLimited {
        retry_after: retry_delay
            .or(header_wait)
            .or_else(|| message_retry_in(message)),
    }
}

fn value_duration(value: &Value) -> Option<Duration> {
    match value {
        Value::String(s) => parse_duration(s),
        // The JSON form of a protobuf Duration is a string; an object is the proto form.
        Value::Object(o) => {
            let seconds = o.get("seconds").and_then(|s| match s {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            })?;
            let nanos = o.get("nanos").and_then(Value::as_u64).unwrap_or(0);
            Some(Duration::from_secs(seconds) + Duration::from_nanos(nanos))
        }
        _ => None,
    }
}

/// `limit: 0` in the message ("… limit: 0, model: gemini-2.5-pro"), not `limit: 05`.
fn mentions_limit_zero(message: &str) -> bool {
    message.match_indices("limit: 0").any(|(i, m)| {
        !message[i + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// "Please retry in 43.210518977s." → 43.21 s.
fn message_retry_in(message: &str) -> Option<Duration> {
    let (_, rest) = message.split_once("retry in ")?;
    let token = rest.split_whitespace().next()?;
    parse_duration(token.trim_end_matches(['.', ',']))
}

#[cfg(test)]
mod tests {
    use llmpool_core::ErrorKindLabel;
    use reqwest::header::HeaderValue;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-10-05T18:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn kind(status: u16, body: &str) -> ErrorKind {
        classify(status, &HeaderMap::new(), body.as_bytes(), now()).kind
    }

    #[test]
    fn auth_is_read_from_the_body() {
        let expired = r#"{"error":{"code":400,"message":"API key expired. Please renew the API key.","status":"INVALID_ARGUMENT"}}"#;
        assert!(matches!(kind(400, expired), ErrorKind::Unauthorized));
        let reason = r#"{"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
        assert!(matches!(kind(400, reason), ErrorKind::Unauthorized));
        let other = r#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#;
        assert!(matches!(kind(400, other), ErrorKind::BadRequest));
    }

    #[test]
    fn quota_kinds() {
        let body = |id: &str, value: &str| {
            format!(
                r#"{{"error":{{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[
                {{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{{"quotaId":"{id}","quotaValue":"{value}"}}]}},
                {{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34.4s"}}]}}}}"#
            )
        };
        match kind(
            429,
            &body("GenerateRequestsPerMinutePerProjectPerModel", "5"),
        ) {
            ErrorKind::RateLimited { retry_after } => {
                assert_eq!(retry_after, Some(Duration::from_millis(34_400)));
            }
            other => panic!("{other:?}"),
        }
        match kind(429, &body("GenerateRequestsPerDayPerProjectPerModel", "20")) {
            ErrorKind::QuotaExhausted { until } => {
                assert_eq!(until.unwrap().to_rfc3339(), "2026-10-06T07:00:00+00:00");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            kind(
                429,
                &body("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "0")
            ),
            ErrorKind::ModelNotFound
        ));
    }

    #[test]
    fn bare_429_waits_from_message_or_header() {
        let bare = r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#;
        assert!(matches!(
            kind(429, bare),
            ErrorKind::RateLimited { retry_after: None }
        ));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = classify(429, &h, bare.as_bytes(), now());
        assert!(matches!(
            e.kind,
            ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(7)
        ));
        assert_eq!(e.rate_limits.retry_after, Some(Duration::from_secs(7)));
        let told = r#"{"error":{"code":429,"message":"Quota exceeded. Please retry in 43.210518977s.","status":"RESOURCE_EXHAUSTED"}}"#;
        match kind(429, told) {
            ErrorKind::RateLimited {
                retry_after: Some(d),
            } => assert_eq!(d.as_millis(), 43_210),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limit_zero_in_message_only() {
        assert!(mentions_limit_zero("x, limit: 0, model: y"));
        assert!(mentions_limit_zero("limit: 0"));
        assert!(!mentions_limit_zero("limit: 05, limit: 20"));
    }

    #[test]
    fn proto_durations() {
        assert_eq!(
            value_duration(&serde_json::json!({"seconds": "3", "nanos": 500_000_000})),
            Some(Duration::from_millis(3500))
        );
        assert_eq!(
            value_duration(&serde_json::json!("43s")),
            Some(Duration::from_secs(43))
        );
    }

    #[test]
    fn non_gemini_bodies_fall_back_to_status() {
        let e = classify(502, &HeaderMap::new(), b"<html>bad gateway</html>", now());
        assert!(matches!(e.kind, ErrorKind::Transient { status: Some(502) }));
        assert_eq!(e.message.as_deref(), Some("non-JSON (HTML) error page"));
        assert_eq!(
            kind(200, "not json").label(),
            ErrorKindLabel::InvalidResponse
        );
        // A bare 413 is a payload too large (the shared table), unless it says context.
        assert_eq!(kind(413, "").label(), ErrorKindLabel::BadRequest);
        assert_eq!(
            kind(
                413,
                r#"{"error":{"code":413,"message":"The input token count (1200000) exceeds the maximum"}}"#
            )
            .label(),
            ErrorKindLabel::ContextTooLong
        );
        assert_eq!(kind(501, "").label(), ErrorKindLabel::BadRequest);
        assert_eq!(kind(302, "").label(), ErrorKindLabel::InvalidResponse);
    }

    #[test]
    fn an_error_inside_a_200_uses_its_own_code() {
        let e = classify(
            200,
            &HeaderMap::new(),
            br#"{"error":{"code":504,"message":"Deadline","status":"DEADLINE_EXCEEDED"}}"#,
            now(),
        );
        assert_eq!(e.status, Some(504));
        assert!(matches!(e.kind, ErrorKind::Transient { status: Some(504) }));
    }
}
