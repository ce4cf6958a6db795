//! The router: walks routes in policy order, takes quota slots, calls providers under
//! timeouts, reacts to each error kind, and falls back until one answers.
//!
//! Timeouts: each attempt has `timeout_secs` (for streams, the first token must come
//! within `ttft_timeout_secs` too); a request has `deadline_secs` overall, which bounds
//! retries, waits and fallbacks until the first token. Once a stream flows, only the
//! stall timeout applies (a long answer is not cut by the deadline), and a continuation
//! after a cut gets a fresh deadline.
//!
//! Capabilities: a request's needs ([`ChatRequest::needs`]) are worked out once; a route
//! whose model is known to lack one (tools, a JSON format, images, reasoning, the output
//! cap; its context window by the rules of `Fit`) is passed over without a call and
//! reported on the answer ([`ChatResponse::skipped`]). Each route's capability bits are
//! computed when the router is built (catalog, then the settings' `model_capabilities`;
//! unknown for a model no catalog describes, which is never skipped for them). When every
//! route the request may use lacks something, the error is
//! [`Unavailable::Unsupported`](crate::Unavailable::Unsupported), naming it and the
//! configured models that have it.
//!
//! Pacing: a route whose model or key is at its `max_in_flight` limit (counted in process,
//! see `in_flight`) or whose `rps` second is full (a ledger window) is skipped without a
//! call, like a route whose minute window is full; when every route is skipped the error
//! is [`Unavailable::AllBusy`](crate::Unavailable::AllBusy) with a wait of about a second.

mod attempt;
pub(crate) mod in_flight;
pub(crate) mod inner;
mod policy;
pub(crate) mod route;
mod status;
mod stream;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hashlink::LruCache;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::OnceCell;
use tracing::Instrument;

use self::policy::Policy;
use crate::catalog::{Capabilities, ModelCatalog, ModelInfo};
use crate::clock::Clock;
use crate::config::{ProviderSettings, Settings, split_route};
use crate::error::{ConfigError, Error};
use crate::health::{Health, HealthSettings};
use crate::ledger::Ledger;
use crate::provider::{Provider, ProviderFactory, Registry};
use crate::status::QuotaStatus;
use crate::store::StateStore;
use crate::types::{ChatRequest, ChatResponse};

use self::inner::Inner;
use self::route::{KeyEntry, ProviderEntry, Route};
pub use self::stream::{RoutedEvent, RoutedStream};

/// How many one-off routes (client-pinned models that neither the catalog nor the settings
/// list, served because the provider sets `allow_unknown_models`) are kept per provider.
/// One more evicts the least recently used one with its in-memory state (health, learned
/// limits); its counters in the store keep their own expiry, and a later request for it
/// builds it again from the store. So a client sending ever new names cannot grow the
/// router's memory, and `/v1/quota` lists configured routes only.
pub const ONE_OFF_ROUTES_PER_PROVIDER: usize = 64;

/// One provider client for one key.
#[derive(Debug, Clone)]
pub struct KeyedClient {
    /// The key in masked form ([`mask_key`](crate::mask_key)); it names the key's quota
    /// bucket in counters and reports, so it must be stable across restarts.
    pub key_label: String,
    /// The client built by the factory for this key.
    pub provider: Arc<dyn Provider>,
}

/// A compiled-in provider and its clients (one per configured key; none when no key
/// is set). The router wants one entry for every compiled-in provider, so the status
/// report lists them all.
#[derive(Debug, Clone)]
pub struct ProviderSetup {
    /// The provider's factory.
    pub factory: &'static ProviderFactory,
    /// One client per key, in the order the keys were given.
    pub clients: Vec<KeyedClient>,
}

/// Routes requests over every configured provider. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

