//! Tests across processes: acknowledged writes survive `kill -9`, and several processes
//! sharing one file never take more than a limit together.
//!
//! The test binary plays the child itself: each test re-runs this binary on its own name
//! with [`CHILD`] set, and the copy that sees [`CHILD`] does the child's part instead.

#![expect(
    clippy::unwrap_used,
    reason = "child-process plumbing: any failure is a failed test"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use llmpool_core::{Acquire, CounterCheck, Message, StateStore};
use llmpool_store_sqlite::SqliteStore;

/// Set in a child: the database path it works on.
const CHILD: &str = "LLMPOOL_SQLITE_TEST_CHILD";
/// How long a parent waits for its child's next line before calling the child stuck.
const PATIENCE: Duration = Duration::from_secs(120);
const HOUR: Duration = Duration::from_secs(3600);

fn child_path() -> Option<PathBuf> {
    std::env::var_os(CHILD).map(PathBuf::from)
}

/// Starts this test binary running only `test`, as a child working on `db`.
fn spawn_child(test: &str, db: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// What follows `tag` on each line of the child's stdout that has it, delivered as it
/// comes (libtest's own lines are dropped); the channel closes with the child's stdout.
fn tagged_lines(child: &mut Child, tag: &'static str) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest's "test name ... " may precede the first line without a newline.
            if let Some(at) = line.find(tag)
                && tx.send(line[at + tag.len()..].trim().to_owned()).is_err()
            {
                break;
            }
        }
    });
    rx
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// Never returns: the child waits here to be killed, so nothing after its last
/// acknowledged write (no drop, no close, no checkpoint) can help the data survive.
fn wait_to_be_killed() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn check(key: &str, limit: u64, cost: u64) -> CounterCheck {
    CounterCheck {
        key: key.into(),
        limit,
        cost,
        ttl: HOUR,
        previous: Vec::new(),
    }
}

fn rpm() -> CounterCheck {
    CounterCheck {
        previous: vec![("rpm:prev".into(), 0.5)],
        ..check("rpm:cur", 100, 1)
    }
}

