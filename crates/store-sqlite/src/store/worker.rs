//! The connection, the queue of calls for it, and the group commit.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use rusqlite::Connection;
use tokio::sync::oneshot;

use llmpool_core::StoreError;

use super::cache::{CounterCache, Counters};
use super::fallback::{self, Fallback, Stats};
use super::ops::{self, Op, Output};
use crate::options::{Durability, SqliteOptions};
use crate::schema;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Where the database lives.
#[derive(Debug)]
pub(crate) enum Target {
    File(PathBuf),
    Memory,
}

/// A call waiting for its turn; `now_ms` is the caller's clock when it was made.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) op: Op,
    pub(crate) now_ms: i64,
    pub(crate) reply: Reply<Output>,
}

/// What the connection is asked to do, in queue order.
#[derive(Debug)]
pub(crate) enum Command {
    Job(Job),
    Flush { now_ms: i64, reply: Reply<()> },
    Purge { now_ms: i64, reply: Reply<u64> },
}

impl Command {
    /// Answers a command that came after `close`.
    fn refuse(self) {
        let closed = || StoreError::new("sqlite store", "the store has been closed");
        match self {
            Self::Job(job) => {
                let _ = job.reply.send(Err(closed()));
            }
            Self::Flush { reply, .. } => {
                let _ = reply.send(Err(closed()));
            }
            Self::Purge { reply, .. } => {
                let _ = reply.send(Err(closed()));
            }
        }
    }
}

/// The connection and everything queued for it. Whoever holds `worker` runs what is
/// queued: a caller that finds it free runs its own call and everything queued behind it
/// on its own thread, inline (no hand-off to another thread, no context switch); a caller
/// that finds it taken only queues its call and awaits the reply, which the holder sends
/// after the commit that includes it. So calls that arrive while a commit is running
/// share the next one: the group commit happens by itself under contention, and costs
/// nothing when there is none.
#[derive(Debug)]
pub(crate) struct Engine {
    worker: Mutex<Option<Worker>>,
    queue: Mutex<VecDeque<Command>>,
    /// A caller has queued calls and will run the queue once the tasks that were ready
    /// with it have had their turn (and queued theirs).
    scheduled: AtomicBool,
    /// How the store fares with its file (fallback to memory), shared with the worker.
    pub(crate) stats: Arc<Stats>,
}

impl Engine {
    /// Opens the database (blocking the calling thread while it does).
    pub(crate) fn open(target: &Target, options: &SqliteOptions) -> Result<Self, StoreError> {
        let conn = open(target, options).map_err(|e| StoreError::new("open sqlite store", e))?;
        let stats = Arc::new(Stats::default());
        let worker = Worker {
            conn,
            in_memory: matches!(target, Target::Memory),
            options: options.clone(),
            batch: Vec::new(),
            cache: CounterCache::default(),
            latest_now: None,
            location: match target {
                Target::File(path) => path.display().to_string(),
                Target::Memory => ":memory:".to_owned(),
            },
            fallback: None,
            stats: Arc::clone(&stats),
        };
        Ok(Self {
            worker: Mutex::new(Some(worker)),
            queue: Mutex::new(VecDeque::new()),
            scheduled: AtomicBool::new(false),
            stats,
        })
    }

    /// Queues `command`; [`run_soon`](Self::run_soon) must follow before its reply is
    /// awaited.
    pub(crate) fn push(&self, command: Command) {
        lock(&self.queue).push_back(command);
    }

    /// Whether calls are waiting to be run.
    pub(crate) fn has_queued(&self) -> bool {
        !lock(&self.queue).is_empty()
    }

    /// Makes sure what was pushed gets run: unless a run is already scheduled, yields once
    /// (so that the other tasks ready now queue their calls too and share the commit),
    /// then runs the queue here. On a single-threaded scheduler this is what batches the
    /// calls of concurrent requests into one transaction; at one request at a time it
    /// costs one trip through the scheduler. Outside an async runtime the yield returns
    /// at once.
    pub(crate) async fn run_soon(&self) {
        if self.scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        // Runs the queue when dropped: after the yield, or at once if the caller's future
        // is dropped during it (queued calls must never wait for a run that won't come).
        let run = RunOnDrop(self);
        tokio::task::yield_now().await;
        drop(run);
    }

