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

use crate::transport::{Auth, fallback_kind, header_duration, header_u64, retry_after};
use crate::wire::{ChatCompletionRequest, ErrorBody, MaxTokensField, RequestPolicy};

/// The points where an OpenAI-compatible provider departs from the generic protocol.
/// Every field has a generic default in [`CompatHooks::DEFAULT`].
#[derive(Clone, Copy)]
pub struct CompatHooks {
    /// How the key is sent: `Authorization: Bearer <key>` ([`Auth::BEARER`], the
    /// default), the key alone in another header ([`Auth::header`]`("x-api-key")`), or not
    /// at all for keyless providers ([`Auth::None`]).
    pub auth: Auth,
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
    /// Request fields the provider renames or always needs, or llmpool-internal fields it
    /// must not get, applied to every outgoing body after it is built (Mistral's strict
    /// schema, Cloudflare's `max_tokens`). Never a field the client set that changes the
    /// answer: those go in [`CompatHooks::request_policy`], which reports or refuses them.
    /// Default: [`BodyRewrite::NONE`], which changes nothing.
    pub body_rewrite: BodyRewrite,
    /// The request fields the upstream rejects (left out and reported, or refused by
    /// name). Default: [`RequestPolicy::PASS_THROUGH`].
    pub request_policy: RequestPolicy,
    /// Whether the provider also answers without a key (OVHcloud's anonymous lane, Kilo's
    /// free models). When true, an empty key is accepted and the request carries no
    /// `Authorization` header; a key, when given, is sent as usual. Default: `false` (an
    /// empty key is a configuration error).
    pub key_optional: bool,
    /// Whether a one-shot answer with no text is an `InvalidResponse` rather than a
    /// success (NVIDIA's reasoning models can spend the whole output budget thinking and
    /// return an empty `content`). Default: `false` (an empty answer is returned as is).
    pub empty_answer_is_invalid: bool,
    /// A provider's own last pass over an outgoing body, after
    /// [`CompatHooks::body_rewrite`], for what a static rule cannot say (Mistral's 9-character
    /// tool-call ids, Cloudflare's string-only content). It may push the names of fields it
    /// leaves out (droppable ones only) to the second argument; an `Err` names the request
    /// field the provider cannot honour and fails the route with a `BadRequest` before any
    /// call. Default: [`no_body_hook`], which changes nothing.
    pub body_hook: BodyHook,
}

/// The signature of [`CompatHooks::body_hook`].
pub type BodyHook = fn(&mut ChatCompletionRequest, &mut Vec<String>) -> Result<(), String>;

/// The default [`CompatHooks::body_hook`]: changes nothing.
///
/// # Errors
///
/// Never.
pub fn no_body_hook(_: &mut ChatCompletionRequest, _: &mut Vec<String>) -> Result<(), String> {
    Ok(())
}

impl CompatHooks {
    /// The generic OpenAI behaviour.
    pub const DEFAULT: CompatHooks = CompatHooks {
        auth: Auth::BEARER,
        rate_limits: default_rate_limits,
        classify: default_classify,
        embedded_error: default_embedded_error,
        max_tokens_field: MaxTokensField::MaxTokens,
        body_rewrite: BodyRewrite::NONE,
        request_policy: RequestPolicy::PASS_THROUGH,
        key_optional: false,
        empty_answer_is_invalid: false,
        body_hook: no_body_hook,
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
            .field("auth", &self.auth)
            .field("max_tokens_field", &self.max_tokens_field)
            .field("request_policy", &self.request_policy)
            .field("body_rewrite", &self.body_rewrite)
            .field("key_optional", &self.key_optional)
            .field("empty_answer_is_invalid", &self.empty_answer_is_invalid)
            .finish_non_exhaustive()
    }
}

