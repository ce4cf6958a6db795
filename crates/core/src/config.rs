//! `Settings`: the complete schema of `llmpool.toml`.
//!
//! Every key has a default, so an empty file (or none) is a valid configuration. Unknown
//! keys are errors. Keys are documented on the fields; the names are part of the contract
//! (users and their scripts write them).
//!
//! ```toml
//! strategy = "least_used"
//! retry_attempts = 2
//! deadline_secs = 60
//!
//! [providers.groq]
//! priority = 1
//! models = ["openai/gpt-oss-120b", "openai/gpt-oss-20b"]
//! rpd = 1000
//!
//! [providers.gemini.model_limits."gemini-3.1-flash-lite"]
//! rpd = 500
//!
//! [providers.openrouter.shared]   # limits of one key across all its models together
//! rpd = 1000
//!
//! [providers.groq.model_capabilities."openai/gpt-oss-20b"]   # over the catalog's facts
//! json_schema = false
//! context_window = 65536
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalog::Limits;
use crate::error::ConfigError;
use crate::provider::Registry;

/// How the router orders the routes it may try.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Always the best available route by provider priority (the seed's behaviour).
    #[default]
    Priority,
    /// Providers in turn, weighted by their `weight`.
    RoundRobin,
    /// The route with the most remaining daily quota (as a fraction of its limit) first.
    LeastUsed,
    /// The lowest latency EWMA among healthy routes, with power-of-two-choices.
    Latency,
}

impl Strategy {
    /// The snake_case name used in config and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::RoundRobin => "round_robin",
            Self::LeastUsed => "least_used",
            Self::Latency => "latency",
        }
    }
}

/// The whole of `llmpool.toml`. Every field has a default.
///
/// # Limits
///
/// Each key of a provider is its own quota. Per provider (`[providers.<id>]`):
/// - `rpm`, `rpd`, `tpm`, `tpd`, `rpmonth` set the limits of **each model** of the provider
///   (three models of `rpd = 1000` may take 3,000 requests a day); so do the pacing limits
///   `rps` (requests per second, a rolling second) and `max_in_flight` (requests in flight
///   at once, counted per gateway process);
/// - `[providers.<id>.model_limits."<model>"]`, with the same keys, sets one model's limits
///   over those. Models that the catalog puts in one quota `bucket` (they share one set of
///   windows upstream, like Gemini's `gemini-3.5-flash` and `gemini-3-flash-preview`) must
///   end up with the same limits, or the configuration is refused naming both;
/// - `[providers.<id>.shared]`, with the same keys, sets the limits of **all models of a
///   key together** (OpenRouter's free requests per account, Cohere's trial calls per
///   month), over the catalog's `[shared]` table. A request must fit both its model's
///   windows and the shared ones.
///
/// For a window the provider's catalog declares shared, the provider-level key sets the
/// shared limit too, because that is the limit it has always meant there: with OpenRouter,
/// `rpd = 1000` (an account that bought $10 of credits) raises the account's 50 free
/// requests a day to 1,000, not each model's. `[providers.<id>.shared]` wins over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Route ordering: `priority` (default), `round_robin`, `least_used`, `latency`.
    pub strategy: Strategy,
    /// Extra tries of the same route after a transient failure (default 2).
    pub retry_attempts: u32,
    /// Timeout of one attempt, in seconds (default 30). For streams it bounds the wait
    /// for the first token together with `ttft_timeout_secs`.
    pub timeout_secs: u64,
    /// Overall deadline of one request across all attempts, in seconds (default 60).
    pub deadline_secs: u64,
    /// TCP/TLS connect timeout handed to provider clients, in seconds (default 5).
    pub connect_timeout_secs: u64,
    /// Longest wait for the first token of a stream, in seconds (default 10).
    pub ttft_timeout_secs: u64,
    /// Longest silence between two stream chunks, in seconds (default 10).
    pub stall_timeout_secs: u64,
    /// A rate limit whose retry-after is at most this many seconds is waited out on the
    /// same route (default 5).
    pub max_retry_wait_secs: u64,
    /// First cooldown of an open circuit, in seconds (default 5); doubles each time the
    /// circuit opens again, up to `max_cooldown_secs`.
    pub cooldown_secs: u64,
    /// Longest circuit cooldown, in seconds (default 20). The circuit only opens on
    /// transient failures (5xx, timeouts, refused connections), whose end is unknown: a
    /// short cap keeps one trial request every 20 s at most apart, so a recovered provider
    /// is back in use within 30 s at one request every 5 s or more (cooldown + the gap to
    /// the next request + its trial). What has a known end (a rate limit's retry-after, a
    /// spent quota's reset, a rejected key) is parked per route or key, not here. A value
    /// below `cooldown_secs` (e.g. `cooldown_secs = 60` and this left at its default) means
    /// the cooldown does not grow: every cooldown is `cooldown_secs`.
    pub max_cooldown_secs: u64,
    /// Consecutive transient failures of a provider that open its circuit (default 3).
    pub circuit_failures: u32,
    /// Route a content-policy refusal to the next provider instead of returning it
    /// (default false: a refusal is the caller's answer).
    pub content_filter_fallback: bool,
    /// An explicit ordered chain of `provider/model` routes; when set, only these routes
    /// are used for automatic routing, in this order, whatever the strategy.
    pub routes: Option<Vec<String>>,
    /// Conversation turns kept per user (default 20).
    pub history_turns: usize,
    /// Default target language of translations (default `English`).
    pub target_language: String,
    /// State store: `sqlite:PATH` (default `sqlite:./llmpool.db`), `redis://…` or `memory`.
    pub store: String,
    /// Largest request body the gateway accepts, in bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// Client model names mapped to `auto`, a provider id, or `provider/model`.
    pub aliases: BTreeMap<String, String>,
    /// Per provider settings, keyed by provider id.
    pub providers: BTreeMap<String, ProviderSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            strategy: Strategy::Priority,
            retry_attempts: 2,
            timeout_secs: 30,
            deadline_secs: 60,
            connect_timeout_secs: 5,
            ttft_timeout_secs: 10,
            stall_timeout_secs: 10,
            max_retry_wait_secs: 5,
            cooldown_secs: 5,
            max_cooldown_secs: 20,
            circuit_failures: 3,
            content_filter_fallback: false,
            routes: None,
            history_turns: 20,
            target_language: "English".to_owned(),
            store: "sqlite:./llmpool.db".to_owned(),
            max_body_bytes: 1024 * 1024,
            aliases: BTreeMap::new(),
            providers: BTreeMap::new(),
        }
    }
}

