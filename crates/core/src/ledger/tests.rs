//! Tests of the ledger: calendar, counter keys, reservations, refunds and headers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::calendar::*;
use super::headers::*;
use super::settle::*;
use super::*;
use crate::catalog::Limits;
use crate::clock::TokioClock;
use crate::error::{ErrorKind, ProviderError};
use crate::ratelimit::{RateLimitSnapshot, Window};
use crate::store::MemoryStore;
use crate::store::{Acquire, CounterCheck, StateStore};
use crate::types::Usage;

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
    async fn add_many_deferred(&self, adds: &[(&str, i64, Duration)]) -> Result<(), StoreError> {
        self.deferred
            .lock()
            .unwrap()
            .extend(adds.iter().map(|a| a.1));
        self.inner.add_many(adds).await
    }
    async fn set_counter(&self, key: &str, value: u64, ttl: Duration) -> Result<(), StoreError> {
        self.inner.set_counter(key, value, ttl).await
    }
    async fn counters(&self, keys: &[String]) -> Result<Vec<u64>, StoreError> {
        self.inner.counters(keys).await
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
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
    async fn history(&self, user: &str, limit: usize) -> Result<Vec<crate::Message>, StoreError> {
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

#[test]
fn cached_keys_are_the_keys_of_the_current_windows() {
    let cache = super::keys::KeyCache::default();
    let rolling = DayRule {
        tz: Tz::UTC,
        rolling: true,
    };
    let times = [
        "2026-03-08T10:00:01Z",
        "2026-03-08T10:00:09Z", // same 10 s bucket
        "2026-03-08T10:00:10Z", // next bucket
        "2026-03-08T10:59:59Z",
        "2026-03-08T11:00:00Z", // next hour
        "2026-03-09T00:00:00Z", // next day
        "2026-04-01T00:00:00Z", // next month
    ];
    for rule in [DayRule::from(LA), rolling] {
        for t in times {
            let w = Windows::at(at(t), rule);
            for kind in WindowKind::ALL {
                let keys = cache.get(&w, "groq/m@k1", kind);
                assert_eq!(
                    keys.current,
                    super::keys::counter_key("groq/m@k1", kind, &w.id(kind)),
                    "{t} {kind:?} rolling={}",
                    rule.rolling
                );
                assert_eq!(
                    keys.previous,
                    w.previous_keys_weighted("groq/m@k1", kind),
                    "{t} {kind:?} rolling={}",
                    rule.rolling
                );
            }
        }
    }
    // Another id never gets the first one's keys.
    let w = Windows::at(at(times[0]), LA);
    let other = cache.get(&w, "groq/m@k2", WindowKind::RequestsMinute);
    assert!(other.current.contains("groq/m@k2"), "{}", other.current);
}

#[test]
fn the_key_cache_is_bounded() {
    let cache = super::keys::KeyCache::default();
    let w = Windows::at(at("2026-03-08T10:00:01Z"), LA);
    for i in 0..(super::keys::KEY_CACHE_IDS * 2 + 7) {
        let _ = cache.get(&w, &format!("p/m{i}@k"), WindowKind::RequestsMinute);
        assert!(cache.len() <= super::keys::KEY_CACHE_IDS, "{}", cache.len());
    }
    assert!(cache.len() > 0);
}

/// The denial of `q` now: its window, end and scope.
async fn denied(ledger: &Ledger, q: &RouteQuota<'_>) -> (WindowKind, DateTime<Utc>, Scope) {
    match ledger.acquire(q, 10).await.unwrap() {
        Grant::Denied {
            window,
            until,
            scope,
        } => (window, until, scope),
        Grant::Granted(_) => panic!("{} was granted", q.id),
    }
}

/// `rps = 1`: one request in any rolling second. A second request 0.5 s and 0.95 s later
/// is denied (its window ends at the next 200 ms tick, when the router may look again);
/// 1.05 s later the tick of the first still counts in full (conservative by at most one
/// tick), and from 1.2 s after its tick started the route is granted again.
#[tokio::test(start_paused = true)]
async fn rps_window_grants_one_request_per_rolling_second() {
    let (ledger, _) = ledger_at("2026-05-01T10:00:00.100Z");
    let limits = Limits {
        rps: Some(1),
        ..Limits::default()
    };
    let q = quota("p/m@k", limits);
    assert!(granted(&ledger, &q).await);
    assert_eq!(ledger.usage(&q).await.unwrap().calls_second, 1);
    tokio::time::advance(Duration::from_millis(500)).await; // 00.600
    let (window, until, scope) = denied(&ledger, &q).await;
    assert_eq!(window, WindowKind::RequestsSecond);
    assert_eq!(scope, Scope::Own);
    assert_eq!(until, at("2026-05-01T10:00:00.800Z"));
    assert!(
        !window.is_quota(),
        "a full second is a rate limit, not a spent quota"
    );
    assert_eq!(
        ledger.room(&q).await.unwrap(),
        Some((WindowKind::RequestsSecond, until))
    );
    tokio::time::advance(Duration::from_millis(450)).await; // 01.050
    assert_eq!(denied(&ledger, &q).await.0, WindowKind::RequestsSecond);
    tokio::time::advance(Duration::from_millis(100)).await; // 01.150
    assert_eq!(denied(&ledger, &q).await.1, at("2026-05-01T10:00:01.200Z"));
    tokio::time::advance(Duration::from_millis(50)).await; // 01.200
    assert!(granted(&ledger, &q).await, "the next second");
    assert_eq!(denied(&ledger, &q).await.0, WindowKind::RequestsSecond);
    // Denials counted nothing: two requests in 1.1 s, one in each second.
    assert_eq!(ledger.usage(&q).await.unwrap().calls_minute, 2);

    // A limit of 3 takes three in the same second, not a fourth.
    let three = quota(
        "p/three@k",
        Limits {
            rps: Some(3),
            ..Limits::default()
        },
    );
    for _ in 0..3 {
        assert!(granted(&ledger, &three).await);
    }
    assert_eq!(denied(&ledger, &three).await.0, WindowKind::RequestsSecond);
}

/// The second window is one more check in the same atomic `try_acquire`: a request
/// denied by it charges no other window, and one denied by another window charges no
/// second. A shared (`[shared] rps`, Mistral's per key) second holds across the models
/// of the key.
#[tokio::test(start_paused = true)]
async fn rps_is_checked_atomically_with_the_other_windows() {
    let (ledger, store) = ledger_at("2026-05-01T10:00:00Z");
    let limits = Limits {
        rps: Some(1),
        rpm: Some(2),
        ..Limits::default()
    };
    let q = quota("p/m@k", limits);
    assert!(granted(&ledger, &q).await);
    tokio::time::advance(Duration::from_millis(300)).await;
    assert_eq!(denied(&ledger, &q).await.0, WindowKind::RequestsSecond);
    let use_now = ledger.usage(&q).await.unwrap();
    assert_eq!((use_now.calls_minute, use_now.tokens_today), (1, 10));
    tokio::time::advance(Duration::from_secs(1)).await; // 01.300
    assert!(granted(&ledger, &q).await);
    tokio::time::advance(Duration::from_millis(1500)).await; // 02.800
    // The second has room, the minute has not: the minute denies, the second is not
    // charged (the next second's request below is granted by it).
    assert_eq!(denied(&ledger, &q).await.0, WindowKind::RequestsMinute);
    assert_eq!(ledger.usage(&q).await.unwrap().calls_second, 0);
    let w = Windows::at(at("2026-05-01T10:00:02.800Z"), LA);
    let key = super::keys::counter_key(
        "p/m@k",
        WindowKind::RequestsSecond,
        &w.id(WindowKind::RequestsSecond),
    );
    assert_eq!(store.counters(&[key]).await.unwrap(), vec![0]);

    // Shared per key: model a takes the key's second, model b is denied for the key.
    let shared = Limits {
        rps: Some(1),
        ..Limits::default()
    };
    let a = shared_quota("p/a@k", Limits::default(), shared);
    let b = shared_quota("p/b@k", Limits::default(), shared);
    let other_key = RouteQuota {
        key_id: "p@other",
        ..shared_quota("p/a@other", Limits::default(), shared)
    };
    assert!(granted(&ledger, &a).await);
    let (window, _, scope) = denied(&ledger, &b).await;
    assert_eq!((window, scope), (WindowKind::RequestsSecond, Scope::Key));
    assert_eq!(ledger.shared_usage(&b).await.unwrap().calls_second, 1);
    assert!(
        granted(&ledger, &other_key).await,
        "another key is another quota"
    );
    tokio::time::advance(Duration::from_millis(1200)).await;
    assert!(granted(&ledger, &b).await);
}

/// A route without `rps` never counts a second window: no counter is written for it (the
/// plain path pays nothing for pacing).
#[tokio::test(start_paused = true)]
async fn without_rps_no_second_window_is_counted() {
    let (ledger, store) = ledger_at("2026-05-01T10:00:00Z");
    let q = quota(
        "p/plain@k",
        Limits {
            rpm: Some(5),
            ..Limits::default()
        },
    );
    for _ in 0..3 {
        assert!(granted(&ledger, &q).await);
    }
    let w = Windows::at(at("2026-05-01T10:00:00Z"), LA);
    let key = super::keys::counter_key(
        "p/plain@k",
        WindowKind::RequestsSecond,
        &w.id(WindowKind::RequestsSecond),
    );
    assert_eq!(store.counters(&[key]).await.unwrap(), vec![0]);
    let use_now = ledger.usage(&q).await.unwrap();
    assert_eq!((use_now.calls_second, use_now.calls_minute), (0, 3));
}
