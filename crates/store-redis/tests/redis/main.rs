//! `RedisStore` against a real `redis-server` on loopback: the shared conformance suite,
//! exact limits under contention from many stores and several processes, TTLs set on the
//! server, key prefixes, and reconnection after a restart.
//!
//! Where the Redis comes from is in `server.rs`: `LLMPOOL_REDIS_URL`, else a
//! private `redis-server` from `PATH`, else a failure that says what to install (or a
//! skip with `LLMPOOL_SKIP_REDIS=1`).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup is a failed test"
)]

mod server;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use llmpool_core::testkit::conformance::Subject;
use llmpool_core::{Acquire, CounterCheck, Message, StateStore};
use llmpool_store_redis::{RedisOptions, RedisStore};

use server::TestRedis;

const HOUR: Duration = Duration::from_secs(3600);

async fn store_on(redis: &TestRedis) -> RedisStore {
    connect(&redis.url, &redis.prefix).await
}

async fn connect(url: &str, prefix: &str) -> RedisStore {
    let options = RedisOptions::new().prefix(prefix);
    RedisStore::connect_with(url, options).await.unwrap()
}

async fn admin(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
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

/// A store on its own prefix; "advancing time" shortens the TTL of each of its keys
/// (deleting those whose TTL runs out), which is what the server's clock moving on would
/// do to them.
struct RedisSubject {
    store: RedisStore,
    admin: MultiplexedConnection,
    redis: TestRedis,
}

#[async_trait::async_trait]
impl Subject for RedisSubject {
    fn store(&self) -> &dyn StateStore {
        &self.store
    }

    async fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap();
        let mut admin = self.admin.clone();
        let pattern = format!("{}*", self.redis.prefix);
        let mut cursor = 0_u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut admin)
                .await
                .unwrap();
            for key in keys {
                let ttl: i64 = redis::cmd("PTTL")
                    .arg(&key)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                if ttl < 0 {
                    continue; // no expiry (-1) or already gone (-2)
                }
                let left = ttl - by;
                let mut command = if left <= 0 {
                    redis::cmd("DEL")
                } else {
                    redis::cmd("PEXPIRE")
                };
                command.arg(&key);
                if left > 0 {
                    command.arg(left);
                }
                command.exec_async(&mut admin).await.unwrap();
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
}

mod conformance {
    use super::*;

    async fn subject() -> Option<RedisSubject> {
        let redis = server::redis()?;
        Some(RedisSubject {
            store: store_on(&redis).await,
            admin: admin(&redis.url).await,
            redis,
        })
    }

    llmpool_core::store_conformance_tests!(subject());
}

const TASKS: usize = 48;
const LIMIT: u64 = 1500;

/// Acquires until denied; returns how many were granted.
async fn drain(store: &RedisStore) -> u64 {
    let checks = [check("requests", LIMIT, 1), check("tokens", LIMIT * 5, 5)];
    let mut granted = 0;
    loop {
        match store.try_acquire(&checks).await.unwrap() {
            Acquire::Granted => granted += 1,
            Acquire::Denied { index, used } => {
                assert_eq!((index, used), (0, LIMIT));
                return granted;
            }
        }
    }
}

async fn assert_exact_counts(store: &RedisStore) {
    let keys = ["requests".to_owned(), "tokens".to_owned()];
    assert_eq!(store.counters(&keys).await.unwrap(), [LIMIT, LIMIT * 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_with_their_own_connections_take_exactly_the_limit() {
    let Some(redis) = server::redis() else { return };
    let redis = Arc::new(redis);
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let redis = redis.clone();
            tokio::spawn(async move { drain(&store_on(&redis).await).await })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += task.await.unwrap();
    }
    assert_eq!(granted, LIMIT);
    assert_exact_counts(&store_on(&redis).await).await;
}

/// Set in a child process: `<url> <prefix>`.
const CHILD: &str = "LLMPOOL_REDIS_TEST_CHILD";
const PROCESSES: usize = 4;

#[test]
fn separate_processes_take_exactly_the_limit() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(target) = std::env::var(CHILD) {
        let (url, prefix) = target.split_once(' ').unwrap();
        let granted: u64 = runtime.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (url, prefix) = (url.to_owned(), prefix.to_owned());
                    tokio::spawn(async move { drain(&connect(&url, &prefix).await).await })
                })
                .collect();
            let mut granted = 0;
            for task in tasks {
                granted += task.await.unwrap();
            }
            granted
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "\nGRANTED {granted}").unwrap();
        out.flush().unwrap();
        return;
    }
    let Some(redis) = server::redis() else { return };
    let mut children: Vec<Child> = (0..PROCESSES)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "separate_processes_take_exactly_the_limit",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD, format!("{} {}", redis.url, redis.prefix))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut granted = 0;
    let mut per_child = Vec::new();
    for child in &mut children {
        // Read to the end: closing the pipe early would fail the child's last writes.
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines: Vec<String> = stdout.lines().map_while(Result::ok).collect();
        let line = lines
            .iter()
            .find_map(|l| l.strip_prefix("GRANTED ").map(str::to_owned));
        let status = child.wait().unwrap();
        assert!(status.success(), "a child failed: {status}");
        let n: u64 = line.unwrap().parse().unwrap();
        per_child.push(n);
        granted += n;
    }
    assert_eq!(granted, LIMIT, "per process: {per_child:?}");
    runtime.block_on(async { assert_exact_counts(&store_on(&redis).await).await });
}