/// `[providers.<id>]`: one provider's settings. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderSettings {
    /// Whether the provider is used at all. Unset means on, except for a keyless provider
    /// (OVHcloud's anonymous lane, Kilo's free models), which is used only when this is
    /// written `true`: see [`ProviderSettings::explicitly_enabled`].
    pub enabled: Option<bool>,
    /// Priority; lower is tried first. Default: the provider's own default.
    pub priority: Option<u32>,
    /// Weight for `round_robin` (default 1, must be positive).
    pub weight: u32,
    /// Model ids to use, in order; default: the provider's catalog. Ids the catalog does
    /// not know are used without known limits.
    pub models: Option<Vec<String>>,
    /// Requests per minute, for each model of the provider.
    pub rpm: Option<u64>,
    /// Requests per day, for each model of the provider.
    pub rpd: Option<u64>,
    /// Tokens per minute, for each model of the provider.
    pub tpm: Option<u64>,
    /// Tokens per day, for each model of the provider.
    pub tpd: Option<u64>,
    /// Requests per calendar month, for each model of the provider.
    pub rpmonth: Option<u64>,
    /// Requests per second, for each model of the provider (for the whole key where the
    /// catalog's `[shared]` sets `rps`, as Mistral's does).
    pub rps: Option<u64>,
    /// Requests in flight at once, for each model of the provider (for the whole key
    /// where the catalog's `[shared]` sets it, as Ollama Cloud's does); counted per
    /// gateway process.
    pub max_in_flight: Option<u64>,
    /// Limits for one model (`[providers.<id>.model_limits."<model>"]`), over the above.
    pub model_limits: BTreeMap<String, Limits>,
    /// Limits of one key across all the provider's models together
    /// (`[providers.<id>.shared]`), over the catalog's `[shared]` table.
    pub shared: Limits,
    /// What one model can do (`[providers.<id>.model_capabilities."<model>"]`), over its
    /// catalog entry: the router only sends a request to a model that can serve it.
    pub model_capabilities: BTreeMap<String, CapabilityOverride>,
    /// Base URL override (the `<PROVIDER>_BASE_URL` env variable wins over it).
    pub base_url: Option<String>,
    /// Whether this provider's models continue an assistant prefill; default: the catalog.
    pub prefill: Option<bool>,
    /// Whether a client may pin a model that neither the catalog nor `models` lists
    /// (`<id>/<model>`): served as a one-off route, at most
    /// [`ONE_OFF_ROUTES_PER_PROVIDER`](crate::router::ONE_OFF_ROUTES_PER_PROVIDER) kept at
    /// a time. Default false: such a request is refused (404) naming the known models.
    pub allow_unknown_models: bool,
    /// `kind = "openai"` defines a provider from this table alone (any OpenAI-compatible
    /// endpoint: another hosted free tier, a local model server); unset for a compiled-in
    /// provider. Such a provider needs `base_url` and `models`.
    pub kind: Option<String>,
    /// For a `kind = "openai"` provider: the variable holding its key (comma-separated for
    /// several). Unset: the endpoint takes no key (a local server), and no
    /// `Authorization` header is sent.
    pub api_key_env: Option<String>,
    /// For a `kind = "openai"` provider: the context window of each of its models, in
    /// tokens, when known.
    pub context_window: Option<u64>,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            enabled: None,
            priority: None,
            weight: 1,
            models: None,
            rpm: None,
            rpd: None,
            tpm: None,
            tpd: None,
            rpmonth: None,
            rps: None,
            max_in_flight: None,
            model_limits: BTreeMap::new(),
            shared: Limits::default(),
            model_capabilities: BTreeMap::new(),
            base_url: None,
            prefill: None,
            allow_unknown_models: false,
            kind: None,
            api_key_env: None,
            context_window: None,
        }
    }
}

