//! OVHcloud's error classification. No error body from AI Endpoints was ever captured, so
//! the status decides:
//!
//! | status | kind |
//! | --- | --- |
//! | 429 | `RateLimited`: `retry-after`, else `ratelimit-reset`, else 60 s (the window is a minute) |
//! | 413 (request over 2 MB) | `BadRequest` (`ContextTooLong` when the text says so) |
//! | 403 "Forbidden: Authentication Failed" (keyed lane) | `Unauthorized` |
//! | 404 | `ModelNotFound` |
//! | 5xx | `Transient` |

use std::time::Duration;

use llmpool_core::ErrorKind;
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;

/// The wait after a 429 with no hint: the limit is per minute.
pub(crate) const MINUTE: Duration = Duration::from_secs(60);

/// Classifies an OVHcloud failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    match ctx.status {
        429 => ErrorKind::RateLimited {
            retry_after: ctx
                .retry_after()
                .or(ctx.rate_limits.requests_minute.reset_after)
                .or(Some(MINUTE)),
        },
        _ => default_classify(ctx),
    }
}
