//! What the store does while its file cannot be written (read-only file or directory,
//! full disk, I/O errors): it keeps serving, with the writes held in memory on top of
//! what the file last committed, and writes them to the file once it can again.
//!
//! Counters are kept as "the file's value when first touched" (`base`) plus what this
//! process did since, so the merge adds this process's own change to whatever the file
//! holds by then (another process may have written meanwhile) instead of overwriting it.
//! Values (`put`/`delete`) replace the file's. Chat history is not held: its calls fail
//! with an error naming the unwritable file until the file can be written again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, params};

/// The most counters and values held in memory; past it, a call that would add one more
/// fails with an error (the ones already held keep being served and merged). The ledger
/// touches a few dozen keys per route and window, far below this.
pub(crate) const MAX_ENTRIES: usize = 65_536;

/// How often a store in fallback tries to write its held changes to the file.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Whether `e` says the file cannot be written (as opposed to a busy lock, a constraint,
/// or a bad call): the errors that switch the store to memory.
pub(crate) fn unwritable(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::ReadOnly
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
        )
    )
}

/// The error a history call gets while the store is in fallback.
pub(crate) fn history_unavailable() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
        Some(
            "the store file cannot be written now, and chat history is not held in memory"
                .to_owned(),
        ),
    )
}

fn full() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some(format!(
            "the store file cannot be written and {MAX_ENTRIES} counters and values are \
             already held in memory"
        )),
    )
}

/// How the store has fared with its file, readable from any thread without waiting for
/// the connection: see [`SqliteStore::fallback`](crate::SqliteStore::fallback).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) active: AtomicBool,
    pub(crate) entered: AtomicU64,
    pub(crate) recovered: AtomicU64,
    pub(crate) held: AtomicU64,
}

/// A counter held in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// The file's live value when the counter was first touched in fallback.
    pub(crate) base: i64,
    pub(crate) value: i64,
    pub(crate) expires_at: i64,
}

/// What memory says of a value.
#[derive(Debug)]
pub(crate) enum HeldValue {
    /// Put (`Some`), or deleted or expired (`None`) while in fallback.
    Held(Option<String>),
    /// Not touched in fallback: the file's value stands.
    NotHeld,
}

/// The changes made while the file could not be written.
#[derive(Debug)]
pub(crate) struct Fallback {
    pub(crate) counters: HashMap<String, Held>,
    /// `None` is a deletion; `Some((value, expires_at))` a put.
    pub(crate) values: HashMap<String, Option<(String, Option<i64>)>>,
    last_try: Instant,
    stats: Arc<Stats>,
}

impl Fallback {
    pub(crate) fn new(stats: Arc<Stats>) -> Self {
        stats.active.store(true, Ordering::Relaxed);
        stats.entered.fetch_add(1, Ordering::Relaxed);
        Self {
            counters: HashMap::new(),
            values: HashMap::new(),
            last_try: Instant::now(),
            stats,
        }
    }

    fn len(&self) -> usize {
        self.counters.len() + self.values.len()
    }

    fn room_for(&self, new: bool) -> rusqlite::Result<()> {
        if new && self.len() >= MAX_ENTRIES {
            return Err(full());
        }
        Ok(())
    }

