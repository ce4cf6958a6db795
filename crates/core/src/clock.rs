//! Wall-clock time, injectable so tests can pause and advance it.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A source of wall-clock time. Quota windows and resets are computed from it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// Midnight UTC of the first day of the month after `now`: where monthly quotas reset
/// when a provider names no other moment (the ledger's month windows, and the monthly
/// walls of Cohere, Hugging Face and Mistral).
pub fn next_utc_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1).map_or(DateTime::<Utc>::MAX_UTC, |d| {
        d.and_time(NaiveTime::MIN).and_utc()
    })
}

/// The first instant of `date` in `tz` (midnight, or the first valid time after it when
/// a DST change skips midnight).
pub(crate) fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut naive = date.and_time(NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&naive).earliest() {
            return t.with_timezone(&Utc);
        }
        naive += chrono::Duration::minutes(30);
    }
    // No zone skips more than two hours; fall back to UTC midnight.
    date.and_time(NaiveTime::MIN).and_utc()
}

/// The next midnight in `tz` after `now` (the start of the next local day): where daily
/// quotas reset (the ledger's calendar days, and the daily walls providers announce).
pub fn next_midnight(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    today
        .succ_opt()
        .map_or(DateTime::<Utc>::MAX_UTC, |tomorrow| {
            start_of_day(tz, tomorrow)
        })
}

/// [`next_midnight`] in UTC.
pub fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    next_midnight(now, Tz::UTC)
}

/// The system's real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall time that follows tokio's clock from a fixed start, so that tests with
/// `tokio::time::pause()` control quota windows, cooldowns and daily resets together.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `base` now and advancing with `tokio::time`.
    pub fn starting_at(base: DateTime<Utc>) -> Self {
        Self {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        self.base + chrono::Duration::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let base = DateTime::parse_from_rfc3339("2026-03-08T09:59:00Z")
            .unwrap()
            .to_utc();
        let clock = TokioClock::starting_at(base);
        assert_eq!(clock.now(), base);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), base + chrono::Duration::seconds(90));
    }

    #[test]
    fn the_day_ends_at_utc_midnight() {
        use chrono::TimeZone;
        // Cloudflare's daily Neuron allocation and OpenRouter's daily cap reset here.
        let late = chrono::Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
            .unwrap();
        assert_eq!(
            next_utc_midnight(late),
            chrono::Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        let midnight = chrono::Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap();
        assert_eq!(
            next_utc_midnight(midnight),
            chrono::Utc.with_ymd_and_hms(2026, 12, 6, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn next_month_rolls_over_the_year() {
        use chrono::TimeZone;
        let at = |y, m, d, h, mi, se| Utc.with_ymd_and_hms(y, m, d, h, mi, se).unwrap();
        assert_eq!(
            next_utc_month(at(2026, 7, 14, 10, 0, 0)),
            at(2026, 8, 1, 0, 0, 0)
        );
        assert_eq!(
            next_utc_month(at(2026, 12, 31, 23, 59, 59)),
            at(2027, 1, 1, 0, 0, 0)
        );
        assert_eq!(
            next_utc_month(at(2026, 12, 15, 8, 0, 0)),
            at(2027, 1, 1, 0, 0, 0)
        );
        assert_eq!(
            next_utc_month(at(2026, 8, 1, 0, 0, 0)),
            at(2026, 9, 1, 0, 0, 0)
        );
        assert_eq!(
            next_utc_month(at(2026, 2, 1, 0, 0, 0)),
            at(2026, 3, 1, 0, 0, 0)
        );
    }
}
