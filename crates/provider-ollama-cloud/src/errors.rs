//! Ollama Cloud's error classification: on the message text (the status alone does not
//! separate the cases). Bodies are the native `{"error":"…"}` or, on `/v1`, an OpenAI
//! `error` object whose `type` only mirrors the status.
//!
//! | Ollama says | kind |
//! | --- | --- |
//! | "this model requires a subscription" (403, or inside a 200) | `ModelNotFound` (the route, not the key) |
//! | 429 "… reached your monthly usage limit" | `QuotaExhausted` for a day: the month runs from the signup date, unknown to llmpool, so the account is re-probed daily |
//! | 429 "… reached your weekly usage limit" (legacy plans) | `QuotaExhausted` until next Monday 00:00 UTC |
//! | 429 "… reached your session usage limit" (legacy plans) | `QuotaExhausted` until the next 5-hour boundary (Unix time divisible by 18,000 s) |
//! | 429 "… reached your hourly usage limit" (2025) | `RateLimited` until the next hour |
//! | any other 429 (a second request in flight) | `RateLimited` for 2 s |
//! | 410 (model withdrawn) | `ModelNotFound` |
//! | everything else | the generic table (401 → `Unauthorized`, 404 → `ModelNotFound`, 5xx → `Transient`) |

use std::time::Duration;

use chrono::{DateTime, Datelike, Days, TimeZone, Utc};
use llmpool_core::ErrorKind;
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;

/// The wait after a 429 that names no window (one request in flight on Free).
pub(crate) const BUSY_WAIT: Duration = Duration::from_secs(2);
/// How long a monthly wall parks the account before the next probe.
pub(crate) const MONTHLY_REPROBE: Duration = Duration::from_secs(24 * 3600);
/// Legacy session windows: 5-hour epochs.
const SESSION_SECS: i64 = 5 * 3600;

/// Classifies an Ollama Cloud failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    if body.mentions("requires a subscription") {
        return ErrorKind::ModelNotFound;
    }
    match ctx.status {
        429 if body.mentions("monthly usage limit") => ErrorKind::QuotaExhausted {
            until: Some(ctx.after(MONTHLY_REPROBE)),
        },
        429 if body.mentions("weekly usage limit") => ErrorKind::QuotaExhausted {
            until: Some(next_monday(ctx.now)),
        },
        429 if body.mentions("session usage limit") => ErrorKind::QuotaExhausted {
            until: Some(next_epoch(ctx.now, SESSION_SECS)),
        },
        429 if body.mentions("hourly usage limit") => ErrorKind::RateLimited {
            retry_after: (next_epoch(ctx.now, 3600) - ctx.now).to_std().ok(),
        },
        429 => ErrorKind::RateLimited {
            retry_after: ctx.retry_after().or(Some(BUSY_WAIT)),
        },
        410 => ErrorKind::ModelNotFound,
        _ => default_classify(ctx),
    }
}

/// The next Monday 00:00 UTC strictly after `now`.
pub(crate) fn next_monday(now: DateTime<Utc>) -> DateTime<Utc> {
    let days = 7 - u64::from(now.weekday().num_days_from_monday());
    now.date_naive()
        .checked_add_days(Days::new(days))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

/// The next Unix time divisible by `period` seconds, strictly after `now`.
pub(crate) fn next_epoch(now: DateTime<Utc>, period: i64) -> DateTime<Utc> {
    let next = (now.timestamp().div_euclid(period) + 1) * period;
    Utc.timestamp_opt(next, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_windows_end_on_monday_midnight() {
        // 2026-12-05 is a Saturday.
        let sat = Utc.with_ymd_and_hms(2026, 12, 5, 13, 0, 0).unwrap();
        assert_eq!(
            next_monday(sat),
            Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap()
        );
        let mon = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
        assert_eq!(
            next_monday(mon),
            Utc.with_ymd_and_hms(2026, 12, 14, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn session_windows_are_five_hour_epochs() {
        let now = Utc.timestamp_opt(18_000 * 100 + 7, 0).unwrap();
        assert_eq!(next_epoch(now, SESSION_SECS).timestamp(), 18_000 * 101);
        let on = Utc.timestamp_opt(18_000 * 100, 0).unwrap();
        assert_eq!(next_epoch(on, SESSION_SECS).timestamp(), 18_000 * 101);
    }
}
