//! The router's shared state and how a request's routes are found: persisted state loaded
//! once, targets resolved against catalogs and settings, one-off routes kept bounded, and
//! the candidates ordered by the policy.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use hashlink::LruCache;
use rand::rngs::StdRng;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::config::{Settings, Strategy, split_route};
use crate::error::{Error, ErrorKind, ProviderError, StoreError, Unavailable};
use crate::health::{Health, Skip};
use crate::ledger::{DayRule, Ledger, Scope};
use crate::router::policy::{Inputs, Policy};
use crate::router::route::{ProviderEntry, Route, Target};
use crate::store::StateStore;
use crate::types::{Attempt, ChatRequest, Missing, Needs, SkippedRoute};

/// One-off routes of one provider by model name (one route per key), least recently
/// used first out.
type OneOff = Mutex<LruCache<String, Vec<Arc<Route>>>>;

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) settings: Settings,
    /// Every compiled-in provider, in priority order.
    pub(crate) providers: Vec<ProviderEntry>,
    /// Every configured route, in base order (priority, model order, key order).
    pub(crate) routes: Vec<Arc<Route>>,
    /// Routes of models of the catalog that `models` leaves out, or that `routes` or
    /// `aliases` name: a client may pin them, though they are outside the provider's own
    /// rotation and report.
    pub(crate) named: Vec<Arc<Route>>,
    /// One-off routes of each provider that sets `allow_unknown_models`, by provider id.
    pub(crate) one_off: HashMap<&'static str, OneOff>,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ledger: Ledger,
    pub(crate) health: Health,
    pub(crate) policy: Policy,
    pub(crate) rng: Mutex<StdRng>,
    /// Smallest known context window among routes that can be used (enabled, keyed).
    pub(crate) min_context: Option<u64>,
    /// Largest known context window among routes that can be used (enabled, keyed): what
    /// a `ContextTooLong` answer names.
    pub(crate) max_context: Option<u64>,
    pub(crate) loaded: OnceCell<()>,
}

/// The state of one request across its attempts.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) deadline: Instant,
    pub(crate) errors: Vec<ProviderError>,
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) skipped: Vec<(Arc<Route>, Skip)>,
    /// Routes passed over because their model cannot serve the request (a capability it
    /// lacks, a context window too small), in the order met: the answer's trail.
    pub(crate) unfit: Vec<SkippedRoute>,
    /// Text already delivered: attempts send it as an assistant prefill.
    pub(crate) prefill: String,
    /// Whether the prompt fits each route's context window.
    pub(crate) fit: Fit,
    /// What the request needs from a model, worked out once.
    pub(crate) needs: Needs,
    /// The yes/no part of `needs` as capability bits.
    pub(crate) need_bits: u8,
}

/// What one request knows about its prompt's length against the routes' context windows.
///
/// A route is skipped without an upstream call when its window is known and either
/// smaller than the prompt's estimate ([`ChatRequest::estimated_prompt_tokens`], about
/// four characters a token: it may be off by a fair margin either way, e.g. fewer
/// characters a token for code or non-Latin text, so only an estimate above the window
/// skips a route, and a route that then refuses the prompt as too long moves the bar up),
/// or not larger than the window of a route that refused the prompt as too long. A route
/// of unknown window is skipped only when a route of the same provider and model (another
/// key) refused the prompt.
#[derive(Debug, Default)]
pub(crate) struct Fit {
    /// The prompt's estimated size in tokens.
    pub(crate) estimate: u64,
    /// The largest context window configured, when known.
    pub(crate) largest: Option<u64>,
    /// Largest known window of a route that refused the prompt as too long.
    pub(crate) floor: Option<u64>,
    /// Provider and model of routes of unknown window that refused the prompt.
    pub(crate) refused: Vec<(&'static str, String)>,
    /// Whether a route refused the prompt as too long or was skipped as too small.
    pub(crate) too_long: bool,
}

impl Fit {
    /// Whether `route` may be sent the prompt: its window is not known to be too small.
    pub(crate) fn fits(&self, route: &Route) -> bool {
        match route.context_window {
            Some(window) => window >= self.estimate && self.floor.is_none_or(|f| window > f),
            None => !self
                .refused
                .iter()
                .any(|(p, m)| *p == route.provider && *m == route.model),
        }
    }

