//! The conformance suite every [`StateStore`] passes: the semantics of [`MemoryStore`],
//! written once and run against each backend.
//!
//! A backend's tests describe how to make a fresh store and how to move its clock with a
//! [`Subject`], then call [`store_conformance_tests!`](crate::store_conformance_tests),
//! which writes one `#[tokio::test]` per case of this module:
//!
//! ```text
//! async fn subject() -> Option<ClockSubject<MemoryStore>> {
//!     let clock = Arc::new(ManualClock::new());
//!     Some(ClockSubject::new(MemoryStore::with_clock(clock.clone()), clock))
//! }
//! llmpool_core::store_conformance_tests!(subject());
//! ```
//!
//! Cases use key names of their own and never rely on an exact expiry instant: expiries
//! are checked well before and well after (minutes apart), so a backend whose TTLs run on
//! a server's real clock (Redis) passes the same cases as one on an injected clock.
//!
//! [`MemoryStore`]: crate::store::MemoryStore

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failing store call is a failed test"
)]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::store::{Acquire, CounterCheck, StateStore};
use crate::types::{Message, Role};

/// A store under test and a way to move its notion of time forward.
#[async_trait::async_trait]
pub trait Subject: Send + Sync {
    /// The store under test.
    fn store(&self) -> &dyn StateStore;

    /// Moves the store's clock forward by `by`, so that expiries within it take effect.
    async fn advance(&self, by: Duration);
}

/// A clock that only moves when told to; starts at a fixed instant.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock reading 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self::starting_at(DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default())
    }

    /// A clock reading `now`.
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += chrono::Duration::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A [`Subject`] for stores that take an injected [`Clock`]: advancing moves the
/// [`ManualClock`] the store was built with.
#[derive(Debug)]
pub struct ClockSubject<S> {
    /// The store, built on `clock`.
    pub store: S,
    /// The clock the store reads.
    pub clock: Arc<ManualClock>,
}

