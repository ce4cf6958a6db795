//! The quota ledger: per route (provider, model, key) counters of requests and tokens per
//! minute, day and month, checked and counted atomically through the [`StateStore`].
//!
//! Two levels of windows, both per key (each key is its own quota):
//! - a route's **own** windows, counted under its quota id: the route id
//!   (`provider/model@key`), or for a model that names a catalog `bucket`, the bucket's id
//!   (`provider[bucket]@key`), so the bucket's models count together;
//! - the key's **shared** windows, counted under `provider@key` for every window kind that
//!   has a shared limit (catalog `[shared]`, `[providers.<id>.shared]`, or learned from
//!   headers): all models of the key count there together.
//!
//! A request takes one slot in every own window and every shared window in ONE atomic
//! [`StateStore::try_acquire`], so no interleaving of requests on several models can pass
//! a shared limit; reconciling and refunding touch both levels.
//!
//! Windows:
//! - **minute** windows are rolling 60-second windows counted in 10-second sub-buckets
//!   (`rpm:<bucket>`, the bucket being the Unix time divided by 10). The use of a minute
//!   window at time `t` is the count of the current bucket plus the 6 preceding ones, each
//!   counted in full (`CounterCheck::previous`, weight 1.0). Those 7 buckets cover
//!   `(t - 60 s, t]` and at most 10 s more (only the oldest one lies partly outside), so
//!   the use is never below what a true rolling window over the last 60 seconds holds and
//!   at most one bucket above it. **Guarantee:** where the limit is known, a request is
//!   granted only if the ledger's count of every 60-second span ending now (calendar-aligned
//!   or not), plus its cost, stays within the limit, so the ledger's own counting never
//!   lets a rolling minute hold more than the limit; the price is that a burst may wait up
//!   to 10 s longer than strictly needed. (Token costs are estimates until reconciled, and
//!   reported headers replace the count, below.) A denied minute window is retried at the
//!   next bucket boundary, when the oldest bucket leaves the window;
//! - **day** windows end at midnight of the catalog's `day_reset_tz` (Gemini
//!   America/Los_Angeles, others UTC), computed with chrono-tz, so they follow DST; or,
//!   for a catalog with `day_window = "rolling"` (Groq, Cerebras: their limits replenish
//!   continuously), they are the last 24 hours, counted like minute windows in hour
//!   sub-buckets (`rpd:h<hour>`), the current one and the 24 before it in full, so never
//!   less than any 24 hours hold; a denied rolling day is retried at the next hour;
//! - **month** windows are calendar months in UTC.
//!
//! Counter keys embed the window id (`llmpool:q:<quota id>:rpd:2026-03-08`), so a new
//! window starts at zero by itself and old keys expire. Every own window is counted even
//! when its limit is unknown (with an unbounded limit), so the status report shows real
//! use; shared windows are counted only where a shared limit is known.
//!
//! Tokens are charged as estimated (prompt + `max_tokens`, or a default) when a request
//! is granted and corrected with the reported usage when it is answered. A failed
//! attempt gives its tokens back only when the upstream refused it (an error answer) or
//! never got it (connection refused, which also returns the request slot); a timeout or a
//! lost connection keeps the estimate, since the upstream may have answered and counted.
//!
//! Rate-limit headers win over local estimates: a reported `remaining` sets the counter
//! (`limit - remaining`; minute windows and rolling days only ever raise it), a reported
//! `limit` is learned (stored as JSON under
//! `llmpool:learned:<quota id>` or `llmpool:learned:<provider@key>`), and "0 remaining,
//! reset in 7 s" blocks the route for 7 s (the router parks it in the health table). A
//! window kind with a shared limit is reported for the whole key (OpenRouter's
//! `X-RateLimit-*` are per account), so its figures update the shared counter and its
//! block applies to every route of the key.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::catalog::Limits;
use crate::clock::Clock;
use crate::error::{ErrorKind, ProviderError, StoreError};
use crate::ratelimit::{RateLimitSnapshot, Window};
use crate::store::{Acquire, CounterCheck, StateStore, weighted_use};
use crate::types::{ChatRequest, Usage};

/// Completion tokens assumed when a request sets no `max_tokens`.
pub(crate) const DEFAULT_COMPLETION_TOKENS: u64 = 256;

/// Length of a minute window's sub-bucket, in seconds.
const BUCKET_SECS: i64 = 10;

/// Sub-buckets before the current one that a minute window counts: with the current one
/// they span 70 s, covering every 60-second window that ends in the current bucket.
const PREVIOUS_BUCKETS: i64 = 6;

/// How long a sub-bucket is kept after its last change: it is read for 70 s after it
/// starts; the rest is slack for clocks that differ between processes.
const MINUTE_TTL: Duration = Duration::from_secs(130);

/// Length of a rolling day window's sub-bucket, in seconds (an hour).
const HOUR_SECS: i64 = 3600;

/// Hour sub-buckets before the current one that a rolling day window counts: with the
/// current one they span 25 h, covering every 24-hour window that ends in the current hour.
const PREVIOUS_HOURS: i64 = 24;

/// How long an hour sub-bucket is kept: read for 25 h after it starts, plus slack.
const ROLLING_DAY_TTL: Duration = Duration::from_secs(26 * 3600);

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
    RequestsDay,
    RequestsMonth,
    TokensMinute,
    TokensDay,
}

impl WindowKind {
    const ALL: [WindowKind; 5] = [
        WindowKind::RequestsMinute,
        WindowKind::RequestsDay,
        WindowKind::RequestsMonth,
        WindowKind::TokensMinute,
        WindowKind::TokensDay,
    ];

    fn tag(self) -> &'static str {
        match self {
            Self::RequestsMinute => "rpm",
            Self::RequestsDay => "rpd",
            Self::RequestsMonth => "rpmonth",
            Self::TokensMinute => "tpm",
            Self::TokensDay => "tpd",
        }
    }

    pub(crate) fn limit(self, limits: &Limits) -> Option<u64> {
        match self {
            Self::RequestsMinute => limits.rpm,
            Self::RequestsDay => limits.rpd,
            Self::RequestsMonth => limits.rpmonth,
            Self::TokensMinute => limits.tpm,
            Self::TokensDay => limits.tpd,
        }
    }

    fn is_tokens(self) -> bool {
        matches!(self, Self::TokensMinute | Self::TokensDay)
    }

    /// Whether running out of this window means "exhausted" (day, month) rather than
    /// "rate limited" (minute).
    pub(crate) fn is_quota(self) -> bool {
        matches!(
            self,
            Self::RequestsDay | Self::RequestsMonth | Self::TokensDay
        )
    }

    fn reported(self, snapshot: &RateLimitSnapshot) -> Window {
        match self {
            Self::RequestsMinute => snapshot.requests_minute,
            Self::RequestsDay => snapshot.requests_day,
            Self::RequestsMonth => snapshot.requests_month,
            Self::TokensMinute => snapshot.tokens_minute,
            Self::TokensDay => snapshot.tokens_day,
        }
    }
}

/// The windows that contain one instant, for one reset zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Windows {
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

/// The first instant of `date` in `tz` (midnight, or the first valid time after it when
/// a DST change skips midnight).
fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut naive = date.and_time(chrono::NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&naive).earliest() {
            return t.with_timezone(&Utc);
        }
        naive += chrono::Duration::minutes(30);
    }
    // No zone skips more than two hours; fall back to UTC midnight.
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

