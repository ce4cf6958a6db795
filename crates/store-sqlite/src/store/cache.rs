//! The connection's copy of the counters it has read or written, so a check-and-count
//! reads memory instead of running a query per counter (the ledger's two minute windows
//! read six earlier sub-buckets each: about thirty reads per request).
//!
//! The copy is only trusted inside a write transaction (`BEGIN IMMEDIATE`, which holds
//! SQLite's write lock) and only while `PRAGMA data_version` is unchanged since the copy
//! was last known good: that value changes exactly when another connection, in this
//! process or another one, has committed to the file. Any doubt (another writer, a rolled
//! back transaction, a purge, the size bound) empties the copy; it then refills from the
//! table as counters are read. So every decision is made on what is committed, as before;
//! only the reads got cheaper.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::fallback::Fallback;

/// The most counters kept; past it the copy starts over (windows are keyed by time, so old
/// keys stop being read and would otherwise pile up between purges).
const MAX_ENTRIES: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Entry {
    value: i64,
    /// Unix ms; a missing row is kept as `i64::MIN` (always expired, reads as 0).
    expires_at: i64,
}

/// Counters as the table holds them, for one connection.
#[derive(Debug, Default)]
pub(crate) struct CounterCache {
    /// Hashed with foldhash: a check-and-count looks up dozens of keys, and SipHash (the
    /// default, built against hash flooding) was most of the cost of a lookup. The keys
    /// are the ledger's own, not attacker-chosen.
    entries: HashMap<String, Entry, foldhash::fast::RandomState>,
    /// `PRAGMA data_version` when `entries` was last known to match the table.
    version: Option<i64>,
}

impl CounterCache {
    /// Called first in every write transaction: keeps the copy only if no other
    /// connection has committed since it was last known good.
    pub(crate) fn validate(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        if self.version != Some(version) || self.entries.len() > MAX_ENTRIES {
            self.entries.clear();
            self.version = Some(version);
        }
        Ok(())
    }

    /// Forgets everything (after a rollback or a purge).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.version = None;
    }

    /// Drops entries that expired at `now` (they read as 0 either way).
    pub(crate) fn evict_expired(&mut self, now: i64) {
        self.entries.retain(|_, e| e.expires_at > now);
    }
}

/// Counter reads and writes inside an open transaction, through the cache when there is
/// one (write transactions) and straight to the table when not (read-only batches). While
/// the file cannot be written, `fallback` holds the writes and the reads see them first.
pub(crate) struct Counters<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) cache: Option<&'a mut CounterCache>,
    pub(crate) fallback: Option<&'a mut Fallback>,
}

impl Counters<'_> {
    /// A counter's live value; missing or expired reads as 0.
    pub(crate) fn read(&mut self, key: &str, now: i64) -> rusqlite::Result<u64> {
        if let Some(value) = self.fallback.as_deref().and_then(|f| f.counter(key, now)) {
            return Ok(u64::try_from(value).unwrap_or(0));
        }
        let entry = match self.cache.as_deref_mut() {
            Some(cache) => {
                if let Some(entry) = cache.entries.get(key) {
                    *entry
                } else {
                    let entry = select(self.conn, key)?;
                    cache.entries.insert(key.to_owned(), entry);
                    entry
                }
            }
            None => select(self.conn, key)?,
        };
        Ok(if entry.expires_at > now {
            u64::try_from(entry.value).unwrap_or(0)
        } else {
            0
        })
    }

    /// Sets a counter's value and expiry (in memory while the file cannot be written).
    pub(crate) fn write(
        &mut self,
        key: &str,
        value: i64,
        expires_at: i64,
        now: i64,
    ) -> rusqlite::Result<()> {
        if let Some(fallback) = self.fallback.as_deref_mut() {
            let conn = self.conn;
            let base = || {
                let entry = select(conn, key)?;
                Ok(if entry.expires_at > now {
                    entry.value
                } else {
                    0
                })
            };
            return fallback.set_counter(key, base, value, expires_at);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO counters (key, value, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE
                 SET value = excluded.value, expires_at = excluded.expires_at",
            )?
            .execute(params![key, value, expires_at])?;
        if let Some(cache) = self.cache.as_deref_mut() {
            match cache.entries.get_mut(key) {
                Some(entry) => *entry = Entry { value, expires_at },
                None => {
                    cache
                        .entries
                        .insert(key.to_owned(), Entry { value, expires_at });
                }
            }
        }
        Ok(())
    }
}

fn select(conn: &Connection, key: &str) -> rusqlite::Result<Entry> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT value, expires_at FROM counters WHERE key = ?1")?
        .query_row(params![key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(row.map_or(
        Entry {
            value: 0,
            expires_at: i64::MIN,
        },
        |(value, expires_at)| Entry { value, expires_at },
    ))
}