    /// Waits for the worker (for the maintenance thread and `close`), runs what is queued,
    /// then `f`, then whatever was queued meanwhile.
    pub(crate) fn with_worker<T>(&self, f: impl FnOnce(&mut Option<Worker>) -> T) -> T {
        let mut worker = lock(&self.worker);
        self.run_queued(&mut worker);
        let value = f(&mut worker);
        self.run_queued(&mut worker);
        drop(worker);
        self.drain();
        value
    }

    /// Runs the queue until it is empty, unless another thread holds the worker (it will
    /// then see what is queued: every holder checks the queue after letting go).
    fn drain(&self) {
        loop {
            let mut worker = match self.worker.try_lock() {
                Ok(worker) => worker,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            self.run_queued(&mut worker);
            drop(worker);
            // A call queued after our last look, whose own try failed because we still
            // held the worker, is ours to run.
            if lock(&self.queue).is_empty() {
                return;
            }
        }
    }

    fn run_queued(&self, worker: &mut Option<Worker>) {
        loop {
            let commands: Vec<Command> = {
                let mut queue = lock(&self.queue);
                let max = worker.as_ref().map_or(usize::MAX, |w| w.options.max_batch);
                let n = queue.len().min(max);
                queue.drain(..n).collect()
            };
            if commands.is_empty() {
                return;
            }
            match worker {
                Some(worker) => worker.run(commands),
                None => {
                    for command in commands {
                        command.refuse();
                    }
                }
            }
        }
    }
}

/// Sends a call its result; a failure nobody waits for (a deferred write) is logged.
fn answer(reply: Reply<Output>, result: Result<Output, StoreError>) {
    if let Err(Err(e)) = reply.send(result) {
        tracing::warn!(error = %e, cause = %e.source, "a deferred sqlite write failed");
    }
}

struct RunOnDrop<'a>(&'a Engine);

impl Drop for RunOnDrop<'_> {
    fn drop(&mut self) {
        // Cleared first: whatever is queued after this point schedules a run of its own.
        self.0.scheduled.store(false, Ordering::SeqCst);
        self.0.drain();
    }
}

/// Locks a mutex whose data stays sound when a holder panicked (the worker rolls back an
/// open transaction before its next one; the queue is a plain list).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn open(target: &Target, options: &SqliteOptions) -> Result<Connection, schema::OpenError> {
    let mut conn = match target {
        Target::File(path) => Connection::open(path)?,
        Target::Memory => Connection::open_in_memory()?,
    };
    schema::configure(&conn, options, matches!(target, Target::File(_)))?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

#[derive(Debug)]
pub(crate) struct Worker {
    conn: Connection,
    in_memory: bool,
    options: SqliteOptions,
    /// Calls taken from the queue and not yet committed.
    batch: Vec<Job>,
    /// Counters as committed, trusted only while no other connection has written.
    cache: CounterCache,
    /// The latest caller clock seen: expiry cleanup never deletes what a caller could
    /// still read as live.
    latest_now: Option<i64>,
    /// The file, as named in logs.
    location: String,
    /// The writes held in memory while the file cannot be written.
    fallback: Option<Fallback>,
    stats: Arc<Stats>,
}

impl Worker {
    /// Runs commands in queue order: jobs share one transaction; a control command first
    /// commits the jobs before it.
    fn run(&mut self, commands: Vec<Command>) {
        self.recover();
        self.try_file_again();
        for command in commands {
            match command {
                Command::Job(job) => {
                    self.see(job.now_ms);
                    self.batch.push(job);
                }
                Command::Flush { now_ms, reply } => {
                    self.see(now_ms);
                    self.commit();
                    let _ = reply.send(self.flush(now_ms));
                }
                Command::Purge { now_ms, reply } => {
                    self.see(now_ms);
                    self.commit();
                    let _ = reply.send(self.purge(now_ms));
                }
            }
        }
        self.commit();
    }

    /// Rolls back a transaction left open by a panic in an earlier holder.
    fn recover(&mut self) {
        if !self.conn.is_autocommit() {
            self.cache.clear();
            self.rollback();
        }
    }