/// The child's writes: every kind of state the router keeps.
async fn write_known_state(store: &SqliteStore) {
    store.set_counter("rpm:prev", 20, HOUR).await.unwrap();
    for _ in 0..5 {
        let granted = store
            .try_acquire(&[rpm(), check("rpd", 1000, 1)])
            .await
            .unwrap();
        assert_eq!(granted, Acquire::Granted);
    }
    store.add("tpm", 1500, HOUR).await.unwrap();
    store.add("tpm", -300, HOUR).await.unwrap();
    store
        .put(
            "health:groq",
            r#"{"cooldown_until":"2030-01-01T00:00:00Z"}"#,
            Some(HOUR),
        )
        .await
        .unwrap();
    store
        .put("limits:groq", r#"{"rpm":30}"#, None)
        .await
        .unwrap();
    store.put("gone", "x", None).await.unwrap();
    store.delete("gone").await.unwrap();
    let turns = [
        Message::user("سلام"),
        Message::assistant("hello"),
        Message::user("third"),
    ];
    store.append_history("alice", &turns, 2).await.unwrap();
    store.append_history("bob", &turns, 10).await.unwrap();
    store.clear_history("bob").await.unwrap();
    store
        .append_history("carol", &[Message::system("s")], 10)
        .await
        .unwrap();
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Some(db) = child_path() {
        runtime().block_on(async {
            let store = SqliteStore::open(&db).await.unwrap();
            write_known_state(&store).await;
            say("STATE written");
            wait_to_be_killed()
        });
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut child = spawn_child("acknowledged_writes_survive_kill_9", &db);
    let lines = tagged_lines(&mut child, "STATE");
    let said = lines.recv_timeout(PATIENCE);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(said.as_deref(), Ok("written"), "the child did not finish");

    runtime().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let keys: Vec<String> = ["rpm:cur", "rpm:prev", "rpd", "tpm"]
            .map(String::from)
            .to_vec();
        assert_eq!(store.counters(&keys).await.unwrap(), [5, 20, 5, 1200]);
        // 5 + ceil(20 × 0.5) = 15 used: the sliding count came back too.
        let full = CounterCheck { limit: 15, ..rpm() };
        let denied = store.try_acquire(&[full]).await.unwrap();
        assert_eq!(denied, Acquire::Denied { index: 0, used: 15 });
        assert_eq!(store.try_acquire(&[rpm()]).await.unwrap(), Acquire::Granted);
        assert_eq!(
            store.get("health:groq").await.unwrap().as_deref(),
            Some(r#"{"cooldown_until":"2030-01-01T00:00:00Z"}"#)
        );
        assert_eq!(
            store.get("limits:groq").await.unwrap().as_deref(),
            Some(r#"{"rpm":30}"#)
        );
        assert_eq!(store.get("gone").await.unwrap(), None);
        assert_eq!(
            store.history("alice", 10).await.unwrap(),
            [Message::assistant("hello"), Message::user("third")]
        );
        assert!(store.history("bob", 10).await.unwrap().is_empty());
        assert_eq!(
            store.history("carol", 10).await.unwrap(),
            [Message::system("s")]
        );
    });
}

/// Tasks in the child acquiring without pause.
const WRITERS: usize = 8;

#[test]
fn kill_9_mid_stream_loses_nothing_acknowledged() {
    if let Some(db) = child_path() {
        runtime().block_on(async {
            let store = Arc::new(SqliteStore::open(&db).await.unwrap());
            for task in 0..WRITERS {
                let store = store.clone();
                tokio::spawn(async move {
                    loop {
                        let checks = [check("live", u64::MAX, 1)];
                        let granted = store.try_acquire(&checks).await.unwrap();
                        assert_eq!(granted, Acquire::Granted);
                        say(&format!("ACK {task}"));
                    }
                });
            }
            wait_to_be_killed()
        });
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let mut child = spawn_child("kill_9_mid_stream_loses_nothing_acknowledged", &db);
    let lines = tagged_lines(&mut child, "ACK");
    let mut acked = 0_u64;
    while acked < 500 {
        match lines.recv_timeout(PATIENCE) {
            Ok(_) => acked += 1,
            Err(e) => {
                child.kill().unwrap();
                panic!("the child stopped acknowledging after {acked}: {e}");
            }
        }
    }
    child.kill().unwrap(); // SIGKILL, while writes are in flight
    child.wait().unwrap();
    // Acknowledgements already in the pipe when the child died count too.
    acked += u64::try_from(lines.iter().count()).unwrap();

    let committed = runtime().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        store.counters(&["live".to_owned()]).await.unwrap()[0]
    });
    // Every acknowledged grant is there; at most one call per task was committed but
    // not yet acknowledged when the child died.
    assert!(
        (acked..=acked + WRITERS as u64).contains(&committed),
        "acknowledged {acked}, committed {committed}"
    );
}

const PROCESSES: usize = 3;
const SHARED_LIMIT: u64 = 3000;

#[test]
fn processes_sharing_a_file_never_exceed_a_limit() {
    if let Some(db) = child_path() {
        let granted = runtime().block_on(async {
            let store = Arc::new(SqliteStore::open(&db).await.unwrap());
            let tasks = (0..16).map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let checks = [
                        check("shared:requests", SHARED_LIMIT, 1),
                        check("shared:tokens", SHARED_LIMIT * 10, 10),
                    ];
                    let mut granted = 0_u64;
                    while store.try_acquire(&checks).await.unwrap() == Acquire::Granted {
                        granted += 1;
                    }
                    granted
                })
            });
            let mut granted = 0;
            for task in tasks.collect::<Vec<_>>() {
                granted += task.await.unwrap();
            }
            granted
        });
        say(&format!("GRANTED {granted}"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    // Create the file first so the children race on acquiring, not on migrating.
    runtime().block_on(async { SqliteStore::open(&db).await.unwrap().close().await.unwrap() });
    let mut children: Vec<Child> = (0..PROCESSES)
        .map(|_| spawn_child("processes_sharing_a_file_never_exceed_a_limit", &db))
        .collect();
    let mut totals = Vec::new();
    for child in &mut children {
        totals.push(tagged_lines(child, "GRANTED"));
    }
    let mut granted = 0;
    for (child, lines) in children.iter_mut().zip(totals) {
        let line = lines.recv_timeout(PATIENCE);
        let status = child.wait().unwrap();
        assert!(status.success(), "a child failed: {status}");
        let n: u64 = line.unwrap().parse().unwrap();
        granted += n;
    }
    assert_eq!(granted, SHARED_LIMIT);
    runtime().block_on(async {
        let store = SqliteStore::open(&db).await.unwrap();
        let keys = ["shared:requests".to_owned(), "shared:tokens".to_owned()];
        assert_eq!(
            store.counters(&keys).await.unwrap(),
            [SHARED_LIMIT, SHARED_LIMIT * 10]
        );
    });
}
