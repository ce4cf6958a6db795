//! Groq's error classification, where it differs from the generic OpenAI one.
//!
//! | Groq says | kind |
//! | --- | --- |
//! | 429, message "… per day (RPD)" / "(TPD)" | `QuotaExhausted` until now + the wait |
//! | 429, anything else ("per minute (RPM)/(TPM)") | `RateLimited` for the wait |
//! | 413 `rate_limit_exceeded` (one request bigger than the TPM limit) | `BadRequest` |
//! | everything else | the generic table (401 → `Unauthorized`, 400 `model_decommissioned` and 404 → `ModelNotFound`, 498/5xx → `Transient`, …) |
//!
//! An error object inside a 200 body or a stream with code `rate_limit_exceeded` is read
//! as a 429.
//!
//! The wait comes from, most authoritative first: `retry-after`, the message ("Please try
//! again in 9m38.016s"), then the reset header of the window that was hit.

use llmpool_core::ErrorKind;
use llmpool_openai_compat::hooks::{default_classify, default_embedded_error};
use llmpool_openai_compat::{ErrorBody, ErrorContext};
use serde_json::Value;

/// Classifies a Groq failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    // An error object inside a 200 carries no status; its code still says what it is.
    let status = if ctx.embedded && ctx.status < 400 && body.code_is(&["rate_limit_exceeded"]) {
        429
    } else {
        ctx.status
    };
    match status {
        429 if is_per_day(body) => {
            let wait = ctx.retry_after().or_else(|| {
                // Only the requests-per-day window has a reset header.
                body.mentions("(RPD)")
                    .then_some(ctx.rate_limits.requests_day.reset_after)
                    .flatten()
            });
            ErrorKind::QuotaExhausted {
                until: wait.map(|w| ctx.after(w)),
            }
        }
        429 => ErrorKind::RateLimited {
            retry_after: ctx.retry_after().or_else(|| {
                body.mentions("(TPM)")
                    .then_some(ctx.rate_limits.tokens_minute.reset_after)
                    .flatten()
            }),
        },
        413 if body.code_is(&["rate_limit_exceeded"]) => ErrorKind::BadRequest,
        _ => default_classify(ctx),
    }
}

fn is_per_day(body: &ErrorBody) -> bool {
    body.mentions_any(&["per day", "(RPD)", "(TPD)"])
}

/// Finds an error in a successful payload: the generic rules, plus Groq's `x_groq.error`
/// string ("why a stream was stopped early").
pub(crate) fn embedded_error(value: &Value) -> Option<ErrorBody> {
    default_embedded_error(value).or_else(|| {
        let message = value.get("x_groq")?.get("error")?.as_str()?;
        Some(ErrorBody {
            message: Some(message.to_owned()),
            is_json: true,
            raw: message.chars().take(500).collect(),
            ..ErrorBody::default()
        })
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use llmpool_openai_compat::HeaderMap;
    use llmpool_openai_compat::testkit::{self, header_map};

    use super::*;

    fn kind(status: u16, body: &str, headers: &HeaderMap) -> (ErrorKind, chrono::DateTime<Utc>) {
        let now = Utc::now();
        let k = testkit::classify(&crate::HOOKS, status, body, headers, now);
        (k, now)
    }

    const TPD: &str = r#"{"error":{"message":"Rate limit reached for model `m` on tokens per day (TPD): Limit 100000, Used 97050, Requested 3619. Please try again in 9m38.016s. Need more tokens?","type":"tokens","code":"rate_limit_exceeded"}}"#;
    const TPM: &str = r#"{"error":{"message":"Rate limit reached for model `m` on tokens per minute (TPM): Limit 8000, Used 4437, Requested 9854. Please try again in 11.455s. Need more tokens?","type":"tokens","code":"rate_limit_exceeded"}}"#;

    /// Groq's answer to a prompt over the model's window (the OpenAI body).
    #[test]
    fn a_prompt_over_the_window_is_context_too_long() {
        let body = r#"{"error":{"message":"Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let (k, _) = kind(400, body, &HeaderMap::new());
        assert!(matches!(k, ErrorKind::ContextTooLong), "{k:?}");
        // One request over the TPM limit is not about the window.
        let tpm = r#"{"error":{"message":"Request too large for model `m` on tokens per minute (TPM): Limit 6000, Requested 12328, please reduce your message size and try again.","type":"tokens","code":"rate_limit_exceeded"}}"#;
        let (k, _) = kind(413, tpm, &HeaderMap::new());
        assert!(matches!(k, ErrorKind::BadRequest), "{k:?}");
    }

    #[test]
    fn day_limits_are_quota_with_the_message_wait() {
        let (k, now) = kind(429, TPD, &HeaderMap::new());
        let ErrorKind::QuotaExhausted { until: Some(until) } = k else {
            panic!("{k:?}");
        };
        assert_eq!((until - now).num_milliseconds(), 578_016);
    }

    #[test]
    fn minute_limits_prefer_retry_after_then_message_then_reset_header() {
        let mut h = header_map(&[
            ("retry-after", "12"),
            ("x-ratelimit-reset-tokens", "33.27s"),
        ]);
        let (k, _) = kind(429, TPM, &h);
        assert!(
            matches!(k, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(12))
        );
        h.remove("retry-after");
        let (k, _) = kind(429, TPM, &h);
        assert!(
            matches!(k, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_millis(11_455))
        );
        let no_wait = TPM.replace("Please try again in 11.455s. ", "");
        let (k, _) = kind(429, &no_wait, &h);
        assert!(
            matches!(k, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_millis(33_270))
        );
    }

    #[test]
    fn request_bigger_than_tpm_is_a_bad_request() {
        let body = r#"{"error":{"message":"Request too large for model `m` on tokens per minute (TPM): Limit 6000, Requested 12328, please reduce your message size and try again.","type":"tokens","code":"rate_limit_exceeded"}}"#;
        assert!(matches!(
            kind(413, body, &HeaderMap::new()).0,
            ErrorKind::BadRequest
        ));
    }

    #[test]
    fn x_groq_error_is_an_embedded_error() {
        let v = serde_json::json!({"choices":[],"x_groq":{"id":"req_1","error":"stream stopped: capacity"}});
        let e = embedded_error(&v).unwrap();
        assert_eq!(e.message.as_deref(), Some("stream stopped: capacity"));
        let ok = serde_json::json!({"choices":[],"x_groq":{"id":"req_1"}});
        assert!(embedded_error(&ok).is_none());
    }
}
