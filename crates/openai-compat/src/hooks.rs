//! Where OpenAI-compatible providers differ: rate-limit headers, error classification,
//! errors hidden in successful payloads, and the name of the output-cap field.
//!
//! A provider crate writes a `static HOOKS: CompatHooks` that overrides only what differs
//! and hands it to [`OpenAiCompatProvider::new`](crate::OpenAiCompatProvider::new). The
//! generic behaviour lives in the `default_*` functions below, which provider hooks call
//! for everything they do not special-case.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use llmpool_core::{ErrorKind, RateLimitSnapshot, Window, parse_duration};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::transport::{header_duration, header_u64, retry_after};
use crate::wire::{ErrorBody, MaxTokensField, RequestPolicy};

/// The points where an OpenAI-compatible provider departs from the generic protocol.
/// Every field has a generic default in [`CompatHooks::DEFAULT`].
#[derive(Clone, Copy)]
pub struct CompatHooks {
    /// Parses the rate-limit headers of any response (success or failure) into a snapshot.
    /// `now` is the wall-clock time of the response, for providers that send absolute
    /// reset times. Default: [`default_rate_limits`].
    pub rate_limits: fn(&HeaderMap, DateTime<Utc>) -> RateLimitSnapshot,
    /// Decides the [`ErrorKind`] of a failure: an HTTP error, an error object inside a 200
    /// body, or an error event inside a stream. Default: [`default_classify`].
    pub classify: fn(&ErrorContext<'_>) -> ErrorKind,
    /// Finds an error inside a payload that arrived as success (a 200 body or a stream
    /// chunk); `None` means the payload is a normal answer. Default:
    /// [`default_embedded_error`].
    pub embedded_error: fn(&Value) -> Option<ErrorBody>,
    /// The request field that carries [`ChatRequest::max_tokens`](llmpool_core::ChatRequest).
    /// Default: `max_tokens`.
    pub max_tokens_field: MaxTokensField,
    /// The request fields the upstream rejects (left out and reported, or refused by
    /// name). Default: [`RequestPolicy::PASS_THROUGH`].
    pub request_policy: RequestPolicy,
}

impl CompatHooks {
    /// The generic OpenAI behaviour.
    pub const DEFAULT: CompatHooks = CompatHooks {
        rate_limits: default_rate_limits,
        classify: default_classify,
        embedded_error: default_embedded_error,
        max_tokens_field: MaxTokensField::MaxTokens,
        request_policy: RequestPolicy::PASS_THROUGH,
    };
}

impl Default for CompatHooks {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Debug for CompatHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompatHooks")
            .field("max_tokens_field", &self.max_tokens_field)
            .field("request_policy", &self.request_policy)
            .finish_non_exhaustive()
    }
}

/// Everything known about one failure, handed to [`CompatHooks::classify`].
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    /// The status to classify by: the HTTP status, or for an error inside a successful
    /// payload the error's own numeric code when it has one (OpenRouter writes the status
    /// there), else the HTTP status (200).
    pub status: u16,
    /// The status line of the HTTP response.
    pub http_status: u16,
    /// The error arrived inside a successful response (200 body or stream).
    pub embedded: bool,
    /// The error body, read tolerantly.
    pub body: &'a ErrorBody,
    /// The response headers.
    pub headers: &'a HeaderMap,
    /// The rate-limit headers, already parsed by [`CompatHooks::rate_limits`].
    pub rate_limits: &'a RateLimitSnapshot,
    /// Wall-clock time of the response.
    pub now: DateTime<Utc>,
}

impl ErrorContext<'_> {
    /// The wait the provider asked for: `retry-after`, else a wait written in the message
    /// ("Please try again in 1.98s").
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(self.headers)
            .or_else(|| self.body.message.as_deref().and_then(wait_from_message))
            .or_else(|| self.body.metadata_str("raw").and_then(wait_from_message))
    }

    /// `now + wait`, for [`ErrorKind::QuotaExhausted::until`].
    pub fn after(&self, wait: Duration) -> DateTime<Utc> {
        after(self.now, wait)
    }
}

