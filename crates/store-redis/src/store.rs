//! [`RedisStore`]: the trait's calls as Redis commands and scripts.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, RedisResult, Script};

use llmpool_core::{Acquire, CounterCheck, Message, StateStore, StoreError};

use crate::options::RedisOptions;
use crate::scripts;

/// Longest TTL sent to Redis (about 100 years): longer ones mean "forever" just as well,
/// and Redis refuses expiries that overflow its clock.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// A [`StateStore`] on a Redis server, shared by every process that connects to it with
/// the same key prefix. See the [crate docs](crate) for its design and guarantees.
///
/// Cheap to share behind an `Arc`; one store multiplexes all its calls over one
/// connection.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    call_timeout: Duration,
    acquire: Script,
    add: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection holds the URL, which may hold a password: never shown.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the server at `url` (`redis://[user:password@]host[:port][/db]`) with
    /// the default options.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// Connects to the server at `url`; fails if it cannot be reached now.
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        const OPERATION: &str = "redis connect";
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::new(OPERATION, Failure(format!("{}: {e}", masked_url(url))))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(options.reconnect_attempts);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| {
                StoreError::new(OPERATION, Failure(format!("{}: {e}", masked_url(url))))
            })?;
        Ok(Self {
            connection,
            prefix: options.prefix,
            call_timeout: options.call_timeout,
            acquire: Script::new(scripts::ACQUIRE),
            add: Script::new(scripts::ADD),
        })
    }

    /// The prefix in front of every key this store writes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn counter_key(&self, key: &str) -> String {
        format!("{}c:{key}", self.prefix)
    }

    fn value_key(&self, key: &str) -> String {
        format!("{}v:{key}", self.prefix)
    }

    fn history_key(&self, user: &str) -> String {
        format!("{}h:{user}", self.prefix)
    }

    /// Runs `call` on the connection; if it failed because the connection was lost or
    /// refused, runs it once more, on the connection the manager has re-established. The
    /// whole, retry included, is bounded by the call timeout: a Redis that is down or
    /// stuck fails the call quickly instead of holding the request that made it.
    async fn run<T, F, Fut>(&self, operation: &'static str, call: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempts = async {
            match call(self.connection.clone()).await {
                Ok(value) => Ok(value),
                Err(e) if connection_lost(&e) => call(self.connection.clone())
                    .await
                    .map_err(|e| failure(operation, &e)),
                Err(e) => Err(failure(operation, &e)),
            }
        };
        tokio::time::timeout(self.call_timeout, attempts)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::new(
                    operation,
                    format!(
                        "redis did not answer within {} ms",
                        self.call_timeout.as_millis()
                    ),
                ))
            })
    }
}

/// A Redis failure told in one message. The redis crate's error displays its I/O cause and
/// also returns it as its `source`, so an error chain printed in full (`{:#}`) said the
/// cause twice; this error has the text and no source.
#[derive(Debug)]
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// `operation` failed with `e`, the cause said once.
fn failure(operation: &'static str, e: &RedisError) -> StoreError {
    StoreError::new(operation, Failure(e.to_string()))
}

/// `url` fit for an error message: the password replaced by `***` (the user name and the
/// rest kept). A URL that does not parse as a Redis URL is not shown, since where its
/// password is cannot be told.
pub(crate) fn masked_url(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut parsed) => {
            if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
                return "the Redis URL (not shown: it holds a password)".to_owned();
            }
            parsed.to_string()
        }
        None => "the Redis URL (not shown: it does not parse as redis://…)".to_owned(),
    }
}

fn connection_lost(e: &RedisError) -> bool {
    e.is_connection_dropped() || e.is_connection_refusal() || e.is_unrecoverable_error()
}

/// Milliseconds in `ttl`, rounded up so that a nonzero TTL is never zero, and capped.
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .unwrap_or(MAX_TTL_MS)
        .min(MAX_TTL_MS)
}

/// Counter values as Redis integers (`INCRBY` works on signed 64-bit).
fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The weight the core's `weighted_use` applies: clamped to [0, 1], NaN counting as 0.
fn weight_arg(weight: f64) -> String {
    let weight = if weight.is_nan() {
        0.0
    } else {
        weight.clamp(0.0, 1.0)
    };
    // `Display` prints the shortest text that parses back to the same f64, so Lua's
    // `tonumber` multiplies with exactly this weight.
    weight.to_string()
}

