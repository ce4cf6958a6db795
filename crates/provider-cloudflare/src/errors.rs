//! Cloudflare's error classification: on `errors[0].code` of the v4 envelope first, then
//! on the message, then on the status.
//!
//! | code | meaning | kind |
//! | --- | --- | --- |
//! | 3036 (docs), 4006 (live) | daily free allocation of 10,000 Neurons spent (whole account) | `QuotaExhausted` until the next 00:00 UTC |
//! | 10000, 3023 | bad or under-scoped token; account blocked | `Unauthorized` |
//! | 7003 (404) | "Could not route to …": wrong account id in the URL | `Unauthorized` (configuration) |
//! | 5035, 5016, 5018, 3041 (403) | paid-plan-only model, terms not accepted, model not allowed | `ModelNotFound` |
//! | 5007 (400), 3042 (404) | no such model | `ModelNotFound` |
//! | 3040 (429) | capacity, per model, seconds | `Transient` |
//! | 3007, 3008 (408), 7009 (502/503) | timeout, aborted, upstream unavailable | `Transient` |
//! | 5006 (400) | "AiError: Bad input" (schema; context length) | `ContextTooLong` when it says so, else `BadRequest` |
//! | 3006 (413), 7001 (405) | request too large, method not supported | `BadRequest` |
//! | 3030 | output flagged | `ContentFiltered` |
//!
//! Without a code, a message about the "daily free allocation" is the daily wall, and
//! everything else follows the generic table.

use llmpool_core::{ErrorKind, next_utc_midnight};
use llmpool_openai_compat::hooks::{default_classify, default_embedded_error, is_context_too_long};
use llmpool_openai_compat::{ErrorBody, ErrorContext};
use serde_json::Value;

/// Classifies a Cloudflare failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    let status = (ctx.http_status >= 400).then_some(ctx.http_status);
    let daily_wall = || ErrorKind::QuotaExhausted {
        until: Some(next_utc_midnight(ctx.now)),
    };
    match body.code.as_deref() {
        Some("3036" | "4006") => daily_wall(),
        Some("10000" | "3023" | "7003") => ErrorKind::Unauthorized,
        Some("5035" | "5016" | "5018" | "3041" | "5007" | "3042") => ErrorKind::ModelNotFound,
        Some("3040" | "3007" | "3008" | "7009") => ErrorKind::Transient { status },
        Some("5006") if is_context_too_long(body) => ErrorKind::ContextTooLong,
        Some("5006" | "3006" | "7001") => ErrorKind::BadRequest,
        Some("3030") => ErrorKind::ContentFiltered,
        _ if body.mentions("daily free allocation") => daily_wall(),
        _ if ctx.status == 400 && is_context_too_long(body) => ErrorKind::ContextTooLong,
        _ => default_classify(ctx),
    }
}

/// Finds an error in a successful payload: the generic rules, plus the v4 envelope
/// (`"success": false` or an `errors` array), which can arrive as the first event of an
/// HTTP 200 stream.
pub(crate) fn embedded_error(value: &Value) -> Option<ErrorBody> {
    default_embedded_error(value).or_else(|| {
        let failed = value.get("success").and_then(Value::as_bool) == Some(false);
        let has_errors = value
            .get("errors")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty());
        (failed || has_errors).then(|| ErrorBody::from_value(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v4_envelope_is_an_embedded_error_and_answers_are_not() {
        let e = serde_json::json!({"success":false,"errors":[{"code":4006,"message":"daily"}]});
        assert_eq!(embedded_error(&e).unwrap().code.as_deref(), Some("4006"));
        let ok = serde_json::json!({"choices":[{"delta":{"content":"x"}}]});
        assert!(embedded_error(&ok).is_none());
        let empty = serde_json::json!({"success":true,"errors":[],"result":{}});
        assert!(embedded_error(&empty).is_none());
    }
}