impl Router {
    /// A router over these providers. Validates the settings (origin `settings`: the
    /// facade validates the file itself with its path first) and every catalog.
    pub fn new(
        settings: &Settings,
        setups: Vec<ProviderSetup>,
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let registry = Registry::new(setups.iter().map(|s| s.factory).collect())?;
        settings.validate(&registry, "settings")?;
        let mut providers = Vec::with_capacity(setups.len());
        let mut min_context: Option<u64> = None;
        let mut max_context: Option<u64> = None;
        for setup in setups {
            let factory = setup.factory;
            let origin = format!("{} catalog", factory.id);
            let full = factory.model_catalog()?;
            let ps = settings.provider(factory.id);
            let (catalog, outside, described) = merged_catalog(full, &ps);
            let day = crate::ledger::DayRule {
                tz: catalog.day_reset_zone(&origin)?,
                rolling: catalog.day_window == crate::catalog::DayWindow::Rolling,
            };
            if ps.is_enabled() && !setup.clients.is_empty() {
                let smallest = catalog.models.iter().filter_map(|m| m.context_window).min();
                min_context = match (min_context, smallest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let largest = catalog.models.iter().filter_map(|m| m.context_window).max();
                max_context = max_context.max(largest);
            }
            let keys = key_entries(setup.clients);
            providers.push(ProviderEntry {
                factory,
                enabled: ps.is_enabled(),
                priority: ps.priority.unwrap_or(factory.default_priority),
                weight: ps.weight,
                day,
                keys,
                shared_catalog: catalog.shared,
                models: catalog.models,
                outside,
                settings: ps,
                described,
            });
        }
        providers.sort_by_key(|p| (p.priority, p.id()));
        let mut routes = Vec::new();
        for p in &providers {
            if !p.enabled {
                continue;
            }
            for model in &p.models {
                for key in &p.keys {
                    routes.push(Arc::new(Route::new(p, model, key)));
                }
            }
        }
        let named = named_routes(settings, &providers);
        let one_off = providers
            .iter()
            .filter(|p| p.enabled && p.settings.allow_unknown_models)
            .map(|p| {
                let cache = LruCache::new(ONE_OFF_ROUTES_PER_PROVIDER);
                (p.id(), Mutex::new(cache))
            })
            .collect();
        let health = Health::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            HealthSettings {
                circuit_failures: settings.circuit_failures,
                cooldown: Duration::from_secs(settings.cooldown_secs),
                // Never below the first cooldown: a cap under it means "does not grow".
                max_cooldown: Duration::from_secs(
                    settings.max_cooldown_secs.max(settings.cooldown_secs),
                ),
            },
        );
        Ok(Self {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                providers,
                routes,
                named,
                one_off,
                ledger: Ledger::new(Arc::clone(&store), Arc::clone(&clock)),
                health,
                store,
                clock,
                policy: Policy::default(),
                rng: Mutex::new(StdRng::from_os_rng()),
                min_context,
                max_context,
                loaded: OnceCell::new(),
            }),
        })
    }

    /// A router over these providers with the persisted state of every configured route
    /// (health, learned limits) loaded from the store: the constructor of the product. A
    /// store that cannot be read fails here, at start-up, not on the first request.
    pub async fn build(
        settings: &Settings,
        setups: Vec<ProviderSetup>,
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let router = Self::new(settings, setups, store, clock)?;
        router.load().await?;
        Ok(router)
    }

    /// Loads the persisted state now, once; a router made by [`new`](Self::new) loads it
    /// on its first request otherwise.
    pub async fn load(&self) -> Result<(), Error> {
        self.inner.ensure_loaded().await
    }

    /// Makes random choices (backoff jitter, power-of-two-choices) reproducible.
    pub fn reseed(&self, seed: u64) {
        *self
            .inner
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = StdRng::seed_from_u64(seed);
    }

    /// The settings the router runs with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The state store shared with the router (history lives there too).
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }

    /// The smallest context window (tokens) among the models that can be routed to, when
    /// any is known: what a conversation must fit to be accepted by every route.
    pub fn min_context_window(&self) -> Option<u64> {
        self.inner.min_context
    }

    /// `(provider, model)` of every configured route with a key, in base order, once each.
    pub fn model_ids(&self) -> Vec<(&'static str, String)> {
        let mut seen = std::collections::HashSet::new();
        self.inner
            .routes
            .iter()
            .filter(|r| seen.insert((r.provider, r.model.as_str())))
            .map(|r| (r.provider, r.model.clone()))
            .collect()
    }

    /// Every configured route with a key, once per `(provider, model)` in base order,
    /// with what its model can do: what `/v1/models` lists.
    pub fn models(&self) -> Vec<(&'static str, String, Capabilities)> {
        let mut seen = std::collections::HashSet::new();
        self.inner
            .routes
            .iter()
            .filter(|r| seen.insert((r.provider, r.model.as_str())))
            .map(|r| (r.provider, r.model.clone(), r.capabilities()))
            .collect()
    }

    /// Ids of every compiled-in provider, in priority order.
    pub fn provider_ids(&self) -> Vec<&'static str> {
        self.inner.providers.iter().map(ProviderEntry::id).collect()
    }

    /// One complete answer, from the first route that gives one.
    pub async fn chat(&self, req: ChatRequest) -> Result<ChatResponse, Error> {
        // A debug span: at the default info level an info span per request cost more CPU
        // (its fields formatted, entered and left on every poll) than routing the request;
        // the attempt events carry their provider and model themselves.
        let span = tracing::debug_span!(
            "llmpool.request",
            stream = false,
            target = req.model.as_deref().unwrap_or("auto"),
            strategy = self.inner.settings.strategy.as_str(),
        );
        self.inner.chat(req).instrument(span).await
    }

    /// A streamed answer. Resolves once the first delta has arrived, so every failure
    /// before it is an ordinary `Err` (a gateway can still answer with an error status).
    pub async fn chat_stream(&self, req: ChatRequest) -> Result<RoutedStream, Error> {
        let span = tracing::debug_span!(
            "llmpool.request",
            stream = true,
            target = req.model.as_deref().unwrap_or("auto"),
            strategy = self.inner.settings.strategy.as_str(),
        );
        stream::open(Arc::clone(&self.inner), req, span.clone())
            .instrument(span)
            .await
    }

    /// The routes a request for `requested` (a model name, `auto`, a provider or a
    /// `provider/model`) that needs `needs` ([`ChatRequest::needs`]) passes over because
    /// their model cannot serve it (`skipped:<capability>` in a trail), in the order the
    /// router meets them; nothing is called and no state changes. The answer of a
    /// request carries these ([`ChatResponse::skipped`]); its error does not, so a caller
    /// that reports a failed request's trail asks here.
    pub async fn passed_over(
        &self,
        requested: &str,
        needs: crate::types::Needs,
    ) -> Vec<crate::types::SkippedRoute> {
        self.inner.passed_over(requested, needs).await
    }

    /// The quota and health report of every compiled-in provider.
    pub async fn quota_status(&self) -> Result<QuotaStatus, Error> {
        self.inner.ensure_loaded().await?;
        status::build(&self.inner).await
    }
}