/// What a provider does to an outgoing request body, as data: fields renamed, fields
/// dropped, and an output cap sent when the caller set none. Field names are the JSON
/// names of the body's top level (`max_completion_tokens`, `stream_options`, `seed`,
/// `response_format`, …), typed fields and pass-through extras alike.
///
/// Applied in this order: renames (a field is moved only when present, and replaces the
/// target), drops, `default_max_tokens` (only when neither `max_tokens` nor
/// `max_completion_tokens` is set), then additions (only where the field is absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRewrite {
    /// `(from, to)`: send the value of `from` under the name `to` (Mistral: `seed` →
    /// `random_seed`).
    pub rename: &'static [(&'static str, &'static str)],
    /// Fields never sent (Mistral: `stream_options`, which its strict schema rejects).
    pub drop: &'static [&'static str],
    /// Output cap sent when the request has none (Cloudflare's default cap is small
    /// enough to cut answers).
    pub default_max_tokens: Option<u32>,
    /// `(name, JSON value)`: extra top-level fields sent when the body has no field of
    /// that name (Cloudflare: `options` = `{"rejectIfBusy":true}`; Z.ai: `thinking` =
    /// `{"type":"disabled"}`). A value that is not JSON is not sent: a provider crate
    /// checks its own values with [`BodyRewrite::invalid_additions`] in a test.
    pub add: &'static [(&'static str, &'static str)],
}

impl BodyRewrite {
    /// Changes nothing.
    pub const NONE: BodyRewrite = BodyRewrite {
        rename: &[],
        drop: &[],
        default_max_tokens: None,
        add: &[],
    };

    /// The names of `add` entries whose value is not JSON (empty when all are usable).
    pub fn invalid_additions(&self) -> Vec<&'static str> {
        self.add
            .iter()
            .filter(|(_, json)| serde_json::from_str::<Value>(json).is_err())
            .map(|(name, _)| *name)
            .collect()
    }

    /// Applies the policy to `body`.
    pub fn apply(&self, body: &mut ChatCompletionRequest) {
        for (from, to) in self.rename {
            if let Some(value) = take_field(body, from) {
                take_field(body, to);
                put_field(body, to, value);
            }
        }
        for name in self.drop {
            take_field(body, name);
        }
        if let Some(cap) = self.default_max_tokens
            && body.max_tokens.is_none()
            && body.max_completion_tokens.is_none()
        {
            body.max_tokens = Some(cap);
        }
        for (name, json) in self.add {
            if let Some(value) = take_field(body, name) {
                put_field(body, name, value);
            } else if let Ok(value) = serde_json::from_str::<Value>(json) {
                put_field(body, name, value);
            }
        }
    }
}

impl Default for BodyRewrite {
    fn default() -> Self {
        Self::NONE
    }
}

/// Removes the top-level field `name` (typed or extra) from `body`, returning its value.
fn take_field(body: &mut ChatCompletionRequest, name: &str) -> Option<Value> {
    fn take<T: serde::Serialize>(field: &mut Option<T>) -> Option<Value> {
        field.take().and_then(|v| serde_json::to_value(v).ok())
    }
    match name {
        "max_tokens" => take(&mut body.max_tokens),
        "max_completion_tokens" => take(&mut body.max_completion_tokens),
        "temperature" => take(&mut body.temperature),
        "top_p" => take(&mut body.top_p),
        "stop" => take(&mut body.stop),
        "stream_options" => take(&mut body.stream_options),
        "seed" => take(&mut body.seed),
        "response_format" => take(&mut body.response_format),
        "reasoning_effort" => take(&mut body.reasoning_effort),
        "frequency_penalty" => take(&mut body.frequency_penalty),
        "presence_penalty" => take(&mut body.presence_penalty),
        "parallel_tool_calls" => take(&mut body.parallel_tool_calls),
        "tool_choice" => take(&mut body.tool_choice),
        "user" => take(&mut body.user),
        "logprobs" => take(&mut body.logprobs),
        "top_logprobs" => take(&mut body.top_logprobs),
        _ => body.extra.remove(name),
    }
}

