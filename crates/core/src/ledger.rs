//! The quota ledger: per route (provider, model, key) counters of requests and tokens per
//! minute, day and month, checked and counted atomically through the [`StateStore`].
//!
//! Windows:
//! - **minute** windows are *sliding-window estimates*: the counter of the current
//!   calendar minute plus the previous minute's counter weighted by the share of it that
//!   still lies inside the last 60 seconds (`CounterCheck::previous`). This never lets
//!   more than about the limit through in any 60-second span, and needs two counters only;
//! - **day** windows end at midnight of the catalog's `day_reset_tz` (Gemini
//!   America/Los_Angeles, others UTC), computed with chrono-tz, so they follow DST;
//! - **month** windows are calendar months in UTC.
//!
//! Counter keys embed the window id (`llmpool:q:<route>:rpd:2026-03-08`), so a new window
//! starts at zero by itself and old keys expire. Every window is counted even when its
//! limit is unknown (with an unbounded limit), so the status report shows real use.
//!
//! Rate-limit headers win over local estimates: a reported `remaining` sets the counter
//! (`limit - remaining`), a reported `limit` is learned (stored as JSON under
//! `llmpool:learned:<route>`), and "0 remaining, reset in 7 s" blocks the route for 7 s
//! (the router parks it in the health table).

use std::collections::HashMap;
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

const MINUTE_TTL: Duration = Duration::from_secs(130);

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

    fn limit(self, limits: &Limits) -> Option<u64> {
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
    /// Minutes since the Unix epoch.
    pub(crate) minute: i64,
    /// Share of the previous minute still inside the sliding 60 s, in [0, 1].
    pub(crate) previous_weight: f64,
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
    pub(crate) fn at(now: DateTime<Utc>, tz: Tz) -> Self {
        let ts = now.timestamp();
        let minute = ts.div_euclid(60);
        let into = f64::from(u32::try_from(ts.rem_euclid(60)).unwrap_or(0))
            + f64::from(now.timestamp_subsec_millis()) / 1000.0;
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
            minute,
            previous_weight: (1.0 - into / 60.0).clamp(0.0, 1.0),
            next_minute: DateTime::from_timestamp((minute + 1) * 60, 0).unwrap_or(now),
            day,
            next_day: start_of_day(tz, next_date),
            month,
            next_month,
        }
    }

    fn id(&self, kind: WindowKind) -> String {
        match kind {
            WindowKind::RequestsMinute | WindowKind::TokensMinute => self.minute.to_string(),
            WindowKind::RequestsDay | WindowKind::TokensDay => self.day.to_string(),
            WindowKind::RequestsMonth => format!("{:04}-{:02}", self.month.0, self.month.1),
        }
    }

    /// When the window of `kind` containing this instant ends.
    pub(crate) fn end(&self, kind: WindowKind) -> DateTime<Utc> {
        match kind {
            WindowKind::RequestsMinute | WindowKind::TokensMinute => self.next_minute,
            WindowKind::RequestsDay | WindowKind::TokensDay => self.next_day,
            WindowKind::RequestsMonth => self.next_month,
        }
    }

    fn ttl(&self, kind: WindowKind, now: DateTime<Utc>) -> Duration {
        let slack = Duration::from_secs(3600);
        match kind {
            WindowKind::RequestsMinute | WindowKind::TokensMinute => MINUTE_TTL,
            WindowKind::RequestsDay | WindowKind::TokensDay | WindowKind::RequestsMonth => {
                (self.end(kind) - now).to_std().unwrap_or_default() + slack
            }
        }
    }
}

/// What the ledger needs to know about a route.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteQuota<'a> {
    /// Unique route id (`provider/model@key`).
    pub(crate) id: &'a str,
    /// The provider's daily reset zone.
    pub(crate) tz: Tz,
    /// Limits from the catalog (lowest precedence).
    pub(crate) catalog: Limits,
    /// Limits from the settings (highest precedence).
    pub(crate) explicit: Limits,
}

