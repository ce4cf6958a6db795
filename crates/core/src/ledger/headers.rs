//! Rate-limit header reconciliation: what a provider's headers report wins over local
//! estimates (learned limits, counters raised or set to the reported use) and "nothing
//! left" becomes a block of the route or of its whole key.

use std::sync::PoisonError;

use chrono::{DateTime, Utc};

use super::calendar::{WindowKind, Windows};
use super::keys::{counter_key, learned_key};
use super::{Ledger, RouteQuota, Scope};
use crate::catalog::Limits;
use crate::error::StoreError;
use crate::ratelimit::RateLimitSnapshot;

/// What headers said: the route (or with [`Scope::Key`], every route of the key) must
/// not be called before `until`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Block {
    pub(crate) until: DateTime<Utc>,
    /// True for day/month windows (exhausted), false for minute windows (rate limited).
    pub(crate) quota: bool,
    pub(crate) scope: Scope,
}

impl Ledger {
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
                        WindowKind::RequestsSecond
                        | WindowKind::RequestsDay
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
        // Tokens per month have no window kind (no counter, no learned limit); "none
        // left" alone is acted on: the route is exhausted until the reset, or the month's end.
        let month = snapshot.tokens_month;
        if month.remaining == Some(0) {
            let until = month.reset_after.map_or(w.next_month, |after| {
                now + chrono::Duration::from_std(after).unwrap_or(chrono::TimeDelta::MAX)
            });
            match blocks.iter_mut().find(|b| b.scope == Scope::Own) {
                Some(b) if until > b.until => {
                    b.until = until;
                    b.quota = true;
                }
                Some(_) => {}
                None => blocks.push(Block {
                    until,
                    quota: true,
                    scope: Scope::Own,
                }),
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
}

fn set_limit(limits: &mut Limits, kind: WindowKind, value: u64) {
    match kind {
        WindowKind::RequestsMinute => limits.rpm = Some(value),
        WindowKind::RequestsDay => limits.rpd = Some(value),
        WindowKind::RequestsMonth => limits.rpmonth = Some(value),
        WindowKind::TokensMinute => limits.tpm = Some(value),
        WindowKind::TokensDay => limits.tpd = Some(value),
        WindowKind::RequestsSecond => limits.rps = Some(value),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono_tz::Tz;

    use super::*;
    use crate::clock::TokioClock;
    use crate::ratelimit::Window;
    use crate::store::MemoryStore;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn month(remaining: Option<u64>, reset_after: Option<Duration>) -> RateLimitSnapshot {
        RateLimitSnapshot {
            tokens_month: Window {
                limit: Some(4_000_000),
                remaining,
                reset_after,
            },
            ..RateLimitSnapshot::default()
        }
    }

    /// Mistral's `x-ratelimit-remaining-tokens-month: 0` blocks the route as exhausted
    /// until the next UTC month (or the reset, when one is given); any other figure
    /// changes nothing.
    #[tokio::test(start_paused = true)]
    async fn no_month_tokens_left_exhausts_the_route_until_the_month_ends() {
        let clock = Arc::new(TokioClock::starting_at(at("2026-12-05T16:00:00Z")));
        let ledger = Ledger::new(Arc::new(MemoryStore::with_clock(clock.clone())), clock);
        let q = RouteQuota {
            id: "mistral/m@k",
            key_id: "mistral@k",
            day: Tz::UTC.into(),
            catalog: Limits::default(),
            explicit: Limits::default(),
            shared_catalog: Limits::default(),
            shared_explicit: Limits::default(),
        };
        let blocks = ledger.observe(&q, &month(Some(0), None)).await.unwrap();
        assert_eq!(
            blocks,
            vec![Block {
                until: at("2027-01-01T00:00:00Z"),
                quota: true,
                scope: Scope::Own,
            }]
        );
        let blocks = ledger
            .observe(&q, &month(Some(0), Some(Duration::from_secs(60))))
            .await
            .unwrap();
        assert_eq!(blocks[0].until, at("2026-12-05T16:01:00Z"));
        assert!(
            ledger
                .observe(&q, &month(Some(1), None))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            ledger
                .observe(&q, &month(None, None))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
