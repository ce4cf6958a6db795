//! [`SqliteStore`]: the async face of the connection and its queue of calls.

mod cache;
mod fallback;
mod ops;
mod worker;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use llmpool_core::{Acquire, CounterCheck, Message, StateStore, StoreError};

use crate::options::SqliteOptions;
use ops::{Op, Output};
use worker::{Command, Engine, Job, Target};

/// A [`StateStore`] on one SQLite file (or an in-memory database). Calls run on the
/// caller's thread when the connection is free and join the next group commit when it is
/// not; a thread of its own deletes expired rows. See the [crate docs](crate) for its
/// design and guarantees.
///
/// Dropping the store closes the database once its last call has returned;
/// [`close`](Self::close) closes it at once and reports how that went.
pub struct SqliteStore {
    engine: Arc<Engine>,
    /// Dropping it stops the maintenance thread.
    _maintenance: mpsc::Sender<()>,
    options: SqliteOptions,
    location: Option<PathBuf>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path` with the default options,
    /// migrating its schema.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens (creating if needed) the store file at `path`, migrating its schema.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let (ready, stop) = Self::start(Some(path.as_ref().to_owned()), options)?;
        ready.store(stop).await
    }

    /// Like [`open_with`](Self::open_with), for code that is not async; blocks the calling
    /// thread while the file is opened, so never call it from an async task.
    pub fn open_blocking(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let (ready, stop) = Self::start(Some(path.as_ref().to_owned()), options)?;
        futures::executor::block_on(ready.store(stop))
    }

    /// A private in-memory database with the same behaviour minus persistence (for tests).
    pub async fn in_memory(options: SqliteOptions) -> Result<Self, StoreError> {
        let (ready, stop) = Self::start(None, options)?;
        ready.store(stop).await
    }

    /// Starts the maintenance thread, which opens the database and reports on `ready`.
    fn start(
        location: Option<PathBuf>,
        options: SqliteOptions,
    ) -> Result<(Ready, mpsc::Sender<()>), StoreError> {
        let (stop, stopped_rx) = mpsc::channel::<()>();
        let (ready_tx, ready) = oneshot::channel();
        let target = location.clone().map_or(Target::Memory, Target::File);
        let thread_options = options.clone();
        std::thread::Builder::new()
            .name("llmpool-sqlite".into())
            .spawn(move || {
                let engine = match Engine::open(&target, &thread_options) {
                    Ok(engine) => Arc::new(engine),
                    Err(e) => {
                        // The opener may have gone away; then nobody is left to tell.
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                if ready_tx.send(Ok(Arc::clone(&engine))).is_ok() {
                    maintain(&engine, &thread_options, &stopped_rx);
                }
            })
            .map_err(|e| StoreError::new("start sqlite store thread", e))?;
        Ok((
            Ready {
                answer: ready,
                options,
                location,
            },
            stop,
        ))
    }

    /// The file this store writes, `None` when in memory.
    pub fn path(&self) -> Option<&Path> {
        self.location.as_deref()
    }

    /// How the store fares with its file: whether it is serving from memory now because
    /// the file cannot be written, and how often that happened. Cheap (no wait for the
    /// connection): meant for a health check or a metric.
    pub fn fallback(&self) -> FallbackStatus {
        let stats = &self.engine.stats;
        FallbackStatus {
            active: stats.active.load(Ordering::Relaxed),
            held: stats.held.load(Ordering::Relaxed),
            entered: stats.entered.load(Ordering::Relaxed),
            recovered: stats.recovered.load(Ordering::Relaxed),
        }
    }

    /// Test hook, not an API: makes the connection refuse writes with SQLite's own
    /// `SQLITE_READONLY` (`PRAGMA query_only`), as a read-only file does, even for root,
    /// whom file permissions do not stop.
    #[doc(hidden)]
    pub fn inject_read_only(&self, on: bool) -> Result<(), StoreError> {
        self.engine.with_worker(|worker| match worker {
            Some(worker) => worker
                .set_query_only(on)
                .map_err(|e| StoreError::new("sqlite query_only", e)),
            None => Err(StoreError::new(
                "sqlite query_only",
                "the store has been closed",
            )),
        })
    }

    /// Deletes every counter and value that has expired now; returns how many rows went.
    /// The store also does this by itself every
    /// [`cleanup_interval`](SqliteOptions::cleanup_interval).
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        const OPERATION: &str = "sqlite purge_expired";
        let (reply, rx) = oneshot::channel();
        self.send(Command::Purge {
            now_ms: self.now_ms(),
            reply,
        })
        .await;
        rx.await.map_err(|_| stopped(OPERATION))?
    }

    /// Commits what is queued and closes the database (waiting for a commit in progress).
    #[expect(
        clippy::unused_async,
        reason = "public API: stays async so that closing may await I/O in the future"
    )]
    pub async fn close(self) -> Result<(), StoreError> {
        self.engine
            .with_worker(|worker| worker.take().map_or(Ok(()), worker::Worker::close))
    }

    fn now_ms(&self) -> i64 {
        self.options.clock.now().timestamp_millis()
    }

    /// Queues one command and sees that it runs.
    async fn send(&self, command: Command) {
        self.engine.push(command);
        self.engine.run_soon().await;
    }

    async fn call(&self, op: Op) -> Result<Output, StoreError> {
        let operation = op.name();
        let rx = self.queue(op);
        self.engine.run_soon().await;
        rx.await.map_err(|_| stopped(operation))?
    }

    /// Queues `op` without running the queue; the receiver gets its result.
    fn queue(&self, op: Op) -> oneshot::Receiver<Result<Output, StoreError>> {
        let (reply, rx) = oneshot::channel();
        self.engine.push(Command::Job(Job {
            op,
            now_ms: self.now_ms(),
            reply,
        }));
        rx
    }

    /// Queues one add per `(key, delta, ttl)`.
    fn queue_adds(
        &self,
        adds: &[(&str, i64, Duration)],
    ) -> Vec<oneshot::Receiver<Result<Output, StoreError>>> {
        adds.iter()
            .map(|(key, delta, ttl)| {
                self.queue(Op::Add {
                    key: (*key).to_owned(),
                    delta: *delta,
                    ttl_ms: ttl_ms(*ttl),
                })
            })
            .collect()
    }
}

/// The most counters and values held in memory while the file cannot be written.
pub const MAX_HELD: usize = fallback::MAX_ENTRIES;

/// What [`SqliteStore::fallback`] reports.
///
/// When a write fails because the file cannot be written (read-only file or directory,
/// full disk, I/O error), the store keeps serving: quota counters and values are held in
/// memory on top of what the file last committed (so counts go on from where they were),
/// an error is logged, and the store tries the file again every second; once a write
/// succeeds, what was held is merged into the file and the store is back on it. Chat
/// history calls fail meanwhile. See the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FallbackStatus {
    /// Serving from memory now.
    pub active: bool,
    /// Counters and values held in memory now.
    pub held: u64,
    /// How many times the store has switched to memory since it was opened.
    pub entered: u64,
    /// How many times it has gone back to its file.
    pub recovered: u64,
}

fn stopped(operation: &'static str) -> StoreError {
    StoreError::new(operation, "the sqlite store dropped the call unanswered")
}

/// A store being opened: the maintenance thread's answer, and what the store keeps.
struct Ready {
    answer: oneshot::Receiver<Result<Arc<Engine>, StoreError>>,
    options: SqliteOptions,
    location: Option<PathBuf>,
}

impl Ready {
    /// Waits for the database to be open.
    async fn store(self, stop: mpsc::Sender<()>) -> Result<SqliteStore, StoreError> {
        let engine = self.answer.await.map_err(|_| {
            StoreError::new("open sqlite store", "the sqlite store thread has stopped")
        })??;
        Ok(SqliteStore {
            engine,
            _maintenance: stop,
            options: self.options,
            location: self.location,
        })
    }
}

/// The longest a deferred write ([`StateStore::add_many_deferred`]) waits for a commit
/// when no other call comes.
pub const DEFERRED_WITHIN: Duration = Duration::from_millis(100);

/// The maintenance thread: commits deferred writes nobody else committed within
/// [`DEFERRED_WITHIN`] and deletes expired rows every `cleanup_interval`, until the store
/// is dropped.
fn maintain(engine: &Engine, options: &SqliteOptions, stop: &mpsc::Receiver<()>) {
    let tick = options.cleanup_interval.min(DEFERRED_WITHIN);
    let mut next_cleanup = Instant::now() + options.cleanup_interval;
    loop {
        match stop.recv_timeout(tick) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if Instant::now() >= next_cleanup {
                    engine.with_worker(|worker| {
                        if let Some(worker) = worker {
                            worker.cleanup();
                        }
                    });
                    next_cleanup = Instant::now() + options.cleanup_interval;
                } else if engine.stats.active.load(Ordering::Relaxed) {
                    // In fallback: try the file again even when no call comes.
                    engine.with_worker(|worker| {
                        if let Some(worker) = worker {
                            worker.try_file_again();
                        }
                    });
                } else if engine.has_queued() {
                    engine.with_worker(|_| ());
                }
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Drop for SqliteStore {
    /// Commits what is still queued (deferred writes) before the store goes.
    fn drop(&mut self) {
        if self.engine.has_queued() {
            self.engine.with_worker(|_| ());
        }
    }
}

fn unexpected(operation: &'static str) -> StoreError {
    StoreError::new(operation, "the sqlite store sent a reply of the wrong kind")
}

/// Milliseconds in `ttl`, rounded up so that a nonzero TTL is never zero.
fn ttl_ms(ttl: Duration) -> i64 {
    let nanos = ttl.as_nanos().div_ceil(1_000_000);
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl StateStore for SqliteStore {
    async fn try_acquire(&self, checks: &[CounterCheck]) -> Result<Acquire, StoreError> {
        if checks.is_empty() {
            return Ok(Acquire::Granted);
        }
        let op = Op::Acquire(checks.to_vec());
        let name = op.name();
        match self.call(op).await? {
            Output::Acquire(outcome) => Ok(outcome),
            _ => Err(unexpected(name)),
        }
    }

    async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<(), StoreError> {
        self.unit(Op::Add {
            key: key.to_owned(),
            delta,
            ttl_ms: ttl_ms(ttl),
        })
        .await
    }

    /// Queues every add before running any, so they share one commit.
    /// Each is acknowledged only after its commit, like [`add`](Self::add).
    async fn add_many(&self, adds: &[(&str, i64, Duration)]) -> Result<(), StoreError> {
        const OPERATION: &str = "sqlite add";
        let replies = self.queue_adds(adds);
        self.engine.run_soon().await;
        for rx in replies {
            match rx.await.map_err(|_| stopped(OPERATION))?? {
                Output::Unit => {}
                _ => return Err(unexpected(OPERATION)),
            }
        }
        Ok(())
    }

    /// Queues the refunds for the next commit, whoever makes it: the next call of any
    /// task, or the store's own thread within [`DEFERRED_WITHIN`], or dropping the store.
    async fn add_many_deferred(&self, adds: &[(&str, i64, Duration)]) -> Result<(), StoreError> {
        // Nobody waits for the replies; a failure is logged by the worker.
        drop(self.queue_adds(adds));
        Ok(())
    }

    async fn set_counter(&self, key: &str, value: u64, ttl: Duration) -> Result<(), StoreError> {
        self.unit(Op::SetCounter {
            key: key.to_owned(),
            value: i64::try_from(value).unwrap_or(i64::MAX),
            ttl_ms: ttl_ms(ttl),
        })
        .await
    }

    async fn counters(&self, keys: &[String]) -> Result<Vec<u64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let op = Op::Counters(keys.to_vec());
        let name = op.name();
        match self.call(op).await? {
            Output::Counters(values) => Ok(values),
            _ => Err(unexpected(name)),
        }
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.unit(Op::Put {
            key: key.to_owned(),
            value: value.to_owned(),
            ttl_ms: ttl.map(ttl_ms),
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let op = Op::Get(key.to_owned());
        let name = op.name();
        match self.call(op).await? {
            Output::Value(value) => Ok(value),
            _ => Err(unexpected(name)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.unit(Op::Delete(key.to_owned())).await
    }

    async fn append_history(
        &self,
        user: &str,
        messages: &[Message],
        keep: usize,
    ) -> Result<(), StoreError> {
        self.unit(Op::AppendHistory {
            user: user.to_owned(),
            messages: messages.to_vec(),
            keep: i64::try_from(keep).unwrap_or(i64::MAX),
        })
        .await
    }

    async fn history(&self, user: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
        let op = Op::History {
            user: user.to_owned(),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        };
        let name = op.name();
        match self.call(op).await? {
            Output::History(messages) => Ok(messages),
            _ => Err(unexpected(name)),
        }
    }

    async fn clear_history(&self, user: &str) -> Result<(), StoreError> {
        self.unit(Op::ClearHistory(user.to_owned())).await
    }

    /// Waits until every call queued before it is committed, then syncs the WAL to disk,
    /// so everything acknowledged so far also survives a power loss.
    async fn flush(&self) -> Result<(), StoreError> {
        const OPERATION: &str = "sqlite flush";
        let (reply, rx) = oneshot::channel();
        self.send(Command::Flush {
            now_ms: self.now_ms(),
            reply,
        })
        .await;
        rx.await.map_err(|_| stopped(OPERATION))?
    }
}

impl SqliteStore {
    async fn unit(&self, op: Op) -> Result<(), StoreError> {
        let name = op.name();
        match self.call(op).await? {
            Output::Unit => Ok(()),
            _ => Err(unexpected(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_milliseconds() {
        assert_eq!(ttl_ms(Duration::ZERO), 0);
        assert_eq!(ttl_ms(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ttl_ms(Duration::MAX), i64::MAX);
    }

    #[tokio::test]
    async fn refuses_a_file_from_a_newer_build() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("newer.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 1000).unwrap();
        drop(conn);
        let err = SqliteStore::open(&path).await.unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(chain.contains("schema version 1000"), "{chain}");
    }

    #[tokio::test]
    async fn reports_a_path_it_cannot_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("x.db");
        assert!(SqliteStore::open(&path).await.is_err());
    }
}