/// A provider's catalog as the router uses it: the models the settings select (all by
/// default) and the rest of the catalog (a client may pin them), each with the settings'
/// capability overrides applied; and the ids whose capabilities the catalog describes.
fn merged_catalog(
    full: ModelCatalog,
    ps: &ProviderSettings,
) -> (ModelCatalog, Vec<ModelInfo>, Vec<String>) {
    let mut catalog = match &ps.models {
        Some(models) => full.select(models),
        None => full.clone(),
    };
    let mut outside: Vec<_> = full
        .models
        .iter()
        .filter(|m| !catalog.models.iter().any(|c| c.id == m.id))
        .cloned()
        .collect();
    for m in catalog.models.iter_mut().chain(&mut outside) {
        if let Some(over) = ps.capabilities_for(&m.id) {
            over.apply(m);
        }
    }
    // A `kind = "openai"` provider's catalog is made from its settings: it states no
    // capability, so they are unknown unless an override states them.
    let described = if ps.kind.is_some() {
        Vec::new()
    } else {
        full.models.into_iter().map(|m| m.id).collect()
    };
    (catalog, outside, described)
}

/// One entry per client, labels made unique (`label#2` for a second key with the same
/// masked form).
fn key_entries(clients: Vec<KeyedClient>) -> Vec<KeyEntry> {
    let mut keys: Vec<KeyEntry> = Vec::with_capacity(clients.len());
    for client in clients {
        let mut label = client.key_label.clone();
        let mut n = 1;
        while keys.iter().any(|k| k.label == label) {
            n += 1;
            label = format!("{}#{n}", client.key_label);
        }
        keys.push(KeyEntry {
            label,
            client: client.provider,
            gauges: self::in_flight::KeyGauges::default(),
        });
    }
    keys
}

/// Routes of the catalog's models that the `models` setting leaves out, and of the models
/// `routes` and `aliases` name that the provider's model list does not hold.
fn named_routes(settings: &Settings, providers: &[ProviderEntry]) -> Vec<Arc<Route>> {
    let mut named: Vec<Arc<Route>> = Vec::new();
    for p in providers.iter().filter(|p| p.enabled) {
        for model in &p.outside {
            for key in &p.keys {
                named.push(Arc::new(Route::new(p, model, key)));
            }
        }
    }
    for target in settings
        .routes
        .iter()
        .flatten()
        .chain(settings.aliases.values())
    {
        if let Some((provider, model)) = split_route(target)
            && let Some(p) = providers.iter().find(|p| p.enabled && p.id() == provider)
            && !p.models.iter().any(|m| m.id == model)
            && !named
                .iter()
                .any(|r| r.provider == p.id() && r.model == model)
        {
            let info = p.model_info(model);
            for key in &p.keys {
                named.push(Arc::new(Route::new(p, &info, key)));
            }
        }
    }
    named
}