impl ProviderSettings {
    /// Whether the provider is on: `enabled` as written, on when unset.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// Whether the user wrote `enabled = true`: the opt-in a keyless provider needs.
    pub fn explicitly_enabled(&self) -> bool {
        self.enabled == Some(true)
    }

    /// The provider-level limits (`rpm`, `rpd`, …), applying to each model.
    pub fn limits(&self) -> Limits {
        Limits {
            rpm: self.rpm,
            rpd: self.rpd,
            tpm: self.tpm,
            tpd: self.tpd,
            rpmonth: self.rpmonth,
            rps: self.rps,
            max_in_flight: self.max_in_flight,
        }
    }

    /// The explicit limits of `model`: provider level, then its `model_limits` table.
    pub fn limits_for(&self, model: &str) -> Limits {
        let base = self.limits();
        match self.model_limits.get(model) {
            Some(over) => base.overridden_by(over),
            None => base,
        }
    }

    /// The capability override of `model`, if the settings have one.
    pub fn capabilities_for(&self, model: &str) -> Option<&CapabilityOverride> {
        self.model_capabilities.get(model)
    }

    /// The explicit limits shared by all models of one key: the `shared` table, and for
    /// each window the catalog shares (`catalog_shared` has a value), the provider-level
    /// key (see [`Settings`], "Limits").
    pub fn shared_limits(&self, catalog_shared: &Limits) -> Limits {
        let level = self.limits();
        let pick = |explicit: Option<u64>, catalog: Option<u64>, level: Option<u64>| {
            explicit.or(catalog.and(level))
        };
        Limits {
            rpm: pick(self.shared.rpm, catalog_shared.rpm, level.rpm),
            rpd: pick(self.shared.rpd, catalog_shared.rpd, level.rpd),
            tpm: pick(self.shared.tpm, catalog_shared.tpm, level.tpm),
            tpd: pick(self.shared.tpd, catalog_shared.tpd, level.tpd),
            rpmonth: pick(self.shared.rpmonth, catalog_shared.rpmonth, level.rpmonth),
            rps: pick(self.shared.rps, catalog_shared.rps, level.rps),
            max_in_flight: pick(
                self.shared.max_in_flight,
                catalog_shared.max_in_flight,
                level.max_in_flight,
            ),
        }
    }
}

