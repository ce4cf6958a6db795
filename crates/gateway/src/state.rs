//! Shared state of one gateway.

use std::collections::BTreeMap;
use std::sync::Arc;

use llmpool::ChatHandler;
use secrecy::SecretString;

use crate::metrics::Metrics;
use crate::recorder::Recorder;

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
    /// The dashboard's last requests and last hour.
    pub recorder: Arc<Recorder>,
    /// Each compiled-in provider's day-reset time zone (IANA name), for the dashboard.
    pub zones: Arc<BTreeMap<&'static str, String>>,
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
            recorder: Arc::new(Recorder::new(false)),
            zones: Arc::new(reset_zones()),
        }
    }

    /// The same state keeping prompt excerpts in the dashboard's request list
    /// (`LLMPOOL_DASHBOARD_KEEP_PROMPTS`); off by default.
    #[must_use]
    pub fn with_keep_prompts(mut self, keep: bool) -> Self {
        self.recorder = Arc::new(Recorder::new(keep));
        self
    }
}

/// The zone each provider's day resets in, from its catalog (a provider whose catalog
/// does not parse is left out: the router refused to start with it anyway).
fn reset_zones() -> BTreeMap<&'static str, String> {
    llmpool::providers()
        .into_iter()
        .filter_map(|f| {
            let zone = f.model_catalog().ok()?.day_reset_zone(f.id).ok()?;
            Some((f.id, zone.to_string()))
        })
        .collect()
}