    /// `route` refused the prompt as too long.
    pub(crate) fn refused_by(&mut self, route: &Route) {
        self.too_long = true;
        match route.context_window {
            Some(window) => self.floor = self.floor.max(Some(window)),
            None => self.refused.push((route.provider, route.model.clone())),
        }
    }

    /// Skips `route` when the prompt does not fit it; true when skipped.
    pub(crate) fn skip(&mut self, route: &Route) -> bool {
        if self.fits(route) {
            return false;
        }
        tracing::debug!(
            route = %route.id,
            window = route.context_window,
            estimate = self.estimate,
            "context window too small, skipped"
        );
        self.too_long = true;
        true
    }
}

impl Ctx {
    pub(crate) fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            errors: Vec::new(),
            attempts: Vec::new(),
            skipped: Vec::new(),
            unfit: Vec::new(),
            prefill: String::new(),
            fit: Fit::default(),
            needs: Needs::default(),
            need_bits: 0,
        }
    }

    /// Works out what `req` needs, once per request.
    pub(crate) fn needs_of(&mut self, req: &ChatRequest) {
        self.needs = req.needs();
        self.need_bits = self.needs.flags();
        self.fit.estimate = self.needs.prompt_tokens;
    }

    /// Passes over `route` when its model cannot serve the request: a capability it is
    /// known to lack, or a context window known to be too small (see [`Fit`]); recorded
    /// for the trail. True when passed over.
    pub(crate) fn passes_over(&mut self, route: &Route) -> bool {
        let missing = match route.lacks(&self.needs, self.need_bits) {
            Some(missing) => missing,
            None if self.fit.skip(route) => Missing::ContextWindow {
                needed: self.fit.estimate,
                // Unknown window: skipped because another key of the model refused.
                window: route.context_window.or(self.fit.floor).unwrap_or(0),
            },
            None => return false,
        };
        tracing::debug!(
            route = %route.id,
            capability = missing.capability(),
            "the model cannot serve the request, skipped"
        );
        self.unfit.push(SkippedRoute {
            provider: route.provider,
            model: route.model.clone(),
            missing,
        });
        true
    }

    /// The error for a request that got no answer.
    pub(crate) fn take_error(&mut self) -> Error {
        // Refused as too long or skipped as too small, and nothing else failed: too long
        // for every route, unless a busy route that would fit may take it later.
        if self.fit.too_long
            && self
                .errors
                .iter()
                .all(|e| matches!(e.kind, ErrorKind::ContextTooLong))
        {
            let waiting: Vec<_> = std::mem::take(&mut self.skipped)
                .into_iter()
                .filter(|(r, _)| self.fit.fits(r))
                .collect();
            if waiting.is_empty() {
                return Error::NoAvailableProviders(Unavailable::ContextTooLong {
                    estimated_tokens: self.fit.estimate,
                    largest_window: self.fit.largest,
                });
            }
            // Only routes that are busy now could take it: a wait, said as such.
            return Inner::busy(&waiting);
        }
        if self.errors.is_empty() {
            Inner::busy(&std::mem::take(&mut self.skipped))
        } else if Instant::now() >= self.deadline {
            // The last attempt ran out of time with the request's deadline (its budget
            // was what was left of it): that is the deadline, not one more failure.
            Error::DeadlineExceeded(std::mem::take(&mut self.errors))
        } else {
            Error::AllProvidersFailed(std::mem::take(&mut self.errors))
        }
    }
}

impl Inner {
    /// Loads persisted health of every provider and health and learned limits of every
    /// configured route, once.
    pub(crate) async fn ensure_loaded(&self) -> Result<(), Error> {
        let startup =
            |e: StoreError| Error::Store(StoreError::new("loading the persisted state", e));
        self.loaded
            .get_or_try_init(|| async {
                for p in &self.providers {
                    self.health.load_provider(p.id()).await.map_err(startup)?;
                }
                for r in self.routes.iter().chain(&self.named) {
                    self.health.load(r.href()).await.map_err(startup)?;
                    self.ledger.load(&r.quota_id).await.map_err(startup)?;
                    self.ledger.load(&r.key_id).await.map_err(startup)?;
                }
                self.raise_shared_counters().await?;
                Ok::<(), Error>(())
            })
            .await?;
        Ok(())
    }

