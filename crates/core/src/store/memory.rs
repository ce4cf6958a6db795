//! In-memory `StateStore`: exact and atomic within one process, gone at exit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::store::{Acquire, CounterCheck, StateStore, weighted_use};
use crate::types::Message;

#[derive(Debug, Default)]
struct Inner {
    counters: HashMap<String, (u64, DateTime<Utc>)>,
    values: HashMap<String, (String, Option<DateTime<Utc>>)>,
    histories: HashMap<String, VecDeque<Message>>,
    ops: u64,
}

/// A store in process memory. Counters expire by the injected clock.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A store whose expiries follow `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a counter half-updated (every update
        // is a single assignment), so the data is still consistent.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.ops += 1;
        if inner.ops.is_multiple_of(4096) {
            let now = self.clock.now();
            inner.counters.retain(|_, (_, exp)| *exp > now);
            inner
                .values
                .retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        }
        inner
    }

    fn expiry(&self, ttl: Duration) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::TimeDelta::MAX)
    }
}

fn read(inner: &Inner, key: &str, now: DateTime<Utc>) -> u64 {
    match inner.counters.get(key) {
        Some((v, exp)) if *exp > now => *v,
        _ => 0,
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStore {
    async fn try_acquire(&self, checks: &[CounterCheck]) -> Result<Acquire, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        for (index, check) in checks.iter().enumerate() {
            let previous: Vec<(u64, f64)> = check
                .previous
                .iter()
                .map(|(key, weight)| (read(&inner, key, now), *weight))
                .collect();
            let used = weighted_use(read(&inner, &check.key, now), &previous);
            if used.saturating_add(check.cost) > check.limit {
                return Ok(Acquire::Denied { index, used });
            }
        }
        for check in checks {
            let expires = self.expiry(check.ttl);
            let value = read(&inner, &check.key, now) + check.cost;
            inner.counters.insert(check.key.clone(), (value, expires));
        }
        Ok(Acquire::Granted)
    }

    async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<(), StoreError> {
        let now = self.clock.now();
        let expires = self.expiry(ttl);
        let mut inner = self.lock();
        let value = read(&inner, key, now).saturating_add_signed(delta);
        inner.counters.insert(key.to_owned(), (value, expires));
        Ok(())
    }

    async fn add_many(&self, adds: &[(&str, i64, Duration)]) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        for (key, delta, ttl) in adds {
            let expires = self.expiry(*ttl);
            let value = read(&inner, key, now).saturating_add_signed(*delta);
            inner.counters.insert((*key).to_owned(), (value, expires));
        }
        Ok(())
    }

    async fn set_counter(&self, key: &str, value: u64, ttl: Duration) -> Result<(), StoreError> {
        let expires = self.expiry(ttl);
        self.lock()
            .counters
            .insert(key.to_owned(), (value, expires));
        Ok(())
    }

    async fn counters(&self, keys: &[String]) -> Result<Vec<u64>, StoreError> {
        let now = self.clock.now();
        let inner = self.lock();
        Ok(keys.iter().map(|k| read(&inner, k, now)).collect())
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        let expires = ttl.map(|t| self.expiry(t));
        self.lock()
            .values
            .insert(key.to_owned(), (value.to_owned(), expires));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.clock.now();
        Ok(match self.lock().values.get(key) {
            Some((v, exp)) if exp.is_none_or(|e| e > now) => Some(v.clone()),
            _ => None,
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().values.remove(key);
        Ok(())
    }

    async fn append_history(
        &self,
        user: &str,
        messages: &[Message],
        keep: usize,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let history = inner.histories.entry(user.to_owned()).or_default();
        history.extend(messages.iter().cloned());
        while history.len() > keep {
            history.pop_front();
        }
        Ok(())
    }

    async fn history(&self, user: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
        let inner = self.lock();
        Ok(inner.histories.get(user).map_or_else(Vec::new, |h| {
            h.iter()
                .skip(h.len().saturating_sub(limit))
                .cloned()
                .collect()
        }))
    }

    async fn clear_history(&self, user: &str) -> Result<(), StoreError> {
        self.lock().histories.remove(user);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;

    fn check(key: &str, limit: u64, cost: u64) -> CounterCheck {
        CounterCheck {
            key: key.into(),
            limit,
            cost,
            ttl: Duration::from_secs(60),
            previous: Vec::new(),
        }
    }

    #[tokio::test]
    async fn acquire_is_all_or_nothing() {
        let s = MemoryStore::new();
        let checks = [check("a", 2, 1), check("b", 10, 6)];
        assert_eq!(s.try_acquire(&checks).await.unwrap(), Acquire::Granted);
        assert_eq!(
            s.try_acquire(&checks).await.unwrap(),
            Acquire::Denied { index: 1, used: 6 }
        );
        assert_eq!(
            s.counters(&["a".into(), "b".into()]).await.unwrap(),
            vec![1, 6]
        );
    }

    #[tokio::test]
    async fn sliding_weight_counts_previous_window() {
        let s = MemoryStore::new();
        s.set_counter("prev", 10, Duration::from_secs(60))
            .await
            .unwrap();
        let mut c = check("cur", 10, 1);
        c.previous = vec![("prev".into(), 0.5)];
        assert_eq!(s.try_acquire(&[c.clone()]).await.unwrap(), Acquire::Granted);
        for _ in 0..4 {
            s.try_acquire(&[c.clone()]).await.unwrap();
        }
        assert_eq!(
            s.try_acquire(&[c]).await.unwrap(),
            Acquire::Denied { index: 0, used: 10 }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn counters_expire_by_clock() {
        let clock = Arc::new(TokioClock::starting_at(Utc::now()));
        let s = MemoryStore::with_clock(clock);
        s.add("k", 5, Duration::from_secs(10)).await.unwrap();
        s.add("k", -7, Duration::from_secs(10)).await.unwrap();
        assert_eq!(s.counters(&["k".into()]).await.unwrap(), vec![0]);
        s.add("k", 3, Duration::from_secs(10)).await.unwrap();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(s.counters(&["k".into()]).await.unwrap(), vec![0]);
    }

    #[tokio::test]
    async fn history_keeps_newest() {
        let s = MemoryStore::new();
        let turns: Vec<Message> = (0..5).map(|i| Message::user(i.to_string())).collect();
        s.append_history("u", &turns, 3).await.unwrap();
        let h = s.history("u", 10).await.unwrap();
        assert_eq!(
            h.iter()
                .map(|m| m.content.as_text().unwrap_or_default())
                .collect::<Vec<_>>(),
            ["2", "3", "4"]
        );
        assert_eq!(s.history("u", 1).await.unwrap()[0].content, "4");
        s.clear_history("u").await.unwrap();
        assert!(s.history("u", 10).await.unwrap().is_empty());
    }
}
