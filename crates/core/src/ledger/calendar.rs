//! The window calendar: which second, minute, day (a calendar day in the provider's zone, or a
//! rolling 24 hours) and month windows contain an instant, their ids and ends, and how
//! long their counters are kept.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::catalog::Limits;
use crate::ratelimit::{RateLimitSnapshot, Window};

/// Length of a minute window's sub-bucket, in seconds.
pub(super) const BUCKET_SECS: i64 = 10;

/// Sub-buckets before the current one that a minute window counts: with the current one
/// they span 70 s, covering every 60-second window that ends in the current bucket.
pub(super) const PREVIOUS_BUCKETS: i64 = 6;

/// How long a sub-bucket is kept after its last change: it is read for 70 s after it
/// starts; the rest is slack for clocks that differ between processes.
pub(super) const MINUTE_TTL: Duration = Duration::from_secs(130);

/// Length of a second window's sub-bucket ("tick"), in milliseconds.
pub(super) const TICK_MILLIS: i64 = 200;

/// Ticks before the current one that a second window counts: with the current one they
/// span 1.2 s, covering every 1-second window that ends in the current tick (as a minute
/// window's 7 buckets of 10 s cover every 60 s ending in the current one).
pub(super) const PREVIOUS_TICKS: i64 = 5;

/// How long a tick is kept: it is read for 1.2 s after it starts; the rest is slack for
/// clocks that differ between processes and stores that expire in whole seconds.
pub(super) const SECOND_TTL: Duration = Duration::from_secs(5);

/// Length of a rolling day window's sub-bucket, in seconds (an hour).
pub(super) const HOUR_SECS: i64 = 3600;

/// Hour sub-buckets before the current one that a rolling day window counts: with the
/// current one they span 25 h, covering every 24-hour window that ends in the current hour.
pub(super) const PREVIOUS_HOURS: i64 = 24;

/// How long an hour sub-bucket is kept: read for 25 h after it starts, plus slack.
pub(super) const ROLLING_DAY_TTL: Duration = Duration::from_secs(26 * 3600);

/// How a provider's daily windows are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DayRule {
    /// The zone whose midnight ends a calendar day (also the reset shown in status).
    pub(crate) tz: Tz,
    /// The upstream counts the last 24 hours rather than a calendar day: counted in hour
    /// sub-buckets, the current one and the 24 before it in full, so never less than any
    /// 24 hours hold (the stricter reading when a provider does not say which it is).
    pub(crate) rolling: bool,
}

impl From<Tz> for DayRule {
    fn from(tz: Tz) -> Self {
        Self { tz, rolling: false }
    }
}

/// Which window a limit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WindowKind {
    RequestsMinute,
    /// Requests in a rolling second: counted only where a limit is set (`rps`).
    RequestsSecond,
    RequestsDay,
    RequestsMonth,
    TokensMinute,
    TokensDay,
}

impl WindowKind {
    pub(super) const ALL: [WindowKind; 6] = [
        WindowKind::RequestsMinute,
        WindowKind::RequestsDay,
        WindowKind::RequestsMonth,
        WindowKind::TokensMinute,
        WindowKind::TokensDay,
        WindowKind::RequestsSecond,
    ];

    /// Whether a window of this kind is counted even where its limit is unknown (so the
    /// status report shows real use): all but the second window, whose counters would
    /// cost every request a few more keys for a figure nobody reads.
    pub(super) fn always_counted(self) -> bool {
        !matches!(self, Self::RequestsSecond)
    }

    /// The kind's place in [`WindowKind::ALL`].
    pub(super) fn index(self) -> usize {
        match self {
            Self::RequestsMinute => 0,
            Self::RequestsDay => 1,
            Self::RequestsMonth => 2,
            Self::TokensMinute => 3,
            Self::TokensDay => 4,
            Self::RequestsSecond => 5,
        }
    }