impl Windows {
    pub(crate) fn at(now: DateTime<Utc>, rule: impl Into<DayRule>) -> Self {
        let DayRule { tz, rolling } = rule.into();
        let ts = now.timestamp();
        let hour = ts.div_euclid(HOUR_SECS);
        let minute = ts.div_euclid(60);
        let bucket = ts.div_euclid(BUCKET_SECS);
        let day = now.with_timezone(&tz).date_naive();
        let next_date = day.succ_opt().unwrap_or(day);
        let month = (now.year(), now.month());
        let (ny, nm) = if now.month() == 12 {
            (now.year() + 1, 1)
        } else {
            (now.year(), now.month() + 1)
        };
        let next_month = NaiveDate::from_ymd_opt(ny, nm, 1)
            .map_or(now, |d| d.and_time(chrono::NaiveTime::MIN).and_utc());
        Self {
            bucket,
            next_bucket: DateTime::from_timestamp((bucket + 1) * BUCKET_SECS, 0).unwrap_or(now),
            next_minute: DateTime::from_timestamp((minute + 1) * 60, 0).unwrap_or(now),
            day,
            next_day: start_of_day(tz, next_date),
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
    fn sliding(&self, kind: WindowKind) -> Option<(i64, &'static str, i64)> {
        match kind {
            WindowKind::RequestsMinute | WindowKind::TokensMinute => {
                Some((self.bucket, "", PREVIOUS_BUCKETS))
            }
            WindowKind::RequestsDay | WindowKind::TokensDay if self.rolling => {
                Some((self.hour, "h", PREVIOUS_HOURS))
            }
            WindowKind::RequestsDay | WindowKind::TokensDay | WindowKind::RequestsMonth => None,
        }
    }

    fn id(&self, kind: WindowKind) -> String {
        if let Some((current, tag, _)) = self.sliding(kind) {
            return format!("{tag}{current}");
        }
        match kind {
            WindowKind::RequestsMonth => format!("{:04}-{:02}", self.month.0, self.month.1),
            _ => self.day.to_string(),
        }
    }

    /// When the use of the window of `kind` can next drop: the next sub-bucket for minute
    /// and rolling day windows (the oldest bucket leaves), the window's end for the others.
    pub(crate) fn end(&self, kind: WindowKind) -> DateTime<Utc> {
        match kind {
            WindowKind::RequestsMinute | WindowKind::TokensMinute => self.next_bucket,
            WindowKind::RequestsDay | WindowKind::TokensDay if self.rolling => self.next_hour,
            WindowKind::RequestsDay | WindowKind::TokensDay => self.next_day,
            WindowKind::RequestsMonth => self.next_month,
        }
    }

    /// Keys of the sub-buckets before the current one that a minute window (or a rolling
    /// day window) of `id` counts, newest first; empty for other windows.
    fn previous_keys(&self, id: &str, kind: WindowKind) -> Vec<String> {
        self.previous_keys_weighted(id, kind)
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    }

    /// [`previous_keys`](Self::previous_keys), each with the weight 1.0 (counted in full).
    fn previous_keys_weighted(&self, id: &str, kind: WindowKind) -> Vec<(String, f64)> {
        let Some((current, tag, count)) = self.sliding(kind) else {
            return Vec::new();
        };
        let prefix = key_prefix(id, kind, 21);
        (1..=count)
            .map(|back| {
                let mut key = prefix.clone();
                key.push_str(tag);
                let _ = write!(key, "{}", current - back);
                (key, 1.0)
            })
            .collect()
    }

    fn ttl(&self, kind: WindowKind, now: DateTime<Utc>) -> Duration {
        let slack = Duration::from_secs(3600);
        match kind {
            WindowKind::RequestsMinute | WindowKind::TokensMinute => MINUTE_TTL,
            WindowKind::RequestsDay | WindowKind::TokensDay if self.rolling => ROLLING_DAY_TTL,
            WindowKind::RequestsDay | WindowKind::TokensDay | WindowKind::RequestsMonth => {
                (self.end(kind) - now).to_std().unwrap_or_default() + slack
            }
        }
    }
}

/// What the ledger needs to know about a route.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteQuota<'a> {
    /// Counter id of the route's own windows: the route id (`provider/model@key`), or the
    /// bucket's (`provider[bucket]@key`) when its model shares a bucket.
    pub(crate) id: &'a str,
    /// Counter id of the key's shared windows (`provider@key`).
    pub(crate) key_id: &'a str,
    /// How the provider's daily windows are counted.
    pub(crate) day: DayRule,
    /// Own limits from the catalog (lowest precedence).
    pub(crate) catalog: Limits,
    /// Own limits from the settings (highest precedence).
    pub(crate) explicit: Limits,
    /// Shared limits of the key from the catalog (`[shared]`).
    pub(crate) shared_catalog: Limits,
    /// Shared limits of the key from the settings.
    pub(crate) shared_explicit: Limits,
}

/// Which level of windows something belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The route's own windows (shared by the models of its bucket, if any).
    Own,
    /// The windows shared by every route of the key.
    Key,
}

/// One counter a reservation charged.
#[derive(Debug, Clone)]
struct Charge {
    key: String,
    ttl: Duration,
    cost: u64,
    tokens: bool,
}

impl Charge {
    fn cost_i64(&self) -> i64 {
        i64::try_from(self.cost).unwrap_or(i64::MAX)
    }
}

/// A slot taken for one attempt; reconciled after it.
#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    charges: Vec<Charge>,
}

/// Outcome of [`Ledger::acquire`].
#[derive(Debug)]
pub(crate) enum Grant {
    Granted(Reservation),
    Denied {
        window: WindowKind,
        until: DateTime<Utc>,
        scope: Scope,
    },
}

/// Current use of one set of windows (a route's own, or a key's shared).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RouteUsage {
    pub(crate) calls_minute: u64,
    pub(crate) calls_today: u64,
    pub(crate) calls_month: u64,
    pub(crate) tokens_minute: u64,
    pub(crate) tokens_today: u64,
}

impl RouteUsage {
    pub(crate) fn of(&self, kind: WindowKind) -> u64 {
        match kind {
            WindowKind::RequestsMinute => self.calls_minute,
            WindowKind::RequestsDay => self.calls_today,
            WindowKind::RequestsMonth => self.calls_month,
            WindowKind::TokensMinute => self.tokens_minute,
            WindowKind::TokensDay => self.tokens_today,
        }
    }
}

/// What headers said: the route (or with [`Scope::Key`], every route of the key) must
/// not be called before `until`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Block {
    pub(crate) until: DateTime<Utc>,
    /// True for day/month windows (exhausted), false for minute windows (rate limited).
    pub(crate) quota: bool,
    pub(crate) scope: Scope,
}

/// Quota counters of every route.
#[derive(Debug)]
pub(crate) struct Ledger {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    learned: Mutex<HashMap<String, Limits>>,
}

fn learned_key(route: &str) -> String {
    format!("llmpool:learned:{route}")
}

/// `llmpool:q:{route}:{tag}:` — what every key of a route's window of `kind` starts with.
/// Built by hand: the ledger makes about thirty keys per request, and `format!` was a
/// visible share of the gateway's CPU.
fn key_prefix(route: &str, kind: WindowKind, extra: usize) -> String {
    let tag = kind.tag();
    let mut key = String::with_capacity(12 + route.len() + tag.len() + extra);
    key.push_str("llmpool:q:");
    key.push_str(route);
    key.push(':');
    key.push_str(tag);
    key.push(':');
    key
}

fn counter_key(route: &str, kind: WindowKind, window: &str) -> String {
    let mut key = key_prefix(route, kind, window.len());
    key.push_str(window);
    key
}