    /// Deletes expired rows (the maintenance thread calls this periodically).
    pub(crate) fn cleanup(&mut self) {
        self.recover();
        if self.fallback.is_some() {
            // Nothing can be deleted from a file that cannot be written.
            return;
        }
        if let Some(now) = self.latest_now
            && let Err(e) = self.purge(now)
        {
            tracing::warn!(error = %e, cause = %e.source, "sqlite store cleanup failed");
        }
    }

    /// Test hook: `PRAGMA query_only` on the connection, which makes SQLite refuse every
    /// write with `SQLITE_READONLY`, as a read-only file does.
    pub(crate) fn set_query_only(&self, on: bool) -> rusqlite::Result<()> {
        self.conn.pragma_update(None, "query_only", on)
    }

    /// Closes the connection, after a last try to write what is held in memory.
    pub(crate) fn close(mut self) -> Result<(), StoreError> {
        if let Some(held) = self.fallback.as_mut() {
            held.force_due();
        }
        self.try_file_again();
        if let Some(held) = self.fallback.take() {
            tracing::error!(
                file = %self.location,
                lost = held.counters.len() + held.values.len(),
                "the sqlite store closes with changes it could not write to its file; they are lost"
            );
        }
        self.conn
            .close()
            .map_err(|(_, e)| StoreError::new("sqlite close", e))
    }

    fn see(&mut self, now_ms: i64) {
        self.latest_now = Some(self.latest_now.map_or(now_ms, |t| t.max(now_ms)));
    }