impl<S> ClockSubject<S> {
    /// Pairs a store with the clock it was built on.
    pub fn new(store: S, clock: Arc<ManualClock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait::async_trait]
impl<S: StateStore> Subject for ClockSubject<S> {
    fn store(&self) -> &dyn StateStore {
        &self.store
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// Writes one `#[tokio::test]` per conformance case. The argument is an expression
/// evaluating to a future of `Option<impl Subject>`, evaluated afresh for each case; `None`
/// skips the case (the expression should say why on stderr). The calling crate needs
/// `tokio` (with `macros` and `rt`) among its dev-dependencies.
#[macro_export]
macro_rules! store_conformance_tests {
    ($subject:expr) => {
        $crate::store_conformance_tests!(@cases $subject;
            acquire_is_all_or_nothing,
            denied_reports_first_full_counter,
            cost_above_limit_is_denied,
            sliding_weight_counts_previous_window,
            sliding_weight_rounds_up_and_clamps,
            several_previous_counters_add_up,
            add_never_goes_below_zero,
            add_many_adds_each,
            set_counter_overrides,
            missing_counters_read_zero,
            counters_expire,
            writes_refresh_counter_expiry,
            values_round_trip_and_expire,
            delete_removes_value,
            counters_and_values_are_separate,
            history_keeps_newest,
            history_appends_across_calls_and_users,
            history_clear,
            concurrent_acquires_are_exact,
            flush_succeeds,
        );
    };
    (@cases $subject:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(subject) = $subject.await else {
                    return;
                };
                $crate::testkit::conformance::$case(&subject).await;
            }
        )*
    };
}

const MINUTE: Duration = Duration::from_secs(60);
const TTL: Duration = Duration::from_secs(600);
/// A minute short of [`TTL`].
const ALMOST_TTL: Duration = Duration::from_secs(540);

fn check(key: &str, limit: u64, cost: u64) -> CounterCheck {
    CounterCheck {
        key: key.into(),
        limit,
        cost,
        ttl: TTL,
        previous: Vec::new(),
    }
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

async fn counter(s: &dyn Subject, key: &str) -> u64 {
    s.store().counters(&keys(&[key])).await.unwrap()[0]
}

/// Every counter is checked before any is counted; a denial counts nothing.
pub async fn acquire_is_all_or_nothing(s: &dyn Subject) {
    let store = s.store();
    let checks = [check("a", 2, 1), check("b", 10, 6)];
    assert_eq!(store.try_acquire(&checks).await.unwrap(), Acquire::Granted);
    assert_eq!(
        store.try_acquire(&checks).await.unwrap(),
        Acquire::Denied { index: 1, used: 6 }
    );
    assert_eq!(store.counters(&keys(&["a", "b"])).await.unwrap(), [1, 6]);
    assert_eq!(store.try_acquire(&[]).await.unwrap(), Acquire::Granted);
}

/// A denial names the first counter without room and its use before the request.
pub async fn denied_reports_first_full_counter(s: &dyn Subject) {
    let store = s.store();
    store.set_counter("x", 5, TTL).await.unwrap();
    store.set_counter("y", 9, TTL).await.unwrap();
    let checks = [check("w", 100, 1), check("x", 5, 1), check("y", 9, 1)];
    assert_eq!(
        store.try_acquire(&checks).await.unwrap(),
        Acquire::Denied { index: 1, used: 5 }
    );
    assert_eq!(
        store.counters(&keys(&["w", "x", "y"])).await.unwrap(),
        [0, 5, 9]
    );
    // Exactly at the limit is allowed; one more is not.
    let fill = [check("z", 3, 3)];
    assert_eq!(store.try_acquire(&fill).await.unwrap(), Acquire::Granted);
    assert_eq!(
        store.try_acquire(&[check("z", 3, 1)]).await.unwrap(),
        Acquire::Denied { index: 0, used: 3 }
    );
}

/// A cost larger than the limit never fits; a zero cost always does.
pub async fn cost_above_limit_is_denied(s: &dyn Subject) {
    let store = s.store();
    assert_eq!(
        store.try_acquire(&[check("big", 5, 6)]).await.unwrap(),
        Acquire::Denied { index: 0, used: 0 }
    );
    assert_eq!(
        store.try_acquire(&[check("zero", 0, 0)]).await.unwrap(),
        Acquire::Granted
    );
    assert_eq!(
        store.try_acquire(&[check("zero", 0, 1)]).await.unwrap(),
        Acquire::Denied { index: 0, used: 0 }
    );
    assert_eq!(counter(s, "big").await, 0);
}

/// The previous window's weighted count takes room but is never incremented.
pub async fn sliding_weight_counts_previous_window(s: &dyn Subject) {
    let store = s.store();
    store.set_counter("prev", 10, TTL).await.unwrap();
    let mut c = check("cur", 10, 1);
    c.previous = vec![("prev".into(), 0.5)];
    assert_eq!(
        store.try_acquire(std::slice::from_ref(&c)).await.unwrap(),
        Acquire::Granted
    );
    for _ in 0..4 {
        assert_eq!(
            store.try_acquire(std::slice::from_ref(&c)).await.unwrap(),
            Acquire::Granted
        );
    }
    assert_eq!(
        store.try_acquire(&[c]).await.unwrap(),
        Acquire::Denied { index: 0, used: 10 }
    );
    assert_eq!(
        store.counters(&keys(&["cur", "prev"])).await.unwrap(),
        [5, 10]
    );
}

/// The weighted share is rounded up; weights are clamped to [0, 1]; a missing previous
/// window counts as zero.
pub async fn sliding_weight_rounds_up_and_clamps(s: &dyn Subject) {
    let store = s.store();
    store.set_counter("p3", 3, TTL).await.unwrap();
    let with_prev = |key: &str, limit: u64, prev: &str, weight: f64| CounterCheck {
        previous: vec![(prev.into(), weight)],
        ..check(key, limit, 1)
    };
    // 3 × 0.5 = 1.5 → 2 used, so a limit of 2 has no room.
    assert_eq!(
        store
            .try_acquire(&[with_prev("c1", 2, "p3", 0.5)])
            .await
            .unwrap(),
        Acquire::Denied { index: 0, used: 2 }
    );
    assert_eq!(
        store
            .try_acquire(&[with_prev("c1", 3, "p3", 0.5)])
            .await
            .unwrap(),
        Acquire::Granted
    );
    // Weights above one count the whole previous window, below zero none of it.
    assert_eq!(
        store
            .try_acquire(&[with_prev("c2", 3, "p3", 7.0)])
            .await
            .unwrap(),
        Acquire::Denied { index: 0, used: 3 }
    );
    assert_eq!(
        store
            .try_acquire(&[with_prev("c3", 1, "p3", -2.0)])
            .await
            .unwrap(),
        Acquire::Granted
    );
    assert_eq!(
        store
            .try_acquire(&[with_prev("c4", 1, "missing", 1.0)])
            .await
            .unwrap(),
        Acquire::Granted
    );
    assert_eq!(
        store
            .counters(&keys(&["c1", "c2", "c3", "c4", "p3"]))
            .await
            .unwrap(),
        [1, 0, 1, 1, 3]
    );
}

/// Several earlier counters each add their weighted count (rounded up one by one), next
/// to checks with none or one, in one call; none of them is incremented.
pub async fn several_previous_counters_add_up(s: &dyn Subject) {
    let store = s.store();
    for (key, value) in [("b1", 2), ("b2", 3), ("b3", 3)] {
        store.set_counter(key, value, TTL).await.unwrap();
    }
    let first = CounterCheck {
        previous: vec![("b1".into(), 1.0)],
        ..check("first", 100, 1)
    };
    // 2 + 3 + ceil(3 × 0.5) = 7, a missing counter adds nothing.
    let minute = CounterCheck {
        previous: vec![
            ("b1".into(), 1.0),
            ("b2".into(), 1.0),
            ("b3".into(), 0.5),
            ("missing".into(), 1.0),
        ],
        ..check("minute", 10, 1)
    };
    let checks = [first, minute, check("last", 100, 1)];
    for _ in 0..3 {
        assert_eq!(store.try_acquire(&checks).await.unwrap(), Acquire::Granted);
    }
    assert_eq!(
        store.try_acquire(&checks).await.unwrap(),
        Acquire::Denied { index: 1, used: 10 }
    );
    assert_eq!(
        store
            .counters(&keys(&[
                "first", "minute", "last", "b1", "b2", "b3", "missing"
            ]))
            .await
            .unwrap(),
        [3, 3, 3, 2, 3, 3, 0]
    );
    // The earlier counters alone can fill the window.
    let full = CounterCheck {
        previous: vec![("b1".into(), 1.0), ("b2".into(), 1.0)],
        ..check("empty", 5, 1)
    };
    assert_eq!(
        store.try_acquire(&[full]).await.unwrap(),
        Acquire::Denied { index: 0, used: 5 }
    );
}

/// Negative deltas stop at zero and leave no debt behind.
pub async fn add_never_goes_below_zero(s: &dyn Subject) {
    let store = s.store();
    store.add("k", 5, TTL).await.unwrap();
    store.add("k", -7, TTL).await.unwrap();
    assert_eq!(counter(s, "k").await, 0);
    store.add("k", 3, TTL).await.unwrap();
    assert_eq!(counter(s, "k").await, 3);
    store.add("k", -1, TTL).await.unwrap();
    assert_eq!(counter(s, "k").await, 2);
    store.add("fresh", -4, TTL).await.unwrap();
    assert_eq!(counter(s, "fresh").await, 0);
    store.add("fresh", 0, TTL).await.unwrap();
    assert_eq!(counter(s, "fresh").await, 0);
}

/// `add_many` adds each delta to its own counter (never below zero), in order, and
/// reads after it see every one.
pub async fn add_many_adds_each(s: &dyn Subject) {
    let store = s.store();
    store.add("m1", 10, TTL).await.unwrap();
    store
        .add_many(&[
            ("m1", -3, TTL),
            ("m2", 5, TTL),
            ("m1", -20, TTL),
            ("m1", 4, TTL),
        ])
        .await
        .unwrap();
    assert_eq!(counter(s, "m1").await, 4);
    assert_eq!(counter(s, "m2").await, 5);
    store.add_many(&[]).await.unwrap();
    assert_eq!(counter(s, "m2").await, 5);
}

/// `set_counter` replaces the value, up or down, and acquisitions see it.
pub async fn set_counter_overrides(s: &dyn Subject) {
    let store = s.store();
    store.set_counter("s", 7, TTL).await.unwrap();
    assert_eq!(counter(s, "s").await, 7);
    store.set_counter("s", 2, TTL).await.unwrap();
    assert_eq!(counter(s, "s").await, 2);
    assert_eq!(
        store.try_acquire(&[check("s", 3, 1)]).await.unwrap(),
        Acquire::Granted
    );
    assert_eq!(
        store.try_acquire(&[check("s", 3, 1)]).await.unwrap(),
        Acquire::Denied { index: 0, used: 3 }
    );
    store.set_counter("s", 0, TTL).await.unwrap();
    assert_eq!(counter(s, "s").await, 0);
}

/// Unknown counters read as zero, in the order asked.
pub async fn missing_counters_read_zero(s: &dyn Subject) {
    let store = s.store();
    store.add("here", 4, TTL).await.unwrap();
    assert_eq!(
        store
            .counters(&keys(&["nope", "here", "nope2"]))
            .await
            .unwrap(),
        [0, 4, 0]
    );
    assert!(store.counters(&[]).await.unwrap().is_empty());
}

/// Counters read as zero once their TTL has passed, and count afresh from zero.
pub async fn counters_expire(s: &dyn Subject) {
    let store = s.store();
    store.add("e", 5, TTL).await.unwrap();
    store.set_counter("f", 9, TTL).await.unwrap();
    assert_eq!(
        store.try_acquire(&[check("g", 10, 4)]).await.unwrap(),
        Acquire::Granted
    );
    s.advance(ALMOST_TTL).await;
    assert_eq!(
        store.counters(&keys(&["e", "f", "g"])).await.unwrap(),
        [5, 9, 4]
    );
    s.advance(2 * MINUTE).await;
    assert_eq!(
        store.counters(&keys(&["e", "f", "g"])).await.unwrap(),
        [0, 0, 0]
    );
    assert_eq!(
        store.try_acquire(&[check("g", 10, 1)]).await.unwrap(),
        Acquire::Granted
    );
    store.add("e", 2, TTL).await.unwrap();
    assert_eq!(store.counters(&keys(&["e", "g"])).await.unwrap(), [2, 1]);
    // A zero TTL is expired at once.
    store.set_counter("z", 3, Duration::ZERO).await.unwrap();
    store.add("z2", 3, Duration::ZERO).await.unwrap();
    assert_eq!(store.counters(&keys(&["z", "z2"])).await.unwrap(), [0, 0]);
}

/// Every write to a counter restarts its TTL from that write.
pub async fn writes_refresh_counter_expiry(s: &dyn Subject) {
    let store = s.store();
    store.add("r", 1, TTL).await.unwrap();
    store.add("q", 1, TTL).await.unwrap();
    s.advance(TTL / 2).await;
    store.add("r", 1, TTL).await.unwrap();
    assert_eq!(
        store.try_acquire(&[check("q", 10, 1)]).await.unwrap(),
        Acquire::Granted
    );
    s.advance(TTL / 2 + MINUTE).await;
    assert_eq!(store.counters(&keys(&["r", "q"])).await.unwrap(), [2, 2]);
    s.advance(TTL / 2).await;
    assert_eq!(store.counters(&keys(&["r", "q"])).await.unwrap(), [0, 0]);
}

/// Values round-trip, expire by their TTL, live forever without one, and a new `put`
/// replaces both value and TTL.
pub async fn values_round_trip_and_expire(s: &dyn Subject) {
    let store = s.store();
    assert_eq!(store.get("v").await.unwrap(), None);
    store.put("v", r#"{"a":1}"#, None).await.unwrap();
    store.put("t", "soon gone", Some(TTL)).await.unwrap();
    store.put("u", "ünïcødé ✓", Some(TTL)).await.unwrap();
    assert_eq!(store.get("v").await.unwrap().as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(store.get("u").await.unwrap().as_deref(), Some("ünïcødé ✓"));
    s.advance(ALMOST_TTL).await;
    assert_eq!(store.get("t").await.unwrap().as_deref(), Some("soon gone"));
    // Replacing drops the TTL of "u" and gives "v" one.
    store.put("u", "kept", None).await.unwrap();
    store.put("v", "", Some(TTL)).await.unwrap();
    s.advance(2 * MINUTE).await;
    assert_eq!(store.get("t").await.unwrap(), None);
    assert_eq!(store.get("u").await.unwrap().as_deref(), Some("kept"));
    assert_eq!(store.get("v").await.unwrap().as_deref(), Some(""));
    s.advance(TTL).await;
    assert_eq!(store.get("v").await.unwrap(), None);
    assert_eq!(store.get("u").await.unwrap().as_deref(), Some("kept"));
    store.put("t", "again", None).await.unwrap();
    assert_eq!(store.get("t").await.unwrap().as_deref(), Some("again"));
    store
        .put("z", "at once", Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(store.get("z").await.unwrap(), None);
}

/// `delete` removes a value; deleting what is not there is fine.
pub async fn delete_removes_value(s: &dyn Subject) {
    let store = s.store();
    store.put("d", "x", None).await.unwrap();
    store.put("keep", "y", Some(TTL)).await.unwrap();
    store.delete("d").await.unwrap();
    store.delete("never-there").await.unwrap();
    assert_eq!(store.get("d").await.unwrap(), None);
    assert_eq!(store.get("keep").await.unwrap().as_deref(), Some("y"));
    store.put("d", "back", None).await.unwrap();
    assert_eq!(store.get("d").await.unwrap().as_deref(), Some("back"));
}

/// Counters, values and histories with the same name do not touch each other.
pub async fn counters_and_values_are_separate(s: &dyn Subject) {
    let store = s.store();
    store.put("same", "value", None).await.unwrap();
    store.add("same", 3, TTL).await.unwrap();
    store
        .append_history("same", &[Message::user("hi")], 10)
        .await
        .unwrap();
    assert_eq!(store.get("same").await.unwrap().as_deref(), Some("value"));
    assert_eq!(counter(s, "same").await, 3);
    store.delete("same").await.unwrap();
    store.clear_history("same").await.unwrap();
    assert_eq!(counter(s, "same").await, 3);
    assert_eq!(store.get("same").await.unwrap(), None);
}

fn contents(history: &[Message]) -> Vec<&str> {
    history
        .iter()
        .map(|m| m.content.as_text().unwrap_or_default())
        .collect()
}

/// Appending keeps only the newest `keep` messages; reading returns the newest `limit`,
/// oldest first.
pub async fn history_keeps_newest(s: &dyn Subject) {
    let store = s.store();
    let turns: Vec<Message> = (0..5).map(|i| Message::user(i.to_string())).collect();
    store.append_history("u", &turns, 3).await.unwrap();
    let h = store.history("u", 10).await.unwrap();
    assert_eq!(contents(&h), ["2", "3", "4"]);
    assert_eq!(contents(&store.history("u", 1).await.unwrap()), ["4"]);
    assert!(store.history("u", 0).await.unwrap().is_empty());
    store.clear_history("u").await.unwrap();
    assert!(store.history("u", 10).await.unwrap().is_empty());
}

/// Histories grow across calls, per user, keeping roles and text exactly.
pub async fn history_appends_across_calls_and_users(s: &dyn Subject) {
    let store = s.store();
    let first = [
        Message::system("be brief"),
        Message::user("سلام، حالت چطوره؟"),
    ];
    store.append_history("alice", &first, 10).await.unwrap();
    store
        .append_history("bob", &[Message::user("bob's")], 10)
        .await
        .unwrap();
    store
        .append_history("alice", &[Message::assistant("خوبم\nline two")], 10)
        .await
        .unwrap();
    let h = store.history("alice", 10).await.unwrap();
    assert_eq!(
        h,
        [
            Message::system("be brief"),
            Message::user("سلام، حالت چطوره؟"),
            Message::assistant("خوبم\nline two"),
        ]
    );
    assert_eq!(h[2].role, Role::Assistant);
    assert_eq!(
        contents(&store.history("bob", 10).await.unwrap()),
        ["bob's"]
    );
    // Trimming applies to what was there before the call too.
    store
        .append_history("alice", &[Message::user("4"), Message::assistant("5")], 2)
        .await
        .unwrap();
    assert_eq!(
        contents(&store.history("alice", 10).await.unwrap()),
        ["4", "5"]
    );
    // An empty append still trims; keep = 0 empties the history.
    store.append_history("alice", &[], 1).await.unwrap();
    assert_eq!(contents(&store.history("alice", 10).await.unwrap()), ["5"]);
    store
        .append_history("alice", &[Message::user("6")], 0)
        .await
        .unwrap();
    assert!(store.history("alice", 10).await.unwrap().is_empty());
    store
        .append_history("alice", &[Message::user("7")], 5)
        .await
        .unwrap();
    assert_eq!(contents(&store.history("alice", 10).await.unwrap()), ["7"]);
    assert!(store.history("nobody", 10).await.unwrap().is_empty());
}

/// Clearing forgets one user's history only; clearing an unknown user is fine.
pub async fn history_clear(s: &dyn Subject) {
    let store = s.store();
    let turns = [Message::user("a"), Message::assistant("b")];
    store.append_history("one", &turns, 10).await.unwrap();
    store.append_history("two", &turns, 10).await.unwrap();
    store.clear_history("one").await.unwrap();
    store.clear_history("unknown").await.unwrap();
    assert!(store.history("one", 10).await.unwrap().is_empty());
    assert_eq!(
        contents(&store.history("two", 10).await.unwrap()),
        ["a", "b"]
    );
    store
        .append_history("one", &[Message::user("c")], 10)
        .await
        .unwrap();
    assert_eq!(contents(&store.history("one", 10).await.unwrap()), ["c"]);
}

/// Many acquisitions in flight at once grant exactly the limit.
pub async fn concurrent_acquires_are_exact(s: &dyn Subject) {
    let store = s.store();
    let checks = [check("burst", 50, 1), check("burst-tokens", 1_000, 7)];
    let outcomes = futures::future::join_all((0..200).map(|_| store.try_acquire(&checks))).await;
    let granted = outcomes
        .into_iter()
        .filter(|o| matches!(o.as_ref().unwrap(), Acquire::Granted))
        .count();
    assert_eq!(granted, 50);
    assert_eq!(
        store
            .counters(&keys(&["burst", "burst-tokens"]))
            .await
            .unwrap(),
        [50, 350]
    );
}

/// `flush` succeeds and leaves everything readable.
pub async fn flush_succeeds(s: &dyn Subject) {
    let store = s.store();
    store.add("fl", 2, TTL).await.unwrap();
    store.put("fv", "x", None).await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(counter(s, "fl").await, 2);
    assert_eq!(store.get("fv").await.unwrap().as_deref(), Some("x"));
}
