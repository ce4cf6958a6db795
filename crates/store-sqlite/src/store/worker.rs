//! The store thread: owns the connection, drains the queue, commits in groups.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;

use llmpool_core::StoreError;

use super::cache::{CounterCache, Counters};
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

/// What the thread is asked to do, in queue order.
#[derive(Debug)]
pub(crate) enum Command {
    Job(Job),
    Flush { now_ms: i64, reply: Reply<()> },
    Purge { now_ms: i64, reply: Reply<u64> },
    Close(Reply<()>),
}

/// Opens the database, reports on `ready`, then serves `queue` until every sender is gone
/// or a [`Command::Close`] arrives.
pub(crate) fn run(
    target: &Target,
    options: &SqliteOptions,
    queue: &mpsc::Receiver<Command>,
    ready: Reply<()>,
) {
    let conn = match open(target, options) {
        Ok(conn) => conn,
        Err(e) => {
            // The opener may have gone away; then nobody is left to tell.
            let _ = ready.send(Err(StoreError::new("open sqlite store", e)));
            return;
        }
    };
    if ready.send(Ok(())).is_err() {
        return;
    }
    let mut worker = Worker {
        conn,
        in_memory: matches!(target, Target::Memory),
        options,
        batch: Vec::new(),
        cache: CounterCache::default(),
        latest_now: None,
        next_cleanup: None,
    };
    worker.schedule_cleanup();
    if let Some(reply) = worker.serve(queue) {
        let closed = worker
            .conn
            .close()
            .map_err(|(_, e)| StoreError::new("sqlite close", e));
        let _ = reply.send(closed);
    }
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

struct Worker<'a> {
    conn: Connection,
    in_memory: bool,
    options: &'a SqliteOptions,
    /// Calls taken from the queue and not yet committed.
    batch: Vec<Job>,
    /// Counters as committed, trusted only while no other connection has written.
    cache: CounterCache,
    /// The latest caller clock seen: expiry cleanup never deletes what a caller could
    /// still read as live.
    latest_now: Option<i64>,
    next_cleanup: Option<Instant>,
}

impl Worker<'_> {
    /// Serves until the queue closes; returns the reply of a [`Command::Close`].
    fn serve(&mut self, queue: &mpsc::Receiver<Command>) -> Option<Reply<()>> {
        loop {
            let first = match self.next_cleanup {
                None => queue.recv().ok()?,
                Some(at) => {
                    match queue.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(command) => command,
                        Err(RecvTimeoutError::Timeout) => {
                            self.cleanup();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return None,
                    }
                }
            };
            // Take everything already queued (up to a batch) before committing: this is
            // the group commit. Control commands first commit what came before them.
            let mut next = Some(first);
            let mut taken = 0;
            while let Some(command) = next.take() {
                taken += 1;
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
                    Command::Close(reply) => {
                        self.commit();
                        return Some(reply);
                    }
                }
                if taken < self.options.max_batch {
                    next = queue.try_recv().ok();
                }
            }
            self.commit();
            if self.next_cleanup.is_some_and(|at| Instant::now() >= at) {
                self.cleanup();
            }
        }
    }

    fn see(&mut self, now_ms: i64) {
        self.latest_now = Some(self.latest_now.map_or(now_ms, |t| t.max(now_ms)));
    }

    /// Runs the batch in one transaction and replies to each call after the commit. If
    /// anything fails, the whole transaction is rolled back and each call runs again in
    /// a transaction of its own, so that only the failing ones fail.
    fn commit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.batch);
        match self.transaction(&jobs) {
            Ok(outputs) => {
                for (job, output) in jobs.into_iter().zip(outputs) {
                    let _ = job.reply.send(Ok(output));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(job) = jobs.into_iter().next() {
                    let _ = job.reply.send(Err(StoreError::new(job.op.name(), e)));
                }
            }
            Err(_) => {
                for job in jobs {
                    let result = self
                        .transaction(std::slice::from_ref(&job))
                        .and_then(|mut outputs| {
                            outputs.pop().ok_or(rusqlite::Error::QueryReturnedNoRows)
                        })
                        .map_err(|e| StoreError::new(job.op.name(), e));
                    let _ = job.reply.send(result);
                }
            }
        }
    }

    fn transaction(&mut self, jobs: &[Job]) -> rusqlite::Result<Vec<Output>> {
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

    fn cleanup(&mut self) {
        if let Some(now) = self.latest_now
            && let Err(e) = self.purge(now)
        {
            tracing::warn!(error = %e, cause = %e.source, "sqlite store cleanup failed");
        }
        self.schedule_cleanup();
    }

    fn schedule_cleanup(&mut self) {
        self.next_cleanup = Instant::now().checked_add(self.options.cleanup_interval);
    }
}