/// A slot taken for one attempt; reconciled after it.
#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    request_keys: Vec<(String, Duration)>,
    token_keys: Vec<(String, Duration)>,
    tokens: u64,
}

/// Outcome of [`Ledger::acquire`].
#[derive(Debug)]
pub(crate) enum Grant {
    Granted(Reservation),
    Denied {
        window: WindowKind,
        until: DateTime<Utc>,
    },
}

/// Current use of one route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RouteUsage {
    pub(crate) calls_minute: u64,
    pub(crate) calls_today: u64,
    pub(crate) calls_month: u64,
    pub(crate) tokens_minute: u64,
    pub(crate) tokens_today: u64,
}

/// What headers said: the route must not be called before `until`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Block {
    pub(crate) until: DateTime<Utc>,
    /// True for day/month windows (exhausted), false for minute windows (rate limited).
    pub(crate) quota: bool,
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

fn counter_key(route: &str, kind: WindowKind, window: &str) -> String {
    format!("llmpool:q:{route}:{}:{window}", kind.tag())
}

impl Ledger {
    pub(crate) fn new(store: Arc<dyn StateStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            learned: Mutex::new(HashMap::new()),
        }
    }

    /// Loads learned limits of a route from the store (once per route and process).
    pub(crate) async fn load(&self, route: &str) -> Result<(), StoreError> {
        if self
            .learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(route)
        {
            return Ok(());
        }
        let stored = self.store.get(&learned_key(route)).await?;
        let limits = stored
            .and_then(|text| serde_json::from_str::<Limits>(&text).ok())
            .unwrap_or_default();
        self.learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(route.to_owned())
            .or_insert(limits);
        Ok(())
    }

    /// Effective limits: catalog, then what headers taught, then explicit settings.
    pub(crate) fn limits(&self, route: &RouteQuota<'_>) -> Limits {
        let learned = self
            .learned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route.id)
            .copied()
            .unwrap_or_default();
        route
            .catalog
            .overridden_by(&learned)
            .overridden_by(&route.explicit)
    }

    /// The token cost charged up front: the prompt estimate plus `max_tokens` (or a
    /// modest default).
    pub(crate) fn token_cost(req: &ChatRequest) -> u64 {
        req.estimated_prompt_tokens()
            .saturating_add(req.max_tokens.map_or(DEFAULT_COMPLETION_TOKENS, u64::from))
    }

    /// Takes one request slot and the estimated tokens in every window of the route,
    /// atomically; nothing is counted when any window is full.
    pub(crate) async fn acquire(
        &self,
        route: &RouteQuota<'_>,
        tokens: u64,
    ) -> Result<Grant, StoreError> {
        let now = self.clock.now();
        let w = Windows::at(now, route.tz);
        let limits = self.limits(route);
        let mut checks = Vec::with_capacity(WindowKind::ALL.len());
        let mut reservation = Reservation {
            request_keys: Vec::new(),
            token_keys: Vec::new(),
            tokens,
        };
        for kind in WindowKind::ALL {
            let limit = kind.limit(&limits).unwrap_or(u64::MAX);
            // A request larger than a whole token window could never be granted; it is
            // charged as the whole window instead, and the upstream decides.
            let cost = if kind.is_tokens() {
                tokens.min(limit)
            } else {
                1
            };
            let key = counter_key(route.id, kind, &w.id(kind));
            let ttl = w.ttl(kind, now);
            let previous = match kind {
                WindowKind::RequestsMinute | WindowKind::TokensMinute => Some((
                    counter_key(route.id, kind, &(w.minute - 1).to_string()),
                    w.previous_weight,
                )),
                WindowKind::RequestsDay | WindowKind::RequestsMonth | WindowKind::TokensDay => None,
            };
            if kind.is_tokens() {
                reservation.token_keys.push((key.clone(), ttl));
            } else {
                reservation.request_keys.push((key.clone(), ttl));
            }
            checks.push(CounterCheck {
                key,
                limit,
                cost,
                ttl,
                previous,
            });
        }
        Ok(match self.store.try_acquire(&checks).await? {
            Acquire::Granted => Grant::Granted(reservation),
            Acquire::Denied { index, .. } => {
                let window = WindowKind::ALL
                    .get(index)
                    .copied()
                    .unwrap_or(WindowKind::RequestsMinute);
                Grant::Denied {
                    window,
                    until: w.end(window),
                }
            }
        })
    }

    /// Whether one more request (of `tokens`) would fit every window now; the window that
    /// is full and its end otherwise. Read-only.
    pub(crate) async fn room(
        &self,
        route: &RouteQuota<'_>,
    ) -> Result<Option<(WindowKind, DateTime<Utc>)>, StoreError> {
        let now = self.clock.now();
        let w = Windows::at(now, route.tz);
        let limits = self.limits(route);
        let usage = self.usage(route).await?;
        for kind in WindowKind::ALL {
            let Some(limit) = kind.limit(&limits) else {
                continue;
            };
            let used = match kind {
                WindowKind::RequestsMinute => usage.calls_minute,
                WindowKind::RequestsDay => usage.calls_today,
                WindowKind::RequestsMonth => usage.calls_month,
                WindowKind::TokensMinute => usage.tokens_minute,
                WindowKind::TokensDay => usage.tokens_today,
            };
            if used >= limit {
                return Ok(Some((kind, w.end(kind))));
            }
        }
        Ok(None)
    }

    /// The route's current use (minute figures are the sliding estimate).
    pub(crate) async fn usage(&self, route: &RouteQuota<'_>) -> Result<RouteUsage, StoreError> {
        let w = Windows::at(self.clock.now(), route.tz);
        let mut keys = Vec::new();
        for kind in WindowKind::ALL {
            keys.push(counter_key(route.id, kind, &w.id(kind)));
        }
        keys.push(counter_key(
            route.id,
            WindowKind::RequestsMinute,
            &(w.minute - 1).to_string(),
        ));
        keys.push(counter_key(
            route.id,
            WindowKind::TokensMinute,
            &(w.minute - 1).to_string(),
        ));
        let v = self.store.counters(&keys).await?;
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        Ok(RouteUsage {
            calls_minute: weighted_use(get(0), Some((get(5), w.previous_weight))),
            calls_today: get(1),
            calls_month: get(2),
            tokens_minute: weighted_use(get(3), Some((get(6), w.previous_weight))),
            tokens_today: get(4),
        })
    }

    /// Corrects the token estimate with the reported usage.
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
        let delta = i64::try_from(actual).unwrap_or(i64::MAX)
            - i64::try_from(reservation.tokens).unwrap_or(i64::MAX);
        if delta != 0 {
            for (key, ttl) in &reservation.token_keys {
                self.store.add(key, delta, *ttl).await?;
            }
        }
        Ok(())
    }

    /// Settles a failed attempt: tokens were not spent; a call that never reached the
    /// upstream (connection refused) also gives its request slot back.
    pub(crate) async fn failed(
        &self,
        reservation: &Reservation,
        error: &ProviderError,
    ) -> Result<(), StoreError> {
        let tokens = i64::try_from(reservation.tokens).unwrap_or(i64::MAX);
        for (key, ttl) in &reservation.token_keys {
            self.store.add(key, -tokens, *ttl).await?;
        }
        if never_reached_upstream(error) {
            for (key, ttl) in &reservation.request_keys {
                self.store.add(key, -1, *ttl).await?;
            }
        }
        Ok(())
    }

    /// Applies what rate-limit headers said: learned limits, reported use, and a block
    /// when a window has nothing left.
    pub(crate) async fn observe(
        &self,
        route: &RouteQuota<'_>,
        snapshot: &RateLimitSnapshot,
    ) -> Result<Option<Block>, StoreError> {
        if snapshot.is_empty() {
            return Ok(None);
        }
        let now = self.clock.now();
        let w = Windows::at(now, route.tz);
        let mut learned_changed = false;
        let mut block: Option<Block> = None;
        let known = self.limits(route);
        for kind in WindowKind::ALL {
            let reported = kind.reported(snapshot);
            if reported.is_empty() {
                continue;
            }
            if let Some(limit) = reported.limit
                && kind.limit(&known) != Some(limit)
                && kind.limit(&route.explicit).is_none()
            {
                let mut map = self.learned.lock().unwrap_or_else(PoisonError::into_inner);
                let entry = map.entry(route.id.to_owned()).or_default();
                set_limit(entry, kind, limit);
                learned_changed = true;
            }
            let limit = reported.limit.or(kind.limit(&known));
            // "0 left, reset in 7 s" becomes a block of 7 s below; counting the window as
            // full would keep the route blocked for the rest of our own window instead.
            let blocked = reported.remaining == Some(0) && reported.reset_after.is_some();
            if let (Some(limit), Some(remaining), false) = (limit, reported.remaining, blocked) {
                let used = limit.saturating_sub(remaining);
                let key = counter_key(route.id, kind, &w.id(kind));
                let value = match kind {
                    WindowKind::RequestsMinute | WindowKind::TokensMinute => {
                        let prev_key = counter_key(route.id, kind, &(w.minute - 1).to_string());
                        let prev = self
                            .store
                            .counters(&[prev_key])
                            .await?
                            .first()
                            .copied()
                            .unwrap_or(0);
                        used.saturating_sub(weighted_use(0, Some((prev, w.previous_weight))))
                    }
                    WindowKind::RequestsDay | WindowKind::RequestsMonth | WindowKind::TokensDay => {
                        used
                    }
                };
                self.store
                    .set_counter(&key, value, w.ttl(kind, now))
                    .await?;
            }
            if reported.remaining == Some(0) {
                let until = match reported.reset_after {
                    Some(after) => {
                        now + chrono::Duration::from_std(after).unwrap_or(chrono::TimeDelta::MAX)
                    }
                    None => w.end(kind),
                };
                let quota = kind.is_quota();
                if block.is_none_or(|b| until > b.until) {
                    block = Some(Block { until, quota });
                }
            }
        }
        if learned_changed {
            let learned = self
                .learned
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(route.id)
                .copied()
                .unwrap_or_default();
            if let Ok(text) = serde_json::to_string(&learned) {
                self.store.put(&learned_key(route.id), &text, None).await?;
            }
        }
        Ok(block)
    }

    /// The next daily reset of a zone after now.
    pub(crate) fn next_daily_reset(&self, tz: Tz) -> DateTime<Utc> {
        Windows::at(self.clock.now(), tz).next_day
    }
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
        assert!((w.previous_weight - 0.5).abs() < 1e-9);
        assert_eq!(w.next_minute, at("2027-01-01T00:00:00Z"));
    }

    fn quota(id: &str, limits: Limits) -> RouteQuota<'_> {
        RouteQuota {
            id,
            tz: LA,
            catalog: limits,
            explicit: Limits::default(),
        }
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
            Grant::Denied { window, until } => {
                assert_eq!(window, WindowKind::RequestsDay);
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
        let block = ledger.observe(&q, &snap).await.unwrap().unwrap();
        assert_eq!(block.until, at("2026-05-01T10:00:07Z"));
        assert!(!block.quota);
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
        ledger
            .failed(&res, &ProviderError::new("p", ErrorKind::Timeout))
            .await
            .unwrap();
        let u = ledger.usage(&q).await.unwrap();
        assert_eq!((u.calls_today, u.tokens_today), (1, 0));
    }
}
