//! The quota and health report: the seed's `get_quota_status()` JSON, extended but never
//! renamed.
//!
//! ```json
//! {"total_providers": 5, "available_providers": 3, "failed_providers": ["gemini"],
//!  "quota_status": {"groq": {"calls_today": 1247, "max_daily": 14400,
//!                            "api_key_available": true, "available": true, "…": "…"}}}
//! ```
//!
//! Per-provider figures answer "how much can this provider still take today (this
//! minute, this month)?", over all its keys (each key is its own quota, so keys add up).
//! Within one key:
//! - a window limited **per model** sums the models' figures (Groq: three models of
//!   1,000 requests a day are `max_daily` 3,000), a bucket of models that share their
//!   windows counting once;
//! - a window with a **shared** limit (catalog `[shared]` or `[providers.<id>.shared]`)
//!   counts once for the key: its use is the key's shared counter (every model's calls,
//!   corrected by the provider's headers) and its maximum the shared limit, or the sum of
//!   the models' own limits when every model has one and that is smaller. OpenRouter's
//!   free tier (`[shared] rpd = 50`) shows `max_daily` 50 for one key, not 50 per model;
//!   Cohere's `max_per_minute` is 20 per model summed (its rpm is per model) while its
//!   `max_monthly` is the key's 1,000 trial calls.
//!
//! A limit that no model knows is `null`. `routes` gives each (provider, model, key) its
//! own figures, the key masked: its model's own windows (the bucket's, shared with the
//! other models naming `bucket`); the shared limits are in the provider's figures only,
//! though a full shared window makes every route of the key unavailable. A provider
//! without a key shows the figures one key would get.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::catalog::Limits;
use crate::error::Error;
use crate::health::{Circuit, Disabled, SkipReason};
use crate::ledger::{RouteUsage, WindowKind};
use crate::router::Inner;

/// Health state of a provider or route, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Can take requests.
    Healthy,
    /// A short-window limit is hit; back at `cooldown_until`.
    RateLimited,
    /// A daily or monthly quota is spent; back at `cooldown_until`.
    Exhausted,
    /// Parked after an error that is not the provider's health (e.g. model not found).
    CoolingDown,
    /// Repeated transient failures opened the circuit; a trial request after `cooldown_until`.
    CircuitOpen,
    /// The circuit's cooldown is over; the next request is the trial.
    HalfOpen,
    /// No API key is configured.
    DisabledNoKey,
    /// The key was rejected (unauthorized) and stays disabled until it changes.
    DisabledBadKey,
    /// The account needs billing (payment required).
    DisabledPaymentRequired,
    /// `enabled = false` in the settings.
    DisabledByConfig,
}

impl HealthState {
    /// The snake_case name used in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::RateLimited => "rate_limited",
            Self::Exhausted => "exhausted",
            Self::CoolingDown => "cooling_down",
            Self::CircuitOpen => "circuit_open",
            Self::HalfOpen => "half_open",
            Self::DisabledNoKey => "disabled_no_key",
            Self::DisabledBadKey => "disabled_bad_key",
            Self::DisabledPaymentRequired => "disabled_payment_required",
            Self::DisabledByConfig => "disabled_by_config",
        }
    }

    fn is_failed(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::CoolingDown
                | Self::CircuitOpen
                | Self::DisabledBadKey
                | Self::DisabledPaymentRequired
        )
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaStatus {
    /// Compiled-in providers.
    pub total_providers: usize,
    /// Providers that could take a request now.
    pub available_providers: usize,
    /// Providers cooling down, circuit-open or disabled by a bad key or billing.
    pub failed_providers: Vec<String>,
    /// Every compiled-in provider by id.
    pub quota_status: BTreeMap<String, ProviderStatus>,
}