    pub(super) fn tag(self) -> &'static str {
        match self {
            Self::RequestsMinute => "rpm",
            Self::RequestsDay => "rpd",
            Self::RequestsMonth => "rpmonth",
            Self::TokensMinute => "tpm",
            Self::TokensDay => "tpd",
            Self::RequestsSecond => "rps",
        }
    }

    pub(crate) fn limit(self, limits: &Limits) -> Option<u64> {
        match self {
            Self::RequestsMinute => limits.rpm,
            Self::RequestsDay => limits.rpd,
            Self::RequestsMonth => limits.rpmonth,
            Self::TokensMinute => limits.tpm,
            Self::TokensDay => limits.tpd,
            Self::RequestsSecond => limits.rps,
        }
    }

    pub(super) fn is_tokens(self) -> bool {
        matches!(self, Self::TokensMinute | Self::TokensDay)
    }

    /// Whether running out of this window means "exhausted" (day, month) rather than
    /// "rate limited" (second, minute).
    pub(crate) fn is_quota(self) -> bool {
        matches!(
            self,
            Self::RequestsDay | Self::RequestsMonth | Self::TokensDay
        )
    }

    pub(super) fn reported(self, snapshot: &RateLimitSnapshot) -> Window {
        match self {
            Self::RequestsMinute => snapshot.requests_minute,
            Self::RequestsDay => snapshot.requests_day,
            Self::RequestsMonth => snapshot.requests_month,
            Self::TokensMinute => snapshot.tokens_minute,
            Self::TokensDay => snapshot.tokens_day,
            // No provider reports a per-second window in headers.
            Self::RequestsSecond => Window::default(),
        }
    }
}

/// The windows that contain one instant, for one reset zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Windows {
    /// The second windows' current tick: 200 ms spans since the Unix epoch.
    pub(crate) tick: i64,
    /// Start of the next tick, when the oldest one counted leaves the second window.
    pub(crate) next_tick: DateTime<Utc>,
    /// The minute windows' current sub-bucket: 10-second spans since the Unix epoch.
    pub(crate) bucket: i64,
    /// Start of the next sub-bucket, when the oldest one counted leaves the minute window.
    pub(crate) next_bucket: DateTime<Utc>,
    /// Start of the next calendar minute.
    pub(crate) next_minute: DateTime<Utc>,
    /// The provider-local date of the daily window.
    pub(crate) day: NaiveDate,
    /// When the daily window ends (next local midnight).
    pub(crate) next_day: DateTime<Utc>,
    /// The UTC month (year, month).
    pub(crate) month: (i32, u32),
    /// Start of the next UTC month.
    pub(crate) next_month: DateTime<Utc>,
    /// Whether day windows are rolling (counted in hour sub-buckets).
    pub(crate) rolling: bool,
    /// Rolling day windows' current sub-bucket: hours since the Unix epoch.
    pub(crate) hour: i64,
    /// Start of the next hour, when the oldest hour leaves a rolling day window.
    pub(crate) next_hour: DateTime<Utc>,
}

impl Windows {
    pub(crate) fn at(now: DateTime<Utc>, rule: impl Into<DayRule>) -> Self {
        let DayRule { tz, rolling } = rule.into();
        let ts = now.timestamp();
        let hour = ts.div_euclid(HOUR_SECS);
        let minute = ts.div_euclid(60);
        let bucket = ts.div_euclid(BUCKET_SECS);
        let tick = now.timestamp_millis().div_euclid(TICK_MILLIS);
        let day = now.with_timezone(&tz).date_naive();
        let next_date = day.succ_opt().unwrap_or(day);
        let month = (now.year(), now.month());
        let next_month = crate::clock::next_utc_month(now);
        Self {
            tick,
            next_tick: DateTime::from_timestamp_millis((tick + 1) * TICK_MILLIS).unwrap_or(now),
            bucket,
            next_bucket: DateTime::from_timestamp((bucket + 1) * BUCKET_SECS, 0).unwrap_or(now),
            next_minute: DateTime::from_timestamp((minute + 1) * 60, 0).unwrap_or(now),
            day,
            next_day: crate::clock::start_of_day(tz, next_date),
            month,
            next_month,
            rolling,
            hour,
            next_hour: DateTime::from_timestamp((hour + 1) * HOUR_SECS, 0).unwrap_or(now),
        }
    }