/// `[providers.<id>.model_capabilities."<model>"]`: what one model can do, over its catalog
/// entry. A field left out keeps the catalog's value; for a model no catalog describes (a
/// model of a `kind = "openai"` provider, or one the catalog does not list) it stays
/// unknown, and the router lets the upstream decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityOverride {
    /// The model calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    /// The model answers in JSON matching a schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<bool>,
    /// The model answers with a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_object: Option<bool>,
    /// The model reads images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<bool>,
    /// The model takes a reasoning effort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    /// Context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Most tokens one answer may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
}

impl CapabilityOverride {
    /// `model` with the fields this override sets replaced.
    pub fn apply(&self, model: &mut crate::catalog::ModelInfo) {
        let set = |field: &mut bool, value: Option<bool>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut model.tools, self.tools);
        set(&mut model.json_schema, self.json_schema);
        set(&mut model.json_object, self.json_object);
        set(&mut model.vision, self.vision);
        set(&mut model.reasoning, self.reasoning);
        if self.context_window.is_some() {
            model.context_window = self.context_window;
        }
        if self.max_output_tokens.is_some() {
            model.max_output_tokens = self.max_output_tokens;
        }
    }

    /// The yes/no capabilities this override states, as capability bits.
    pub(crate) fn stated(&self) -> u8 {
        use crate::types::flag;
        let mut bits = 0;
        for (value, bit) in [
            (self.tools, flag::TOOLS),
            (self.json_schema, flag::JSON_SCHEMA),
            (self.json_object, flag::JSON_OBJECT),
            (self.vision, flag::VISION),
            (self.reasoning, flag::REASONING),
        ] {
            if value.is_some() {
                bits |= bit;
            }
        }
        bits
    }
}

/// The checks of a provider's `kind`, `api_key_env` and `context_window`: on error, the
/// key's suffix under `providers.<id>` and the reason.
fn check_kind(id: &str, p: &ProviderSettings) -> Result<(), (&'static str, String)> {
    let Some(kind) = &p.kind else {
        if p.api_key_env.is_some() {
            return Err((".api_key_env", "only a `kind = \"openai\"` provider names its key variable (a compiled-in provider reads its own)".to_owned()));
        }
        if p.context_window.is_some() {
            return Err((".context_window", "only a `kind = \"openai\"` provider sets it (a compiled-in provider's catalog gives it)".to_owned()));
        }
        return Ok(());
    };
    if kind != "openai" {
        return Err((
            ".kind",
            format!(
                "`{kind}` is not a provider kind; the only kind is `openai` (an OpenAI-compatible endpoint)"
            ),
        ));
    }
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err((
            "",
            format!("`{id}` is not a provider name: use lower-case letters, digits and `-`"),
        ));
    }
    if p.base_url.is_none() {
        return Err((".base_url", "a `kind = \"openai\"` provider needs its base URL, with the version prefix (e.g. http://127.0.0.1:11434/v1)".to_owned()));
    }
    if p.models.is_none() {
        return Err((
            ".models",
            "a `kind = \"openai\"` provider needs its list of model ids".to_owned(),
        ));
    }
    if let Some(env) = &p.api_key_env
        && (env.is_empty()
            || !env
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
    {
        return Err((
            ".api_key_env",
            format!("`{env}` is not a variable name: use upper-case letters, digits and `_`"),
        ));
    }
    if p.context_window == Some(0) {
        return Err((".context_window", "must be at least 1 token".to_owned()));
    }
    Ok(())
}

/// The longest duration setting (one year): any more is a typo, and would overflow clocks.
const MAX_SECS: u64 = 365 * 24 * 3600;

/// A TOML error as a [`ConfigError`]: the key is `path` (where the deserializer was,
/// dotted, an unknown field included), or for a syntax error the key its message names
/// in backticks; the reason ends with the line.
fn toml_error(origin: &str, text: &str, e: &toml::de::Error, path: String) -> ConfigError {
    let message = e.message().trim();
    let key = if path.is_empty() {
        message
            .split('`')
            .nth(1)
            // An empty name (`"" = 1`) is no key to point at: name the file instead.
            .filter(|k| !k.trim().is_empty())
            .unwrap_or("llmpool.toml")
            .to_owned()
    } else {
        path
    };
    let line = e.span().map(|span| {
        text.get(..span.start)
            .map_or(0, |before| before.matches('\n').count() + 1)
    });
    let reason = match line {
        Some(line) => format!("{message} (line {line})"),
        None => message.to_owned(),
    };
    ConfigError::new(origin, key, reason)
}