    /// Runs the batch in one transaction and replies to each call after the commit. If
    /// anything fails, the whole transaction is rolled back and each call runs again in
    /// a transaction of its own, so that only the failing ones fail. If it failed because
    /// the file cannot be written, the store switches to memory first (see `fallback`).
    fn commit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.batch);
        if self.fallback.is_some() {
            // Held writes cannot be rolled back: one call at a time, never a replay.
            for job in jobs {
                self.run_alone(job);
            }
            return;
        }
        match self.transaction(&jobs) {
            Ok(outputs) => {
                for (job, output) in jobs.into_iter().zip(outputs) {
                    let _ = job.reply.send(Ok(output));
                }
            }
            Err(e) if fallback::unwritable(&e) && jobs.iter().any(|job| job.op.writes()) => {
                self.enter_fallback(&e);
                for job in jobs {
                    self.run_alone(job);
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(job) = jobs.into_iter().next() {
                    let error = StoreError::new(job.op.name(), e);
                    answer(job.reply, Err(error));
                }
            }
            Err(_) => {
                for job in jobs {
                    self.run_alone(job);
                }
            }
        }
    }

    /// Runs one call in a transaction of its own and answers it; a write the file refuses
    /// switches the store to memory and runs there.
    fn run_alone(&mut self, job: Job) {
        let mut result = self.transaction(std::slice::from_ref(&job));
        if self.fallback.is_none()
            && job.op.writes()
            && let Err(e) = &result
            && fallback::unwritable(e)
        {
            self.enter_fallback(e);
            result = self.transaction(std::slice::from_ref(&job));
        }
        let result = result
            .and_then(|mut outputs| outputs.pop().ok_or(rusqlite::Error::QueryReturnedNoRows))
            .map_err(|e| StoreError::new(job.op.name(), e));
        answer(job.reply, result);
    }

    fn enter_fallback(&mut self, cause: &rusqlite::Error) {
        self.cache.clear();
        self.fallback = Some(Fallback::new(Arc::clone(&self.stats)));
        tracing::error!(
            file = %self.location,
            error = %cause,
            "the sqlite store file cannot be written: serving quota counts and values from \
             memory, held by this process only, and writing them to the file once it can \
             (tried every second); chat history calls fail until then"
        );
    }

    /// While in fallback, and at most every [`fallback::RETRY_EVERY`]: writes what is
    /// held to the file in one transaction (with a marker row, so that the file is really
    /// written); on success the store is back on its file.
    pub(crate) fn try_file_again(&mut self) {
        let Some(held) = self.fallback.as_mut() else {
            return;
        };
        if !held.due() {
            return;
        }
        let now = self.latest_now.unwrap_or(0);
        let Some(held) = self.fallback.as_ref() else {
            return;
        };
        let written = self.write_alone(|conn| {
            let written = held.merge(conn, now)?;
            ops::touch_flush_marker(conn, now)?;
            Ok(written)
        });
        match written {
            Ok(written) => {
                self.fallback = None;
                self.cache.clear();
                self.stats
                    .recovered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    file = %self.location,
                    merged = written,
                    "the sqlite store file can be written again: the counts and values held \
                     in memory are merged into it"
                );
            }
            Err(e) => {
                tracing::debug!(file = %self.location, error = %e, "the sqlite store file still cannot be written");
            }
        }
    }

    /// Runs a call on the file, or, in fallback, on what is held over a read of the file.
    fn transaction_held(&mut self, jobs: &[Job]) -> rusqlite::Result<Vec<Output>> {
        self.conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        let mut counters = Counters {
            conn: &self.conn,
            cache: None,
            fallback: self.fallback.as_mut(),
        };
        let result = jobs
            .iter()
            .map(|job| job.op.apply_held(&mut counters, job.now_ms))
            .collect::<rusqlite::Result<Vec<_>>>()
            .and_then(|outputs| {
                self.conn.prepare_cached("COMMIT")?.execute([])?;
                Ok(outputs)
            });
        if result.is_err() {
            self.rollback();
        }
        result
    }

    fn transaction(&mut self, jobs: &[Job]) -> rusqlite::Result<Vec<Output>> {
        if self.fallback.is_some() {
            return self.transaction_held(jobs);
        }
        // A batch that may write takes the write lock before its first read, so its
        // checks and counts are atomic against every other connection to the file. Only
        // then may it read counters from the cache (see `cache`).
        let writes = jobs.iter().any(|job| job.op.writes());
        let begin = if writes {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN DEFERRED"
        };
        self.conn.prepare_cached(begin)?.execute([])?;
        let result = self.run_jobs(jobs, writes).and_then(|outputs| {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(outputs)
        });
        if result.is_err() {
            self.cache.clear();
            self.rollback();
        }
        result
    }

    fn run_jobs(&mut self, jobs: &[Job], writes: bool) -> rusqlite::Result<Vec<Output>> {
        let cache = if writes {
            self.cache.validate(&self.conn)?;
            Some(&mut self.cache)
        } else {
            None
        };
        let mut counters = Counters {
            conn: &self.conn,
            cache,
            fallback: None,
        };
        jobs.iter()
            .map(|job| job.op.apply(&mut counters, job.now_ms))
            .collect()
    }

    fn rollback(&self) {
        if !self.conn.is_autocommit() {
            // Failing to roll back leaves nothing to do but report the first error.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Makes every commit so far survive power loss: one commit with `synchronous=FULL`
    /// syncs the whole WAL, and with it every earlier frame.
    fn flush(&self, now_ms: i64) -> Result<(), StoreError> {
        const OPERATION: &str = "sqlite flush";
        if self.in_memory || self.options.durability == Durability::PowerLoss {
            return Ok(());
        }
        let error = |e| StoreError::new(OPERATION, e);
        self.conn
            .pragma_update(None, "synchronous", Durability::PowerLoss.pragma())
            .map_err(error)?;
        let synced = self.write_alone(|conn| ops::touch_flush_marker(conn, now_ms));
        let restored =
            self.conn
                .pragma_update(None, "synchronous", self.options.durability.pragma());
        synced.map_err(error)?;
        restored.map_err(error)
    }

    fn purge(&mut self, now_ms: i64) -> Result<u64, StoreError> {
        let result = self
            .write_alone(|conn| ops::purge_expired(conn, now_ms))
            .map_err(|e| StoreError::new("sqlite purge_expired", e));
        match result {
            Ok(_) => self.cache.evict_expired(now_ms),
            Err(_) => self.cache.clear(),
        }
        result
    }

    fn write_alone<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let result = f(&self.conn).and_then(|value| {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(value)
        });
        if result.is_err() {
            self.rollback();
        }
        result
    }
}
