//! Health of providers, keys and routes: what may be tried now, and what the status
//! report shows.
//!
//! - per **provider**: consecutive transient failures, a circuit breaker, the success
//!   rate over the last [`OUTCOME_WINDOW`] attempts, a latency EWMA and the last error;
//! - per **key**: disabled after `Unauthorized` or `PaymentRequired` (until the key
//!   changes: a new key has another masked label, so another identity);
//! - per **route**: rate limited until, exhausted until, parked (e.g. model not found)
//!   until, and whether it rejected an assistant prefill.
//!
//! Circuit: `circuit_failures` consecutive transient failures open it for `cooldown_secs`,
//! doubling with every reopening up to `max_cooldown_secs`. When the cooldown is over,
//! exactly one real request is let through (half-open); success closes it, a transient
//! failure opens it again. There are no synthetic probes. Only transient failures (5xx,
//! timeouts, refused connections) open the circuit, and their end is unknown, so the cap is
//! short (20 s by default): a recovered provider is back within 30 s at one request every
//! 5 s, whatever the outage's length. What has a known end waits per route or key instead:
//! a rate limit's retry-after, a spent quota until its reset, a rejected key.
//!
//! Persisted as JSON through the [`StateStore`] so a restart keeps them:
//! `llmpool:health:provider:<id>` (circuit), `llmpool:health:key:<id>@<key>` (disabled),
//! `llmpool:health:route:<route>` (cooldowns, parking, prefill support).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::StoreError;
use crate::store::StateStore;

/// Attempts remembered for the success rate.
pub(crate) const OUTCOME_WINDOW: usize = 100;
const EWMA_ALPHA: f64 = 0.3;

/// Why a key is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Disabled {
    BadKey,
    PaymentRequired,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyHealth {
    pub(crate) disabled: Option<Disabled>,
    pub(crate) since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RouteHealth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rate_limited_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) exhausted_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parked_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) no_prefill: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Circuit {
    Closed,
    Open { until: DateTime<Utc> },
    HalfOpen { probing: bool },
}

#[derive(Debug, Clone)]
pub(crate) struct ProviderHealth {
    pub(crate) consecutive_failures: u32,
    pub(crate) circuit: Circuit,
    pub(crate) opens: u32,
    pub(crate) outcomes: VecDeque<bool>,
    pub(crate) latency_ms_ewma: Option<f64>,
    pub(crate) last_error: Option<String>,
    pub(crate) last_error_at: Option<DateTime<Utc>>,
}

impl Default for ProviderHealth {
    fn default() -> Self {
        Self {
            consecutive_failures: 0,
            circuit: Circuit::Closed,
            opens: 0,
            outcomes: VecDeque::new(),
            latency_ms_ewma: None,
            last_error: None,
            last_error_at: None,
        }
    }
}

impl ProviderHealth {
    pub(crate) fn success_rate(&self) -> Option<f64> {
        if self.outcomes.is_empty() {
            return None;
        }
        let ok = self.outcomes.iter().filter(|o| **o).count();
        #[expect(
            clippy::cast_precision_loss,
            reason = "at most OUTCOME_WINDOW outcomes"
        )]
        Some(ok as f64 / self.outcomes.len() as f64)
    }
}

/// What is persisted of a provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open_until: Option<DateTime<Utc>>,
    #[serde(default)]
    opens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error_at: Option<DateTime<Utc>>,
}

/// Why a route cannot be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    KeyDisabled(Disabled),
    CircuitOpen,
    Probing,
    RateLimited,
    Exhausted,
    Parked,
    /// At its `max_in_flight` limit: the walk's own skip (health never parks a route for
    /// it), until one of the attempts in flight ends. (No ", " in its description: the
    /// gateway splits the busy report at those.)
    InFlight,
}

impl SkipReason {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::KeyDisabled(Disabled::BadKey) => "key rejected (unauthorized)",
            Self::KeyDisabled(Disabled::PaymentRequired) => "key needs billing",
            Self::CircuitOpen => "circuit open after repeated failures",
            Self::Probing => "half-open, a trial request is in flight",
            Self::RateLimited => "rate limited",
            Self::Exhausted => "quota exhausted",
            Self::Parked => "model unavailable",
            Self::InFlight => "at its limit of requests in flight",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Skip {
    pub(crate) reason: SkipReason,
    pub(crate) until: Option<DateTime<Utc>>,
}

/// Identifies the health entries of one route.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteRef<'a> {
    pub(crate) provider: &'static str,
    pub(crate) key_id: &'a str,
    pub(crate) route_id: &'a str,
}

