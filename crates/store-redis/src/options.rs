//! How a [`RedisStore`](crate::RedisStore) connects.

use std::time::Duration;

/// Options for [`RedisStore::connect_with`](crate::RedisStore::connect_with).
#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub(crate) prefix: String,
    pub(crate) connection_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) reconnect_attempts: usize,
    pub(crate) call_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "llmpool:".to_owned(),
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            reconnect_attempts: 3,
            call_timeout: Duration::from_secs(2),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `llmpool:`, 1 s to connect, 1 s for a reply, 3 reconnection
    /// attempts (100, 200, 400 ms apart) before a call fails, and at most 2 s for a whole
    /// call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prepended to every key, so deployments sharing a server keep apart.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one connection attempt may take.
    #[must_use]
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long a call waits for Redis's reply before failing.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many times a lost connection is retried, with exponential backoff from 100 ms,
    /// before the call waiting on it fails (the next call starts over).
    #[must_use]
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// The longest one call may take in all, reconnection attempts and its one retry
    /// included; past it the call fails with an error that says Redis did not answer in
    /// time. This is what keeps a request from hanging on a Redis that is down or stuck:
    /// the router gets the error and the client an answer. At least 10 ms.
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout.max(Duration::from_millis(10));
        self
    }
}
