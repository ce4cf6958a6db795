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
//! Pacing limits (`rps`, `max_in_flight`) appear only where set, as fields that are
//! otherwise absent: per route its model's own and its key's, per provider the sum over
//! keys counted like the other figures. Requests in flight are this gateway process's.
//!
//! The router fills these types (`router/status.rs`). A limit that no model knows is `null`. `routes` gives each (provider, model, key) its
//! own figures, the key masked: its model's own windows (the bucket's, shared with the
//! other models naming `bucket`); the shared limits are in the provider's figures only,
//! though a full shared window makes every route of the key unavailable. A provider
//! without a key shows the figures one key would get.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::Capabilities;

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

    pub(crate) fn is_failed(self) -> bool {
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
    /// Requests per second the provider can take, counted like `max_daily` (per key the
    /// shared `rps` once, else the models' summed); absent when no `rps` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<u64>,
    /// Requests the provider may have in flight at once, counted like `max_daily`;
    /// absent when no `max_in_flight` is set. Counted per gateway process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    /// Requests in flight now under those limits (this gateway process); absent when no
    /// `max_in_flight` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    /// The same figures per route.
    pub routes: Vec<RouteStatus>,
    /// Why the provider is off, when it is: no key (and the variable that gives one),
    /// disabled in config, or a keyless provider the user has not opted in to (and the
    /// setting that does); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
    /// What the route's model can do (`null` where unknown).
    pub capabilities: Capabilities,
    /// The model's own requests-per-second limit (per key), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<u64>,
    /// The model's own limit of requests in flight (per key; its bucket's), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    /// Requests in flight now under the model's own limit (this gateway process), when
    /// one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    /// The key's requests-per-second limit (all its models together), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_max_per_second: Option<u64>,
    /// The key's limit of requests in flight (all its models together), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_max_in_flight: Option<u64>,
    /// Requests in flight now on the key (this gateway process), when it has a limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_in_flight: Option<u64>,
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
}
