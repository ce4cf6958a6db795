//! The counter-key scheme: `llmpool:q:<quota id>:<window tag>:<window id>` for counters
//! (the window id in the key, so a new window starts at zero and old keys expire) and
//! `llmpool:learned:<id>` for limits learned from headers.

use std::fmt::Write as _;

use super::calendar::{WindowKind, Windows};

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
