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
