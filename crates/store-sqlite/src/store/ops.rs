//! One store call as data, and the SQL that carries it out inside a transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::cache::Counters;
use super::fallback;

use llmpool_core::{Acquire, CounterCheck, Message, Role, weighted_use};

/// A [`StateStore`](llmpool_core::StateStore) call. Times are Unix milliseconds.
#[derive(Debug)]
pub(crate) enum Op {
    Acquire(Vec<CounterCheck>),
    Add {
        key: String,
        delta: i64,
        ttl_ms: i64,
    },
    SetCounter {
        key: String,
        value: i64,
        ttl_ms: i64,
    },
    Counters(Vec<String>),
    Put {
        key: String,
        value: String,
        ttl_ms: Option<i64>,
    },
    Get(String),
    Delete(String),
    AppendHistory {
        user: String,
        messages: Vec<Message>,
        keep: i64,
    },
    History {
        user: String,
        limit: i64,
    },
    ClearHistory(String),
}

/// What a call returns.
#[derive(Debug)]
pub(crate) enum Output {
    Acquire(Acquire),
    Unit,
    Counters(Vec<u64>),
    Value(Option<String>),
    History(Vec<Message>),
}

impl Op {
    /// The operation named in errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Acquire(_) => "sqlite try_acquire",
            Self::Add { .. } => "sqlite add",
            Self::SetCounter { .. } => "sqlite set_counter",
            Self::Counters(_) => "sqlite counters",
            Self::Put { .. } => "sqlite put",
            Self::Get(_) => "sqlite get",
            Self::Delete(_) => "sqlite delete",
            Self::AppendHistory { .. } => "sqlite append_history",
            Self::History { .. } => "sqlite history",
            Self::ClearHistory(_) => "sqlite clear_history",
        }
    }

    /// Whether the call may write (and so needs the write lock from the start).
    pub(crate) fn writes(&self) -> bool {
        match self {
            Self::Acquire(_)
            | Self::Add { .. }
            | Self::SetCounter { .. }
            | Self::Put { .. }
            | Self::Delete(_)
            | Self::AppendHistory { .. }
            | Self::ClearHistory(_) => true,
            Self::Counters(_) | Self::Get(_) | Self::History { .. } => false,
        }
    }

    /// Runs the call while the file cannot be written: counters and values go to the
    /// fallback held in `counters` (reads see it first), history calls fail.
    pub(crate) fn apply_held(
        &self,
        counters: &mut Counters<'_>,
        now: i64,
    ) -> rusqlite::Result<Output> {
        let Some(held) = counters.fallback.as_deref_mut() else {
            return self.apply(counters, now);
        };
        match self {
            Self::Put { key, value, ttl_ms } => {
                let expires = ttl_ms.map(|ttl| now.saturating_add(ttl));
                held.put(key, Some((value.clone(), expires)))?;
                Ok(Output::Unit)
            }
            Self::Delete(key) => {
                held.put(key, None)?;
                Ok(Output::Unit)
            }
            Self::Get(key) => match held.value(key, now) {
                fallback::HeldValue::Held(value) => Ok(Output::Value(value)),
                fallback::HeldValue::NotHeld => self.apply(counters, now),
            },
            Self::AppendHistory { .. } | Self::ClearHistory(_) => {
                Err(fallback::history_unavailable())
            }
            Self::Acquire(_)
            | Self::Add { .. }
            | Self::SetCounter { .. }
            | Self::Counters(_)
            | Self::History { .. } => self.apply(counters, now),
        }
    }

    /// Runs the call inside the caller's open transaction.
    pub(crate) fn apply(&self, counters: &mut Counters<'_>, now: i64) -> rusqlite::Result<Output> {
        let conn = counters.conn;
        match self {
            Self::Acquire(checks) => acquire(counters, checks, now).map(Output::Acquire),
            Self::Add { key, delta, ttl_ms } => {
                let value = counters.read(key, now)?.saturating_add_signed(*delta);
                let value = i64::try_from(value).unwrap_or(i64::MAX);
                counters.write(key, value, now.saturating_add(*ttl_ms), now)?;
                Ok(Output::Unit)
            }
            Self::SetCounter { key, value, ttl_ms } => {
                counters.write(key, *value, now.saturating_add(*ttl_ms), now)?;
                Ok(Output::Unit)
            }
            Self::Counters(keys) => keys
                .iter()
                .map(|key| counters.read(key, now))
                .collect::<rusqlite::Result<_>>()
                .map(Output::Counters),
            Self::Put { key, value, ttl_ms } => {
                let expires = ttl_ms.map(|ttl| now.saturating_add(ttl));
                conn.prepare_cached(
                    "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE
                     SET value = excluded.value, expires_at = excluded.expires_at",
                )?
                .execute(params![key, value, expires])?;
                Ok(Output::Unit)
            }
            Self::Get(key) => conn
                .prepare_cached(
                    "SELECT value FROM kv
                     WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                )?
                .query_row(params![key, now], |row| row.get(0))
                .optional()
                .map(Output::Value),
            Self::Delete(key) => {
                conn.prepare_cached("DELETE FROM kv WHERE key = ?1")?
                    .execute(params![key])?;
                Ok(Output::Unit)
            }
            Self::AppendHistory {
                user,
                messages,
                keep,
            } => {
                append_history(conn, user, messages, *keep)?;
                Ok(Output::Unit)
            }
            Self::History { user, limit } => history(conn, user, *limit).map(Output::History),
            Self::ClearHistory(user) => {
                conn.prepare_cached("DELETE FROM history WHERE user = ?1")?
                    .execute(params![user])?;
                Ok(Output::Unit)
            }
        }
    }
}