/// One provider's figures over all its keys (see the [module docs](self) for how shared
/// and per-model limits add up).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderStatus {
    /// Requests counted today (in the provider's own day).
    pub calls_today: u64,
    /// The most requests the provider can take today: per key, a shared daily limit once,
    /// else the models' daily limits summed; keys added. `null` when unknown.
    pub max_daily: Option<u64>,
    /// Whether a key is configured.
    pub api_key_available: bool,
    /// Whether the provider could take a request now.
    pub available: bool,
    /// Health state.
    pub state: HealthState,
    /// Requests in the last 60 s as the ledger counts them: the current 10 s sub-bucket
    /// and the 6 before it, in full (never less than a rolling minute holds).
    pub calls_this_minute: u64,
    /// Per-minute request limit, counted like `max_daily`, when known.
    pub max_per_minute: Option<u64>,
    /// Tokens counted today.
    pub tokens_today: u64,
    /// Daily token limit, counted like `max_daily`, when known.
    pub max_tokens_daily: Option<u64>,
    /// Requests counted this month (UTC).
    pub calls_this_month: u64,
    /// Monthly request limit, counted like `max_daily`, when known.
    pub max_monthly: Option<u64>,
    /// When the daily window resets (RFC 3339).
    pub resets_at: Option<String>,
    /// When a cooling-down, exhausted or circuit-open provider is expected back.
    pub cooldown_until: Option<String>,
    /// The last error's summary (never a key).
    pub last_error: Option<String>,
    /// When the last error happened (RFC 3339).
    pub last_error_at: Option<String>,
    /// Latency EWMA of successful attempts, in milliseconds.
    pub latency_ms_ewma: Option<u64>,
    /// Share of successful attempts among the recent ones (transport-level outcomes).
    pub success_rate: Option<f64>,
    /// Priority; lower is tried first.
    pub priority: u32,
    /// The model a request would get now (the first available route's).
    pub model: Option<String>,
    /// The same figures per route.
    pub routes: Vec<RouteStatus>,
}

/// One route's figures: its model's own windows (its bucket's, when it names one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteStatus {
    /// Model id.
    pub model: String,
    /// The key, masked.
    pub key: String,
    /// The catalog's quota bucket: routes of one key naming it share these figures.
    pub bucket: Option<String>,
    /// Requests counted today.
    pub calls_today: u64,
    /// Daily request limit, when known.
    pub max_daily: Option<u64>,
    /// Requests in the last 60 s as the ledger counts them: the current 10 s sub-bucket
    /// and the 6 before it, in full (never less than a rolling minute holds).
    pub calls_this_minute: u64,
    /// Per-minute request limit, when known.
    pub max_per_minute: Option<u64>,
    /// Tokens counted today.
    pub tokens_today: u64,
    /// Daily token limit, when known.
    pub max_tokens_daily: Option<u64>,
    /// Requests counted this month (UTC).
    pub calls_this_month: u64,
    /// Monthly request limit, when known.
    pub max_monthly: Option<u64>,
    /// Whether the route could take a request now.
    pub available: bool,
    /// Health state.
    pub state: HealthState,
    /// When the daily window resets (RFC 3339).
    pub resets_at: String,
    /// When the route is expected back, if it is not available.
    pub cooldown_until: Option<String>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn sum(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (Some(a), None) => Some(a),
    })
}

/// The windows the per-provider figures report.
const REPORTED: [WindowKind; 4] = [
    WindowKind::RequestsDay,
    WindowKind::RequestsMinute,
    WindowKind::TokensDay,
    WindowKind::RequestsMonth,
];

/// One key's windows: its own windows once per quota id (a bucket counts once), and its
/// shared windows.
#[derive(Debug, Default)]
struct KeyWindows {
    own: Vec<(Limits, RouteUsage)>,
    shared: Limits,
    shared_usage: RouteUsage,
}

impl KeyWindows {
    /// (use, limit) of one window kind for this key.
    fn figure(&self, kind: WindowKind) -> (u64, Option<u64>) {
        let own_used = self.own.iter().map(|(_, u)| u.of(kind)).sum();
        let own_max = sum(self.own.iter().map(|(l, _)| kind.limit(l)));
        match kind.limit(&self.shared) {
            None => (own_used, own_max),
            Some(shared) => {
                let every_model_limited = self.own.iter().all(|(l, _)| kind.limit(l).is_some());
                let max = match own_max {
                    Some(own) if every_model_limited => shared.min(own),
                    _ => shared,
                };
                (self.shared_usage.of(kind), Some(max))
            }
        }
    }
}

/// Per-provider (use, limit) of each reported window, keys added up.
fn provider_figures(keys: &[KeyWindows]) -> [(u64, Option<u64>); 4] {
    REPORTED.map(|kind| {
        let figures: Vec<(u64, Option<u64>)> = keys.iter().map(|k| k.figure(kind)).collect();
        (
            figures.iter().map(|f| f.0).sum(),
            sum(figures.iter().map(|f| f.1)),
        )
    })
}

