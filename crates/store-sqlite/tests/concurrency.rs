//! Hundreds of tasks, on one store or on two stores sharing a file, acquiring against one
//! limit: the grants and the final counts are exact.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use llmpool_core::{Acquire, CounterCheck, StateStore};
use llmpool_store_sqlite::{SqliteOptions, SqliteStore};

const TASKS: usize = 300;
const LIMIT: u64 = 1000;

fn checks() -> [CounterCheck; 2] {
    let check = |key: &str, limit: u64, cost: u64| CounterCheck {
        key: key.into(),
        limit,
        cost,
        ttl: Duration::from_secs(3600),
        previous: Vec::new(),
    };
    // Requests run out first; tokens always have room, so both are counted on each grant.
    [check("requests", LIMIT, 1), check("tokens", LIMIT * 3, 3)]
}

/// Runs `TASKS` tasks, task `i` on `stores[i % len]`, each acquiring until denied;
/// returns the total granted.
async fn hammer(stores: &[Arc<SqliteStore>]) -> u64 {
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                let mut granted = 0_u64;
                loop {
                    match store.try_acquire(&checks()).await.unwrap() {
                        Acquire::Granted => granted += 1,
                        Acquire::Denied { index, used } => {
                            assert_eq!((index, used), (0, LIMIT));
                            return granted;
                        }
                    }
                }
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += task.await.unwrap();
    }
    granted
}

async fn assert_counts(store: &SqliteStore) {
    let keys = ["requests".to_owned(), "tokens".to_owned()];
    assert_eq!(store.counters(&keys).await.unwrap(), [LIMIT, LIMIT * 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_on_one_store_take_exactly_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("one.db")).await.unwrap());
    assert_eq!(hammer(std::slice::from_ref(&store)).await, LIMIT);
    assert_counts(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_take_exactly_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    let stores = [
        Arc::new(SqliteStore::open(&path).await.unwrap()),
        Arc::new(SqliteStore::open(&path).await.unwrap()),
    ];
    assert_eq!(hammer(&stores).await, LIMIT);
    assert_counts(&stores[0]).await;
    assert_counts(&stores[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_takes_exactly_the_limit() {
    let store = Arc::new(
        SqliteStore::in_memory(SqliteOptions::default())
            .await
            .unwrap(),
    );
    assert_eq!(hammer(std::slice::from_ref(&store)).await, LIMIT);
    assert_counts(&store).await;
}

/// Each store's thread keeps a copy of the counters it has seen; a count committed by the
/// other store and a raw write by a third connection (another program) must both be seen
/// by the next check, in strict turn (no race can hide a stale copy). A rolled-back batch
/// is covered by `a_failing_call_fails_alone_in_its_group`.
#[tokio::test]
async fn each_check_sees_what_other_connections_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turns.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    let rpm = |limit: u64| {
        [CounterCheck {
            key: "rpm".into(),
            limit,
            cost: 1,
            ttl: Duration::from_secs(3600),
            previous: vec![("rpm-earlier".into(), 1.0)],
        }]
    };
    assert_eq!(a.try_acquire(&rpm(3)).await.unwrap(), Acquire::Granted);
    assert_eq!(b.try_acquire(&rpm(3)).await.unwrap(), Acquire::Granted);
    // `a` counted 1 itself; it must see `b`'s count too.
    assert_eq!(
        a.try_acquire(&rpm(2)).await.unwrap(),
        Acquire::Denied { index: 0, used: 2 }
    );
    // Another program raises the earlier sub-bucket behind both stores' backs.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "INSERT INTO counters (key, value, expires_at) VALUES ('rpm-earlier', 5, ?1)",
        [i64::MAX],
    )
    .unwrap();
    assert_eq!(
        a.try_acquire(&rpm(7)).await.unwrap(),
        Acquire::Denied { index: 0, used: 7 }
    );
    assert_eq!(
        b.try_acquire(&rpm(8)).await.unwrap(),
        Acquire::Granted,
        "2 + 5 + 1 fits 8"
    );
    assert_eq!(
        a.try_acquire(&rpm(8)).await.unwrap(),
        Acquire::Denied { index: 0, used: 8 }
    );
    drop(raw);
    assert_eq!(
        a.counters(&["rpm".to_owned(), "rpm-earlier".to_owned()])
            .await
            .unwrap(),
        [3, 5]
    );
}

/// Calls from plain threads (no async runtime): whichever thread finds the connection
/// free runs everything queued, so no call may be left waiting and none counted twice.
#[test]
fn threads_without_a_runtime_take_exactly_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open_blocking(dir.path().join("threads.db"), SqliteOptions::default())
            .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut granted = 0_u64;
                while futures::executor::block_on(store.try_acquire(&checks())).unwrap()
                    == Acquire::Granted
                {
                    granted += 1;
                }
                granted
            })
        })
        .collect();
    let granted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(granted, LIMIT);
    futures::executor::block_on(assert_counts(&store));
}
