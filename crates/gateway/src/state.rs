//! Shared state of one gateway.

use std::collections::BTreeMap;
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
    /// Client model names mapped to `auto`, a provider or `provider/model`.
    pub aliases: Arc<BTreeMap<String, String>>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("client_keys", &self.client_keys.len())
            .field("aliases", &self.aliases)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over a handler, taking aliases and the body limit from `settings`.
    pub fn new(
        handler: ChatHandler,
        settings: &llmpool::Settings,
        client_keys: Vec<SecretString>,
    ) -> Self {
        Self {
            handler,
            client_keys: Arc::new(client_keys),
            aliases: Arc::new(settings.aliases.clone()),
            max_body_bytes: settings.max_body_bytes,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Maps a client's `model` to a router target: aliases first, `auto` and empty to none.
    pub fn resolve_model(&self, model: &str) -> Option<String> {
        let model = model.trim();
        let target = self.aliases.get(model).map_or(model, String::as_str);
        match target {
            "" | "auto" => None,
            other => Some(other.to_owned()),
        }
    }
}