    /// How a window of `kind` is split when it slides: its current sub-bucket, the tag of
    /// its ids (`""` for 10 s buckets, `"h"` for hours) and how many earlier sub-buckets it
    /// counts in full; `None` for windows that start over at a fixed time.
    pub(super) fn sliding(&self, kind: WindowKind) -> Option<(i64, &'static str, i64)> {
        match kind {
            WindowKind::RequestsSecond => Some((self.tick, "", PREVIOUS_TICKS)),
            WindowKind::RequestsMinute | WindowKind::TokensMinute => {
                Some((self.bucket, "", PREVIOUS_BUCKETS))
            }
            WindowKind::RequestsDay | WindowKind::TokensDay if self.rolling => {
                Some((self.hour, "h", PREVIOUS_HOURS))
            }
            WindowKind::RequestsDay | WindowKind::TokensDay | WindowKind::RequestsMonth => None,
        }
    }

    /// Which window of `kind` contains the instant, as numbers: equal stamps, equal ids
    /// (and equal earlier sub-buckets).
    pub(super) fn stamp(&self, kind: WindowKind) -> (i64, u8) {
        match kind {
            WindowKind::RequestsSecond => (self.tick, 4),
            WindowKind::RequestsMinute | WindowKind::TokensMinute => (self.bucket, 0),
            WindowKind::RequestsDay | WindowKind::TokensDay if self.rolling => (self.hour, 1),
            WindowKind::RequestsDay | WindowKind::TokensDay => {
                (i64::from(self.day.num_days_from_ce()), 2)
            }
            WindowKind::RequestsMonth => {
                (i64::from(self.month.0) * 12 + i64::from(self.month.1), 3)
            }
        }
    }

    pub(super) fn id(&self, kind: WindowKind) -> String {
        if let Some((current, tag, _)) = self.sliding(kind) {
            return format!("{tag}{current}");
        }
        match kind {
            WindowKind::RequestsMonth => format!("{:04}-{:02}", self.month.0, self.month.1),
            _ => self.day.to_string(),
        }
    }

    /// When the use of the window of `kind` can next drop: the next sub-bucket for second,
    /// minute and rolling day windows (the oldest one leaves), the window's end for the
    /// others.
    pub(crate) fn end(&self, kind: WindowKind) -> DateTime<Utc> {
        match kind {
            WindowKind::RequestsSecond => self.next_tick,
            WindowKind::RequestsMinute | WindowKind::TokensMinute => self.next_bucket,
            WindowKind::RequestsDay | WindowKind::TokensDay if self.rolling => self.next_hour,
            WindowKind::RequestsDay | WindowKind::TokensDay => self.next_day,
            WindowKind::RequestsMonth => self.next_month,
        }
    }

    pub(super) fn ttl(&self, kind: WindowKind, now: DateTime<Utc>) -> Duration {
        let slack = Duration::from_secs(3600);
        match kind {
            WindowKind::RequestsSecond => SECOND_TTL,
            WindowKind::RequestsMinute | WindowKind::TokensMinute => MINUTE_TTL,
            WindowKind::RequestsDay | WindowKind::TokensDay if self.rolling => ROLLING_DAY_TTL,
            WindowKind::RequestsDay | WindowKind::TokensDay | WindowKind::RequestsMonth => {
                (self.end(kind) - now).to_std().unwrap_or_default() + slack
            }
        }
    }
}

/// Seconds since midnight, for tests and reports.
#[cfg(test)]
pub(super) fn local_hms(t: DateTime<Utc>, tz: Tz) -> (u32, u32) {
    use chrono::Timelike;
    let l = t.with_timezone(&tz);
    (l.hour(), l.minute())
}