/// A target written as `provider/model` (split at the first `/`).
pub(crate) fn split_route(text: &str) -> Option<(&str, &str)> {
    let (provider, model) = text.split_once('/')?;
    (!provider.is_empty() && !model.is_empty()).then_some((provider, model))
}

impl Settings {
    /// Parses `llmpool.toml` text; `origin` names the file in errors, which also name the
    /// key by its full path (`providers.groq.rpm`) and the line.
    pub fn from_toml(origin: &str, text: &str) -> Result<Self, ConfigError> {
        let parsed = toml::Deserializer::parse(text)
            .map_err(|e| toml_error(origin, text, &e, String::new()))?;
        serde_path_to_error::deserialize(parsed).map_err(|e| {
            let path = e.path().to_string();
            // An empty last segment (`"" = 1`) is no key to point at.
            let path = if path.ends_with('.') {
                String::new()
            } else {
                path
            };
            toml_error(origin, text, e.inner(), path)
        })
    }

    /// Checks what serde cannot: provider ids, weights, timeouts, routes and aliases.
    #[expect(clippy::too_many_lines, reason = "a flat list of independent checks")]
    pub fn validate(&self, registry: &Registry, origin: &str) -> Result<(), ConfigError> {
        let err = |key: &str, reason: String| Err(ConfigError::new(origin, key, reason));
        let known = registry.ids().join(", ");
        for (id, p) in &self.providers {
            if let Err((key, reason)) = check_kind(id, p) {
                return err(&format!("providers.{id}{key}"), reason);
            }
            if registry.get(id).is_none() {
                return err(
                    &format!("providers.{id}"),
                    format!("unknown provider id `{id}`; compiled-in providers are {known}"),
                );
            }
            if p.weight == 0 {
                return err(
                    &format!("providers.{id}.weight"),
                    "weight must be at least 1 (disable a provider with `enabled = false`)"
                        .to_owned(),
                );
            }
            if let Some(models) = &p.models {
                if models.is_empty() {
                    return err(
                        &format!("providers.{id}.models"),
                        "the model list is empty (disable a provider with `enabled = false`)"
                            .to_owned(),
                    );
                }
                let mut seen = std::collections::HashSet::new();
                for m in models {
                    if m.trim().is_empty() || !seen.insert(m.as_str()) {
                        return err(
                            &format!("providers.{id}.models"),
                            format!("model `{m}` is empty or listed twice"),
                        );
                    }
                }
            }
            if let Some(factory) = registry.get(id) {
                let catalog = factory.model_catalog()?;
                let catalog = match &p.models {
                    Some(models) => catalog.select(models),
                    None => catalog,
                };
                let effective = catalog
                    .models
                    .iter()
                    .map(|m| (m, m.limits().overridden_by(&p.limits_for(&m.id))));
                if let Err(reason) = crate::catalog::check_buckets(effective) {
                    return err(&format!("providers.{id}.model_limits"), reason);
                }
            }
            let in_flight = std::iter::once((String::new(), p.max_in_flight))
                .chain(std::iter::once((
                    ".shared".to_owned(),
                    p.shared.max_in_flight,
                )))
                .chain(
                    p.model_limits
                        .iter()
                        .map(|(model, l)| (format!(".model_limits.\"{model}\""), l.max_in_flight)),
                );
            for (place, value) in in_flight {
                if value == Some(0) {
                    return err(
                        &format!("providers.{id}{place}.max_in_flight"),
                        crate::catalog::IN_FLIGHT_ZERO.to_owned(),
                    );
                }
            }
            for (model, caps) in &p.model_capabilities {
                for (key, value) in [
                    ("context_window", caps.context_window),
                    ("max_output_tokens", caps.max_output_tokens),
                ] {
                    if value == Some(0) {
                        return err(
                            &format!("providers.{id}.model_capabilities.\"{model}\".{key}"),
                            "must be at least 1 token".to_owned(),
                        );
                    }
                }
            }
            if let Some(url) = &p.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return err(
                    &format!("providers.{id}.base_url"),
                    format!("`{url}` is not an http(s) URL"),
                );
            }
        }
        for (key, value) in [
            ("timeout_secs", self.timeout_secs),
            ("deadline_secs", self.deadline_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("ttft_timeout_secs", self.ttft_timeout_secs),
            ("stall_timeout_secs", self.stall_timeout_secs),
            ("cooldown_secs", self.cooldown_secs),
        ] {
            if value == 0 {
                return err(key, "must be at least 1 second".to_owned());
            }
        }
        // Durations are added to clock readings; past any clock's range that would panic.
        for (key, value) in [
            ("timeout_secs", self.timeout_secs),
            ("deadline_secs", self.deadline_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("ttft_timeout_secs", self.ttft_timeout_secs),
            ("stall_timeout_secs", self.stall_timeout_secs),
            ("cooldown_secs", self.cooldown_secs),
            ("max_cooldown_secs", self.max_cooldown_secs),
            ("max_retry_wait_secs", self.max_retry_wait_secs),
        ] {
            if value > MAX_SECS {
                return err(
                    key,
                    format!("{value} s is too long; at most {MAX_SECS} s (one year)"),
                );
            }
        }
        if self.deadline_secs < self.timeout_secs {
            return err(
                "deadline_secs",
                format!(
                    "the overall deadline ({} s) is shorter than one attempt's timeout_secs ({} s)",
                    self.deadline_secs, self.timeout_secs
                ),
            );
        }
        if self.circuit_failures == 0 {
            return err("circuit_failures", "must be at least 1".to_owned());
        }
        if self.history_turns == 0 {
            return err("history_turns", "must be at least 1".to_owned());
        }
        if self.max_body_bytes < 1024 {
            return err("max_body_bytes", "must be at least 1024".to_owned());
        }
        if !(self.store == "memory"
            || self.store.starts_with("sqlite:")
            || self.store.starts_with("redis://")
            || self.store.starts_with("rediss://"))
        {
            return err(
                "store",
                format!(
                    "`{}` is not `sqlite:PATH`, `redis://…` or `memory`",
                    self.store
                ),
            );
        }
        if let Some(routes) = &self.routes {
            if routes.is_empty() {
                return err("routes", "the route chain is empty".to_owned());
            }
            for r in routes {
                match split_route(r) {
                    Some((provider, _)) if registry.get(provider).is_some() => {}
                    Some((provider, _)) => {
                        return err(
                            "routes",
                            format!("`{r}` names unknown provider `{provider}`; known: {known}"),
                        );
                    }
                    None => {
                        return err("routes", format!("`{r}` is not `provider/model`"));
                    }
                }
            }
        }
        for (alias, target) in &self.aliases {
            let ok = target == "auto"
                || registry.get(target).is_some()
                || split_route(target).is_some_and(|(p, _)| registry.get(p).is_some());
            if !ok {
                return err(
                    &format!("aliases.{alias}"),
                    format!(
                        "`{target}` is not `auto`, a provider id ({known}) or `provider/model`"
                    ),
                );
            }
        }
        Ok(())
    }

    /// The settings of provider `id` (defaults when it has no table).
    pub fn provider(&self, id: &str) -> ProviderSettings {
        self.providers.get(id).cloned().unwrap_or_default()
    }

    /// `timeout_secs` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// `deadline_secs` as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_secs)
    }

