//! Requests in flight: the `max_in_flight` limits of a route's model (per key) and of its
//! key, counted while an attempt runs.
//!
//! Some free tiers cap concurrency rather than a rate: Z.ai about one request in flight per
//! key, Ollama Cloud one per account. A second concurrent request is
//! answered with a 429 there, a wasted attempt, a failover and a cooldown. So before its
//! upstream call an attempt takes a [`Permit`] from every limit that applies (the model's,
//! shared by the models of its bucket, and the key's), and a route at a limit is skipped
//! without a call, like a route whose short window is full: the walk moves on, and when
//! every route is busy the request gets `NoAvailableProviders` (a 503 with a one-second
//! `retry-after`). Nothing waits for a slot, so nothing spins.
//!
//! The permit is released when it is dropped: when the attempt ends (answer, error,
//! timeout), when a stream finishes, is cut or is dropped by its reader, and when the
//! request's future is dropped (the client went away). A route without these limits gets a
//! permit that holds nothing: no lock, no allocation, no atomic operation.
//!
//! Counted per gateway process, not in the state store: a count in the store would be
//! left raised by a process that dies with requests in flight (a crash, a kill), blocking
//! the key until someone notices, whereas a process's own count dies with it. Several
//! gateways sharing one key may therefore together have more requests in flight than the
//! limit (at most the limit each); point them at different keys, or run one gateway, where
//! that matters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// What a request that found a route at its in-flight limit is told to wait: the attempt
/// in flight may end at any moment, and a second is the shortest `retry-after` there is.
pub(crate) const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);

/// Own in-flight counters a key keeps (one per model or bucket with a limit) before it
/// drops those no route uses any more: one-off routes come and go (their LRU is bounded),
/// and their counters go with them.
const GAUGES_PER_KEY: usize = 256;

/// Requests in flight now under one limit.
#[derive(Debug, Default)]
pub(crate) struct Gauge(AtomicU64);

impl Gauge {
    /// Takes a slot when fewer than `max` are taken.
    fn take(&self, max: u64) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        // Never below zero: every release follows its own take.
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Slots taken now.
    pub(crate) fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// One limit: its counter (shared by every route it covers) and its maximum.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    pub(crate) gauge: Arc<Gauge>,
    pub(crate) max: u64,
}

impl Limit {
    /// (requests in flight now, the limit), for reports.
    pub(crate) fn figures(&self) -> (u64, u64) {
        (self.gauge.current(), self.max)
    }
}

/// The in-flight limits of one route: its model's (per key; its bucket's when the model
/// names one) and its key's (all models of the key together).
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight {
    pub(crate) own: Option<Limit>,
    pub(crate) key: Option<Limit>,
}

impl InFlight {
    /// A permit from every limit, or `None` (nothing taken) when one is at its maximum.
    pub(crate) fn try_take(&self) -> Option<Permit> {
        if self.own.is_none() && self.key.is_none() {
            return Some(Permit::default());
        }
        let mut permit = Permit::default();
        for (slot, limit) in permit.held.iter_mut().zip([&self.own, &self.key]) {
            if let Some(limit) = limit {
                if !limit.gauge.take(limit.max) {
                    // Dropping `permit` gives back what was taken so far.
                    return None;
                }
                *slot = Some(Arc::clone(&limit.gauge));
            }
        }
        Some(permit)
    }
}

/// Slots taken for one attempt; dropping it releases them.
#[derive(Debug, Default)]
pub(crate) struct Permit {
    held: [Option<Arc<Gauge>>; 2],
}

impl Drop for Permit {
    fn drop(&mut self) {
        for gauge in self.held.iter().flatten() {
            gauge.release();
        }
    }
}

/// The in-flight counters of one key: the key's own, and one per model (or bucket) with a
/// limit, handed to the routes built for it so that the routes of one model or bucket
/// (configured or one-off) count together.
#[derive(Debug, Default)]
pub(crate) struct KeyGauges {
    key: Arc<Gauge>,
    own: Mutex<HashMap<String, Weak<Gauge>>>,
}

impl KeyGauges {
    /// The key's counter.
    pub(crate) fn key(&self) -> Arc<Gauge> {
        Arc::clone(&self.key)
    }

    /// The counter of the model or bucket counted under `quota_id`, made on first use.
    /// Called when a route is built, never per request.
    pub(crate) fn own(&self, quota_id: &str) -> Arc<Gauge> {
        let mut own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gauge) = own.get(quota_id).and_then(Weak::upgrade) {
            return gauge;
        }
        if own.len() >= GAUGES_PER_KEY {
            own.retain(|_, gauge| gauge.strong_count() > 0);
        }
        let gauge = Arc::new(Gauge::default());
        own.insert(quota_id.to_owned(), Arc::downgrade(&gauge));
        gauge
    }

    /// How many own counters are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.own
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(gauge: &Arc<Gauge>, max: u64) -> Limit {
        Limit {
            gauge: Arc::clone(gauge),
            max,
        }
    }

    #[test]
    fn permits_hold_both_levels_and_release_on_drop() {
        let own = Arc::new(Gauge::default());
        let key = Arc::new(Gauge::default());
        let a = InFlight {
            own: Some(limit(&own, 1)),
            key: Some(limit(&key, 2)),
        };
        let first = a.try_take().unwrap();
        assert_eq!((own.current(), key.current()), (1, 1));
        // The model is full: nothing is taken from the key either.
        assert!(a.try_take().is_none());
        assert_eq!((own.current(), key.current()), (1, 1));
        // Another model of the key takes the key's second slot, then the key is full.
        let other = Arc::new(Gauge::default());
        let b = InFlight {
            own: Some(limit(&other, 5)),
            key: Some(limit(&key, 2)),
        };
        let second = b.try_take().unwrap();
        assert!(b.try_take().is_none());
        assert_eq!((other.current(), key.current()), (1, 2));
        drop(first);
        assert_eq!((own.current(), key.current()), (0, 1));
        drop(second);
        assert_eq!((other.current(), key.current()), (0, 0));
        // No limit: a permit that holds nothing.
        let plain = InFlight::default();
        let permits: Vec<Permit> = (0..100).map(|_| plain.try_take().unwrap()).collect();
        assert!(permits.iter().all(|p| p.held.iter().all(Option::is_none)));
    }

    #[test]
    fn key_gauges_share_by_quota_id_and_stay_bounded() {
        let gauges = KeyGauges::default();
        let a = gauges.own("p/a@k");
        let again = gauges.own("p/a@k");
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!Arc::ptr_eq(&a, &gauges.own("p/b@k")));
        assert!(Arc::ptr_eq(&gauges.key(), &gauges.key()));
        for i in 0..(GAUGES_PER_KEY * 3) {
            drop(gauges.own(&format!("p/one-off-{i}@k")));
            assert!(gauges.len() <= GAUGES_PER_KEY, "{}", gauges.len());
        }
        // A counter still in use survives the pruning.
        assert!(Arc::ptr_eq(&a, &gauges.own("p/a@k")));
    }
}