impl Ledger {
    pub(crate) fn new(store: Arc<dyn StateStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            learned: Mutex::new(HashMap::new()),
        }
    }

    /// Loads learned limits of a quota id (a route's, a bucket's or a key's) from the store
    /// (once per id and process).
    pub(crate) async fn load(&self, id: &str) -> Result<(), StoreError> {
        if self
            .learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(id)
        {
            return Ok(());
        }
        let stored = self.store.get(&learned_key(id)).await?;
        let limits = stored
            .and_then(|text| serde_json::from_str::<Limits>(&text).ok())
            .unwrap_or_default();
        self.learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.to_owned())
            .or_insert(limits);
        Ok(())
    }

    /// How many ids have learned limits in memory.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Drops the learned limits of `id` held in memory (a one-off route leaving its
    /// cache); the store keeps them.
    pub(crate) fn forget(&self, id: &str) {
        self.learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    fn learned(&self, id: &str) -> Limits {
        self.learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .copied()
            .unwrap_or_default()
    }

    /// Effective own limits: catalog, then what headers taught, then explicit settings.
    pub(crate) fn limits(&self, route: &RouteQuota<'_>) -> Limits {
        route
            .catalog
            .overridden_by(&self.learned(route.id))
            .overridden_by(&route.explicit)
    }

    /// Effective limits shared by every route of the key, in the same precedence.
    pub(crate) fn shared_limits(&self, route: &RouteQuota<'_>) -> Limits {
        route
            .shared_catalog
            .overridden_by(&self.learned(route.key_id))
            .overridden_by(&route.shared_explicit)
    }

    /// The token cost charged up front: the prompt estimate plus `max_tokens` (or a
    /// modest default).
    pub(crate) fn token_cost(req: &ChatRequest) -> u64 {
        req.estimated_prompt_tokens()
            .saturating_add(req.max_tokens.map_or(DEFAULT_COMPLETION_TOKENS, u64::from))
    }

    /// Takes one request slot and the estimated tokens in every own window of the route
    /// and every shared window of its key, atomically; nothing is counted when any window
    /// is full.
    pub(crate) async fn acquire(
        &self,
        route: &RouteQuota<'_>,
        tokens: u64,
    ) -> Result<Grant, StoreError> {
        let now = self.clock.now();
        let w = Windows::at(now, route.day);
        let own = self.limits(route);
        let shared = self.shared_limits(route);
        let mut windows = Vec::with_capacity(2 * WindowKind::ALL.len());
        for kind in WindowKind::ALL {
            windows.push((kind, Scope::Own, route.id, kind.limit(&own)));
        }
        for kind in WindowKind::ALL {
            if let Some(limit) = kind.limit(&shared) {
                windows.push((kind, Scope::Key, route.key_id, Some(limit)));
            }
        }
        let mut checks = Vec::with_capacity(windows.len());
        let mut charges = Vec::with_capacity(windows.len());
        for &(kind, _, id, limit) in &windows {
            let limit = limit.unwrap_or(u64::MAX);
            // A request larger than a whole token window could never be granted; it is
            // charged as the whole window instead, and the upstream decides.
            let cost = if kind.is_tokens() {
                tokens.min(limit)
            } else {
                1
            };
            let key = counter_key(id, kind, &w.id(kind));
            let ttl = w.ttl(kind, now);
            // Earlier sub-buckets count in full: never less than a rolling window holds.
            let previous = w.previous_keys_weighted(id, kind);
            charges.push(Charge {
                key: key.clone(),
                ttl,
                cost,
                tokens: kind.is_tokens(),
            });
            checks.push(CounterCheck {
                key,
                limit,
                cost,
                ttl,
                previous,
            });
        }
        Ok(match self.store.try_acquire(&checks).await? {
            Acquire::Granted => Grant::Granted(Reservation { charges }),
            Acquire::Denied { index, .. } => {
                let (window, scope) = windows
                    .get(index)
                    .map_or((WindowKind::RequestsMinute, Scope::Own), |w| (w.0, w.1));
                Grant::Denied {
                    window,
                    until: w.end(window),
                    scope,
                }
            }
        })
    }

    /// Whether one more request would fit every own and shared window now; the window
    /// that is full and its end otherwise. Read-only.
    pub(crate) async fn room(
        &self,
        route: &RouteQuota<'_>,
    ) -> Result<Option<(WindowKind, DateTime<Utc>)>, StoreError> {
        let w = Windows::at(self.clock.now(), route.day);
        let own = self.limits(route);
        let shared = self.shared_limits(route);
        let usage = self.usage(route).await?;
        let shared_usage = if shared.is_empty() {
            RouteUsage::default()
        } else {
            self.shared_usage(route).await?
        };
        for kind in WindowKind::ALL {
            for (limits, usage) in [(&own, &usage), (&shared, &shared_usage)] {
                if let Some(limit) = kind.limit(limits)
                    && usage.of(kind) >= limit
                {
                    return Ok(Some((kind, w.end(kind))));
                }
            }
        }
        Ok(None)
    }

    /// The route's current use of its own windows (minute figures are the conservative
    /// sub-bucket sum the ledger checks); the same for every route of one bucket.
    pub(crate) async fn usage(&self, route: &RouteQuota<'_>) -> Result<RouteUsage, StoreError> {
        self.usage_of(route.id, route.day).await
    }

    /// The key's current use of its shared windows (zero where no shared window is
    /// counted).
    pub(crate) async fn shared_usage(
        &self,
        route: &RouteQuota<'_>,
    ) -> Result<RouteUsage, StoreError> {
        self.usage_of(route.key_id, route.day).await
    }

    async fn usage_of(&self, id: &str, day: DayRule) -> Result<RouteUsage, StoreError> {
        let w = Windows::at(self.clock.now(), day);
        // Per kind: its current counter, then the earlier sub-buckets it counts in full.
        let mut keys = Vec::new();
        let mut spans = Vec::with_capacity(WindowKind::ALL.len());
        for kind in WindowKind::ALL {
            let start = keys.len();
            keys.push(counter_key(id, kind, &w.id(kind)));
            keys.extend(w.previous_keys(id, kind));
            spans.push(start..keys.len());
        }
        let v = self.store.counters(&keys).await?;
        let used = |i: usize| -> u64 {
            let Some(values) = spans.get(i).and_then(|span| v.get(span.clone())) else {
                return 0;
            };
            let Some((current, earlier)) = values.split_first() else {
                return 0;
            };
            let earlier: Vec<(u64, f64)> = earlier.iter().map(|&count| (count, 1.0)).collect();
            weighted_use(*current, &earlier)
        };
        // The order of `WindowKind::ALL`.
        Ok(RouteUsage {
            calls_minute: used(0),
            calls_today: used(1),
            calls_month: used(2),
            tokens_minute: used(3),
            tokens_today: used(4),
        })
    }

    /// The share of the daily (else monthly) request quota still left to this route, in
    /// [0, 1]: the smaller of its own and its key's shared one; 1 when no limit is known.
    pub(crate) async fn remaining_share(&self, route: &RouteQuota<'_>) -> Result<f64, StoreError> {
        let own = self.limits(route);
        let shared = self.shared_limits(route);
        let mut share = remaining_share(&own, &self.usage(route).await?);
        if shared.rpd.is_some() || shared.rpmonth.is_some() {
            share = share.min(remaining_share(&shared, &self.shared_usage(route).await?));
        }
        Ok(share)
    }

    /// Raises the day and month counters of `target` to the sum of the same windows of
    /// `sources` where they are lower, by an atomic add (concurrent starts may count a
    /// deficit twice: too much, never too little).
    ///
    /// A counter that holds the use of several others must never show less than they do
    /// together: a key's shared windows hold every call of its routes, a bucket's those of
    /// its models. It can show less after an upgrade that introduced the shared window or
    /// the bucket (the calls so far were counted per route only), or after headers set it
    /// lower; without this, the rest of that day or month could spend the quota again.
    pub(crate) async fn raise_to_sum(
        &self,
        target: &str,
        sources: &[&str],
        day: DayRule,
    ) -> Result<(), StoreError> {
        if sources.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let w = Windows::at(now, day);
        let kinds = [
            WindowKind::RequestsDay,
            WindowKind::RequestsMonth,
            WindowKind::TokensDay,
        ];
        for kind in kinds {
            // The target's then each source's counters: the current one and the earlier
            // sub-buckets counted in full (a rolling day's hours), compared as sums.
            let span = 1 + w.sliding(kind).map_or(0, |(_, _, earlier)| earlier);
            let span = usize::try_from(span).unwrap_or(1);
            let mut keys = Vec::with_capacity(span * (sources.len() + 1));
            for id in std::iter::once(&target).chain(sources) {
                keys.push(counter_key(id, kind, &w.id(kind)));
                keys.extend(w.previous_keys(id, kind));
            }
            let values = self.store.counters(&keys).await?;
            let sum = |chunk: &[u64]| chunk.iter().fold(0_u64, |a, b| a.saturating_add(*b));
            let mut chunks = values.chunks(span);
            let held = chunks.next().map_or(0, sum);
            let total = chunks.fold(0_u64, |a, chunk| a.saturating_add(sum(chunk)));
            if total > held {
                let deficit = i64::try_from(total - held).unwrap_or(i64::MAX);
                let key = counter_key(target, kind, &w.id(kind));
                self.store.add(&key, deficit, w.ttl(kind, now)).await?;
            }
        }
        Ok(())
    }

    /// Corrects the token estimate with the reported usage, in every window charged.
    pub(crate) async fn reconcile(
        &self,
        reservation: &Reservation,
        usage: Option<&Usage>,
    ) -> Result<(), StoreError> {
        let Some(usage) = usage else {
            return Ok(());
        };
        let actual = if usage.total_tokens > 0 {
            usage.total_tokens
        } else {
            usage.prompt_tokens + usage.completion_tokens
        };
        let actual = i64::try_from(actual).unwrap_or(i64::MAX);
        self.settle(reservation, |c| c.tokens.then_some(actual - c.cost_i64()))
            .await
    }

    /// Settles a failed attempt: a call that never reached the upstream (connection
    /// refused) gives everything back; one the upstream refused with an error gives its
    /// tokens back; one that may have been answered upstream after all (a timeout, a
    /// connection lost on the way back, an unreadable or filtered answer) keeps its token
    /// estimate, since the upstream may have counted them.
    pub(crate) async fn failed(
        &self,
        reservation: &Reservation,
        error: &ProviderError,
    ) -> Result<(), StoreError> {
        let refund_requests = never_reached_upstream(error);
        let refund_tokens = refund_requests || !may_have_spent_tokens(&error.kind);
        self.settle(reservation, |c| {
            let refund = if c.tokens {
                refund_tokens
            } else {
                refund_requests
            };
            refund.then_some(-c.cost_i64())
        })
        .await
    }

    /// Adds to each charged counter the delta `f` gives it (none or zero: untouched), in
    /// one round trip for every window of the route and its key. Increases are committed
    /// before this returns; refunds may be deferred to the store's next commit (a crash
    /// in between leaves the counter high, never low).
    async fn settle(
        &self,
        reservation: &Reservation,
        f: impl Fn(&Charge) -> Option<i64>,
    ) -> Result<(), StoreError> {
        let (increases, refunds): (Vec<_>, Vec<_>) = reservation
            .charges
            .iter()
            .filter_map(|c| {
                f(c).filter(|delta| *delta != 0)
                    .map(|delta| (c.key.as_str(), delta, c.ttl))
            })
            .partition(|(_, delta, _)| *delta > 0);
        if !refunds.is_empty() {
            self.store.add_many_deferred(&refunds).await?;
        }
        if !increases.is_empty() {
            self.store.add_many(&increases).await?;
        }
        Ok(())
    }

    /// Applies what rate-limit headers said: learned limits, reported use, and blocks
    /// when a window has nothing left. A window kind with a shared limit is the key's:
    /// its figures go to the shared counter and learned limits, its block to the key.
    pub(crate) async fn observe(
        &self,
        route: &RouteQuota<'_>,
        snapshot: &RateLimitSnapshot,
    ) -> Result<Vec<Block>, StoreError> {
        let mut blocks: Vec<Block> = Vec::new();
        if snapshot.is_empty() {
            return Ok(blocks);
        }
        let now = self.clock.now();
        let w = Windows::at(now, route.day);
        let mut learned_changed: Vec<&str> = Vec::new();
        let own = self.limits(route);
        let shared = self.shared_limits(route);
        for kind in WindowKind::ALL {
            let reported = kind.reported(snapshot);
            if reported.is_empty() {
                continue;
            }
            let (scope, id, known, explicit) = if kind.limit(&shared).is_some() {
                (Scope::Key, route.key_id, &shared, &route.shared_explicit)
            } else {
                (Scope::Own, route.id, &own, &route.explicit)
            };
            if let Some(limit) = reported.limit
                && kind.limit(known) != Some(limit)
                && kind.limit(explicit).is_none()
            {
                let mut map = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
                let entry = map.entry(id.to_owned()).or_default();
                set_limit(entry, kind, limit);
                if !learned_changed.contains(&id) {
                    learned_changed.push(id);
                }
            }
            let limit = reported.limit.or(kind.limit(known));
            // "0 left, reset in 7 s" becomes a block of 7 s below; counting the window as
            // full would keep the route blocked for the rest of our own window instead.
            let blocked = reported.remaining == Some(0) && reported.reset_after.is_some();
            if let (Some(limit), Some(remaining), false) = (limit, reported.remaining, blocked) {
                let used = limit.saturating_sub(remaining);
                let key = counter_key(id, kind, &w.id(kind));
                // Sliding windows (minutes, rolling days) only ever rise to what was
                // reported: the upstream counted this request when it answered, but not
                // the ones still in flight that our counters already hold, so lowering them
                // would let a burst through. The current sub-bucket gets what the earlier
                // ones (and itself) do not already hold. Read-then-add can over-count under
                // a race, never under-count. A calendar day or a month is long next to the
                // requests in flight: there the upstream's figure wins, both ways.
                if w.sliding(kind).is_some() {
                    self.raise_to(&w, id, kind, &key, used, now).await?;
                } else {
                    self.store.set_counter(&key, used, w.ttl(kind, now)).await?;
                }
            }
            if reported.remaining == Some(0) {
                let until = match reported.reset_after {
                    Some(after) => {
                        now + chrono::Duration::from_std(after).unwrap_or(chrono::TimeDelta::MAX)
                    }
                    // No reset given: the rest of the upstream's (calendar) minute, or
                    // the window's end.
                    None => match kind {
                        WindowKind::RequestsMinute | WindowKind::TokensMinute => w.next_minute,
                        WindowKind::RequestsDay
                        | WindowKind::RequestsMonth
                        | WindowKind::TokensDay => w.end(kind),
                    },
                };
                let quota = kind.is_quota();
                match blocks.iter_mut().find(|b| b.scope == scope) {
                    Some(b) if until > b.until => {
                        *b = Block {
                            until,
                            quota,
                            scope,
                        }
                    }
                    Some(_) => {}
                    None => blocks.push(Block {
                        until,
                        quota,
                        scope,
                    }),
                }
            }
        }
        for id in learned_changed {
            if let Ok(text) = serde_json::to_string(&self.learned(id)) {
                self.store.put(&learned_key(id), &text, None).await?;
            }
        }
        Ok(blocks)
    }

    /// Adds to the current sub-bucket `key` what it and the earlier ones of the window
    /// lack to hold `used`.
    async fn raise_to(
        &self,
        w: &Windows,
        id: &str,
        kind: WindowKind,
        key: &str,
        used: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut keys = w.previous_keys(id, kind);
        keys.push(key.to_owned());
        let counts = self.store.counters(&keys).await?;
        let held = counts.iter().fold(0_u64, |a, b| a.saturating_add(*b));
        if used > held {
            let deficit = i64::try_from(used - held).unwrap_or(i64::MAX);
            self.store.add(key, deficit, w.ttl(kind, now)).await?;
        }
        Ok(())
    }

    /// The next daily reset (calendar midnight of the zone) after now.
    pub(crate) fn next_daily_reset(&self, day: DayRule) -> DateTime<Utc> {
        Windows::at(self.clock.now(), day).next_day
    }
}

