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

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use llmpool_core::ErrorKind;
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;

/// Classifies a Hugging Face failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    match ctx.status {
        402 => ErrorKind::QuotaExhausted {
            until: Some(next_month(ctx.now)),
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

/// The 1st of the month after `now`, 00:00 UTC (Hugging Face's monthly reset moment is
/// undocumented).
pub(crate) fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn next_month_rolls_the_year() {
        let dec = Utc.with_ymd_and_hms(2026, 12, 15, 8, 0, 0).unwrap();
        assert_eq!(
            next_month(dec),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
    }
}
