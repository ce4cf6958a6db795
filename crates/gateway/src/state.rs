//! Shared state of one gateway.

use std::sync::Arc;

use llmpool::ChatHandler;
use secrecy::SecretString;

use crate::metrics::Metrics;

/// What every route handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Router, store and history.
    pub handler: ChatHandler,
    /// Client keys (`LLMPOOL_API_KEYS`); empty means no auth.
    pub client_keys: Arc<Vec<SecretString>>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("client_keys", &self.client_keys.len())
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over a handler, taking the body limit from `settings` (the router resolves
    /// `model`, aliases included).
    pub fn new(
        handler: ChatHandler,
        settings: &llmpool::Settings,
        client_keys: Vec<SecretString>,
    ) -> Self {
        Self {
            handler,
            client_keys: Arc::new(client_keys),
            max_body_bytes: settings.max_body_bytes,
            metrics: Arc::new(Metrics::new()),
        }
    }
}