/// Checks every counter, then counts every one, exactly like `MemoryStore`: the check uses
/// the weighted use, the count adds to the counter as it is then (so a key listed twice
/// counts twice).
fn acquire(
    counters: &mut Counters<'_>,
    checks: &[CounterCheck],
    now: i64,
) -> rusqlite::Result<Acquire> {
    let mut previous = Vec::new();
    for (index, check) in checks.iter().enumerate() {
        previous.clear();
        for (key, weight) in &check.previous {
            previous.push((counters.read(key, now)?, *weight));
        }
        let used = weighted_use(counters.read(&check.key, now)?, &previous);
        if used.saturating_add(check.cost) > check.limit {
            return Ok(Acquire::Denied { index, used });
        }
    }
    for check in checks {
        let value = counters.read(&check.key, now)?.saturating_add(check.cost);
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        let expires = now.saturating_add(super::ttl_ms(check.ttl));
        counters.write(&check.key, value, expires, now)?;
    }
    Ok(Acquire::Granted)
}

fn append_history(
    conn: &Connection,
    user: &str,
    messages: &[Message],
    keep: i64,
) -> rusqlite::Result<()> {
    let last: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM history WHERE user = ?1")?
        .query_row(params![user], |row| row.get(0))?;
    let mut insert = conn
        .prepare_cached("INSERT INTO history (user, seq, role, content) VALUES (?1, ?2, ?3, ?4)")?;
    let mut seq = last;
    for message in messages {
        seq += 1;
        insert.execute(params![
            user,
            seq,
            message.role.as_str(),
            &*message.content.text()
        ])?;
    }
    conn.prepare_cached("DELETE FROM history WHERE user = ?1 AND seq <= ?2")?
        .execute(params![user, seq.saturating_sub(keep)])?;
    Ok(())
}

fn history(conn: &Connection, user: &str, limit: i64) -> rusqlite::Result<Vec<Message>> {
    let mut statement = conn.prepare_cached(
        "SELECT role, content FROM history WHERE user = ?1 ORDER BY seq DESC LIMIT ?2",
    )?;
    let rows = statement.query_map(params![user, limit], |row| {
        let role: String = row.get(0)?;
        let role = parse_role(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("unknown role `{role}` in history").into(),
            )
        })?;
        Ok(Message::new(role, row.get::<_, String>(1)?))
    })?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    messages.reverse();
    Ok(messages)
}

fn parse_role(role: &str) -> Option<Role> {
    [Role::System, Role::User, Role::Assistant]
        .into_iter()
        .find(|r| r.as_str() == role)
}

/// Deletes expired counters and values; returns how many rows went.
pub(crate) fn purge_expired(conn: &Connection, now: i64) -> rusqlite::Result<u64> {
    let counters = conn
        .prepare_cached("DELETE FROM counters WHERE expires_at <= ?1")?
        .execute(params![now])?;
    let values = conn
        .prepare_cached("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1")?
        .execute(params![now])?;
    Ok(u64::try_from(counters + values).unwrap_or(u64::MAX))
}

/// Rewrites the row that `flush` uses to put a commit, and so a WAL sync, on demand.
pub(crate) fn touch_flush_marker(conn: &Connection, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO store_meta (name, value) VALUES ('flushed_at', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![now])?;
    Ok(())
}