/// `now + wait`, saturating far in the future.
pub fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// OpenAI's headers: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` as per-minute
/// windows (resets as durations) and `retry-after`.
pub fn default_rate_limits(headers: &HeaderMap, _now: DateTime<Utc>) -> RateLimitSnapshot {
    RateLimitSnapshot {
        requests_minute: window(
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

/// One window from three headers: limit and remaining as counts, reset as a duration
/// (plain seconds or Go-style `2m59.56s`).
pub fn window(headers: &HeaderMap, limit: &str, remaining: &str, reset: &str) -> Window {
    Window {
        limit: header_u64(headers, limit),
        remaining: header_u64(headers, remaining),
        reset_after: header_duration(headers, reset),
    }
}

/// The generic classification, used by every provider for what it does not special-case:
///
/// | evidence | kind |
/// | --- | --- |
/// | code/type `content_policy_violation`, `content_filter`, or content-policy wording | `ContentFiltered` |
/// | code `invalid_api_key` / `wrong_api_key`, or status 401, 403 | `Unauthorized` |
/// | code `model_not_found` / `model_decommissioned`, or status 404 | `ModelNotFound` |
/// | 402 | `PaymentRequired` |
/// | 400, 413, 422 with context-length wording | `ContextTooLong` |
/// | 429 | `RateLimited` with `retry-after` or the wait in the message |
/// | 408, 425, 498, 499, 5xx | `Transient` |
/// | an error inside a 2xx without a usable code | `Transient` |
/// | any other 4xx | `BadRequest` |
pub fn default_classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    if is_content_policy(body) {
        return ErrorKind::ContentFiltered;
    }
    if body.code_is(&["invalid_api_key", "wrong_api_key"]) {
        return ErrorKind::Unauthorized;
    }
    if body.code_is(&["model_not_found", "model_decommissioned"]) {
        return ErrorKind::ModelNotFound;
    }
    match ctx.status {
        401 | 403 => ErrorKind::Unauthorized,
        402 => ErrorKind::PaymentRequired,
        404 => ErrorKind::ModelNotFound,
        400 | 413 | 422 if is_context_too_long(body) => ErrorKind::ContextTooLong,
        429 => ErrorKind::RateLimited {
            retry_after: ctx.retry_after(),
        },
        408 | 425 | 498 | 499 | 500..=599 => ErrorKind::Transient {
            status: Some(ctx.status),
        },
        100..=399 => ErrorKind::Transient { status: None },
        _ => ErrorKind::BadRequest,
    }
}

/// Finds an error inside a successful payload: a top-level `error` (OpenAI SDK rule;
/// OpenRouter mid-stream errors), a choice with an `error` or with `finish_reason:
/// "error"` (OpenRouter), or a flat error object with no `choices` (Cerebras' shape).
pub fn default_embedded_error(value: &Value) -> Option<ErrorBody> {
    let obj = value.as_object()?;
    if obj.get("error").is_some_and(|e| !e.is_null()) {
        return Some(ErrorBody::from_value(value));
    }
    if let Some(choices) = obj.get("choices").and_then(Value::as_array) {
        for choice in choices {
            if choice.get("error").is_some_and(|e| !e.is_null()) {
                return Some(ErrorBody::from_value(choice));
            }
            if choice.get("finish_reason").and_then(Value::as_str) == Some("error") {
                return Some(ErrorBody {
                    message: Some("generation ended with finish_reason `error`".to_owned()),
                    is_json: true,
                    raw: ErrorBody::from_value(value).raw,
                    ..ErrorBody::default()
                });
            }
        }
        return None;
    }
    let looks_flat = obj.get("message").is_some_and(Value::is_string)
        && (obj.contains_key("type") || obj.contains_key("code"));
    looks_flat.then(|| ErrorBody::from_value(value))
}

/// Whether the body says the prompt does not fit the model's context window.
pub fn is_context_too_long(body: &ErrorBody) -> bool {
    body.code_is(&["context_length_exceeded", "string_above_max_length"])
        || body.mentions_any(&[
            "context length",
            "context_length",
            "context window",
            "maximum context",
            "prompt is too long",
            "input is too long",
            "reduce the length",
            "too many tokens",
            "token_limit_exceeded",
            "max_tokens_exceeded",
        ])
}

/// Whether the body says the provider refused the content.
pub fn is_content_policy(body: &ErrorBody) -> bool {
    body.code_is(&["content_policy_violation", "content_filter"])
        || body.metadata_str("error_type") == Some("content_policy_violation")
        || body.mentions_any(&[
            "content policy",
            "content_policy",
            "content management policy",
        ])
}

/// The wait written in a message: "Please try again in 9m38.016s.", "try again in 1.98s",
/// "retry in 43s", "retry after 20 seconds".
pub fn wait_from_message(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    ["try again in ", "retry in ", "retry after "]
        .iter()
        .find_map(|marker| {
            let start = lower.find(marker)? + marker.len();
            parse_wait(&lower[start..])
        })
}

fn parse_wait(text: &str) -> Option<Duration> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    let token = first
        .trim_end_matches(['.', ',', ';', ')', ':'])
        .trim_start_matches('(');
    if token.parse::<f64>().is_err() {
        return parse_duration(token);
    }
    let secs: f64 = token.parse().ok()?;
    let unit = words.next().unwrap_or("s");
    let factor = if unit.starts_with("ms") || unit.starts_with("milli") {
        1e-3
    } else if unit.starts_with('h') {
        3600.0
    } else if unit.starts_with("min") || unit == "m" {
        60.0
    } else {
        1.0
    };
    Duration::try_from_secs_f64(secs * factor).ok()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn classify(status: u16, body: &str, headers: &HeaderMap) -> ErrorKind {
        crate::testkit::classify(&CompatHooks::DEFAULT, status, body, headers, Utc::now())
    }

    #[test]
    fn generic_table() {
        let h = HeaderMap::new();
        let label = |s, b| classify(s, b, &h).label().as_str();
        assert_eq!(label(401, "{}"), "unauthorized");
        assert_eq!(label(403, "<html>blocked</html>"), "unauthorized");
        assert_eq!(label(402, "{}"), "payment_required");
        assert_eq!(label(404, "{}"), "model_not_found");
        assert_eq!(
            label(
                400,
                r#"{"error":{"message":"x","code":"model_decommissioned"}}"#
            ),
            "model_not_found"
        );
        assert_eq!(
            label(
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#
            ),
            "context_too_long"
        );
        assert_eq!(label(413, "payload too large"), "bad_request");
        assert_eq!(label(400, r#"{"error":{"message":"bad"}}"#), "bad_request");
        assert_eq!(label(422, "{}"), "bad_request");
        assert_eq!(
            label(
                400,
                r#"{"error":{"message":"x","code":"content_policy_violation"}}"#
            ),
            "content_filtered"
        );
        assert_eq!(label(498, "{}"), "transient");
        assert_eq!(label(503, "{}"), "transient");
        assert_eq!(label(408, "{}"), "transient");
        assert_eq!(label(200, "{}"), "transient");
        assert_eq!(label(418, "{}"), "bad_request");
    }

    #[test]
    fn rate_limited_reads_header_then_message() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("12"));
        let ErrorKind::RateLimited { retry_after } = classify(429, "{}", &h) else {
            panic!("not rate limited");
        };
        assert_eq!(retry_after, Some(Duration::from_secs(12)));
        let ErrorKind::RateLimited { retry_after } = classify(
            429,
            r#"{"error":{"message":"Please try again in 1.5s. Need more?"}}"#,
            &HeaderMap::new(),
        ) else {
            panic!("not rate limited");
        };
        assert_eq!(retry_after, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn waits_in_messages() {
        assert_eq!(
            wait_from_message("Please try again in 9m38.016s. Need more tokens?"),
            Some(Duration::from_millis(578_016))
        );
        assert_eq!(
            wait_from_message("Please retry after 20 seconds"),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            wait_from_message("Try again in 850ms"),
            Some(Duration::from_millis(850))
        );
        assert_eq!(wait_from_message("please try again later"), None);
        assert_eq!(wait_from_message("no wait here"), None);
    }

    #[test]
    fn embedded_errors() {
        let top = serde_json::json!({"error":{"code":502,"message":"boom"},"choices":[]});
        assert_eq!(
            default_embedded_error(&top).unwrap().status_code(),
            Some(502)
        );
        let finish = serde_json::json!({"choices":[{"delta":{},"finish_reason":"error"}]});
        assert!(default_embedded_error(&finish).is_some());
        let flat = serde_json::json!({"message":"We're busy","type":"too_many_requests_error","code":"queue_exceeded"});
        assert_eq!(
            default_embedded_error(&flat).unwrap().code.as_deref(),
            Some("queue_exceeded")
        );
        let ok = serde_json::json!({"choices":[{"delta":{"content":"x"},"finish_reason":null}]});
        assert!(default_embedded_error(&ok).is_none());
        let null_error = serde_json::json!({"error":null,"choices":[]});
        assert!(default_embedded_error(&null_error).is_none());
    }

    #[test]
    fn default_headers_are_minute_windows() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit-requests", HeaderValue::from_static("60"));
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("59"),
        );
        h.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("6m0s"));
        let s = default_rate_limits(&h, Utc::now());
        assert_eq!(s.requests_minute.limit, Some(60));
        assert_eq!(s.requests_minute.remaining, Some(59));
        assert_eq!(s.tokens_minute.reset_after, Some(Duration::from_secs(360)));
        assert!(s.requests_day.is_empty());
    }
}
