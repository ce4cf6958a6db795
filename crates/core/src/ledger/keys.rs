//! The counter-key scheme: `llmpool:q:<quota id>:<window tag>:<window id>` for counters
//! (the window id in the key, so a new window starts at zero and old keys expire) and
//! `llmpool:learned:<id>` for limits learned from headers.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use super::calendar::{WindowKind, Windows};

/// Quota ids whose keys [`KeyCache`] keeps before it starts over: far above the routes
/// and keys of any configuration (one-off routes are bounded by the router's LRU), so a
/// clear only happens when ids churn.
pub(super) const KEY_CACHE_IDS: usize = 4096;

/// The counter keys of one quota id's window while that window (or its current
/// sub-bucket) lasts.
#[derive(Debug)]
pub(super) struct WindowKeys {
    /// Which window the keys are for ([`Windows::stamp`]).
    stamp: (i64, u8),
    /// The current counter's key.
    pub(super) current: String,
    /// The earlier sub-buckets counted in full, newest first.
    pub(super) previous: Vec<(String, f64)>,
}

/// Counter keys kept between requests. A request checks about sixty counters (a rolling
/// day counts 24 earlier hours, a minute 6 earlier buckets, for requests and tokens), and
/// writing their keys anew each time was the largest share of the ledger's own CPU on the
/// chat path; they only change when a sub-bucket ends.
#[derive(Debug, Default)]
pub(super) struct KeyCache {
    ids: Mutex<HashMap<String, [Option<Arc<WindowKeys>>; WindowKind::ALL.len()]>>,
}

impl KeyCache {
    /// The keys of `id`'s window of `kind` at `w`.
    pub(super) fn get(&self, w: &Windows, id: &str, kind: WindowKind) -> Arc<WindowKeys> {
        let stamp = w.stamp(kind);
        let slot = kind.index();
        {
            let ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = ids
                .get(id)
                .and_then(|slots| slots.get(slot))
                .and_then(Option::as_ref)
                .filter(|keys| keys.stamp == stamp)
            {
                return Arc::clone(hit);
            }
        }
        let fresh = Arc::new(WindowKeys {
            stamp,
            current: counter_key(id, kind, &w.id(kind)),
            previous: w.previous_keys_weighted(id, kind),
        });
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.len() >= KEY_CACHE_IDS && !ids.contains_key(id) {
            ids.clear();
        }
        if let Some(place) = ids.entry(id.to_owned()).or_default().get_mut(slot) {
            *place = Some(Arc::clone(&fresh));
        }
        fresh
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Where the limits learned for `route` (a quota id or a key id) are stored.
pub(super) fn learned_key(route: &str) -> String {
    format!("llmpool:learned:{route}")
}

/// `llmpool:q:{route}:{tag}:` — what every key of a route's window of `kind` starts with.
/// Built by hand: the ledger makes about thirty keys per request, and `format!` was a
/// visible share of the gateway's CPU.
pub(super) fn key_prefix(route: &str, kind: WindowKind, extra: usize) -> String {
    let tag = kind.tag();
    let mut key = String::with_capacity(12 + route.len() + tag.len() + extra);
    key.push_str("llmpool:q:");
    key.push_str(route);
    key.push(':');
    key.push_str(tag);
    key.push(':');
    key
}

pub(super) fn counter_key(route: &str, kind: WindowKind, window: &str) -> String {
    let mut key = key_prefix(route, kind, window.len());
    key.push_str(window);
    key
}

impl Windows {
    /// Keys of the sub-buckets before the current one that a minute window (or a rolling
    /// day window) of `id` counts, newest first; empty for other windows.
    pub(super) fn previous_keys(&self, id: &str, kind: WindowKind) -> Vec<String> {
        self.previous_keys_weighted(id, kind)
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    }

    /// [`previous_keys`](Self::previous_keys), each with the weight 1.0 (counted in full).
    pub(super) fn previous_keys_weighted(&self, id: &str, kind: WindowKind) -> Vec<(String, f64)> {
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
}
