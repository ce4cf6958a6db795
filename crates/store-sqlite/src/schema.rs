//! Connection settings and versioned schema migrations (`PRAGMA user_version`).

use rusqlite::{Connection, TransactionBehavior};

use crate::options::SqliteOptions;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only: a released
/// migration is never edited, since files in the field already ran it.
const MIGRATIONS: &[&str] = &[
    // 1: counters, values, history, and a row `flush` rewrites to force a WAL sync.
    "CREATE TABLE counters (
         key TEXT PRIMARY KEY NOT NULL,
         value INTEGER NOT NULL,
         expires_at INTEGER NOT NULL
     ) STRICT, WITHOUT ROWID;
     CREATE TABLE kv (
         key TEXT PRIMARY KEY NOT NULL,
         value TEXT NOT NULL,
         expires_at INTEGER
     ) STRICT, WITHOUT ROWID;
     CREATE TABLE history (
         user TEXT NOT NULL,
         seq INTEGER NOT NULL,
         role TEXT NOT NULL,
         content TEXT NOT NULL,
         PRIMARY KEY (user, seq)
     ) STRICT, WITHOUT ROWID;
     CREATE TABLE store_meta (
         name TEXT PRIMARY KEY NOT NULL,
         value INTEGER NOT NULL
     ) STRICT, WITHOUT ROWID;",
];

/// The schema version this build writes.
pub(crate) const VERSION: usize = MIGRATIONS.len();

/// Why a file cannot be used.
#[derive(Debug)]
pub(crate) enum OpenError {
    Sqlite(rusqlite::Error),
    NewerSchema { found: i64 },
    NoWal { mode: String },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(_) => f.write_str("sqlite error"),
            Self::NewerSchema { found } => write!(
                f,
                "the file has schema version {found}, newer than the {VERSION} this build \
                 knows; upgrade llmpool or use another file"
            ),
            Self::NoWal { mode } => write!(
                f,
                "the file refused write-ahead-log mode (journal_mode is {mode})"
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sqlite(e) => Some(e),
            Self::NewerSchema { .. } | Self::NoWal { .. } => None,
        }
    }
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// Applies the per-connection settings; `file` is false for an in-memory database.
pub(crate) fn configure(
    conn: &Connection,
    options: &SqliteOptions,
    file: bool,
) -> Result<(), OpenError> {
    conn.busy_timeout(options.busy_timeout)?;
    // Enough for every statement this crate prepares, so none is ever re-parsed.
    conn.set_prepared_statement_cache_capacity(64);
    if file {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::NoWal { mode });
        }
    }
    conn.pragma_update(None, "synchronous", options.durability.pragma())?;
    conn.pragma_update(None, "wal_autocheckpoint", options.wal_autocheckpoint)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Brings the schema to [`VERSION`] in one immediate transaction, so that two processes
/// opening a new file at once do not both migrate it.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), OpenError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let start = usize::try_from(found).unwrap_or(usize::MAX);
    if start > VERSION {
        return Err(OpenError::NewerSchema { found });
    }
    for sql in &MIGRATIONS[start..] {
        tx.execute_batch(sql)?;
    }
    if start < VERSION {
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(VERSION).unwrap_or(i64::MAX),
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn migrates_new_file_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), i64::try_from(VERSION).unwrap());
        // Running again is a no-op, not a "table exists" error.
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), i64::try_from(VERSION).unwrap());
    }

    #[test]
    fn refuses_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(
            matches!(err, OpenError::NewerSchema { found: 99 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
