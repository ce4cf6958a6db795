//! Hugging Face's error classification, where it differs from the generic OpenAI one.
//! Bodies are a flat string `{"error":"…"}` or an OpenAI `error` object; backend errors
//! pass through in the backend's shape.
//!
//! | Hugging Face says | kind |
//! | --- | --- |
//! | 402 "… depleted / exceeded your monthly included credits …" | `QuotaExhausted` until the 1st of next month, 00:00 UTC (assumed; for the whole account) |
//! | 403 gated model ("unless the model owner gives you access … accepting the terms") | `ModelNotFound` (the route, not the key) |
//! | 400 `model_not_supported` (no enabled backend serves it) | `ModelNotFound` |
//! | a backend's `NOT_ENOUGH_BALANCE` | `Transient` (another backend may serve it) |
//! | everything else | the generic table (401 and 403 `permission_error` → `Unauthorized`, 404 → `ModelNotFound`, 429 → `RateLimited`, 503 "currently loading" and 5xx → `Transient`) |

use llmpool_core::{ErrorKind, next_utc_month};
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;

/// Classifies a Hugging Face failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    match ctx.status {
        402 => ErrorKind::QuotaExhausted {
            until: Some(next_utc_month(ctx.now)),
        },
        403 if body.mentions_any(&[
            "model owner gives you access",
            "accepting the terms",
            "gated",
        ]) =>
        {
            ErrorKind::ModelNotFound
        }
        400 if body.code_is(&["model_not_supported"]) => ErrorKind::ModelNotFound,
        _ if body.mentions("NOT_ENOUGH_BALANCE") => ErrorKind::Transient {
            status: (ctx.status >= 400).then_some(ctx.status),
        },
        _ => default_classify(ctx),
    }
}