#[expect(clippy::too_many_lines, reason = "one report, field by field")]
pub(crate) async fn build(inner: &Inner) -> Result<QuotaStatus, Error> {
    let now = inner.clock.now();
    let mut quota_status = BTreeMap::new();
    let mut failed = Vec::new();
    let mut available_providers = 0;
    for entry in &inner.providers {
        let id = entry.id();
        let health = inner.health.provider(id);
        let resets_at = crate::ledger::Windows::at(now, entry.day).next_day;
        let mut routes = Vec::new();
        // Per key: its id, the quota ids already counted, and its windows.
        let mut keys: Vec<(&str, Vec<&str>, KeyWindows)> = Vec::new();
        for route in inner.routes.iter().filter(|r| r.provider == id) {
            let quota = route.quota();
            let limits = inner.ledger.limits(&quota);
            let usage = inner.ledger.usage(&quota).await?;
            if !keys.iter().any(|(k, _, _)| *k == route.key_id) {
                let shared = inner.ledger.shared_limits(&quota);
                let shared_usage = if shared.is_empty() {
                    RouteUsage::default()
                } else {
                    inner.ledger.shared_usage(&quota).await?
                };
                keys.push((
                    &route.key_id,
                    Vec::new(),
                    KeyWindows {
                        own: Vec::new(),
                        shared,
                        shared_usage,
                    },
                ));
            }
            if let Some((_, counted, windows)) =
                keys.iter_mut().find(|(k, _, _)| *k == route.key_id)
                && !counted.contains(&route.quota_id.as_str())
            {
                counted.push(&route.quota_id);
                windows.own.push((limits, usage));
            }
            let mut state = HealthState::Healthy;
            let mut until = None;
            if let Some(skip) = inner.health.peek(route.href()) {
                until = skip.until;
                state = match skip.reason {
                    SkipReason::KeyDisabled(Disabled::BadKey) => HealthState::DisabledBadKey,
                    SkipReason::KeyDisabled(Disabled::PaymentRequired) => {
                        HealthState::DisabledPaymentRequired
                    }
                    SkipReason::CircuitOpen => HealthState::CircuitOpen,
                    SkipReason::Probing => HealthState::HalfOpen,
                    SkipReason::RateLimited => HealthState::RateLimited,
                    SkipReason::Exhausted => HealthState::Exhausted,
                    SkipReason::Parked => HealthState::CoolingDown,
                };
            } else if let Some((window, end)) = inner.ledger.room(&quota).await? {
                until = Some(end);
                state = if window.is_quota() {
                    HealthState::Exhausted
                } else {
                    HealthState::RateLimited
                };
            } else if matches!(
                health.circuit,
                Circuit::Open { .. } | Circuit::HalfOpen { .. }
            ) {
                state = HealthState::HalfOpen;
            }
            routes.push(RouteStatus {
                model: route.model.clone(),
                key: route.key.clone(),
                bucket: route.bucket.clone(),
                calls_today: usage.calls_today,
                max_daily: limits.rpd,
                calls_this_minute: usage.calls_minute,
                max_per_minute: limits.rpm,
                tokens_today: usage.tokens_today,
                max_tokens_daily: limits.tpd,
                calls_this_month: usage.calls_month,
                max_monthly: limits.rpmonth,
                available: matches!(state, HealthState::Healthy | HealthState::HalfOpen),
                state,
                resets_at: rfc3339(resets_at),
                cooldown_until: until.map(rfc3339),
            });
        }
        let api_key_available = !entry.keys.is_empty();
        let mut keys: Vec<KeyWindows> = keys.into_iter().map(|(_, _, w)| w).collect();
        if !api_key_available {
            // What one key would get.
            let mut one = KeyWindows {
                shared: entry.shared_catalog.overridden_by(&entry.shared_explicit()),
                ..KeyWindows::default()
            };
            let mut buckets: Vec<&str> = Vec::new();
            for model in &entry.models {
                if let Some(bucket) = &model.bucket {
                    if buckets.contains(&bucket.as_str()) {
                        continue;
                    }
                    buckets.push(bucket);
                }
                let limits = model
                    .limits()
                    .overridden_by(&entry.explicit_limits(&model.id));
                one.own.push((limits, RouteUsage::default()));
            }
            keys.push(one);
        }
        let [daily, minute, tokens_daily, monthly] = provider_figures(&keys);
        let available = routes.iter().any(|r| r.available);
        let state = if !entry.enabled {
            HealthState::DisabledByConfig
        } else if !api_key_available {
            HealthState::DisabledNoKey
        } else if let Circuit::Open { until } = health.circuit
            && until > now
        {
            HealthState::CircuitOpen
        } else if available {
            routes
                .iter()
                .find(|r| r.available)
                .map_or(HealthState::Healthy, |r| r.state)
        } else {
            let states: Vec<HealthState> = routes.iter().map(|r| r.state).collect();
            [
                HealthState::RateLimited,
                HealthState::CoolingDown,
                HealthState::Exhausted,
                HealthState::DisabledPaymentRequired,
                HealthState::DisabledBadKey,
                HealthState::CircuitOpen,
                HealthState::HalfOpen,
            ]
            .into_iter()
            .find(|s| states.contains(s))
            .unwrap_or(HealthState::Healthy)
        };
        let cooldown_until = match health.circuit {
            Circuit::Open { until } if until > now => Some(until),
            Circuit::Open { .. } | Circuit::HalfOpen { .. } | Circuit::Closed => None,
        }
        .or_else(|| {
            if available {
                None
            } else {
                inner
                    .routes
                    .iter()
                    .filter(|r| r.provider == id)
                    .filter_map(|r| inner.health.peek(r.href()).and_then(|s| s.until))
                    .chain(routes.iter().filter_map(|r| {
                        r.cooldown_until
                            .as_deref()
                            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                            .map(|t| t.to_utc())
                    }))
                    .min()
            }
        });
        let model = routes
            .iter()
            .find(|r| r.available)
            .or(routes.first())
            .map(|r| r.model.clone())
            .or_else(|| entry.models.first().map(|m| m.id.clone()));
        if available {
            available_providers += 1;
        }
        if state.is_failed() {
            failed.push(id.to_owned());
        }
        quota_status.insert(
            id.to_owned(),
            ProviderStatus {
                calls_today: daily.0,
                max_daily: daily.1,
                api_key_available,
                available,
                state,
                calls_this_minute: minute.0,
                max_per_minute: minute.1,
                tokens_today: tokens_daily.0,
                max_tokens_daily: tokens_daily.1,
                calls_this_month: monthly.0,
                max_monthly: monthly.1,
                resets_at: Some(rfc3339(resets_at)),
                cooldown_until: cooldown_until.map(rfc3339),
                last_error: health.last_error.clone(),
                last_error_at: health.last_error_at.map(rfc3339),
                latency_ms_ewma: health.latency_ms_ewma.map(|ms| {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "a latency in milliseconds is positive and small"
                    )]
                    let ms = ms.round().max(0.0) as u64;
                    ms
                }),
                success_rate: health.success_rate().map(|r| (r * 1000.0).round() / 1000.0),
                priority: entry.priority,
                model,
                routes,
            },
        );
    }
    Ok(QuotaStatus {
        total_providers: inner.providers.len(),
        available_providers,
        failed_providers: failed,
        quota_status,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_names_match_their_json() {
        use super::HealthState as S;
        for s in [
            S::Healthy,
            S::RateLimited,
            S::Exhausted,
            S::CoolingDown,
            S::CircuitOpen,
            S::HalfOpen,
            S::DisabledNoKey,
            S::DisabledBadKey,
            S::DisabledPaymentRequired,
            S::DisabledByConfig,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    use std::time::Duration;

    use crate::error::ErrorKind;
    use crate::router::tests::{harness, req, settings};
    use crate::testkit::Reply;
    use crate::types::Usage;

    #[tokio::test(start_paused = true)]
    async fn quota_status_mix() {
        let mut s = settings();
        s.retry_attempts = 0;
        s.circuit_failures = 1;
        let groq = s.providers.entry("groq".into()).or_default();
        groq.rpd = Some(1000);
        groq.rpm = Some(30);
        groq.tpd = Some(200_000);
        s.providers.entry("gemini".into()).or_default().rpd = Some(500);
        let h = harness(&s, &["groq", "cerebras", "gemini", "cohere"]);
        h.fake("groq").push(
            Reply::text("a")
                .usage(Usage::new(100, 20))
                .delay(Duration::from_millis(120)),
        );
        h.fake("groq").push(
            Reply::text("b")
                .usage(Usage::new(50, 10))
                .delay(Duration::from_millis(220)),
        );
        h.router.chat(req()).await.unwrap();
        h.router.chat(req()).await.unwrap();
        h.fake("cerebras")
            .push(Reply::error(ErrorKind::Transient { status: Some(503) }));
        h.router
            .chat(req().with_model("cerebras"))
            .await
            .unwrap_err();
        h.fake("gemini")
            .push(Reply::error(ErrorKind::QuotaExhausted { until: None }));
        h.router.chat(req().with_model("gemini")).await.unwrap_err();
        h.fake("cohere").push(Reply::error(ErrorKind::Unauthorized));
        h.router.chat(req().with_model("cohere")).await.unwrap_err();
        tokio::time::advance(Duration::from_secs(2)).await;

        let status = h.router.quota_status().await.unwrap();
        assert_eq!(status.total_providers, 5);
        assert_eq!(status.available_providers, 1);
        let json = serde_json::to_string(&status).unwrap();
        crate::testkit::assert_no_key(&json);
        assert!(!json.contains("test-key"), "{json}");
        insta::assert_json_snapshot!(status);
    }
}