    /// Makes every bucket's counters hold at least its models' per-route counts, then
    /// every key's shared counters at least its routes' own counts (see
    /// [`Ledger::raise_to_sum`]): after an upgrade that introduced them, the calls already
    /// made today are not spent a second time.
    async fn raise_shared_counters(&self) -> Result<(), Error> {
        let mut buckets: Vec<(&str, Vec<&str>, DayRule)> = Vec::new();
        let mut keys: Vec<(&str, Vec<&str>, DayRule)> = Vec::new();
        for r in &self.routes {
            if r.quota_id != r.id {
                match buckets.iter_mut().find(|b| b.0 == r.quota_id) {
                    Some(b) => b.1.push(&r.id),
                    None => buckets.push((&r.quota_id, vec![&r.id], r.day)),
                }
            }
            if !self.ledger.shared_limits(&r.quota()).has_windows() {
                continue;
            }
            match keys.iter_mut().find(|k| k.0 == r.key_id) {
                Some(k) if !k.1.contains(&r.quota_id.as_str()) => k.1.push(&r.quota_id),
                Some(_) => {}
                None => keys.push((&r.key_id, vec![&r.quota_id], r.day)),
            }
        }
        for (target, sources, day) in buckets.iter().chain(&keys) {
            self.ledger.raise_to_sum(target, sources, *day).await?;
        }
        Ok(())
    }

    fn resolve_target(&self, requested: Option<&str>) -> Target {
        let mut name = requested.map(str::trim).unwrap_or_default();
        if let Some(alias) = self.settings.aliases.get(name) {
            name = alias.as_str();
        }
        if name.is_empty() || name == "auto" {
            return Target::Auto;
        }
        if let Some(p) = self.providers.iter().find(|p| p.id() == name) {
            return Target::Provider(p.id());
        }
        if let Some((provider, model)) = split_route(name)
            && let Some(p) = self.providers.iter().find(|p| p.id() == provider)
        {
            return Target::Route(p.id(), model.to_owned());
        }
        Target::Model(name.to_owned())
    }

    /// Ids of the routes (configured and one-off) counting in the same windows of `scope`
    /// as `route`, itself included.
    pub(crate) fn sharing(&self, route: &Route, scope: Scope) -> Vec<String> {
        let mut ids = vec![route.id.clone()];
        let one_off: Vec<Arc<Route>> = self
            .one_off
            .get(route.provider)
            .map(|cache| {
                cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .flat_map(|(_, routes)| routes.iter().cloned())
                    .collect()
            })
            .unwrap_or_default();
        for other in self.routes.iter().chain(&self.named).chain(&one_off) {
            if route.shares(other, scope) && !ids.contains(&other.id) {
                ids.push(other.id.clone());
            }
        }
        ids
    }

    /// Every model of `entry` a client may pin: its rotation, then the rest of its
    /// catalog, then models the settings name.
    fn known_models(&self, entry: &ProviderEntry) -> Vec<String> {
        let mut known: Vec<String> = entry.models.iter().map(|m| m.id.clone()).collect();
        let named = self.named.iter().filter(|r| r.provider == entry.id());
        for model in entry
            .outside
            .iter()
            .map(|m| &m.id)
            .chain(named.map(|r| &r.model))
        {
            if !known.contains(model) {
                known.push(model.clone());
            }
        }
        known
    }

    fn no_keys(providers: &[&ProviderEntry]) -> Error {
        Error::NoAvailableProviders(Unavailable::NoKeys {
            env_vars: providers.iter().map(|p| p.factory.key_env).collect(),
        })
    }