/// Sets the top-level field `name` of `body` to `value`; a value of the wrong type for a
/// typed field goes nowhere rather than into a misnamed extra.
fn put_field(body: &mut ChatCompletionRequest, name: &str, value: Value) {
    fn put<T: serde::de::DeserializeOwned>(field: &mut Option<T>, value: Value) {
        *field = serde_json::from_value(value).ok();
    }
    match name {
        "max_tokens" => put(&mut body.max_tokens, value),
        "max_completion_tokens" => put(&mut body.max_completion_tokens, value),
        "temperature" => put(&mut body.temperature, value),
        "top_p" => put(&mut body.top_p, value),
        "stop" => put(&mut body.stop, value),
        "stream_options" => put(&mut body.stream_options, value),
        "seed" => put(&mut body.seed, value),
        "response_format" => put(&mut body.response_format, value),
        "reasoning_effort" => put(&mut body.reasoning_effort, value),
        "frequency_penalty" => put(&mut body.frequency_penalty, value),
        "presence_penalty" => put(&mut body.presence_penalty, value),
        "parallel_tool_calls" => put(&mut body.parallel_tool_calls, value),
        "tool_choice" => put(&mut body.tool_choice, value),
        "user" => put(&mut body.user, value),
        "logprobs" => put(&mut body.logprobs, value),
        "top_logprobs" => put(&mut body.top_logprobs, value),
        _ => {
            body.extra.insert(name.to_owned(), value);
        }
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
/// | code `invalid_api_key` / `wrong_api_key` | `Unauthorized` |
/// | code `model_not_found` / `model_decommissioned` | `ModelNotFound` |
/// | 400, 413, 422 with context-length wording | `ContextTooLong` |
/// | 429 | `RateLimited` with `retry-after` or the wait in the message |
/// | an error inside a 2xx without a usable code | `Transient` |
/// | any other status | the shared table, [`fallback_kind`] (401/403 `Unauthorized`, 402 `PaymentRequired`, 404 `ModelNotFound`, 408/425/498/499/5xx but 501 `Transient`, other 4xx and 501 `BadRequest`, 3xx `InvalidResponse`) |
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
        400 | 413 | 422 if is_context_too_long(body) => ErrorKind::ContextTooLong,
        429 => ErrorKind::RateLimited {
            retry_after: ctx.retry_after(),
        },
        // An error object inside a successful answer that carries no status of its own:
        // the generation failed upstream (OpenRouter's mid-stream `finish_reason: error`).
        status if status < 400 && (200..300).contains(&ctx.http_status) => {
            ErrorKind::Transient { status: None }
        }
        status => fallback_kind(status, None),
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
        assert_eq!(label(501, "{}"), "bad_request");
        assert_eq!(label(307, ""), "invalid_response");
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
    fn body_rewrite_renames_drops_and_caps() {
        let mut body: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[],"max_completion_tokens":9,"seed":7,
                "stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_object"}}"#,
        )
        .unwrap();
        BodyRewrite {
            rename: &[
                ("max_completion_tokens", "max_tokens"),
                ("seed", "random_seed"),
            ],
            drop: &["stream_options", "response_format"],
            default_max_tokens: Some(4096),
            add: &[
                ("options", r#"{"rejectIfBusy":true}"#),
                ("random_seed", "1"),
                ("bad", "{"),
            ],
        }
        .apply(&mut body);
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["max_tokens"], 9);
        assert_eq!(v["random_seed"], 7);
        assert_eq!(v["options"]["rejectIfBusy"], true);
        for gone in [
            "max_completion_tokens",
            "seed",
            "stream_options",
            "response_format",
            "bad",
        ] {
            assert!(v.get(gone).is_none(), "{gone} still sent: {v}");
        }
    }

    #[test]
    fn body_rewrite_default_cap_only_fills_a_missing_cap() {
        let policy = BodyRewrite {
            default_max_tokens: Some(4096),
            ..BodyRewrite::NONE
        };
        let mut none: ChatCompletionRequest =
            serde_json::from_str(r#"{"model":"m","messages":[]}"#).unwrap();
        policy.apply(&mut none);
        assert_eq!(none.max_tokens, Some(4096));
        let mut set: ChatCompletionRequest =
            serde_json::from_str(r#"{"model":"m","messages":[],"max_completion_tokens":5}"#)
                .unwrap();
        policy.apply(&mut set);
        assert_eq!((set.max_tokens, set.max_completion_tokens), (None, Some(5)));
        let mut untouched = set.clone();
        BodyRewrite::NONE.apply(&mut untouched);
        assert_eq!(untouched, set);
        let bad = BodyRewrite {
            add: &[("ok", "true"), ("broken", "{")],
            ..BodyRewrite::NONE
        };
        assert_eq!(bad.invalid_additions(), vec!["broken"]);
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