#[derive(Debug, Default)]
struct State {
    providers: HashMap<&'static str, ProviderHealth>,
    keys: HashMap<String, KeyHealth>,
    routes: HashMap<String, RouteHealth>,
    loaded: HashSet<String>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct HealthSettings {
    pub(crate) circuit_failures: u32,
    pub(crate) cooldown: Duration,
    pub(crate) max_cooldown: Duration,
}

/// Health of everything the router may try.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    state: Arc<Mutex<State>>,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    settings: HealthSettings,
}

/// Releases a half-open probe claim unless the attempt reported an outcome; so a
/// cancelled request never leaves a provider stuck half-open.
#[derive(Debug)]
pub(crate) struct ProbeGuard {
    state: Arc<Mutex<State>>,
    provider: &'static str,
    armed: bool,
}

impl ProbeGuard {
    fn none(state: Arc<Mutex<State>>, provider: &'static str) -> Self {
        Self {
            state,
            provider,
            armed: false,
        }
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(p) = state.providers.get_mut(self.provider)
                && p.circuit == (Circuit::HalfOpen { probing: true })
            {
                p.circuit = Circuit::HalfOpen { probing: false };
            }
        }
    }
}

fn provider_key(id: &str) -> String {
    format!("llmpool:health:provider:{id}")
}
fn key_key(id: &str) -> String {
    format!("llmpool:health:key:{id}")
}
fn route_key(id: &str) -> String {
    format!("llmpool:health:route:{id}")
}

fn active(until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    until.filter(|u| *u > now)
}

impl Health {
    pub(crate) fn new(
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        settings: HealthSettings,
    ) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            store,
            clock,
            settings,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a plain assignment, so a poisoned lock still holds sound data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn put_json<T: Serialize>(&self, key: &str, value: &T, ttl: Option<Duration>) {
        let Ok(text) = serde_json::to_string(value) else {
            return;
        };
        if let Err(e) = self.store.put(key, &text, ttl).await {
            tracing::warn!(error = %e, key, "cannot store health state");
        }
    }