/// The share of the daily (else monthly) request limit left, in [0, 1]; 1 when neither
/// is known.
#[expect(
    clippy::cast_precision_loss,
    reason = "quota figures are far below 2^52"
)]
fn remaining_share(limits: &Limits, usage: &RouteUsage) -> f64 {
    let (limit, used) = match (limits.rpd, limits.rpmonth) {
        (Some(limit), _) => (limit, usage.calls_today),
        (None, Some(limit)) => (limit, usage.calls_month),
        (None, None) => return 1.0,
    };
    if limit == 0 {
        return 0.0;
    }
    limit.saturating_sub(used) as f64 / limit as f64
}

fn set_limit(limits: &mut Limits, kind: WindowKind, value: u64) {
    match kind {
        WindowKind::RequestsMinute => limits.rpm = Some(value),
        WindowKind::RequestsDay => limits.rpd = Some(value),
        WindowKind::RequestsMonth => limits.rpmonth = Some(value),
        WindowKind::TokensMinute => limits.tpm = Some(value),
        WindowKind::TokensDay => limits.tpd = Some(value),
    }
}

/// Whether an attempt that failed this way may still have had its tokens counted
/// upstream: yes when the upstream may have generated an answer we did not get (or did
/// not accept); no when it answered with a refusal.
fn may_have_spent_tokens(kind: &ErrorKind) -> bool {
    match kind {
        ErrorKind::Timeout
        | ErrorKind::Network(_)
        | ErrorKind::InvalidResponse
        | ErrorKind::ContentFiltered => true,
        ErrorKind::RateLimited { .. }
        | ErrorKind::QuotaExhausted { .. }
        | ErrorKind::Unauthorized
        | ErrorKind::PaymentRequired
        | ErrorKind::BadRequest
        | ErrorKind::ModelNotFound
        | ErrorKind::ContextTooLong
        | ErrorKind::Transient { .. } => false,
    }
}