    /// `connect_timeout_secs` as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::provider::{Provider, ProviderConfig, ProviderFactory};

    fn no_build(_: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
        Err(ConfigError::new("t", "t", "t"))
    }

    static G: ProviderFactory = ProviderFactory {
        id: "groq",
        display_name: "G",
        key_env: "GROQ_API_KEY",
        base_url_env: "GROQ_BASE_URL",
        default_base_url: "http://127.0.0.1:1/v1",
        default_model: "m",
        catalog: "[[models]]\nid = \"m\"\n",
        default_priority: 1,
        docs_url: "",
        build: no_build,
    };

    static O: ProviderFactory = ProviderFactory {
        id: "openrouter",
        display_name: "O",
        key_env: "OPENROUTER_API_KEY",
        base_url_env: "OPENROUTER_BASE_URL",
        default_base_url: "http://127.0.0.1:1/v1",
        default_model: "a",
        catalog: "[shared]\nrpm = 20\nrpd = 50\n\
                  [[models]]\nid = \"a\"\nbucket = \"ab\"\nrpd = 20\n\
                  [[models]]\nid = \"b\"\nbucket = \"ab\"\nrpd = 20\n\
                  [[models]]\nid = \"c\"\n",
        default_priority: 2,
        docs_url: "",
        build: no_build,
    };