    async fn read_json<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        // Text that does not parse (an older format) is as good as nothing stored; a
        // store that cannot be read is an error.
        Ok(self
            .store
            .get(key)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok()))
    }

    /// Loads what a previous process stored about this provider (once per process).
    pub(crate) async fn load_provider(&self, provider: &'static str) -> Result<(), StoreError> {
        let key = provider_key(provider);
        if self.lock().loaded.contains(&key) {
            return Ok(());
        }
        let stored: Option<StoredProvider> = self.read_json(&key).await?;
        let mut state = self.lock();
        if state.loaded.insert(key)
            && let Some(s) = stored
        {
            let p = state.providers.entry(provider).or_default();
            p.opens = s.opens;
            p.last_error = s.last_error;
            p.last_error_at = s.last_error_at;
            if let Some(until) = s.open_until {
                p.circuit = Circuit::Open { until };
            }
        }
        Ok(())
    }

    /// Loads what a previous process stored about this route, its key and its provider
    /// (once each per process).
    pub(crate) async fn load(&self, r: RouteRef<'_>) -> Result<(), StoreError> {
        self.load_provider(r.provider).await?;
        let key = key_key(r.key_id);
        if !self.lock().loaded.contains(&key) {
            let stored: Option<KeyHealth> = self.read_json(&key).await?;
            let mut state = self.lock();
            if state.loaded.insert(key)
                && let Some(s) = stored
            {
                state.keys.insert(r.key_id.to_owned(), s);
            }
        }
        let key = route_key(r.route_id);
        if !self.lock().loaded.contains(&key) {
            let stored: Option<RouteHealth> = self.read_json(&key).await?;
            let mut state = self.lock();
            if state.loaded.insert(key)
                && let Some(s) = stored
            {
                state.routes.insert(r.route_id.to_owned(), s);
            }
        }
        Ok(())
    }

    /// How many entries the in-memory state holds (loaded markers and route states).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        let state = self.lock();
        state.loaded.len() + state.routes.len()
    }

    /// Drops what is held in memory about a route (a one-off route leaving its cache);
    /// the store keeps its own copy, with its own expiry.
    pub(crate) fn forget(&self, route_id: &str) {
        let mut state = self.lock();
        state.loaded.remove(&route_key(route_id));
        state.routes.remove(route_id);
    }

    /// A guard that claims no probe, for failures reported after an attempt succeeded
    /// (a stream cut after its first delta).
    pub(crate) fn no_probe(&self, provider: &'static str) -> ProbeGuard {
        ProbeGuard::none(Arc::clone(&self.state), provider)
    }

    /// Why this route cannot be tried now, without claiming anything.
    pub(crate) fn peek(&self, r: RouteRef<'_>) -> Option<Skip> {
        let now = self.clock.now();
        let state = self.lock();
        Self::skip_of(&state, r, now)
    }

    fn skip_of(state: &State, r: RouteRef<'_>, now: DateTime<Utc>) -> Option<Skip> {
        if let Some(reason) = state.keys.get(r.key_id).and_then(|k| k.disabled) {
            return Some(Skip {
                reason: SkipReason::KeyDisabled(reason),
                until: None,
            });
        }
        if let Some(route) = state.routes.get(r.route_id) {
            let candidates = [
                (SkipReason::Exhausted, route.exhausted_until),
                (SkipReason::Parked, route.parked_until),
                (SkipReason::RateLimited, route.rate_limited_until),
            ];
            let mut best: Option<Skip> = None;
            for (reason, until) in candidates {
                if let Some(until) = active(until, now)
                    && best.is_none_or(|b| b.until < Some(until))
                {
                    best = Some(Skip {
                        reason,
                        until: Some(until),
                    });
                }
            }
            if best.is_some() {
                return best;
            }
        }
        match state.providers.get(r.provider).map(|p| p.circuit) {
            Some(Circuit::Open { until }) if until > now => Some(Skip {
                reason: SkipReason::CircuitOpen,
                until: Some(until),
            }),
            Some(Circuit::HalfOpen { probing: true }) => Some(Skip {
                reason: SkipReason::Probing,
                until: None,
            }),
            Some(Circuit::Open { .. } | Circuit::HalfOpen { probing: false } | Circuit::Closed)
            | None => None,
        }
    }

    /// Admits one attempt on this route, claiming the half-open probe when the circuit's
    /// cooldown is over.
    pub(crate) fn admit(&self, r: RouteRef<'_>) -> Result<ProbeGuard, Skip> {
        let now = self.clock.now();
        let mut state = self.lock();
        if let Some(skip) = Self::skip_of(&state, r, now) {
            return Err(skip);
        }
        let p = state.providers.entry(r.provider).or_default();
        match p.circuit {
            Circuit::Open { .. } | Circuit::HalfOpen { probing: false } => {
                p.circuit = Circuit::HalfOpen { probing: true };
                Ok(ProbeGuard {
                    state: Arc::clone(&self.state),
                    provider: r.provider,
                    armed: true,
                })
            }
            Circuit::Closed | Circuit::HalfOpen { probing: true } => {
                Ok(ProbeGuard::none(Arc::clone(&self.state), r.provider))
            }
        }
    }

    /// A successful attempt: closes the circuit and feeds the statistics.
    pub(crate) async fn success(&self, r: RouteRef<'_>, latency: Duration, guard: &mut ProbeGuard) {
        guard.armed = false;
        let persist = {
            let mut state = self.lock();
            let p = state.providers.entry(r.provider).or_default();
            let was_open = p.circuit != Circuit::Closed || p.opens > 0;
            p.circuit = Circuit::Closed;
            p.opens = 0;
            p.consecutive_failures = 0;
            push_outcome(p, true);
            let ms = latency.as_secs_f64() * 1000.0;
            p.latency_ms_ewma = Some(match p.latency_ms_ewma {
                Some(old) => old + EWMA_ALPHA * (ms - old),
                None => ms,
            });
            was_open.then(|| stored_provider(p))
        };
        if let Some(stored) = persist {
            self.put_json(&provider_key(r.provider), &stored, None)
                .await;
        }
    }

    /// A failed attempt. `circuit` says whether it counts toward opening the circuit
    /// (transient kinds), `counted` whether it lowers the success rate. Returns true
    /// when the circuit is open now.
    pub(crate) async fn failure(
        &self,
        r: RouteRef<'_>,
        summary: &str,
        counted: bool,
        circuit: bool,
        guard: &mut ProbeGuard,
    ) -> bool {
        let now = self.clock.now();
        let probing = std::mem::replace(&mut guard.armed, false);
        let (open, persist) = {
            let mut state = self.lock();
            let p = state.providers.entry(r.provider).or_default();
            p.last_error = Some(summary.to_owned());
            p.last_error_at = Some(now);
            if counted {
                push_outcome(p, false);
            }
            let mut opened = false;
            if circuit {
                p.consecutive_failures += 1;
                let threshold_hit = p.consecutive_failures >= self.settings.circuit_failures;
                if probing || (threshold_hit && p.circuit == Circuit::Closed) {
                    let factor = 2_u32.saturating_pow(p.opens.min(16));
                    let cooldown = self
                        .settings
                        .cooldown
                        .saturating_mul(factor)
                        .min(self.settings.max_cooldown);
                    p.circuit = Circuit::Open {
                        until: now
                            + chrono::Duration::from_std(cooldown)
                                .unwrap_or(chrono::TimeDelta::MAX),
                    };
                    p.opens = p.opens.saturating_add(1);
                    opened = true;
                }
            } else if probing && p.circuit == (Circuit::HalfOpen { probing: true }) {
                // Not a verdict on the provider's health (e.g. a rate limit): let the next
                // request try again.
                p.circuit = Circuit::HalfOpen { probing: false };
            }
            let open = matches!(p.circuit, Circuit::Open { until } if until > now);
            (open, Some(stored_provider(p)).filter(|_| opened || counted))
        };
        if let Some(stored) = persist {
            self.put_json(&provider_key(r.provider), &stored, None)
                .await;
        }
        open
    }

    async fn update_route(&self, route_id: &str, f: impl FnOnce(&mut RouteHealth)) {
        let now = self.clock.now();
        let (value, ttl) = {
            let mut state = self.lock();
            let route = state.routes.entry(route_id.to_owned()).or_default();
            f(route);
            let latest = [
                route.rate_limited_until,
                route.exhausted_until,
                route.parked_until,
            ]
            .into_iter()
            .flatten()
            .max();
            // Keep the entry as long as its latest deadline; forever when it holds the
            // prefill flag.
            let ttl = if route.no_prefill {
                None
            } else {
                latest.and_then(|l| (l - now).to_std().ok())
            };
            (route.clone(), ttl)
        };
        self.put_json(&route_key(route_id), &value, ttl).await;
    }

    /// No call to this route before `until` (a short-window rate limit).
    pub(crate) async fn rate_limit(&self, route_id: &str, until: DateTime<Utc>) {
        self.update_route(route_id, |r| {
            r.rate_limited_until = r.rate_limited_until.max(Some(until));
        })
        .await;
    }

    /// The route's daily or monthly quota is spent until `until`.
    pub(crate) async fn exhaust(&self, route_id: &str, until: DateTime<Utc>) {
        self.update_route(route_id, |r| {
            r.exhausted_until = r.exhausted_until.max(Some(until));
        })
        .await;
    }

    /// The route's model is unavailable until `until`.
    pub(crate) async fn park(&self, route_id: &str, until: DateTime<Utc>) {
        self.update_route(route_id, |r| {
            r.parked_until = r.parked_until.max(Some(until));
        })
        .await;
    }

    /// The route rejected an assistant prefill; it is not asked to continue again.
    pub(crate) async fn mark_no_prefill(&self, route_id: &str) {
        self.update_route(route_id, |r| r.no_prefill = true).await;
    }

    pub(crate) fn supports_prefill(&self, route_id: &str) -> bool {
        !self
            .lock()
            .routes
            .get(route_id)
            .is_some_and(|r| r.no_prefill)
    }

    /// Disables every route of this key until the configuration changes.
    pub(crate) async fn disable_key(&self, key_id: &str, reason: Disabled) {
        let value = KeyHealth {
            disabled: Some(reason),
            since: Some(self.clock.now()),
        };
        self.lock().keys.insert(key_id.to_owned(), value.clone());
        self.put_json(&key_key(key_id), &value, None).await;
    }

    #[cfg(test)]
    pub(crate) fn route(&self, route_id: &str) -> RouteHealth {
        self.lock()
            .routes
            .get(route_id)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn provider(&self, id: &str) -> ProviderHealth {
        self.lock().providers.get(id).cloned().unwrap_or_default()
    }

    pub(crate) fn latency(&self, id: &str) -> Option<f64> {
        self.lock()
            .providers
            .get(id)
            .and_then(|p| p.latency_ms_ewma)
    }
}

