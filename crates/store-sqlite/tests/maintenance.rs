//! What the conformance suite cannot see from outside: expired rows are really deleted,
//! one failing call in a group commit fails alone, and every way of opening works.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup is a failed test"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;

use llmpool_core::testkit::conformance::ManualClock;
use llmpool_core::{Acquire, CounterCheck, Message, StateStore};
use llmpool_store_sqlite::{Durability, SqliteOptions, SqliteStore};

const MINUTE: Duration = Duration::from_secs(60);

fn rows(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn purge_deletes_only_expired_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("purge.db");
    let clock = Arc::new(ManualClock::new());
    let store = SqliteStore::open_with(&db, SqliteOptions::new().clock(clock.clone()))
        .await
        .unwrap();
    store.add("short", 1, MINUTE).await.unwrap();
    store.add("long", 1, 10 * MINUTE).await.unwrap();
    store.put("short", "x", Some(MINUTE)).await.unwrap();
    store.put("forever", "y", None).await.unwrap();
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    clock.advance(2 * MINUTE);
    assert_eq!(store.purge_expired().await.unwrap(), 2);
    assert_eq!((rows(&db, "counters"), rows(&db, "kv")), (1, 1));
    assert_eq!(store.get("forever").await.unwrap().as_deref(), Some("y"));
    assert_eq!(
        store
            .counters(&["long".into(), "short".into()])
            .await
            .unwrap(),
        [1, 0]
    );
}

#[tokio::test]
async fn expired_rows_are_cleaned_up_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cleanup.db");
    let clock = Arc::new(ManualClock::new());
    let options = SqliteOptions::new()
        .clock(clock.clone())
        .cleanup_interval(Duration::from_millis(10));
    let store = SqliteStore::open_with(&db, options).await.unwrap();
    store.put("cooldown", "x", Some(MINUTE)).await.unwrap();
    store.add("window", 3, MINUTE).await.unwrap();
    clock.advance(2 * MINUTE);
    // Any call tells the store thread what time it is now.
    assert_eq!(store.get("cooldown").await.unwrap(), None);
    let mut left = (-1, -1);
    for _ in 0..500 {
        left = (rows(&db, "counters"), rows(&db, "kv"));
        if left == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(left, (0, 0));
}

#[tokio::test]
async fn a_failing_call_fails_alone_in_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fallback.db");
    let store = SqliteStore::open(&db).await.unwrap();
    store
        .append_history("good", &[Message::user("hi")], 10)
        .await
        .unwrap();
    // A row this build cannot read, as if written by a future version.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO history (user, seq, role, content) VALUES ('bad', 1, 'robot', 'x')",
            [],
        )
        .unwrap();
    let check = [CounterCheck {
        key: "k".into(),
        limit: 30,
        cost: 1,
        ttl: MINUTE,
        previous: Vec::new(),
    }];
    // Queued together, so (usually) committed as one group: the bad read must not take
    // the acquisitions down with it, nor count them twice when they are re-run.
    let acquisitions = join_all((0..40).map(|_| store.try_acquire(&check)));
    let (bad, good, acquired) = tokio::join!(
        store.history("bad", 10),
        store.history("good", 10),
        acquisitions
    );
    let error = bad.unwrap_err();
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("robot"), "{error}: {cause}");
    assert_eq!(good.unwrap(), [Message::user("hi")]);
    let granted = acquired
        .into_iter()
        .filter(|a| *a.as_ref().unwrap() == Acquire::Granted)
        .count();
    assert_eq!(granted, 30);
    assert_eq!(store.counters(&["k".into()]).await.unwrap(), [30]);
}

#[tokio::test]
async fn every_way_of_opening_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ways.db");
    let full = SqliteOptions::new().durability(Durability::PowerLoss);
    let store = SqliteStore::open_with(&db, full).await.unwrap();
    assert_eq!(store.path(), Some(db.as_path()));
    store.put("k", "v", None).await.unwrap();
    store.flush().await.unwrap();
    store.close().await.unwrap();

    let path = db.clone();
    let store = tokio::task::spawn_blocking(move || {
        SqliteStore::open_blocking(&path, SqliteOptions::default()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some("v"));
    drop(store);

    let memory = SqliteStore::in_memory(SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(memory.path(), None);
    assert_eq!(memory.get("k").await.unwrap(), None);
    memory.flush().await.unwrap();
    // The file is in WAL mode and at the current schema version.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

/// The counter's value as another program reading the file sees it.
fn committed(db: &Path, key: &str) -> Option<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT value FROM counters WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .ok()
}

#[tokio::test]
async fn deferred_refunds_are_committed_by_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("deferred.db");
    let store = SqliteStore::open(&db).await.unwrap();
    store.add("tokens", 100, MINUTE).await.unwrap();
    store
        .add_many_deferred(&[("tokens", -30, MINUTE)])
        .await
        .unwrap();
    // The next call of any kind commits it first, in queue order.
    assert_eq!(store.counters(&["tokens".into()]).await.unwrap(), [70]);
    assert_eq!(committed(&db, "tokens"), Some(70));
}

#[tokio::test]
async fn deferred_refunds_are_committed_without_another_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("deferred-idle.db");
    let store = SqliteStore::open(&db).await.unwrap();
    store.add("tokens", 100, MINUTE).await.unwrap();
    store
        .add_many_deferred(&[("tokens", -30, MINUTE)])
        .await
        .unwrap();
    // Nobody else calls: the store's own thread commits it within DEFERRED_WITHIN.
    let deadline = std::time::Instant::now() + llmpool_store_sqlite::DEFERRED_WITHIN * 20;
    while committed(&db, "tokens") != Some(70) {
        assert!(
            std::time::Instant::now() < deadline,
            "the deferred refund was never committed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(store);
}

#[tokio::test]
async fn dropping_the_store_commits_deferred_refunds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("deferred-drop.db");
    // A long cleanup interval does not delay them: the tick is DEFERRED_WITHIN at most.
    let store = SqliteStore::open(&db).await.unwrap();
    store.add("tokens", 100, MINUTE).await.unwrap();
    store
        .add_many_deferred(&[("tokens", -30, MINUTE), ("requests", -1, MINUTE)])
        .await
        .unwrap();
    drop(store);
    assert_eq!(committed(&db, "tokens"), Some(70));
}
