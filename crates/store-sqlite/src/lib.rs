//! The embedded default [`StateStore`] of llmpool: quota counters, learned limits, health
//! and chat history in one SQLite file that survives restarts.
//!
//! ```no_run
//! use llmpool_core::StateStore;
//! use llmpool_store_sqlite::SqliteStore;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::open("llmpool.db").await?;
//! store.put("health:groq", r#"{"cooldown_until":null}"#, None).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! - **Calls run where they are made.** The connection sits behind a lock with a queue of
//!   calls. A call that finds the connection free runs at once, on the caller's own thread,
//!   together with anything queued behind it; a call that finds it busy only queues itself
//!   and awaits its reply. There is no hand-off to a store thread on the way: handing two
//!   calls per request to a thread of its own cost the gateway four context switches per
//!   request, more CPU than the SQL (see the README's Performance section). The price:
//!   a call blocks its thread for one transaction (tens of microseconds; longer when a
//!   WAL checkpoint falls due or another process holds the write lock, up to
//!   [`SqliteOptions::busy_timeout`]). A thread of the store's own only deletes expired
//!   rows.
//! - **Group commit.** Whoever holds the connection takes every call queued (up to
//!   [`SqliteOptions::max_batch`]), runs them in order inside one transaction, commits,
//!   and only then replies to each; before letting go it looks at the queue again. Under
//!   load one commit serves many calls, so the cost of a commit is shared; at one call at
//!   a time it is one commit per call. A call never returns before its effect is
//!   committed. If anything in a batch fails, the batch is rolled back and its calls are
//!   run again one transaction each, so one bad call fails alone.
//! - **Atomic across processes.** Every batch that writes starts with `BEGIN IMMEDIATE`,
//!   which takes SQLite's write lock before the first read, so a
//!   [`try_acquire`](StateStore::try_acquire) checks and counts against exactly what every
//!   other connection, in this process or another one sharing the file, has committed.
//!   Writers that find the lock taken wait up to [`SqliteOptions::busy_timeout`].
//! - **WAL.** The file runs in write-ahead-log mode: readers never block the writer.
//! - **Counters read from memory, decided on what is committed.** The thread keeps a copy
//!   of every counter it has read or written. A write transaction trusts the copy only if
//!   `PRAGMA data_version` (which changes exactly when another connection has committed)
//!   is what it was; otherwise, and after any rollback, the copy starts over from the
//!   table. A check-and-count of the ledger's windows (about thirty counters with their
//!   sub-buckets) then costs hash lookups plus one upsert per counted window instead of a
//!   query per counter, with the same answers as before.
//!
//! # Guarantees
//!
//! Once a call has returned `Ok`, its effect is committed, with one exception by contract:
//! [`add_many_deferred`](StateStore::add_many_deferred) (the ledger's refunds) only queues
//! its writes for the next commit, made by the next call of anyone, by the store's own
//! thread within [`DEFERRED_WITHIN`], or when the store is dropped; a crash before that
//! leaves those counters high, never low. What a commit survives depends on
//! [`Durability`]:
//!
//! - [`Durability::ProcessCrash`] (default, `synchronous=NORMAL`): a commit is in the WAL
//!   file, in the operating system's page cache, before the call returns. It survives the
//!   process being killed at any instant (`kill -9`, a panic, an OOM kill); a power loss
//!   or kernel crash may lose the most recent commits but never corrupts the file.
//!   [`StateStore::flush`] syncs the WAL to disk, making everything acknowledged so far
//!   survive power loss too (call it at shutdown).
//! - [`Durability::PowerLoss`] (`synchronous=FULL`): each commit also waits for the WAL to
//!   reach the disk (one `fsync` per batch, shared by every call in it).
//!
//! # When the file cannot be written
//!
//! A read-only file or directory, a full disk or an I/O error does not stop the store.
//! On the first write the file refuses (`SQLITE_READONLY`, `SQLITE_FULL`, `SQLITE_IOERR`,
//! `SQLITE_CANTOPEN`, `SQLITE_PERM`), it logs an error naming the file and the cause, and
//! serves from memory: quota counters and values are held in memory on top of what the
//! file last committed (a counter goes on from its value in the file, so no window
//! restarts at zero), reads still come from the file beneath. Every second (on the next
//! call, or from the store's own thread) it tries to write what it holds into the file, in
//! one transaction; when that succeeds it logs so, and is back on its file. A counter is
//! merged as this process's own change added to the file's value then, so another process
//! that wrote meanwhile is not overwritten. [`SqliteStore::fallback`] tells whether it is
//! in this state, for a health check or a metric.
//!
//! The price: while it lasts, this process's counts are invisible to other processes
//! sharing the file (each counts its own on top of the file, so together they may spend up
//! to one limit each per window); a crash in that time loses what was held; chat history
//! cannot be appended or cleared (those calls fail with an error saying so); expired rows
//! are not deleted. At most [`MAX_HELD`] counters and values are held; past that a call
//! that needs one more fails with an error. Calls never wait for the file to come back.
//!
//! # Expiry
//!
//! Counters and values carry an absolute expiry in Unix milliseconds, computed from the
//! store's [`Clock`](llmpool_core::Clock) when the call is made. A row past its expiry
//! reads as absent (a counter as 0) at once; expired rows are deleted every
//! [`SqliteOptions::cleanup_interval`] and by [`SqliteStore::purge_expired`].
//!
//! # Schema
//!
//! Tables `counters (key, value, expires_at)`, `kv (key, value, expires_at)` for values,
//! `history (user, seq, role, content)` and `store_meta`. The schema version is SQLite's
//! `PRAGMA user_version`; opening a file migrates it forward in one transaction and
//! refuses a file written by a newer llmpool.

mod options;
mod schema;
mod store;

pub use options::{Durability, SqliteOptions};
pub use store::{DEFERRED_WITHIN, FallbackStatus, MAX_HELD, SqliteStore};

#[doc(no_inline)]
pub use llmpool_core::StateStore;