    /// The routes of `provider` for a model it was pinned to: the configured ones, else
    /// one-off routes when the provider allows unknown models, else `UnknownModel`.
    async fn routes_for(
        &self,
        entry: &ProviderEntry,
        model: &str,
        requested: &str,
    ) -> Result<Vec<Arc<Route>>, Error> {
        let provider = entry.id();
        if entry.models.iter().any(|m| m.id == model) {
            return Ok(self
                .routes
                .iter()
                .filter(|r| r.provider == provider && r.model == model)
                .cloned()
                .collect());
        }
        let named: Vec<Arc<Route>> = self
            .named
            .iter()
            .filter(|r| r.provider == provider && r.model == model)
            .cloned()
            .collect();
        if !named.is_empty() {
            return Ok(named);
        }
        let Some(cache) = self.one_off.get(provider) else {
            return Err(Error::NoAvailableProviders(Unavailable::UnknownModel {
                requested: requested.to_owned(),
                provider,
                known: self.known_models(entry),
            }));
        };
        if let Some(routes) = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(model)
        {
            return Ok(routes.clone());
        }
        let info = entry.model_info(model);
        let routes: Vec<Arc<Route>> = entry
            .keys
            .iter()
            .map(|key| Arc::new(Route::new(entry, &info, key)))
            .collect();
        for route in &routes {
            // The state of a one-off route is read when it is made; a store failing then
            // costs that state, not the request.
            if let Err(e) = self.health.load(route.href()).await {
                tracing::warn!(error = %e, "cannot load health state");
            }
            if let Err(e) = self.ledger.load(&route.quota_id).await {
                tracing::warn!(error = %e, "cannot load learned limits");
            }
        }
        let evicted = {
            let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(raced) = cache.get(model) {
                // Another request made it while this one read the store.
                return Ok(raced.clone());
            }
            let evicted = if cache.len() >= cache.capacity() {
                cache.remove_lru()
            } else {
                None
            };
            cache.insert(model.to_owned(), routes.clone());
            evicted
        };
        for route in evicted.iter().flat_map(|(_, routes)| routes) {
            self.health.forget(&route.id);
            self.ledger.forget(&route.quota_id);
        }
        Ok(routes)
    }

    /// The routes a request targets, before health and quota are looked at; `true` when
    /// they come from the explicit `routes` chain.
    ///
    /// The target is resolved against every compiled-in provider and its catalog first, keys
    /// or not: a name nothing could ever serve is `NoMatchingRoute` (the gateway's 404),
    /// and only a target that some enabled provider does serve reports the keys missing for
    /// it (`NoKeys`, naming exactly those providers' variables).
    async fn candidates(&self, requested: &str) -> Result<(Vec<Arc<Route>>, bool), Error> {
        let no_route = |requested: &str| {
            Error::NoAvailableProviders(Unavailable::NoMatchingRoute {
                requested: requested.to_owned(),
            })
        };
        let enabled = |id: &str| self.providers.iter().find(|p| p.id() == id && p.enabled);
        // Every target ends up as (provider, model) pairs of enabled providers, `None` for
        // "any model of the provider's configured list".
        let target = self.resolve_target(Some(requested));
        let mut explicit_chain = false;
        let wanted: Vec<(&ProviderEntry, Option<&str>)> = match &target {
            Target::Auto => {
                if let Some(chain) = &self.settings.routes {
                    explicit_chain = true;
                    chain
                        .iter()
                        .filter_map(|entry| split_route(entry))
                        .filter_map(|(provider, model)| Some((enabled(provider)?, Some(model))))
                        .collect()
                } else {
                    let all: Vec<_> = self
                        .providers
                        .iter()
                        .filter(|p| p.enabled)
                        .map(|p| (p, None))
                        .collect();
                    if all.is_empty() {
                        // Nothing is enabled: say which keys would make something work.
                        let every: Vec<&ProviderEntry> = self.providers.iter().collect();
                        return Err(Self::no_keys(&every));
                    }
                    all
                }
            }
            Target::Provider(id) => enabled(id).map(|p| (p, None)).into_iter().collect(),
            Target::Route(id, model) => enabled(id)
                .map(|p| (p, Some(model.as_str())))
                .into_iter()
                .collect(),
            Target::Model(model) => self
                .providers
                .iter()
                .filter(|p| p.enabled && p.models.iter().any(|m| &m.id == model))
                .map(|p| (p, Some(model.as_str())))
                .collect(),
        };
        if wanted.is_empty() {
            return Err(no_route(requested));
        }
        let mut unkeyed: Vec<&ProviderEntry> = Vec::new();
        let mut out = Vec::new();
        for (p, model) in wanted {
            if p.keys.is_empty() {
                if !unkeyed.iter().any(|u| u.id() == p.id()) {
                    unkeyed.push(p);
                }
                continue;
            }
            match (&target, model) {
                (Target::Model(_), Some(model)) => out.extend(
                    self.routes
                        .iter()
                        .filter(|r| r.provider == p.id() && r.model == model)
                        .cloned(),
                ),
                (_, Some(model)) => out.extend(self.routes_for(p, model, requested).await?),
                (_, None) => {
                    out.extend(self.routes.iter().filter(|r| r.provider == p.id()).cloned());
                }
            }
        }
        if out.is_empty() && !unkeyed.is_empty() {
            return Err(Self::no_keys(&unkeyed));
        }
        if out.is_empty() {
            return Err(no_route(requested));
        }
        Ok((out, explicit_chain))
    }

