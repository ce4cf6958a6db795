//! The file becoming unwritable under a serving store: SQLite itself refuses the writes
//! (`PRAGMA query_only` makes it answer `SQLITE_READONLY`, as for a read-only file, even
//! for root, whom file permissions do not stop). The store keeps answering from memory,
//! counting on from the file's values, and merges into the file once it can write again.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed setup is a failed test"
)]

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use llmpool_core::{Acquire, CounterCheck, Message, Role, StateStore};
use llmpool_store_sqlite::{FallbackStatus, SqliteStore};

const HOUR: Duration = Duration::from_secs(3600);

/// Turns a hung call into a failed test (not a timing assertion: calls answer at once).
const HANG: Duration = Duration::from_secs(20);

async fn answered<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, call)
        .await
        .expect("a store call hung")
}

fn check(key: &str, limit: u64) -> CounterCheck {
    CounterCheck {
        key: key.into(),
        limit,
        cost: 1,
        ttl: HOUR,
        previous: Vec::new(),
    }
}

/// A counter as the file holds it, read by a connection of its own.
fn in_file(db: &Path, key: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COALESCE((SELECT value FROM counters WHERE key = ?1), 0)",
        [key],
        |r| r.get(0),
    )
    .unwrap()
}

fn value_in_file(db: &Path, key: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
        .ok()
}

/// Waits until the store is back on its file (it tries every second by itself).
async fn back_on_file(store: &SqliteStore) -> FallbackStatus {
    for _ in 0..400 {
        let status = store.fallback();
        if !status.active {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the store did not go back to its file: {:?}",
        store.fallback()
    );
}

#[tokio::test]
async fn an_unwritable_file_is_served_from_memory_then_merged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ro.db");
    let store = SqliteStore::open(&db).await.unwrap();
    let rpm = [check("rpm", 5)];
    for _ in 0..2 {
        assert_eq!(store.try_acquire(&rpm).await.unwrap(), Acquire::Granted);
    }
    store.put("learned", "before", None).await.unwrap();
    assert_eq!(store.fallback(), FallbackStatus::default());

    store.inject_read_only(true).unwrap();
    // Counting goes on from the file's 2: three more, then the limit holds.
    for i in 0..3 {
        assert_eq!(
            answered(store.try_acquire(&rpm)).await.unwrap(),
            Acquire::Granted,
            "request {i}"
        );
    }
    assert_eq!(
        answered(store.try_acquire(&rpm)).await.unwrap(),
        Acquire::Denied { index: 0, used: 5 }
    );
    let status = store.fallback();
    assert!(status.active, "{status:?}");
    assert_eq!((status.entered, status.recovered), (1, 0));
    assert!(status.held >= 1, "{status:?}");
    // Nothing reached the file, and nothing else was lost to the reader.
    assert_eq!(in_file(&db, "rpm"), 2);
    answered(store.put("learned", "during", None))
        .await
        .unwrap();
    assert_eq!(
        answered(store.get("learned")).await.unwrap().as_deref(),
        Some("during")
    );
    assert_eq!(value_in_file(&db, "learned").as_deref(), Some("before"));
    answered(store.add("tokens", 7, HOUR)).await.unwrap();
    assert_eq!(
        answered(store.counters(&["rpm".into(), "tokens".into()]))
            .await
            .unwrap(),
        [5, 7]
    );
    // History is not held: a clear error, not a hang or a silent loss.
    let error = answered(store.append_history("u", &[Message::new(Role::User, "hi")], 10))
        .await
        .unwrap_err();
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("cannot be written"), "{cause}");

    store.inject_read_only(false).unwrap();
    let status = back_on_file(&store).await;
    assert_eq!((status.entered, status.recovered, status.held), (1, 1, 0));
    assert_eq!(in_file(&db, "rpm"), 5);
    assert_eq!(in_file(&db, "tokens"), 7);
    assert_eq!(value_in_file(&db, "learned").as_deref(), Some("during"));
    // And it writes to the file again.
    assert_eq!(
        store.try_acquire(&rpm).await.unwrap(),
        Acquire::Denied { index: 0, used: 5 }
    );
    store
        .append_history("u", &[Message::new(Role::User, "hi")], 10)
        .await
        .unwrap();
    store.add("tokens", 1, HOUR).await.unwrap();
    assert_eq!(in_file(&db, "tokens"), 8);
}

#[tokio::test]
async fn the_merge_adds_to_what_another_process_wrote_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let held = SqliteStore::open(&db).await.unwrap();
    let other = SqliteStore::open(&db).await.unwrap();
    held.add("rpd", 10, HOUR).await.unwrap();

    held.inject_read_only(true).unwrap();
    held.add("rpd", 2, HOUR).await.unwrap();
    held.add("rpd", 1, HOUR).await.unwrap();
    other.add("rpd", 4, HOUR).await.unwrap();
    assert_eq!(in_file(&db, "rpd"), 14);

    held.inject_read_only(false).unwrap();
    back_on_file(&held).await;
    // 10 + the other's 4 + this one's 3: neither overwrote the other.
    assert_eq!(in_file(&db, "rpd"), 17);
    assert_eq!(other.counters(&["rpd".into()]).await.unwrap(), [17]);
}

#[tokio::test]
async fn a_store_that_never_recovers_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stuck.db");
    let store = SqliteStore::open(&db).await.unwrap();
    store.inject_read_only(true).unwrap();
    // Many calls while every retry of the file fails: each one answers.
    for i in 0..50_u64 {
        let granted = answered(store.try_acquire(&[check("n", 1000)]))
            .await
            .unwrap();
        assert_eq!(granted, Acquire::Granted, "call {i}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let status = store.fallback();
    assert!(status.active && status.entered == 1, "{status:?}");
    assert_eq!(store.counters(&["n".into()]).await.unwrap(), [50]);
    assert_eq!(in_file(&db, "n"), 0);
    // Closing makes a last try, which fails: the held counts are lost, as documented.
    store.close().await.unwrap();
    assert_eq!(in_file(&db, "n"), 0);
}