fn decode_acquire(reply: &[i64], operation: &'static str) -> Result<Acquire, StoreError> {
    match reply {
        [1] => Ok(Acquire::Granted),
        [0, index, used] => Ok(Acquire::Denied {
            index: usize::try_from(*index).map_err(|e| StoreError::new(operation, e))?,
            used: u64::try_from(*used).unwrap_or(0),
        }),
        other => Err(StoreError::new(
            operation,
            format!("unexpected reply from the acquire script: {other:?}"),
        )),
    }
}

#[async_trait::async_trait]
impl StateStore for RedisStore {
    async fn try_acquire(&self, checks: &[CounterCheck]) -> Result<Acquire, StoreError> {
        const OPERATION: &str = "redis try_acquire";
        if checks.is_empty() {
            return Ok(Acquire::Granted);
        }
        let mut invocation = self.acquire.prepare_invoke();
        for check in checks {
            invocation
                .key(self.counter_key(&check.key))
                .arg(check.limit)
                .arg(clamp_i64(check.cost))
                .arg(ttl_ms(check.ttl))
                .arg(check.previous.len());
            for (previous, _) in &check.previous {
                invocation.key(self.counter_key(previous));
            }
            for (_, weight) in &check.previous {
                invocation.arg(weight_arg(*weight));
            }
        }
        let invocation = &invocation;
        let reply: Vec<i64> = self
            .run(OPERATION, |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        decode_acquire(&reply, OPERATION)
    }

    async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<(), StoreError> {
        let mut invocation = self.add.prepare_invoke();
        invocation
            .key(self.counter_key(key))
            .arg(delta)
            .arg(ttl_ms(ttl));
        let invocation = &invocation;
        self.run("redis add", |mut c| async move {
            invocation.invoke_async::<i64>(&mut c).await
        })
        .await?;
        Ok(())
    }

    /// One script for all: one round trip, and all applied together.
    async fn add_many(&self, adds: &[(&str, i64, Duration)]) -> Result<(), StoreError> {
        if adds.is_empty() {
            return Ok(());
        }
        let mut invocation = self.add.prepare_invoke();
        for (key, delta, ttl) in adds {
            invocation
                .key(self.counter_key(key))
                .arg(*delta)
                .arg(ttl_ms(*ttl));
        }
        let invocation = &invocation;
        self.run("redis add_many", |mut c| async move {
            invocation.invoke_async::<i64>(&mut c).await
        })
        .await?;
        Ok(())
    }

    async fn set_counter(&self, key: &str, value: u64, ttl: Duration) -> Result<(), StoreError> {
        let key = self.counter_key(key);
        let ttl = ttl_ms(ttl);
        let command = if ttl == 0 {
            redis::cmd("DEL").arg(&key).clone()
        } else {
            redis::cmd("SET")
                .arg(&key)
                .arg(clamp_i64(value))
                .arg("PX")
                .arg(ttl)
                .clone()
        };
        let command = &command;
        self.run("redis set_counter", |mut c| async move {
            command.exec_async(&mut c).await
        })
        .await
    }

    async fn counters(&self, keys: &[String]) -> Result<Vec<u64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut command = redis::cmd("MGET");
        for key in keys {
            command.arg(self.counter_key(key));
        }
        let command = &command;
        let values: Vec<Option<i64>> = self
            .run("redis counters", |mut c| async move {
                command.query_async(&mut c).await
            })
            .await?;
        Ok(values
            .into_iter()
            .map(|v| v.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
            .collect())
    }

    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        let key = self.value_key(key);
        let command = match ttl.map(ttl_ms) {
            None => redis::cmd("SET").arg(&key).arg(value).clone(),
            // A zero TTL has expired already, as in every other store.
            Some(0) => redis::cmd("DEL").arg(&key).clone(),
            Some(ms) => redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .clone(),
        };
        let command = &command;
        self.run("redis put", |mut c| async move {
            command.exec_async(&mut c).await
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let command = redis::cmd("GET").arg(self.value_key(key)).clone();
        let command = &command;
        self.run("redis get", |mut c| async move {
            command.query_async(&mut c).await
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let command = redis::cmd("DEL").arg(self.value_key(key)).clone();
        let command = &command;
        self.run("redis delete", |mut c| async move {
            command.exec_async(&mut c).await
        })
        .await
    }

    async fn append_history(
        &self,
        user: &str,
        messages: &[Message],
        keep: usize,
    ) -> Result<(), StoreError> {
        const OPERATION: &str = "redis append_history";
        let key = self.history_key(user);
        let mut pipeline = redis::pipe();
        if keep == 0 {
            // `LTRIM key -0 -1` would keep everything.
            pipeline.del(&key);
        } else {
            if !messages.is_empty() {
                let encoded = messages
                    .iter()
                    .map(serde_json::to_string)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| StoreError::new(OPERATION, e))?;
                pipeline.rpush(&key, encoded).ignore();
            }
            let keep = isize::try_from(keep).unwrap_or(isize::MAX);
            pipeline.ltrim(&key, -keep, -1).ignore();
        }
        pipeline.atomic();
        let pipeline = &pipeline;
        self.run(OPERATION, |mut c| async move {
            pipeline.exec_async(&mut c).await
        })
        .await
    }

    async fn history(&self, user: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
        const OPERATION: &str = "redis history";
        if limit == 0 {
            // `LRANGE key -0 -1` would return everything.
            return Ok(Vec::new());
        }
        let limit = isize::try_from(limit).unwrap_or(isize::MAX);
        let command = redis::cmd("LRANGE")
            .arg(self.history_key(user))
            .arg(-limit)
            .arg(-1)
            .clone();
        let command = &command;
        let encoded: Vec<String> = self
            .run(OPERATION, |mut c| async move {
                command.query_async(&mut c).await
            })
            .await?;
        encoded
            .iter()
            .map(|m| serde_json::from_str(m).map_err(|e| StoreError::new(OPERATION, e)))
            .collect()
    }

    async fn clear_history(&self, user: &str) -> Result<(), StoreError> {
        let command = redis::cmd("DEL").arg(self.history_key(user)).clone();
        let command = &command;
        self.run("redis clear_history", |mut c| async move {
            command.exec_async(&mut c).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole chain of `e`, as `anyhow`'s `{:#}` prints it.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }

    #[test]
    fn masked_urls_hide_the_password_only() {
        assert_eq!(
            masked_url("redis://:hunter2@cache.internal:6390/0"),
            "redis://:***@cache.internal:6390/0"
        );
        assert_eq!(
            masked_url("rediss://app:hunter2@cache.internal/1"),
            "rediss://app:***@cache.internal/1"
        );
        assert_eq!(
            masked_url("redis://127.0.0.1:6390/0"),
            "redis://127.0.0.1:6390/0"
        );
        let odd = masked_url("http://:hunter2@cache.internal");
        assert!(!odd.contains("hunter2"), "{odd}");
        assert!(odd.contains("does not parse"), "{odd}");
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_masked_url_and_says_the_cause_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
        let options = RedisOptions::default()
            .connection_timeout(Duration::from_secs(2))
            .reconnect_attempts(0);
        let Err(err) = RedisStore::connect_with(&url, options).await else {
            panic!("nothing listens on port {port}, yet the connection succeeded");
        };
        let text = chain(&err);
        assert!(
            text.starts_with(&format!(
                "redis connect failed: redis://:***@127.0.0.1:{port}/0: "
            )),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(text.matches("refused").count(), 1, "{text}");
    }

    #[test]
    fn an_unparseable_url_is_refused_without_showing_it() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let Err(err) = runtime.block_on(RedisStore::connect("redis//:hunter2@host")) else {
            panic!("a URL without `://` was accepted");
        };
        let text = chain(&err);
        assert!(
            text.starts_with("redis connect failed: the Redis URL (not shown"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn ttls_round_up_and_are_capped() {
        assert_eq!(ttl_ms(Duration::ZERO), 0);
        assert_eq!(ttl_ms(Duration::from_micros(1)), 1);
        assert_eq!(ttl_ms(Duration::from_millis(2500)), 2500);
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn weights_match_the_core_clamp() {
        assert_eq!(weight_arg(0.5), "0.5");
        assert_eq!(weight_arg(7.0), "1");
        assert_eq!(weight_arg(-1.0), "0");
        assert_eq!(weight_arg(f64::NAN), "0");
        // The text round-trips bit for bit.
        let third = 1.0_f64 / 3.0;
        let parsed: f64 = weight_arg(third).parse().unwrap();
        assert_eq!(parsed.to_bits(), third.to_bits());
    }

    #[test]
    fn decodes_script_replies() {
        assert_eq!(decode_acquire(&[1], "t").unwrap(), Acquire::Granted);
        assert_eq!(
            decode_acquire(&[0, 2, 17], "t").unwrap(),
            Acquire::Denied { index: 2, used: 17 }
        );
        assert!(decode_acquire(&[7], "t").is_err());
        assert!(decode_acquire(&[0, -1, 3], "t").is_err());
    }
}