    /// The routes a request for `requested` with `needs` passes over because their model
    /// cannot serve it, in the order a walk meets them, with no call and no change of
    /// state: a failed request's trail (its error holds only the failed calls). Empty
    /// when the target matches no route.
    pub(crate) async fn passed_over(&self, requested: &str, needs: Needs) -> Vec<SkippedRoute> {
        let Ok((candidates, _)) = self.candidates(requested).await else {
            return Vec::new();
        };
        let mut ctx = Ctx::new(Instant::now());
        ctx.needs = needs;
        ctx.need_bits = needs.flags();
        ctx.fit.estimate = needs.prompt_tokens;
        ctx.fit.largest = self.max_context;
        for route in &candidates {
            ctx.passes_over(route);
        }
        ctx.unfit
    }

    /// The candidate routes of a request, ordered by the policy; routes that cannot be
    /// tried now go to `ctx.skipped`.
    pub(crate) async fn plan(
        &self,
        req: &ChatRequest,
        ctx: &mut Ctx,
    ) -> Result<Vec<Arc<Route>>, Error> {
        self.ensure_loaded().await?;
        let requested = req.model.as_deref().unwrap_or("auto");
        let (candidates, explicit_chain) = self.candidates(requested).await?;
        ctx.needs_of(req);
        ctx.fit.largest = self.max_context;
        let mut available = Vec::with_capacity(candidates.len());
        for route in candidates {
            if ctx.passes_over(&route) {
                continue;
            }
            match self.health.peek(route.href()) {
                Some(skip) => ctx.skipped.push((Arc::clone(&route), skip)),
                None => available.push(route),
            }
        }
        // Every route lacks a capability (none is merely busy or too small): the request
        // asks for something no route it may use can do, which no wait will change.
        if available.is_empty()
            && ctx.skipped.is_empty()
            && !ctx.fit.too_long
            && let Some(first) = ctx.unfit.first()
        {
            return Err(self.unsupported(first.missing));
        }
        if explicit_chain {
            return Ok(self.policy.chain(available));
        }
        let strategy = self.settings.strategy;
        let mut inputs = Inputs::default();
        match strategy {
            Strategy::Priority => {}
            Strategy::RoundRobin => {
                for p in &self.providers {
                    inputs.weights.insert(p.id(), p.weight);
                }
            }
            Strategy::LeastUsed => {
                for r in &available {
                    let share = self.ledger.remaining_share(&r.quota()).await?;
                    inputs.remaining_share.insert(r.id.clone(), share);
                }
            }
            Strategy::Latency => {
                for p in &self.providers {
                    inputs.latency.insert(p.id(), self.health.latency(p.id()));
                }
            }
        }
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(self.policy.order(strategy, available, &inputs, &mut rng))
    }

    /// The 400 for a request no route it may use can serve: what the first route lacked,
    /// and the configured models (any enabled provider with a key) that have it.
    fn unsupported(&self, missing: Missing) -> Error {
        let mut capable: Vec<String> = Vec::new();
        for route in self.routes.iter().chain(&self.named) {
            if route.has(&missing) {
                let name = format!("{}/{}", route.provider, route.model);
                if !capable.contains(&name) {
                    capable.push(name);
                }
            }
        }
        Error::NoAvailableProviders(Unavailable::Unsupported { missing, capable })
    }

    /// `NoAvailableProviders` saying why each skipped route was skipped.
    pub(crate) fn busy(skipped: &[(Arc<Route>, Skip)]) -> Error {
        let mut per_provider: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        let mut until = None;
        for (route, skip) in skipped {
            if let Some(u) = skip.until
                && until.is_none_or(|old| u < old)
            {
                until = Some(u);
            }
            let mut line = format!("{}: {}", route.model, skip.reason.describe());
            if let Some(u) = skip.until {
                line.push_str(" until ");
                line.push_str(&u.to_rfc3339());
            }
            let lines = per_provider.entry(route.provider).or_default();
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        let details = per_provider
            .into_iter()
            .map(|(p, lines)| format!("{p}: {}", lines.join(", ")))
            .collect();
        Error::NoAvailableProviders(Unavailable::AllBusy { until, details })
    }
}