/// True when the error chain shows the connection was refused: the request never left.
pub(crate) fn never_reached_upstream(error: &ProviderError) -> bool {
    let ErrorKind::Network(source) = &error.kind else {
        return false;
    };
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Seconds since midnight, for tests and reports.
#[cfg(test)]
fn local_hms(t: DateTime<Utc>, tz: Tz) -> (u32, u32) {
    use chrono::Timelike;
    let l = t.with_timezone(&tz);
    (l.hour(), l.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use crate::store::MemoryStore;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    const LA: Tz = chrono_tz::America::Los_Angeles;

    #[test]
    fn pacific_midnight_across_dst() {
        // 2026-03-08 is the spring-forward day in the US: PST (UTC-8) before, PDT after.
        let w = Windows::at(at("2026-03-08T07:59:00Z"), LA);
        assert_eq!(w.day.to_string(), "2026-03-07");
        assert_eq!(w.next_day, at("2026-03-08T08:00:00Z"));
        let w = Windows::at(at("2026-03-08T08:00:00Z"), LA);
        assert_eq!(w.day.to_string(), "2026-03-08");
        // The next midnight is PDT: 07:00 UTC, a 23-hour day.
        assert_eq!(w.next_day, at("2026-03-09T07:00:00Z"));
        assert_eq!(local_hms(w.next_day, LA), (0, 0));
        // Fall back: 2026-11-01 has 25 hours.
        let w = Windows::at(at("2026-11-01T12:00:00Z"), LA);
        assert_eq!(w.next_day, at("2026-11-02T08:00:00Z"));
        let w = Windows::at(at("2026-11-01T06:30:00Z"), LA);
        assert_eq!(w.day.to_string(), "2026-10-31");
        assert_eq!(w.next_day, at("2026-11-01T07:00:00Z"));
    }

    #[test]
    fn utc_day_and_month() {
        let w = Windows::at(at("2026-12-31T23:59:30Z"), Tz::UTC);
        assert_eq!(w.next_day, at("2027-01-01T00:00:00Z"));
        assert_eq!(w.next_month, at("2027-01-01T00:00:00Z"));
        assert_eq!(w.id(WindowKind::RequestsMonth), "2026-12");
        assert_eq!(w.next_minute, at("2027-01-01T00:00:00Z"));
        assert_eq!(w.next_bucket, at("2026-12-31T23:59:40Z"));
        assert_eq!(w.bucket, at("2026-12-31T23:59:30Z").timestamp() / 10);
    }

    fn quota(id: &str, limits: Limits) -> RouteQuota<'_> {
        RouteQuota {
            id,
            key_id: "p@k",
            day: LA.into(),
            catalog: limits,
            explicit: Limits::default(),
            shared_catalog: Limits::default(),
            shared_explicit: Limits::default(),
        }
    }

    /// A route of key `p@k` with its own and shared limits.
    fn shared_quota(id: &str, own: Limits, shared: Limits) -> RouteQuota<'_> {
        RouteQuota {
            shared_catalog: shared,
            ..quota(id, own)
        }
    }

    fn ledger_at(start: &str) -> (Ledger, Arc<MemoryStore>) {
        let clock = Arc::new(TokioClock::starting_at(at(start)));
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        (Ledger::new(store.clone(), clock), store)
    }

    async fn granted(ledger: &Ledger, q: &RouteQuota<'_>) -> bool {
        matches!(ledger.acquire(q, 10).await.unwrap(), Grant::Granted(_))
    }

    const ROLLING_UTC: DayRule = DayRule {
        tz: Tz::UTC,
        rolling: true,
    };

    /// A route of a provider whose day is the last 24 hours.
    fn rolling_quota(id: &str, limits: Limits) -> RouteQuota<'_> {
        RouteQuota {
            day: ROLLING_UTC,
            ..quota(id, limits)
        }
    }

    /// The same calls under both readings of "a day": a calendar day lets the route start
    /// over at midnight; a rolling day keeps them until 24 hours have passed, in hour
    /// sub-buckets counted in full (never less than any 24 hours hold).
    #[tokio::test(start_paused = true)]
    async fn rolling_days_count_the_last_24_hours_calendar_days_reset_at_midnight() {
        let (ledger, _) = ledger_at("2026-05-01T22:10:00Z");
        let limits = Limits {
            rpd: Some(3),
            tpd: Some(1_000_000),
            ..Limits::default()
        };
        let rolling = rolling_quota("p/r@k", limits);
        let calendar = RouteQuota {
            day: Tz::UTC.into(),
            ..quota("p/c@k", limits)
        };
        for q in [&rolling, &calendar] {
            assert!(granted(&ledger, q).await);
            assert!(granted(&ledger, q).await);
        }
        // 23:30: one more each; both full.
        tokio::time::advance(Duration::from_secs(80 * 60)).await;
        for q in [&rolling, &calendar] {
            assert!(granted(&ledger, q).await);
            assert!(!granted(&ledger, q).await);
        }
        match ledger.acquire(&rolling, 10).await.unwrap() {
            Grant::Denied { window, until, .. } => {
                assert_eq!(window, WindowKind::RequestsDay);
                // Re-checked when the oldest hour leaves, not at midnight.
                assert_eq!(until, at("2026-05-02T00:00:00Z"));
            }
            Grant::Granted(_) => panic!("granted over the limit"),
        }
        // 00:30 the next day: the calendar day started over, the last 24 h still hold 3.
        tokio::time::advance(Duration::from_secs(60 * 60)).await;
        assert!(granted(&ledger, &calendar).await);
        assert!(!granted(&ledger, &rolling).await);
        assert_eq!(ledger.usage(&rolling).await.unwrap().calls_today, 3);
        assert_eq!(ledger.usage(&calendar).await.unwrap().calls_today, 1);
        // 22:40 the next day: the 22:10 calls are 24.5 h old but share an hour with the
        // window's oldest edge, so they still count (counted in full, never less).
        tokio::time::advance(Duration::from_secs(22 * 3600 + 10 * 60)).await;
        assert!(!granted(&ledger, &rolling).await);
        // 23:10 the next day: the 22:xx hour has left; the 23:30 call has not.
        tokio::time::advance(Duration::from_secs(30 * 60)).await;
        assert_eq!(ledger.usage(&rolling).await.unwrap().calls_today, 1);
        assert!(granted(&ledger, &rolling).await);
        assert!(granted(&ledger, &rolling).await);
        assert!(!granted(&ledger, &rolling).await);
    }

    /// Headers of a rolling day only raise its count (its hours cannot take a total), and
    /// the shared counter of a key raised to its routes' sum sees every hour.
    #[tokio::test(start_paused = true)]
    async fn rolling_day_headers_raise_and_sums_see_every_hour() {
        let (ledger, _) = ledger_at("2026-05-01T10:00:00Z");
        let q = rolling_quota(
            "p/m@k",
            Limits {
                rpd: Some(100),
                ..Limits::default()
            },
        );
        assert!(granted(&ledger, &q).await);
        tokio::time::advance(Duration::from_secs(3 * 3600)).await;
        assert!(granted(&ledger, &q).await);
        let snap = |remaining| RateLimitSnapshot {
            requests_day: Window {
                limit: Some(100),
                remaining: Some(remaining),
                reset_after: None,
            },
            ..RateLimitSnapshot::default()
        };
        // "1 used" is below the 2 we hold: nothing changes.
        assert!(ledger.observe(&q, &snap(99)).await.unwrap().is_empty());
        assert_eq!(ledger.usage(&q).await.unwrap().calls_today, 2);
        // "10 used": raised to 10 in all.
        assert!(ledger.observe(&q, &snap(90)).await.unwrap().is_empty());
        assert_eq!(ledger.usage(&q).await.unwrap().calls_today, 10);
        // A key counter that missed them is raised to the sum of all 24 hours.
        ledger
            .raise_to_sum("p@k", &["p/m@k"], ROLLING_UTC)
            .await
            .unwrap();
        let shared = RouteQuota { id: "p@k", ..q };
        assert_eq!(ledger.usage(&shared).await.unwrap().calls_today, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn daily_limit_resets_at_pacific_midnight() {
        let clock = Arc::new(TokioClock::starting_at(at("2026-03-08T07:00:00Z")));
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let ledger = Ledger::new(store, clock);
        let q = quota(
            "g/m@k",
            Limits {
                rpd: Some(2),
                ..Limits::default()
            },
        );
        for _ in 0..2 {
            assert!(matches!(
                ledger.acquire(&q, 10).await.unwrap(),
                Grant::Granted(_)
            ));
        }
        match ledger.acquire(&q, 10).await.unwrap() {
            Grant::Denied {
                window,
                until,
                scope,
            } => {
                assert_eq!((window, scope), (WindowKind::RequestsDay, Scope::Own));
                assert_eq!(until, at("2026-03-08T08:00:00Z"));
            }
            Grant::Granted(_) => panic!("third call granted"),
        }
        tokio::time::advance(Duration::from_secs(3599)).await;
        assert!(matches!(
            ledger.acquire(&q, 10).await.unwrap(),
            Grant::Denied { .. }
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(
            ledger.acquire(&q, 10).await.unwrap(),
            Grant::Granted(_)
        ));
        assert_eq!(ledger.usage(&q).await.unwrap().calls_today, 1);
    }

    /// A burst at the end of one minute counts in full for at least 60 s (until its
    /// sub-bucket leaves the window): no 60-second span ever holds more than the limit.
    /// (The former estimate counted only `ceil(10 × (1 - s/60))` of it at second `s` of
    /// the next minute, so from :06 on it let through requests that an upstream counting
    /// a rolling minute answers with 429.)
    #[tokio::test(start_paused = true)]
    async fn a_burst_counts_for_a_full_rolling_minute() {
        let (ledger, _) = ledger_at("2026-05-01T10:00:55Z");
        let q = quota(
            "p/m@k",
            Limits {
                rpm: Some(10),
                ..Limits::default()
            },
        );
        for _ in 0..10 {
            assert!(granted(&ledger, &q).await);
        }
        // Second 5 of the next minute: the burst is 10 s old.
        tokio::time::advance(Duration::from_secs(10)).await;
        match ledger.acquire(&q, 10).await.unwrap() {
            Grant::Denied {
                window,
                until,
                scope,
            } => {
                assert_eq!((window, scope), (WindowKind::RequestsMinute, Scope::Own));
                // Retried when the next sub-bucket starts.
                assert_eq!(until, at("2026-05-01T10:01:10Z"));
            }
            Grant::Granted(_) => panic!("an 11th request within 60 s was granted"),
        }
        assert_eq!(ledger.usage(&q).await.unwrap().calls_minute, 10);
        assert_eq!(
            ledger.room(&q).await.unwrap(),
            Some((WindowKind::RequestsMinute, at("2026-05-01T10:01:10Z")))
        );
        // Second 30: the former estimate had room for 5 more here.
        tokio::time::advance(Duration::from_secs(25)).await;
        assert_eq!(ledger.usage(&q).await.unwrap().calls_minute, 10);
        assert!(!granted(&ledger, &q).await);
        // Second 55: the burst is 60 s old.
        tokio::time::advance(Duration::from_secs(25)).await;
        assert!(!granted(&ledger, &q).await);
        // Second 59: the burst is outside the last 60 s, but its bucket (:50 to :60)
        // still overlaps them and is counted in full: at most one bucket too cautious.
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(ledger.usage(&q).await.unwrap().calls_minute, 10);
        assert!(!granted(&ledger, &q).await);
        // The next bucket starts: the burst's bucket has left the window.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(ledger.usage(&q).await.unwrap().calls_minute, 0);
        assert!(granted(&ledger, &q).await);
    }

    /// Tokens of a minute window count over every sub-bucket of the last 60 s, not only
    /// the current one; what headers report is what the window then reads.
    #[tokio::test(start_paused = true)]
    async fn token_minutes_span_their_sub_buckets() {
        let (ledger, _) = ledger_at("2026-05-01T10:00:00Z");
        let q = quota(
            "p/m@k",
            Limits {
                tpm: Some(1000),
                ..Limits::default()
            },
        );
        for _ in 0..3 {
            assert!(matches!(
                ledger.acquire(&q, 300).await.unwrap(),
                Grant::Granted(_)
            ));
            tokio::time::advance(Duration::from_secs(20)).await;
        }
        // 10:01:00: 900 tokens in buckets 0 s, 20 s and 40 s ago; 100 left.
        assert_eq!(ledger.usage(&q).await.unwrap().tokens_minute, 900);
        assert!(matches!(
            ledger.acquire(&q, 300).await.unwrap(),
            Grant::Denied {
                window: WindowKind::TokensMinute,
                ..
            }
        ));
        // Headers say 950 were used: the current bucket takes the 50 the others miss.
        let snap = RateLimitSnapshot {
            tokens_minute: Window {
                limit: Some(1000),
                remaining: Some(50),
                reset_after: None,
            },
            ..RateLimitSnapshot::default()
        };
        assert!(ledger.observe(&q, &snap).await.unwrap().is_empty());
        assert_eq!(ledger.usage(&q).await.unwrap().tokens_minute, 950);
        // 10:01:10: the first 300 left the window.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(ledger.usage(&q).await.unwrap().tokens_minute, 650);
        assert!(matches!(
            ledger.acquire(&q, 300).await.unwrap(),
            Grant::Granted(_)
        ));
    }

    /// A response's headers counted that request, not the ones still in flight: a
    /// minute window's count only ever rises to what headers report, never drops.
    #[tokio::test(start_paused = true)]
    async fn minute_headers_only_raise_the_count() {
        let (ledger, _) = ledger_at("2026-05-01T10:00:00Z");
        let q = quota(
            "p/m@k",
            Limits {
                rpm: Some(10),
                ..Limits::default()
            },
        );
        for _ in 0..6 {
            assert!(granted(&ledger, &q).await);
        }
        let snap = |remaining| RateLimitSnapshot {
            requests_minute: Window {
                limit: Some(10),
                remaining: Some(remaining),
                reset_after: None,
            },
            ..RateLimitSnapshot::default()
        };
        // The first answer says 1 used (9 left): the 5 still in flight keep counting.
        assert!(ledger.observe(&q, &snap(9)).await.unwrap().is_empty());
        assert_eq!(ledger.usage(&q).await.unwrap().calls_minute, 6);
        // Another client of the same key spent some too: 8 used raises the count.
        assert!(ledger.observe(&q, &snap(2)).await.unwrap().is_empty());
        assert_eq!(ledger.usage(&q).await.unwrap().calls_minute, 8);
        assert!(granted(&ledger, &q).await);
        assert!(granted(&ledger, &q).await);
        assert!(!granted(&ledger, &q).await);
    }

    #[tokio::test(start_paused = true)]
    async fn headers_win_and_reconcile_tokens() {
        let clock = Arc::new(TokioClock::starting_at(at("2026-05-01T10:00:00Z")));
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let ledger = Ledger::new(store.clone(), clock);
        let q = quota("r", Limits::default());
        let Grant::Granted(res) = ledger.acquire(&q, 100).await.unwrap() else {
            panic!("denied")
        };
        ledger
            .reconcile(&res, Some(&Usage::new(30, 20)))
            .await
            .unwrap();
        assert_eq!(ledger.usage(&q).await.unwrap().tokens_today, 50);
        let snap = RateLimitSnapshot {
            requests_day: Window {
                limit: Some(1000),
                remaining: Some(990),
                reset_after: None,
            },
            requests_minute: Window {
                limit: Some(30),
                remaining: Some(0),
                reset_after: Some(Duration::from_secs(7)),
            },
            ..RateLimitSnapshot::default()
        };
        let blocks = ledger.observe(&q, &snap).await.unwrap();
        assert_eq!(
            blocks,
            [Block {
                until: at("2026-05-01T10:00:07Z"),
                quota: false,
                scope: Scope::Own,
            }]
        );
        let usage = ledger.usage(&q).await.unwrap();
        assert_eq!(usage.calls_today, 10);
        // The minute window is left to the block, not counted full.
        assert_eq!(usage.calls_minute, 1);
        assert_eq!(ledger.limits(&q).rpd, Some(1000));
        // Learned limits are stored for the next process.
        assert!(
            store
                .get("llmpool:learned:r")
                .await
                .unwrap()
                .unwrap()
                .contains("1000")
        );
    }

    /// A `MemoryStore` that records which settle path each delta took.
    #[derive(Debug)]
    struct Recording {
        inner: MemoryStore,
        durable: std::sync::Mutex<Vec<i64>>,
        deferred: std::sync::Mutex<Vec<i64>>,
    }

    #[async_trait::async_trait]
    impl StateStore for Recording {
        async fn try_acquire(&self, checks: &[CounterCheck]) -> Result<Acquire, StoreError> {
            self.inner.try_acquire(checks).await
        }
        async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<(), StoreError> {
            self.inner.add(key, delta, ttl).await
        }
        async fn add_many(&self, adds: &[(&str, i64, Duration)]) -> Result<(), StoreError> {
            self.durable
                .lock()
                .unwrap()
                .extend(adds.iter().map(|a| a.1));
            self.inner.add_many(adds).await
        }
        async fn add_many_deferred(
            &self,
            adds: &[(&str, i64, Duration)],
        ) -> Result<(), StoreError> {
            self.deferred
                .lock()
                .unwrap()
                .extend(adds.iter().map(|a| a.1));
            self.inner.add_many(adds).await
        }
        async fn set_counter(
            &self,
            key: &str,
            value: u64,
            ttl: Duration,
        ) -> Result<(), StoreError> {
            self.inner.set_counter(key, value, ttl).await
        }
        async fn counters(&self, keys: &[String]) -> Result<Vec<u64>, StoreError> {
            self.inner.counters(keys).await
        }
        async fn put(
            &self,
            key: &str,
            value: &str,
            ttl: Option<Duration>,
        ) -> Result<(), StoreError> {
            self.inner.put(key, value, ttl).await
        }
        async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
            self.inner.get(key).await
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.delete(key).await
        }
        async fn append_history(
            &self,
            user: &str,
            messages: &[crate::Message],
            keep: usize,
        ) -> Result<(), StoreError> {
            self.inner.append_history(user, messages, keep).await
        }
        async fn history(
            &self,
            user: &str,
            limit: usize,
        ) -> Result<Vec<crate::Message>, StoreError> {
            self.inner.history(user, limit).await
        }
        async fn clear_history(&self, user: &str) -> Result<(), StoreError> {
            self.inner.clear_history(user).await
        }
    }

    /// Token corrections upwards are committed before the answer goes out; refunds (an
    /// estimate above the real use, a failed attempt) may be deferred, which can only
    /// leave a counter high after a crash.
    #[tokio::test(start_paused = true)]
    async fn only_refunds_are_deferred() {
        let clock = Arc::new(TokioClock::starting_at(at("2026-05-01T10:00:00Z")));
        let store = Arc::new(Recording {
            inner: MemoryStore::with_clock(clock.clone()),
            durable: std::sync::Mutex::default(),
            deferred: std::sync::Mutex::default(),
        });
        let ledger = Ledger::new(store.clone(), clock);
        let q = quota("r", Limits::default());
        let usage = |total: u64| Usage {
            prompt_tokens: 0,
            completion_tokens: 0,
            total_tokens: total,
        };
        let Grant::Granted(res) = ledger.acquire(&q, 100).await.unwrap() else {
            panic!("denied")
        };
        ledger.reconcile(&res, Some(&usage(40))).await.unwrap();
        assert!(store.durable.lock().unwrap().is_empty());
        // Two token windows (minute and day), each refunded 60.
        assert_eq!(*store.deferred.lock().unwrap(), [-60, -60]);
        store.deferred.lock().unwrap().clear();
        let Grant::Granted(res) = ledger.acquire(&q, 100).await.unwrap() else {
            panic!("denied")
        };
        ledger.reconcile(&res, Some(&usage(250))).await.unwrap();
        assert_eq!(*store.durable.lock().unwrap(), [150, 150]);
        assert!(store.deferred.lock().unwrap().is_empty());
        let u = ledger.usage(&q).await.unwrap();
        assert_eq!((u.calls_today, u.tokens_today), (2, 290));
    }

    #[tokio::test(start_paused = true)]
    async fn refused_connection_gives_the_slot_back() {
        let clock = Arc::new(TokioClock::starting_at(at("2026-05-01T10:00:00Z")));
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let ledger = Ledger::new(store, clock);
        let q = quota("r", Limits::default());
        let Grant::Granted(res) = ledger.acquire(&q, 100).await.unwrap() else {
            panic!("denied")
        };
        let refused = ProviderError::new(
            "p",
            ErrorKind::Network(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            ))),
        );
        ledger.failed(&res, &refused).await.unwrap();
        assert_eq!(ledger.usage(&q).await.unwrap(), RouteUsage::default());
        let Grant::Granted(res) = ledger.acquire(&q, 100).await.unwrap() else {
            panic!("denied")
        };
        // A refusal by the upstream: the call counts, its tokens do not.
        ledger
            .failed(
                &res,
                &ProviderError::new("p", ErrorKind::Transient { status: Some(503) }),
            )
            .await
            .unwrap();
        let u = ledger.usage(&q).await.unwrap();
        assert_eq!((u.calls_today, u.tokens_today), (1, 0));
        // A timeout: the upstream may have answered after we gave up and counted the
        // tokens, so the estimate stays (a refund here under-counted, and the simulated
        // day's upstreams answered the end of a token day with 429s).
        let Grant::Granted(res) = ledger.acquire(&q, 100).await.unwrap() else {
            panic!("denied")
        };
        ledger
            .failed(&res, &ProviderError::new("p", ErrorKind::Timeout))
            .await
            .unwrap();
        let u = ledger.usage(&q).await.unwrap();
        assert_eq!((u.calls_today, u.tokens_today), (2, 100));
    }

    #[tokio::test(start_paused = true)]
    async fn shared_limits_hold_across_models_and_refunds_reach_them() {
        let (ledger, _) = ledger_at("2026-05-01T10:00:00Z");
        let shared = Limits {
            rpd: Some(5),
            tpd: Some(1000),
            ..Limits::default()
        };
        let a = shared_quota("p/a@k", Limits::default(), shared);
        let b = shared_quota("p/b@k", Limits::default(), shared);
        let other_key = RouteQuota {
            key_id: "p@other",
            ..shared_quota("p/a@other", Limits::default(), shared)
        };
        for q in [&a, &b, &a, &b, &a] {
            assert!(granted(&ledger, q).await);
        }
        for q in [&a, &b] {
            match ledger.acquire(q, 10).await.unwrap() {
                Grant::Denied { window, scope, .. } => {
                    assert_eq!((window, scope), (WindowKind::RequestsDay, Scope::Key));
                }
                Grant::Granted(_) => panic!("{} passed the shared limit", q.id),
            }
        }
        assert!(ledger.room(&b).await.unwrap().is_some());
        // Own windows still count per model; the shared one counts them all.
        assert_eq!(ledger.usage(&a).await.unwrap().calls_today, 3);
        assert_eq!(ledger.usage(&b).await.unwrap().calls_today, 2);
        assert_eq!(ledger.shared_usage(&b).await.unwrap().calls_today, 5);
        assert_eq!(ledger.shared_usage(&b).await.unwrap().tokens_today, 50);
        // Another key is another quota.
        assert!(granted(&ledger, &other_key).await);
        assert!(ledger.remaining_share(&a).await.unwrap() < f64::EPSILON);
        assert!((ledger.remaining_share(&other_key).await.unwrap() - 0.8).abs() < 1e-9);

        // Tokens are reconciled and refunded in the shared windows too.
        let (ledger, _) = ledger_at("2026-05-01T10:00:00Z");
        let Grant::Granted(res) = ledger.acquire(&a, 100).await.unwrap() else {
            panic!("denied")
        };
        ledger
            .reconcile(&res, Some(&Usage::new(30, 10)))
            .await
            .unwrap();
        assert_eq!(ledger.usage(&a).await.unwrap().tokens_today, 40);
        assert_eq!(ledger.shared_usage(&a).await.unwrap().tokens_today, 40);
        let Grant::Granted(res) = ledger.acquire(&b, 100).await.unwrap() else {
            panic!("denied")
        };
        let refused = ProviderError::new("p", refused_kind());
        ledger.failed(&res, &refused).await.unwrap();
        let shared_use = ledger.shared_usage(&b).await.unwrap();
        assert_eq!((shared_use.calls_today, shared_use.tokens_today), (1, 40));
        assert_eq!(ledger.usage(&b).await.unwrap(), RouteUsage::default());
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_share_their_own_windows() {
        let (ledger, _) = ledger_at("2026-05-01T10:00:00Z");
        let limits = Limits {
            rpd: Some(3),
            ..Limits::default()
        };
        // Two models of one bucket have the bucket's quota id.
        let x = quota("p[xy]@k", limits);
        let y = quota("p[xy]@k", limits);
        let z = quota("p/z@k", limits);
        for q in [&x, &y, &x] {
            assert!(granted(&ledger, q).await);
        }
        assert!(!granted(&ledger, &y).await);
        assert!(!granted(&ledger, &x).await);
        assert!(granted(&ledger, &z).await, "a model outside the bucket");
    }

    #[tokio::test(start_paused = true)]
    async fn headers_of_a_shared_window_update_the_key() {
        let (ledger, store) = ledger_at("2026-05-01T10:00:00Z");
        let shared = Limits {
            rpm: Some(20),
            rpd: Some(50),
            ..Limits::default()
        };
        let own = Limits {
            tpm: Some(9000),
            ..Limits::default()
        };
        let a = shared_quota("p/a@k", own, shared);
        let b = shared_quota("p/b@k", own, shared);
        assert!(granted(&ledger, &a).await);
        // The account says 1,000 a day (it bought credits) and 990 left.
        let snap = RateLimitSnapshot {
            requests_day: Window {
                limit: Some(1000),
                remaining: Some(990),
                reset_after: None,
            },
            tokens_minute: Window {
                limit: Some(8000),
                remaining: Some(7000),
                reset_after: None,
            },
            ..RateLimitSnapshot::default()
        };
        assert!(ledger.observe(&a, &snap).await.unwrap().is_empty());
        assert_eq!(
            ledger.shared_limits(&b).rpd,
            Some(1000),
            "learned for the key"
        );
        assert_eq!(ledger.shared_usage(&b).await.unwrap().calls_today, 10);
        assert_eq!(
            ledger.usage(&a).await.unwrap().calls_today,
            1,
            "own untouched"
        );
        // A window without a shared limit stays the route's own.
        assert_eq!(ledger.limits(&a).tpm, Some(8000));
        assert_eq!(ledger.limits(&b).tpm, Some(9000));
        let stored = store.get("llmpool:learned:p@k").await.unwrap().unwrap();
        assert!(
            stored.contains("1000") && !stored.contains("8000"),
            "{stored}"
        );
        assert!(
            store
                .get("llmpool:learned:p/a@k")
                .await
                .unwrap()
                .unwrap()
                .contains("8000")
        );
        // "0 left in the minute, reset in 9 s" blocks the whole key.
        let snap = RateLimitSnapshot {
            requests_minute: Window {
                limit: Some(20),
                remaining: Some(0),
                reset_after: Some(Duration::from_secs(9)),
            },
            ..RateLimitSnapshot::default()
        };
        assert_eq!(
            ledger.observe(&b, &snap).await.unwrap(),
            [Block {
                until: at("2026-05-01T10:00:09Z"),
                quota: false,
                scope: Scope::Key,
            }]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shared_counters_are_raised_to_what_their_routes_counted() {
        let (ledger, store) = ledger_at("2026-05-01T10:00:00Z");
        let day = Duration::from_secs(86_400);
        // Counted per route only (an older version), 3 + 4 calls and 70 tokens today.
        for (key, value) in [
            ("llmpool:q:p/a@k:rpd:2026-05-01", 3),
            ("llmpool:q:p/b@k:rpd:2026-05-01", 4),
            ("llmpool:q:p/b@k:tpd:2026-05-01", 70),
            ("llmpool:q:p/a@k:rpmonth:2026-05", 3),
            ("llmpool:q:p@k:rpmonth:2026-05", 9),
        ] {
            store.set_counter(key, value, day).await.unwrap();
        }
        ledger
            .raise_to_sum("p@k", &["p/a@k", "p/b@k"], LA.into())
            .await
            .unwrap();
        let q = shared_quota("p/a@k", Limits::default(), Limits::default());
        let shared = ledger.shared_usage(&q).await.unwrap();
        // Lower counters are raised; a higher one is kept.
        assert_eq!(
            (shared.calls_today, shared.tokens_today, shared.calls_month),
            (7, 70, 9)
        );
        // Idempotent: nothing is added twice.
        ledger
            .raise_to_sum("p@k", &["p/a@k", "p/b@k"], LA.into())
            .await
            .unwrap();
        assert_eq!(ledger.shared_usage(&q).await.unwrap(), shared);
    }

    fn refused_kind() -> ErrorKind {
        ErrorKind::Network(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )))
    }
}
