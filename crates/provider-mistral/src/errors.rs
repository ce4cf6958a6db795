//! Mistral's error classification, where it differs from the generic OpenAI one.
//!
//! One 429 body (`"code":"1300"`, "Rate limit exceeded") means three things; only the
//! headers tell them apart, checked in this order:
//!
//! | evidence | kind |
//! | --- | --- |
//! | 429 with `x-ratelimit-remaining-tokens-month: 0` | `QuotaExhausted` until the 1st of next month, 00:00 UTC |
//! | 429 with any `x-ratelimit-limit-*: 0` (model not on this free tier) | `ModelNotFound` |
//! | 429 "Service tier capacity exceeded" (its `type` says `invalid_request_error`) | `Transient` |
//! | any other 429 | `RateLimited`: `retry-after`, else 1 s when a short window has room (per-second burst), else 60 s |
//! | 402 (the "$10/mo in API credits" plan spent; body not captured) | `QuotaExhausted` until next month |
//! | 400 `type: invalid_model` / code `1500` | `ModelNotFound` |
//! | everything else | the generic table (401 `{"detail":"Unauthorized"}` → `Unauthorized`, 422 `extra_forbidden` and 400 `3280` → `BadRequest`, 5xx → `Transient`) |

use std::time::Duration;

use llmpool_core::{ErrorKind, next_utc_month};
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;
use llmpool_openai_compat::transport::header_u64;

use crate::limits;

/// Wait after a per-second burst.
const BURST_WAIT: Duration = Duration::from_secs(1);
/// Wait after a per-minute limit with no hint.
const MINUTE_WAIT: Duration = Duration::from_secs(60);

/// Classifies a Mistral failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    match ctx.status {
        429 if header_u64(ctx.headers, limits::REMAINING_TOKENS_MONTH) == Some(0) => {
            ErrorKind::QuotaExhausted {
                until: Some(next_utc_month(ctx.now)),
            }
        }
        429 if limits::has_zero_limit(ctx.headers) => ErrorKind::ModelNotFound,
        429 if body.mentions("capacity") => ErrorKind::Transient { status: Some(429) },
        429 => ErrorKind::RateLimited {
            retry_after: ctx.retry_after().or(Some(
                if limits::short_window_has_room(ctx.headers) {
                    BURST_WAIT
                } else {
                    MINUTE_WAIT
                },
            )),
        },
        402 => ErrorKind::QuotaExhausted {
            until: Some(next_utc_month(ctx.now)),
        },
        400 if body.code_is(&["invalid_model", "1500"]) => ErrorKind::ModelNotFound,
        _ => default_classify(ctx),
    }
}
