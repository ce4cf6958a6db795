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
//! - **month** windows are calendar months in UTC;
//! - **second** windows (`rps`) are rolling seconds counted like minute windows, in
//!   200 ms ticks (`rps:<tick>`): the current one and the 5 before it in full, 1.2 s that
//!   cover every second ending now, so the ledger never lets a rolling second hold more
//!   than the limit (Mistral's free tier: one request a second per key). They are counted
//!   only where an `rps` limit is set, so other routes pay nothing for them; a denied
//!   second window is retried at the next tick, and the router skips the route meanwhile
//!   (as it does a full minute window). Processes whose clocks differ by more than a tick
//!   may together pass a second's limit: keep gateways sharing a store on NTP.
//!
//! Requests in flight (`max_in_flight`) are not a window: the router counts them in
//! process (`router/in_flight.rs`).
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
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::catalog::Limits;
use crate::clock::Clock;
use crate::error::StoreError;
use crate::store::{StateStore, weighted_use};
use crate::types::ChatRequest;

mod calendar;
mod headers;
mod keys;
pub(crate) mod settle;
#[cfg(test)]
mod tests;

pub(crate) use self::calendar::{DayRule, WindowKind, Windows};
use self::keys::{counter_key, learned_key};

/// Completion tokens assumed when a request sets no `max_tokens`.
pub(crate) const DEFAULT_COMPLETION_TOKENS: u64 = 256;

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

/// Current use of one set of windows (a route's own, or a key's shared).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RouteUsage {
    /// Zero where no `rps` limit is set (the window is not counted there).
    pub(crate) calls_second: u64,
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
            WindowKind::RequestsSecond => self.calls_second,
        }
    }
}

/// Quota counters of every route.
#[derive(Debug)]
pub(crate) struct Ledger {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    learned: Mutex<HashMap<String, Limits>>,
    /// Counter keys of the current windows, kept between requests.
    keys: keys::KeyCache,
}

impl Ledger {
    pub(crate) fn new(store: Arc<dyn StateStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            learned: Mutex::new(HashMap::new()),
            keys: keys::KeyCache::default(),
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

    /// Whether one more request would fit every own and shared window now; the window
    /// that is full and its end otherwise. Read-only.
    pub(crate) async fn room(
        &self,
        route: &RouteQuota<'_>,
    ) -> Result<Option<(WindowKind, DateTime<Utc>)>, StoreError> {
        let w = Windows::at(self.clock.now(), route.day);
        let own = self.limits(route);
        let shared = self.shared_limits(route);
        let usage = self
            .usage_of(route.id, route.day, own.rps.is_some())
            .await?;
        let shared_usage = if shared.has_windows() {
            self.usage_of(route.key_id, route.day, shared.rps.is_some())
                .await?
        } else {
            RouteUsage::default()
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
        let second = self.limits(route).rps.is_some();
        self.usage_of(route.id, route.day, second).await
    }

    /// The key's current use of its shared windows (zero where no shared window is
    /// counted).
    pub(crate) async fn shared_usage(
        &self,
        route: &RouteQuota<'_>,
    ) -> Result<RouteUsage, StoreError> {
        let second = self.shared_limits(route).rps.is_some();
        self.usage_of(route.key_id, route.day, second).await
    }

    /// The use of `id`'s windows; its second window's only when `second` (it is counted
    /// only where a limit is set).
    async fn usage_of(
        &self,
        id: &str,
        day: DayRule,
        second: bool,
    ) -> Result<RouteUsage, StoreError> {
        let w = Windows::at(self.clock.now(), day);
        // Per kind: its current counter, then the earlier sub-buckets it counts in full.
        let mut keys = Vec::new();
        let mut spans = Vec::with_capacity(WindowKind::ALL.len());
        for kind in WindowKind::ALL {
            let start = keys.len();
            if !kind.always_counted() && !second {
                spans.push(start..start);
                continue;
            }
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
            calls_second: used(5),
        })
    }

    /// The share of the daily (else monthly) request quota still left to this route, in
    /// [0, 1]: the smaller of its own and its key's shared one; 1 when no limit is known.
    pub(crate) async fn remaining_share(&self, route: &RouteQuota<'_>) -> Result<f64, StoreError> {
        let own = self.limits(route);
        let shared = self.shared_limits(route);
        // The limits are at hand: `usage` would look them up again (a lock per route).
        let usage = self
            .usage_of(route.id, route.day, own.rps.is_some())
            .await?;
        let mut share = remaining_share(&own, &usage);
        if shared.rpd.is_some() || shared.rpmonth.is_some() {
            let shared_usage = self
                .usage_of(route.key_id, route.day, shared.rps.is_some())
                .await?;
            share = share.min(remaining_share(&shared, &shared_usage));
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
