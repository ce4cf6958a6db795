//! The `StateStore` trait: the one place where counters, learned limits, health and
//! conversation history live; plus the in-memory store for tests and single runs.

mod memory;

use std::fmt;
use std::time::Duration;

use crate::error::StoreError;
use crate::types::Message;

pub use memory::MemoryStore;

/// One counter to check and count within an atomic [`StateStore::try_acquire`].
#[derive(Debug, Clone, PartialEq)]
pub struct CounterCheck {
    /// Counter key of the current window (the window's id is part of the key).
    pub key: String,
    /// The window's limit.
    pub limit: u64,
    /// What this request adds when granted (1 for requests, estimated tokens for tokens).
    pub cost: u64,
    /// How long the counter must be kept after its last change.
    pub ttl: Duration,
    /// Earlier counters that also take room in this window, each with the fraction of it
    /// to count, in [0, 1] (the ledger counts the preceding sub-buckets of a minute window
    /// fully, with 1.0). Their weighted counts are added to the check only; they are never
    /// incremented.
    pub previous: Vec<(String, f64)>,
}

/// Outcome of [`StateStore::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// Every counter had room; every counter was incremented.
    Granted,
    /// The counter at `index` had no room; nothing was incremented.
    Denied {
        /// Index into the checks.
        index: usize,
        /// That counter's (weighted) use before this request.
        used: u64,
    },
}

/// Shared state behind the router. Implementations: [`MemoryStore`] here, SQLite and
/// Redis in their own crates. All counter operations are atomic per call.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    /// Checks every counter (`used + cost <= limit`) and, only if all have room,
    /// adds each `cost`, atomically with respect to every other caller of this store.
    async fn try_acquire(&self, checks: &[CounterCheck]) -> Result<Acquire, StoreError>;

    /// Adds `delta` (may be negative; the result never goes below zero) to a counter.
    async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<(), StoreError>;

    /// Adds each `(key, delta, ttl)` as [`add`](Self::add) does, each atomically (not all
    /// together), stopping at the first error. The default calls `add` in turn; a store
    /// with a round trip per call overrides it to pay one for all (the ledger settles a
    /// request's token windows with it).
    async fn add_many(&self, adds: &[(&str, i64, Duration)]) -> Result<(), StoreError> {
        for (key, delta, ttl) in adds {
            self.add(key, *delta, *ttl).await?;
        }
        Ok(())
    }

    /// Like [`add_many`](Self::add_many), for deltas that only lower counters (refunds of
    /// what was charged and not spent), which the caller need not see committed before it
    /// goes on: a store may queue them for its next commit, or for one within about
    /// 100 ms, and return at once. A crash in between loses them, which can only leave a
    /// counter too high (quota is never overspent for it), never too low. The default
    /// applies them at once with `add_many`.
    async fn add_many_deferred(&self, adds: &[(&str, i64, Duration)]) -> Result<(), StoreError> {
        self.add_many(adds).await
    }

    /// Sets a counter to `value` (what a provider's headers say is used).
    async fn set_counter(&self, key: &str, value: u64, ttl: Duration) -> Result<(), StoreError>;

    /// Current values of counters; missing or expired ones read as 0.
    async fn counters(&self, keys: &[String]) -> Result<Vec<u64>, StoreError>;

    /// Stores a value (JSON text by convention) under `key`, optionally expiring.
    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError>;

    /// Reads a value stored with [`put`](Self::put).
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Removes a value stored with [`put`](Self::put).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Appends turns to a user's history and keeps only the newest `keep` messages.
    async fn append_history(
        &self,
        user: &str,
        messages: &[Message],
        keep: usize,
    ) -> Result<(), StoreError>;

    /// The newest `limit` messages of a user's history, oldest first.
    async fn history(&self, user: &str, limit: usize) -> Result<Vec<Message>, StoreError>;

    /// Forgets a user's history.
    async fn clear_history(&self, user: &str) -> Result<(), StoreError>;

    /// Makes everything acknowledged so far durable (no-op where writes are synchronous).
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The weighted use of a check: the current count plus, for each earlier counter, its
/// count times its weight (clamped to [0, 1], NaN counting as 0), each rounded up.
pub fn weighted_use(current: u64, previous: &[(u64, f64)]) -> u64 {
    previous.iter().fold(current, |used, &(count, weight)| {
        let weight = if weight.is_nan() {
            0.0
        } else {
            weight.clamp(0.0, 1.0)
        };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "counts are far below 2^52 and the weight is in [0, 1]"
        )]
        let share = (count as f64 * weight).ceil() as u64;
        used.saturating_add(share)
    })
}