fn push_outcome(p: &mut ProviderHealth, ok: bool) {
    p.outcomes.push_back(ok);
    while p.outcomes.len() > OUTCOME_WINDOW {
        p.outcomes.pop_front();
    }
}

fn stored_provider(p: &ProviderHealth) -> StoredProvider {
    StoredProvider {
        open_until: match p.circuit {
            Circuit::Open { until } => Some(until),
            Circuit::Closed | Circuit::HalfOpen { .. } => None,
        },
        opens: p.opens,
        last_error: p.last_error.clone(),
        last_error_at: p.last_error_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use crate::store::MemoryStore;

    fn health(clock: Arc<dyn Clock>, store: Arc<dyn StateStore>) -> Health {
        Health::new(
            store,
            clock,
            HealthSettings {
                circuit_failures: 2,
                cooldown: Duration::from_secs(5),
                max_cooldown: Duration::from_secs(12),
            },
        )
    }

    const R: RouteRef<'static> = RouteRef {
        provider: "p",
        key_id: "p@k",
        route_id: "p/m@k",
    };

    #[tokio::test(start_paused = true)]
    async fn circuit_grows_capped_and_persists() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(Utc::now()));
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
        let h = health(clock.clone(), store.clone());
        let mut g = h.admit(R).unwrap();
        assert!(!h.failure(R, "transient", true, true, &mut g).await);
        assert!(h.failure(R, "transient", true, true, &mut g).await);
        assert_eq!(h.admit(R).unwrap_err().reason, SkipReason::CircuitOpen);
        // A second process sees the open circuit.
        let h2 = health(clock.clone(), store.clone());
        h2.load(R).await.unwrap();
        assert_eq!(h2.peek(R).unwrap().reason, SkipReason::CircuitOpen);
        tokio::time::advance(Duration::from_secs(5)).await;
        let mut probe = h.admit(R).unwrap();
        assert_eq!(h.admit(R).unwrap_err().reason, SkipReason::Probing);
        // Failing the probe reopens for 10 s, then 12 s (capped).
        assert!(h.failure(R, "again", true, true, &mut probe).await);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(h.admit(R).is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut probe = h.admit(R).unwrap();
        h.failure(R, "again", true, true, &mut probe).await;
        tokio::time::advance(Duration::from_secs(12)).await;
        let mut probe = h.admit(R).unwrap();
        h.success(R, Duration::from_millis(100), &mut probe).await;
        assert!(h.admit(R).is_ok());
        assert_eq!(h.provider("p").circuit, Circuit::Closed);
        assert_eq!(h.provider("p").success_rate(), Some(0.2));
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_probe_is_released() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(Utc::now()));
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
        let h = health(clock, store);
        let mut g = h.admit(R).unwrap();
        h.failure(R, "x", true, true, &mut g).await;
        h.failure(R, "x", true, true, &mut g).await;
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(h.admit(R).unwrap());
        assert!(h.admit(R).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn key_and_route_state_persist() {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(Utc::now()));
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
        let h = health(clock.clone(), store.clone());
        h.disable_key("p@k", Disabled::BadKey).await;
        h.mark_no_prefill("p/m@k").await;
        let until = clock.now() + chrono::Duration::seconds(30);
        h.rate_limit("p/m@k", until).await;
        let h2 = health(clock.clone(), store);
        h2.load(R).await.unwrap();
        assert_eq!(
            h2.peek(R).unwrap().reason,
            SkipReason::KeyDisabled(Disabled::BadKey)
        );
        assert!(!h2.supports_prefill("p/m@k"));
        assert_eq!(h2.route("p/m@k").rate_limited_until, Some(until));
    }
}
