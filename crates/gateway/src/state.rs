//! Shared state of one gateway.

use std::collections::BTreeMap;
use std::sync::Arc;

use llmpool::ChatHandler;
use secrecy::SecretString;

use crate::metrics::Metrics;
use crate::recorder::Recorder;

/// What every route handler needs: one `Arc`, so that the clone axum makes for every
/// request (the `State` extractor and the auth middleware each take one) is a reference
/// count, not a copy of the handler's settings.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`], reached through `Deref`.
#[derive(Clone)]
pub struct Shared {
    /// Router, store and history.
    pub handler: ChatHandler,
    /// Client keys (`LLMPOOL_API_KEYS`); empty means no auth.
    pub client_keys: Vec<SecretString>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The dashboard's last requests and last hour.
    pub recorder: Arc<Recorder>,
    /// Each compiled-in provider's day-reset time zone (IANA name), for the dashboard.
    pub zones: BTreeMap<&'static str, String>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
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
        Self(Arc::new(Shared {
            handler,
            client_keys,
            max_body_bytes: settings.max_body_bytes,
            metrics: Arc::new(Metrics::new()),
            recorder: Arc::new(Recorder::new(false)),
            zones: reset_zones(),
        }))
    }

    /// The same state keeping prompt excerpts in the dashboard's request list
    /// (`LLMPOOL_DASHBOARD_KEEP_PROMPTS`); off by default.
    #[must_use]
    pub fn with_keep_prompts(self, keep: bool) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.recorder = Arc::new(Recorder::new(keep));
        Self(Arc::new(shared))
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