#[tokio::test]
async fn keys_are_prefixed_and_carry_their_ttl() {
    let Some(redis) = server::redis() else { return };
    let store = store_on(&redis).await;
    let other = RedisStore::connect_with(
        &redis.url,
        RedisOptions::new().prefix(format!("{}other:", redis.prefix)),
    )
    .await
    .unwrap();
    assert_eq!(
        store.try_acquire(&[check("rpm", 10, 1)]).await.unwrap(),
        Acquire::Granted
    );
    store.put("cooldown", "1", Some(HOUR)).await.unwrap();
    store.put("limits", "{}", None).await.unwrap();
    store
        .append_history("u", &[Message::user("hi")], 5)
        .await
        .unwrap();
    // Another prefix shares nothing.
    assert_eq!(other.counters(&["rpm".into()]).await.unwrap(), [0]);
    assert_eq!(other.get("limits").await.unwrap(), None);

    let mut admin = admin(&redis.url).await;
    let mut pttl = async |key: String| -> i64 {
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut admin)
            .await
            .unwrap()
    };
    let hour_ms = i64::try_from(HOUR.as_millis()).unwrap();
    let p = &redis.prefix;
    assert!((1..=hour_ms).contains(&pttl(format!("{p}c:rpm")).await));
    assert!((1..=hour_ms).contains(&pttl(format!("{p}v:cooldown")).await));
    assert_eq!(pttl(format!("{p}v:limits")).await, -1);
    assert_eq!(pttl(format!("{p}h:u")).await, -1);
}