    fn count(&self) {
        self.stats.held.store(
            u64::try_from(self.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A held counter's value at `now`, `None` when it is not held (or has expired).
    pub(crate) fn counter(&self, key: &str, now: i64) -> Option<i64> {
        self.counters
            .get(key)
            .map(|held| if held.expires_at > now { held.value } else { 0 })
    }

    /// Holds a counter's new value; `base` is the file's live value, read by the caller.
    pub(crate) fn set_counter(
        &mut self,
        key: &str,
        base: impl FnOnce() -> rusqlite::Result<i64>,
        value: i64,
        expires_at: i64,
    ) -> rusqlite::Result<()> {
        if let Some(held) = self.counters.get_mut(key) {
            held.value = value;
            held.expires_at = expires_at;
            return Ok(());
        }
        self.room_for(true)?;
        let base = base()?;
        self.counters.insert(
            key.to_owned(),
            Held {
                base,
                value,
                expires_at,
            },
        );
        self.count();
        Ok(())
    }

    /// A value at `now` as held in memory.
    pub(crate) fn value(&self, key: &str, now: i64) -> HeldValue {
        match self.values.get(key) {
            None => HeldValue::NotHeld,
            Some(Some((value, expires))) if expires.is_none_or(|t| t > now) => {
                HeldValue::Held(Some(value.clone()))
            }
            Some(_) => HeldValue::Held(None),
        }
    }

    pub(crate) fn put(
        &mut self,
        key: &str,
        held: Option<(String, Option<i64>)>,
    ) -> rusqlite::Result<()> {
        self.room_for(!self.values.contains_key(key))?;
        self.values.insert(key.to_owned(), held);
        self.count();
        Ok(())
    }

    /// Whether it is time to try the file again (at most every [`RETRY_EVERY`]).
    pub(crate) fn due(&mut self) -> bool {
        if self.last_try.elapsed() < RETRY_EVERY {
            return false;
        }
        self.last_try = Instant::now();
        true
    }

    /// Makes the next [`due`](Self::due) true (a last try at close).
    pub(crate) fn force_due(&mut self) {
        self.last_try = Instant::now()
            .checked_sub(RETRY_EVERY)
            .unwrap_or(self.last_try);
    }

    /// Writes everything held into the open write transaction: each counter gets this
    /// process's change added to the file's current value (never below zero), each value
    /// is put or deleted. Returns how many rows it wrote.
    pub(crate) fn merge(&self, conn: &Connection, now: i64) -> rusqlite::Result<usize> {
        let mut written = 0;
        for (key, held) in &self.counters {
            if held.expires_at <= now {
                continue;
            }
            let current: i64 = conn
                .prepare_cached(
                    "SELECT COALESCE(
                         (SELECT value FROM counters WHERE key = ?1 AND expires_at > ?2), 0)",
                )?
                .query_row(params![key, now], |row| row.get(0))?;
            let value = current
                .saturating_add(held.value.saturating_sub(held.base))
                .max(0);
            conn.prepare_cached(
                "INSERT INTO counters (key, value, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE
                 SET value = excluded.value, expires_at = excluded.expires_at",
            )?
            .execute(params![key, value, held.expires_at])?;
            written += 1;
        }
        for (key, held) in &self.values {
            match held {
                Some((value, expires)) => {
                    conn.prepare_cached(
                        "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE
                         SET value = excluded.value, expires_at = excluded.expires_at",
                    )?
                    .execute(params![key, value, expires])?;
                }
                None => {
                    conn.prepare_cached("DELETE FROM kv WHERE key = ?1")?
                        .execute(params![key])?;
                }
            }
            written += 1;
        }
        Ok(written)
    }
}

impl Drop for Fallback {
    fn drop(&mut self) {
        self.stats.active.store(false, Ordering::Relaxed);
        self.stats.held.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn only_a_file_that_cannot_be_written_switches_to_memory() {
        use rusqlite::ffi;
        for code in [
            ffi::SQLITE_READONLY,
            ffi::SQLITE_FULL,
            ffi::SQLITE_IOERR,
            ffi::SQLITE_CANTOPEN,
            ffi::SQLITE_PERM,
        ] {
            assert!(unwritable(&sqlite_error(code)), "{code}");
        }
        // Another process holding the lock, a bad statement, a constraint: not a fault of
        // the file, so the call fails as before.
        for code in [ffi::SQLITE_BUSY, ffi::SQLITE_ERROR, ffi::SQLITE_CONSTRAINT] {
            assert!(!unwritable(&sqlite_error(code)), "{code}");
        }
        assert!(!unwritable(&rusqlite::Error::QueryReturnedNoRows));
    }

    #[test]
    fn holds_at_most_the_bound_and_reports_what_it_holds() {
        let stats = Arc::new(Stats::default());
        let mut held = Fallback::new(Arc::clone(&stats));
        for i in 0..MAX_ENTRIES {
            held.set_counter(&format!("c{i}"), || Ok(0), 1, i64::MAX)
                .unwrap();
        }
        assert_eq!(stats.held.load(Ordering::Relaxed), MAX_ENTRIES as u64);
        // A new key is refused; one already held is still updated.
        let error = held.put("v", Some(("x".into(), None))).unwrap_err();
        assert_eq!(error.sqlite_error_code(), Some(ErrorCode::DiskFull));
        held.set_counter("c0", || Ok(0), 2, i64::MAX).unwrap();
        assert_eq!(held.counter("c0", 0), Some(2));
        assert!(stats.active.load(Ordering::Relaxed));
        drop(held);
        assert!(!stats.active.load(Ordering::Relaxed));
        assert_eq!(stats.held.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn held_values_hide_the_file_until_they_expire() {
        let mut held = Fallback::new(Arc::new(Stats::default()));
        assert!(matches!(held.value("k", 0), HeldValue::NotHeld));
        held.put("k", Some(("v".into(), Some(100)))).unwrap();
        assert!(matches!(held.value("k", 99), HeldValue::Held(Some(ref v)) if v == "v"));
        assert!(matches!(held.value("k", 100), HeldValue::Held(None)));
        held.put("k", None).unwrap();
        assert!(matches!(held.value("k", 0), HeldValue::Held(None)));
    }
}
