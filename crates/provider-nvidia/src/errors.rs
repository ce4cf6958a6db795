//! NVIDIA's error classification, where it differs from the generic OpenAI one.
//!
//! Most bodies are RFC 7807 problem JSON (`{"status","title","detail"}`; the generic
//! reader takes `detail` as the message), one capacity error is an OpenAI `error`
//! object, and an unrouted path answers plain text `404 page not found`.
//!
//! | NVIDIA says | kind |
//! | --- | --- |
//! | 400 "… DEGRADED function cannot be invoked" (a sick deployment) | `Transient` |
//! | 410 "… has reached its end of life …" (permanent, sent before auth) | `ModelNotFound` |
//! | 404 "Not found for account" (JSON) or `404 page not found` (text) | `ModelNotFound` |
//! | 429 `{"status":429,"title":"Too Many Requests"}`, no headers | `RateLimited` for 60 s |
//! | everything else | the generic table (401/403 → `Unauthorized`, 402 → `PaymentRequired`, 503/504 → `Transient`, other 400 → `BadRequest`) |

use std::time::Duration;

use llmpool_core::ErrorKind;
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;

/// NVIDIA sends no wait: the first cooldown its reference suggests for (key, model).
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// Classifies an NVIDIA failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    match ctx.status {
        400 if ctx.body.mentions("DEGRADED") => ErrorKind::Transient { status: Some(400) },
        410 => ErrorKind::ModelNotFound,
        429 => ErrorKind::RateLimited {
            retry_after: ctx.retry_after().or(Some(DEFAULT_WAIT)),
        },
        _ => default_classify(ctx),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use llmpool_openai_compat::HeaderMap;
    use llmpool_openai_compat::testkit;

    use super::*;

    fn kind(status: u16, body: &str) -> ErrorKind {
        testkit::classify(&crate::HOOKS, status, body, &HeaderMap::new(), Utc::now())
    }

    #[test]
    fn only_the_degraded_400_is_transient() {
        let degraded = r#"{"status":400,"title":"Bad Request","detail":"Function id 'x': DEGRADED function cannot be invoked"}"#;
        assert!(matches!(
            kind(400, degraded),
            ErrorKind::Transient { status: Some(400) }
        ));
        let tools = r#"{"status":400,"title":"Bad Request","detail":"This model only supports single tool-calls at once!"}"#;
        assert!(matches!(kind(400, tools), ErrorKind::BadRequest));
    }

    #[test]
    fn a_bare_429_waits_the_default_cooldown() {
        let k = kind(429, r#"{"status":429,"title":"Too Many Requests"}"#);
        assert!(
            matches!(k, ErrorKind::RateLimited { retry_after: Some(d) } if d == DEFAULT_WAIT),
            "{k:?}"
        );
    }
}
