//! Kilo's error classification: on `error_type` first (the tolerant reader takes it as
//! the error's type), then the OpenRouter-shaped upstream errors Kilo passes through.
//!
//! | `error_type` (status) | kind |
//! | --- | --- |
//! | `promotion_limit_reached` (401!) | `QuotaExhausted` for 24 h: 10,000 requests per rolling 24 h per IP, **not** Auth |
//! | `rate_limit_exceeded` (429) | `RateLimited`: `retry-after`, else 60 s (200 per rolling hour per IP) |
//! | `paid_model_auth_required` (401), `usage_limit_exceeded` / `insufficient_credits` (402) | `ModelNotFound`: the model is not free |
//! | `discontinued_free_model`, `model_not_found` (404), `feature_exclusive_model` (403), `data_collection_required` (400), `model_not_allowed` | `ModelNotFound` |
//! | `authentication_required` (401) | `Unauthorized` |
//! | `no_free_models_available`, `temporarily_unavailable` (503) | `Transient` |
//! | `context_length_exceeded` | `ContextTooLong` |
//! | `invalid_request`, `invalid_path`, `unsupported_field`, `api_kind_not_supported` | `BadRequest` |
//! | anything else (upstream OpenRouter bodies, a gateway-wide 429) | the generic table |

use std::time::Duration;

use llmpool_core::ErrorKind;
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;

/// The anonymous daily cap counts the last 24 hours.
pub(crate) const ROLLING_DAY: Duration = Duration::from_secs(24 * 3600);
/// The wait after the hourly free-model limit with no hint.
pub(crate) const HOURLY_WAIT: Duration = Duration::from_secs(60);

/// Classifies a Kilo failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    let is = |names: &[&str]| body.code_is(names);
    if is(&["promotion_limit_reached", "PROMOTION_MODEL_LIMIT_REACHED"]) {
        ErrorKind::QuotaExhausted {
            until: Some(ctx.after(ROLLING_DAY)),
        }
    } else if is(&["rate_limit_exceeded"]) {
        ErrorKind::RateLimited {
            retry_after: ctx.retry_after().or(Some(HOURLY_WAIT)),
        }
    } else if is(&[
        "paid_model_auth_required",
        "usage_limit_exceeded",
        "insufficient_credits",
        "discontinued_free_model",
        "model_not_found",
        "feature_exclusive_model",
        "data_collection_required",
        "model_not_allowed",
    ]) {
        ErrorKind::ModelNotFound
    } else if is(&["authentication_required"]) {
        ErrorKind::Unauthorized
    } else if is(&["no_free_models_available", "temporarily_unavailable"]) {
        ErrorKind::Transient {
            status: (ctx.status >= 400).then_some(ctx.status),
        }
    } else if is(&["context_length_exceeded"]) {
        ErrorKind::ContextTooLong
    } else if is(&[
        "invalid_request",
        "invalid_path",
        "unsupported_field",
        "api_kind_not_supported",
    ]) {
        ErrorKind::BadRequest
    } else {
        default_classify(ctx)
    }
}
