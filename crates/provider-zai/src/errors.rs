//! Z.ai's error classification: on the business code string `error.code` first (HTTP
//! 429 is used for concurrency, frequency, daily caps, arrears and locked accounts alike;
//! messages are often Chinese).
//!
//! | code | meaning | kind |
//! | --- | --- | --- |
//! | 1000–1004 | bad, missing or expired token | `Unauthorized` |
//! | 1110–1112, 1121, 1313 | account inactive, locked, fair-use violation | `Unauthorized` |
//! | 1113 | "Insufficient balance or no resource package": this model is not free for this key | `ModelNotFound` (the route, not the key) |
//! | 1211 | model does not exist | `ModelNotFound` |
//! | 1210, 1213–1215 | parameters | `BadRequest` |
//! | 1261 | prompt too long | `ContextTooLong` |
//! | 1301 | unsafe content | `ContentFiltered` |
//! | 1302, 1303, 1305 | concurrency, frequency, traffic limit | `RateLimited` for 2 s |
//! | 1304 | today's call limit | `QuotaExhausted` until the next midnight in China (UTC+8, assumed) |
//! | 1308, 1310 | window limit "resets at YYYY-MM-DD HH:MM:SS" (UTC+8, no zone written) | `QuotaExhausted` until that time |
//! | 1312, 1234 | model overloaded, network error | `Transient` |
//! | anything else | the generic table | |

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use llmpool_core::ErrorKind;
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;

/// The wait after a concurrency or frequency 429 (the reference says 1–3 s).
pub(crate) const SHORT_WAIT: Duration = Duration::from_secs(2);

/// Classifies a Z.ai failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    let status = (ctx.status >= 400).then_some(ctx.status);
    let Some(code) = body
        .code
        .as_deref()
        .and_then(|c| c.trim().parse::<u32>().ok())
    else {
        return default_classify(ctx);
    };
    match code {
        1000..=1004 | 1110..=1112 | 1121 | 1313 => ErrorKind::Unauthorized,
        1113 | 1211 => ErrorKind::ModelNotFound,
        1210 | 1213..=1215 => ErrorKind::BadRequest,
        1261 => ErrorKind::ContextTooLong,
        1301 => ErrorKind::ContentFiltered,
        1302 | 1303 | 1305 => ErrorKind::RateLimited {
            retry_after: ctx.retry_after().or(Some(SHORT_WAIT)),
        },
        1304 => ErrorKind::QuotaExhausted {
            until: Some(next_china_midnight(ctx.now)),
        },
        1308 | 1310 => ErrorKind::QuotaExhausted {
            until: body.message.as_deref().and_then(reset_time),
        },
        1312 | 1234 => ErrorKind::Transient { status },
        _ => default_classify(ctx),
    }
}

/// The next midnight in China (UTC+8), in UTC.
pub(crate) fn next_china_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    llmpool_core::next_midnight(now, Shanghai)
}

/// The first `YYYY-MM-DD HH:MM:SS` in `message`, read as China time (UTC+8).
pub(crate) fn reset_time(message: &str) -> Option<DateTime<Utc>> {
    const LEN: usize = "2026-08-25 07:41:44".len();
    message.char_indices().find_map(|(i, _)| {
        let candidate = message.get(i..i + LEN)?;
        // Exactly `dddd-dd-dd dd:dd:dd` (the parser alone would accept a leading space
        // and a one-digit second).
        let shaped = candidate
            .bytes()
            .zip("dddd-dd-dd dd:dd:dd".bytes())
            .all(|(c, p)| {
                if p == b'd' {
                    c.is_ascii_digit()
                } else {
                    c == p
                }
            });
        if !shaped {
            return None;
        }
        let local = NaiveDateTime::parse_from_str(candidate, "%Y-%m-%d %H:%M:%S").ok()?;
        Shanghai
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_times_in_messages_are_china_time() {
        let m = "已达到 5 小时的使用上限。您的限额将在 2026-08-25 07:41:44 重置。";
        assert_eq!(
            reset_time(m),
            Some(Utc.with_ymd_and_hms(2026, 8, 24, 23, 41, 44).unwrap())
        );
        assert_eq!(reset_time("resets at ${next_flush_time}"), None);
        assert_eq!(reset_time(""), None);
    }

    #[test]
    fn the_day_ends_at_midnight_in_china() {
        // 17:00 UTC is 01:00 the next day in China: the next midnight is 23 h later.
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 17, 0, 0).unwrap();
        assert_eq!(
            next_china_midnight(now),
            Utc.with_ymd_and_hms(2026, 12, 6, 16, 0, 0).unwrap()
        );
        let before = Utc.with_ymd_and_hms(2026, 12, 5, 15, 59, 0).unwrap();
        assert_eq!(
            next_china_midnight(before),
            Utc.with_ymd_and_hms(2026, 12, 5, 16, 0, 0).unwrap()
        );
    }
}