    fn registry() -> Registry {
        Registry::new(vec![&G, &O]).unwrap()
    }

    #[test]
    fn empty_file_gives_defaults() {
        let s = Settings::from_toml("llmpool.toml", "").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.strategy, Strategy::Priority);
        assert_eq!(s.retry_attempts, 2);
        assert_eq!(s.store, "sqlite:./llmpool.db");
        s.validate(&registry(), "llmpool.toml").unwrap();
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
strategy = "least_used"
retry_attempts = 1
routes = ["groq/openai/gpt-oss-120b"]
[aliases]
"gpt-4o" = "auto"
fast = "groq"
[providers.groq]
priority = 3
weight = 2
models = ["openai/gpt-oss-120b"]
rpd = 1000
prefill = true
[providers.groq.model_limits."openai/gpt-oss-120b"]
rpd = 500
"#;
        let s = Settings::from_toml("llmpool.toml", text).unwrap();
        s.validate(&registry(), "llmpool.toml").unwrap();
        let g = s.provider("groq");
        assert_eq!(g.limits_for("openai/gpt-oss-120b").rpd, Some(500));
        assert_eq!(g.limits_for("other").rpd, Some(1000));
        assert_eq!(s.strategy, Strategy::LeastUsed);
    }

    #[test]
    fn shared_limits_and_buckets() {
        let catalog_shared = O.model_catalog().unwrap().shared;
        // The `shared` table; the catalog's figures stay where it says nothing.
        let s =
            Settings::from_toml("f.toml", "[providers.openrouter.shared]\nrpd = 1000\n").unwrap();
        s.validate(&registry(), "f.toml").unwrap();
        let o = s.provider("openrouter");
        assert_eq!(o.shared.rpd, Some(1000));
        let shared = o.shared_limits(&catalog_shared);
        assert_eq!((shared.rpm, shared.rpd), (None, Some(1000)));
        assert_eq!(o.limits_for("a").rpd, None, "not a per-model limit");

        // A provider-level key also sets a limit the catalog shares, and only such a one;
        // the `shared` table wins over it.
        let s = Settings::from_toml(
            "f.toml",
            "[providers.openrouter]\nrpd = 1000\ntpd = 9\n[providers.openrouter.shared]\nrpm = 10\n",
        )
        .unwrap();
        let o = s.provider("openrouter");
        let shared = o.shared_limits(&catalog_shared);
        assert_eq!(
            shared,
            Limits {
                rpm: Some(10),
                rpd: Some(1000),
                ..Limits::default()
            }
        );
        assert_eq!(o.limits_for("c").rpd, Some(1000));
        assert_eq!(o.limits_for("c").tpd, Some(9));
        let plain = s.provider("groq").shared_limits(&Limits::default());
        assert!(plain.is_empty());

        // Unknown keys in the table are errors.
        let err =
            Settings::from_toml("f.toml", "[providers.openrouter.shared]\nrpx = 1\n").unwrap_err();
        assert_eq!(err.key, "providers.openrouter.shared.rpx");

        // The models of a bucket keep one set of limits.
        let check = |text: &str| {
            Settings::from_toml("f.toml", text)
                .unwrap()
                .validate(&registry(), "f.toml")
        };
        let err = check("[providers.openrouter.model_limits.b]\nrpd = 30\n").unwrap_err();
        assert_eq!(
            (err.location.as_str(), err.key.as_str()),
            ("f.toml", "providers.openrouter.model_limits")
        );
        assert!(
            err.reason.contains("`a`") && err.reason.contains("`b`") && err.reason.contains("`ab`"),
            "{err}"
        );
        check(
            "[providers.openrouter.model_limits.a]\nrpd = 30\n\
             [providers.openrouter.model_limits.b]\nrpd = 30\n",
        )
        .unwrap();
        check("[providers.openrouter]\nrpd = 30\n").unwrap();
        // A selection without the other member has nothing to disagree with.
        check("[providers.openrouter]\nmodels = [\"b\"]\n[providers.openrouter.model_limits.b]\nrpd = 30\n")
            .unwrap();
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Settings::from_toml("cfg.toml", "retry_attempt = 3\n").unwrap_err();
        assert_eq!(err.location, "cfg.toml");
        assert_eq!(err.key, "retry_attempt");
        assert!(err.reason.contains("line 1"), "{err}");
        let err = Settings::from_toml("cfg.toml", "[providers.groq]\nrpx = 3\n").unwrap_err();
        assert_eq!(err.key, "providers.groq.rpx");
        assert!(err.reason.contains("line 2"), "{err}");
    }

    #[test]
    fn model_capabilities_parse_and_name_bad_keys() {
        let text = "[providers.groq.model_capabilities.\"llama-3.3-70b-versatile\"]\n\
                    tools = false\nvision = true\ncontext_window = 8192\n";
        let s = Settings::from_toml("cfg.toml", text).unwrap();
        let over = s.providers["groq"]
            .capabilities_for("llama-3.3-70b-versatile")
            .copied()
            .unwrap();
        assert_eq!(
            over,
            CapabilityOverride {
                tools: Some(false),
                vision: Some(true),
                context_window: Some(8192),
                ..CapabilityOverride::default()
            }
        );
        assert_eq!(
            over.stated(),
            crate::types::flag::TOOLS | crate::types::flag::VISION
        );
        let mut m = crate::catalog::ModelInfo::new("llama-3.3-70b-versatile");
        m.tools = true;
        m.json_object = true;
        over.apply(&mut m);
        assert!(!m.tools && m.vision && m.json_object);
        assert_eq!(m.context_window, Some(8192));
        // A misspelt capability names its full key path and line.
        let err = Settings::from_toml(
            "cfg.toml",
            "[providers.groq.model_capabilities.m]\ntool = true\n",
        )
        .unwrap_err();
        assert_eq!(err.key, "providers.groq.model_capabilities.m.tool");
        assert!(err.reason.contains("line 2"), "{err}");
        let err = Settings::from_toml(
            "cfg.toml",
            "[providers.groq.model_capabilities.m]\nmax_output_tokens = 0\n",
        )
        .unwrap()
        .validate(&registry(), "cfg.toml")
        .unwrap_err();
        assert_eq!(
            err.key,
            "providers.groq.model_capabilities.\"m\".max_output_tokens"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_file_key_path_and_line() {
        let text = "timeout_secs = 20\n[providers.groq]\nrpm = \"three\"\n";
        let err = Settings::from_toml("/etc/llmpool.toml", text).unwrap_err();
        assert_eq!(err.location, "/etc/llmpool.toml");
        assert_eq!(err.key, "providers.groq.rpm");
        assert_eq!(
            err.reason,
            "invalid type: string \"three\", expected u64 (line 3)"
        );
        assert_eq!(
            err.to_string(),
            "/etc/llmpool.toml: `providers.groq.rpm`: invalid type: string \"three\", expected u64 (line 3)"
        );
        let err = Settings::from_toml("f.toml", "timeout_secs = \"x\"\n").unwrap_err();
        assert_eq!(err.key, "timeout_secs");
        assert!(err.reason.ends_with("(line 1)"), "{err}");
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let err = Settings::from_toml("f.toml", "[providers.groq\nrpm = 3\n").unwrap_err();
        assert_eq!(err.location, "f.toml");
        assert!(err.reason.contains("line 1"), "{err}");
    }

    #[test]
    fn validation_names_key_and_reason() {
        let check = |text: &str| {
            Settings::from_toml("f.toml", text)
                .unwrap()
                .validate(&registry(), "f.toml")
                .unwrap_err()
        };
        let e = check("[providers.grok]\n");
        assert_eq!(e.key, "providers.grok");
        assert!(e.reason.contains("unknown provider"));
        assert_eq!(
            check("[providers.groq]\nweight = 0\n").key,
            "providers.groq.weight"
        );
        assert_eq!(
            check("deadline_secs = 10\ntimeout_secs = 20\n").key,
            "deadline_secs"
        );
        assert_eq!(check("routes = [\"groq\"]\n").key, "routes");
        assert_eq!(check("routes = [\"x/m\"]\n").key, "routes");
        assert_eq!(check("[aliases]\na = \"nope\"\n").key, "aliases.a");
        assert_eq!(check("store = \"postgres://x\"\n").key, "store");
        assert_eq!(check("circuit_failures = 0\n").key, "circuit_failures");
    }
}