#[tokio::test]
async fn counters_expire_on_theservers_clock() {
    let Some(redis) = server::redis() else { return };
    let store = store_on(&redis).await;
    store
        .add("short", 5, Duration::from_millis(50))
        .await
        .unwrap();
    // No fake time here: Redis's own TTL removes the key. Poll, within a generous bound.
    let mut left = u64::MAX;
    for _ in 0..200 {
        left = store.counters(&["short".into()]).await.unwrap()[0];
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(left, 0);
}

#[tokio::test]
async fn reconnects_after_theserver_restarts() {
    let Some(mut server) = server::privateserver() else {
        return;
    };
    let options = RedisOptions::new().prefix(server::unique_prefix());
    let store = RedisStore::connect_with(&server.url(), options)
        .await
        .unwrap();
    let checks = [check("rpm", 10, 1)];
    assert_eq!(store.try_acquire(&checks).await.unwrap(), Acquire::Granted);
    store.put("v", "before", None).await.unwrap();

    server.stop();
    // With the server gone, calls fail (after the reconnection attempts) rather than hang.
    assert!(store.get("v").await.is_err());
    assert!(store.try_acquire(&checks).await.is_err());

    server.start_again().unwrap();
    let port = server.port();
    let mut outcome = None;
    for _ in 0..100 {
        if let Ok(acquired) = store.try_acquire(&checks).await {
            outcome = Some(acquired);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        outcome,
        Some(Acquire::Granted),
        "no reconnection to port {port}"
    );
    // The restarted server kept nothing (no persistence), and the script was reloaded.
    assert_eq!(store.counters(&["rpm".into()]).await.unwrap(), [1]);
    assert_eq!(store.get("v").await.unwrap(), None);
    store.put("v", "after", None).await.unwrap();
    assert_eq!(store.get("v").await.unwrap().as_deref(), Some("after"));
}

/// The README's bound across a restart is zero when Redis keeps its data: a server with
/// an append-only file synced on every write, killed (SIGKILL) and started again, still
/// holds every count it acknowledged, so the limit holds exactly.
#[tokio::test]
async fn a_persistent_server_keeps_the_counts_across_a_kill() {
    let Some(mut server) = server::privateserver() else {
        return;
    };
    server.persistent = true;
    server.start_again().unwrap();
    let options = RedisOptions::new().prefix(server::unique_prefix());
    let store = RedisStore::connect_with(&server.url(), options)
        .await
        .unwrap();
    let rpd = [check("rpd", 3, 1)];
    for _ in 0..3 {
        assert_eq!(store.try_acquire(&rpd).await.unwrap(), Acquire::Granted);
    }
    server.stop();
    server.start_again().unwrap();
    let mut outcome = None;
    for _ in 0..100 {
        if let Ok(acquired) = store.try_acquire(&rpd).await {
            outcome = Some(acquired);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outcome, Some(Acquire::Denied { index: 0, used: 3 }));
}

/// Upper bound that turns a hung call into a failed test (not a timing assertion: the
/// calls are expected to fail within the store's 2 s call timeout, far below it).
const HANG: Duration = Duration::from_secs(20);

/// Every kind of call, each with the hang bound; returns how many failed.
async fn every_call_fails(store: &RedisStore) -> usize {
    let checks = [check("rpm", 10, 1)];
    let outcomes = [
        tokio::time::timeout(HANG, store.try_acquire(&checks))
            .await
            .map(|r| r.is_err()),
        tokio::time::timeout(HANG, store.add("rpm", 1, HOUR))
            .await
            .map(|r| r.is_err()),
        tokio::time::timeout(HANG, store.counters(&["rpm".into()]))
            .await
            .map(|r| r.is_err()),
        tokio::time::timeout(HANG, store.put("v", "x", None))
            .await
            .map(|r| r.is_err()),
        tokio::time::timeout(HANG, store.get("v"))
            .await
            .map(|r| r.is_err()),
    ];
    for (i, outcome) in outcomes.iter().enumerate() {
        assert!(outcome.is_ok(), "call {i} hung past {HANG:?}");
    }
    outcomes.iter().filter(|o| matches!(o, Ok(true))).count()
}

#[tokio::test]
async fn calls_fail_instead_of_hanging_while_theserver_is_down() {
    let Some(mut server) = server::privateserver() else {
        return;
    };
    let options = RedisOptions::new().prefix(server::unique_prefix());
    let store = RedisStore::connect_with(&server.url(), options)
        .await
        .unwrap();
    assert_eq!(
        store.try_acquire(&[check("rpm", 10, 1)]).await.unwrap(),
        Acquire::Granted
    );
    server.stop();
    // Twice: the first round finds the connection dropped, the second a manager still
    // failing to reconnect.
    assert_eq!(every_call_fails(&store).await, 5);
    assert_eq!(every_call_fails(&store).await, 5);
    let error = store.get("v").await.unwrap_err();
    assert_eq!(error.operation, "redis get");
}

#[tokio::test]
async fn calls_fail_instead_of_hanging_while_theserver_is_stuck() {
    let Some(server) = server::privateserver() else {
        return;
    };
    let options = RedisOptions::new()
        .prefix(server::unique_prefix())
        .call_timeout(Duration::from_millis(500));
    let store = RedisStore::connect_with(&server.url(), options)
        .await
        .unwrap();
    store.put("v", "before", None).await.unwrap();
    server.pause();
    let failed = every_call_fails(&store).await;
    let error = store.get("v").await.unwrap_err();
    server.resume();
    assert_eq!(failed, 5);
    let message = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        message.contains("did not answer within 500 ms"),
        "{message}"
    );
    // Once it answers again, so does the store. (The `put` that timed out may have been
    // applied on resuming: a failed call may or may not have been, as documented.)
    let mut stored = false;
    for _ in 0..100 {
        if store.put("v", "after", None).await.is_ok() {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored, "no answer after the server resumed");
    assert_eq!(store.get("v").await.unwrap().as_deref(), Some("after"));
}

#[tokio::test]
async fn connecting_to_nothing_fails() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = RedisOptions::new().reconnect_attempts(0);
    let url = format!("redis://127.0.0.1:{port}/");
    assert!(RedisStore::connect_with(&url, options).await.is_err());
    assert!(RedisStore::connect("not a url").await.is_err());
}
