//! A [`StateStore`] on Redis, so that several llmpool processes share one quota and
//! together never exceed a provider's free limit.
//!
//! ```no_run
//! use llmpool_core::StateStore;
//! use llmpool_store_redis::{RedisOptions, RedisStore};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379/").await?;
//! let staging =
//!     RedisStore::connect_with("redis://127.0.0.1/", RedisOptions::new().prefix("staging:"))
//!         .await?;
//! store.put("health:groq", "{}", None).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! - **Atomic check-and-count across processes.** [`try_acquire`](StateStore::try_acquire)
//!   is one Lua script: it reads every counter (and the weighted counts of its `previous`
//!   counters), and only if all have room does it `INCRBY` and `PEXPIRE` each.
//!   Redis runs a script alone, so no other client sees or acts between the check and the
//!   count. `add` (never below zero) is a script too.
//! - **Windows expire by themselves.** Every counter write sets its TTL (`PEXPIRE`); values
//!   are stored with `SET … PX`. Nothing needs cleaning up.
//! - **History** is a list per user: `RPUSH` then `LTRIM` in one `MULTI`/`EXEC`, each
//!   element a message as JSON.
//! - **Keys** are `<prefix>c:<counter>`, `<prefix>v:<value>` and `<prefix>h:<user>`, with
//!   the prefix `llmpool:` unless [`RedisOptions::prefix`] says otherwise, so several
//!   deployments can share a server.
//! - **Reconnects.** Calls go through a `redis` `ConnectionManager`, which reconnects in the
//!   background after the connection drops (a Redis restart). A call that fails because
//!   the connection dropped or was refused is retried once on the new connection, and
//!   scripts are reloaded when a restarted server no longer knows them.
//!
//! # While Redis is down
//!
//! The store **refuses** rather than counting on its own: a call made while Redis cannot
//! be reached (stopped, restarting, or stuck without answering) fails with a
//! [`StoreError`](llmpool_core::StoreError) naming the operation, within
//! [`RedisOptions::call_timeout`] (2 s by default: the reconnection attempts and the one
//! retry share that budget). The router passes the error on, so a request made during the
//! outage gets an error answer at once (the gateway's 500 `internal_error`, "state store
//! failed") and no upstream call: no process spends quota that the others cannot see.
//! Requests already granted before the outage finish normally (their after-call writes
//! may fail; counters then stay high, never low). When Redis is back, the next calls
//! reconnect by themselves.
//!
//! What a restart costs depends on Redis's persistence: a server that comes back with its
//! data (AOF with `appendfsync always`) resumes exactly; one that comes back empty (no
//! persistence, or RDB snapshots older than the window) has forgotten the counts of the
//! windows still open, so in each window that spans the restart the processes together
//! may grant up to the limit again: **at most twice the limit** per window (once before,
//! once after), and exactly the limit in every window that starts after the restart.
//!
//! # Guarantees
//!
//! A call that returns `Ok` was applied by Redis; how long it survives there is Redis's
//! own persistence setting (RDB/AOF), not llmpool's. A call that fails may or may not have
//! been applied: a retried `try_acquire` whose first reply was lost counts twice, which
//! errs on the side of spending less than the limit, never more. Counts are exact up to
//! 2^53 (Lua numbers). One Redis server, not Redis Cluster (a script touches several
//! keys).

mod options;
mod scripts;
mod store;

pub use options::RedisOptions;
pub use store::RedisStore;

#[doc(no_inline)]
pub use llmpool_core::StateStore;
