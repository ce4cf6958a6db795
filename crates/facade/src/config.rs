//! Configuration from the environment, a `.env` file and an optional `llmpool.toml`.
//!
//! Keys come from the environment (each provider's own names: `GROQ_API_KEY`,
//! `CEREBRAS_API_KEY`, `GEMINI_API_KEY`, `OPENROUTER_API_KEY`, `COHERE_API_KEY`,
//! `NVIDIA_API_KEY`, `MISTRAL_API_KEY`, `CLOUDFLARE_API_TOKEN`, `ZAI_API_KEY`, `HF_TOKEN`,
//! `OLLAMA_API_KEY`, `KILO_API_KEY`, `OVHCLOUD_API_KEY`), with a `.env` file in the
//! working directory filling in what the environment does not set. A comma-separated
//! value holds several keys, each its own quota bucket. `<PROVIDER>_BASE_URL` overrides a
//! provider's base URL (the id upper-cased, `-` written `_`: `OLLAMA_CLOUD_BASE_URL`); a
//! `{name}` in a base URL is filled from `<PROVIDER>_<NAME>` (`CLOUDFLARE_ACCOUNT_ID`). Everything else comes from `llmpool.toml` (path in
//! `LLMPOOL_CONFIG`, else `./llmpool.toml` when present); see [`Settings`].
//!
//! Keyless providers (OVHcloud, Kilo) get one anonymous client only when their table says
//! `enabled = true`. A `[providers.<name>] kind = "openai"` table defines a provider from
//! the file alone; its key comes from the variable its `api_key_env` names (read only for
//! that reason), and without one it sends no key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use llmpool_core::{
    Clock, ConfigError, ProviderConfig, ProviderFactory, ProviderSettings, Registry, Settings,
    StateStore, SystemClock, mask_key,
};
use llmpool_core::{KeyedClient, ProviderSetup};

/// Everything llmpool reads at start: settings, keys and base URLs.
#[derive(Clone)]
pub struct Config {
    /// The parsed and validated `llmpool.toml` (defaults when there is none).
    pub settings: Settings,
    /// Where the settings came from (a path, or `defaults`), for messages.
    pub origin: String,
    vars: BTreeMap<String, String>,
    /// The `kind = "openai"` providers of the settings (see the `custom` module).
    custom: Vec<&'static ProviderFactory>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Variables may hold keys: show their names only.
        f.debug_struct("Config")
            .field("settings", &self.settings)
            .field("origin", &self.origin)
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field(
                "custom",
                &self.custom.iter().map(|f| f.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Config {
    /// Reads the process environment, `./.env` and the settings file.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with_path(None)
    }

    /// Like [`from_env`](Self::from_env), with an explicit settings file that wins over
    /// `LLMPOOL_CONFIG`.
    pub fn from_env_with_path(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut all: BTreeMap<String, String> = BTreeMap::new();
        let dotenv = Path::new(".env");
        if dotenv.is_file() {
            all.extend(read_dotenv(dotenv)?);
        }
        // The real environment wins over `.env`, as with every dotenv tool.
        all.extend(std::env::vars());
        let mut vars: BTreeMap<String, String> = all
            .iter()
            .filter(|(k, _)| relevant(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(path) = path {
            vars.insert("LLMPOOL_CONFIG".to_owned(), path.display().to_string());
        }
        let mut config = Self::from_vars(vars)?;
        // A configured provider's `api_key_env` names a variable of the user's choosing:
        // read that one too (and still nothing else).
        for factory in &config.custom {
            if let Some(value) = all.get(factory.key_env) {
                config
                    .vars
                    .insert(factory.key_env.to_owned(), value.clone());
            }
        }
        Ok(config)
    }

    /// Builds a config from explicit variables (for tests and embedding): reads the
    /// settings file named by `LLMPOOL_CONFIG`, else `./llmpool.toml` when present.
    pub fn from_vars(vars: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let path = match vars.get("LLMPOOL_CONFIG").filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(PathBuf::from(p)),
            None => Some(PathBuf::from("llmpool.toml")).filter(|p| p.is_file()),
        };
        let (settings, origin) = match path {
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError::new(
                        &origin,
                        "LLMPOOL_CONFIG",
                        format!("cannot read the file: {e}"),
                    )
                })?;
                (Settings::from_toml(&origin, &text)?, origin)
            }
            None => (Settings::default(), "defaults".to_owned()),
        };
        Self::from_parts(settings, origin, vars)
    }

    /// Builds a config from settings already parsed and explicit variables.
    pub fn from_parts(
        settings: Settings,
        origin: impl Into<String>,
        vars: BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let origin = origin.into();
        let compiled_in = crate::registry()?;
        let custom = crate::custom::factories(&settings.providers, &compiled_in, &origin)?;
        let mut all = compiled_in.factories().to_vec();
        all.extend(custom.iter().copied());
        let registry = Registry::new(all)?;
        settings.validate(&registry, &origin)?;
        let config = Self {
            settings,
            origin,
            vars,
            custom,
        };
        for factory in registry.factories() {
            config.base_url(factory)?;
        }
        Ok(config)
    }

    /// The settings file's `store`, unless `LLMPOOL_STORE` overrides it.
    pub fn store_url(&self) -> String {
        self.var("LLMPOOL_STORE")
            .unwrap_or(&self.settings.store)
            .to_owned()
    }

    /// The providers defined by the settings alone (`kind = "openai"`), in name order.
    pub fn configured_providers(&self) -> &[&'static ProviderFactory] {
        &self.custom
    }

    /// The variables read (for rebuilding with other settings).
    pub(crate) fn vars_clone(&self) -> BTreeMap<String, String> {
        self.vars.clone()
    }

    /// A variable from the environment or `.env`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The keys configured for a provider (comma-separated, blanks ignored).
    pub fn keys(&self, factory: &ProviderFactory) -> Vec<SecretString> {
        if factory.key_env.is_empty() {
            return Vec::new();
        }
        self.var(factory.key_env)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| SecretString::from(k.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The base URL: `<PROVIDER>_BASE_URL`, else `[providers.<id>] base_url`, else the default.
    pub fn base_url(&self, factory: &ProviderFactory) -> Result<String, ConfigError> {
        let (value, location, key) = if let Some(v) = self.var(factory.base_url_env) {
            (
                v.to_owned(),
                "environment".to_owned(),
                factory.base_url_env.to_owned(),
            )
        } else if let Some(v) = self
            .settings
            .providers
            .get(factory.id)
            .and_then(|p| p.base_url.clone())
        {
            (
                v,
                self.origin.clone(),
                format!("providers.{}.base_url", factory.id),
            )
        } else {
            return self.fill_placeholders(factory, factory.default_base_url.to_owned());
        };
        let v = value.trim().trim_end_matches('/').to_owned();
        if !(v.starts_with("http://") || v.starts_with("https://")) || v.len() <= "https://".len() {
            return Err(ConfigError::new(
                location,
                key,
                format!(
                    "`{v}` is not an http(s) URL (it must include the API's version prefix, e.g. http://127.0.0.1:9000/v1)"
                ),
            ));
        }
        self.fill_placeholders(factory, v)
    }

    /// Fills each `{name}` of a base URL from the variable `<PREFIX>_<NAME>`, where
    /// `<PREFIX>` is the provider's `<PREFIX>_BASE_URL` (Cloudflare's `{account_id}` from
    /// `CLOUDFLARE_ACCOUNT_ID`). A placeholder whose variable is unset stays: the provider
    /// refuses such a URL with an error naming the variable, and only when it has a key.
    /// A value that is not letters, digits, `-` or `_` is an error naming the variable.
    fn fill_placeholders(
        &self,
        factory: &ProviderFactory,
        mut url: String,
    ) -> Result<String, ConfigError> {
        let prefix = factory
            .base_url_env
            .strip_suffix("_BASE_URL")
            .unwrap_or(factory.base_url_env);
        let mut from = 0;
        while let Some(open) = url[from..].find('{').map(|i| i + from) {
            let Some(close) = url[open..].find('}').map(|i| i + open) else {
                break;
            };
            let name = url[open + 1..close].to_owned();
            let var = format!("{prefix}_{}", name.to_ascii_uppercase());
            match self.var(&var).map(str::trim) {
                Some(value) => {
                    if !value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    {
                        return Err(ConfigError::new(
                            "environment",
                            var,
                            "must be letters, digits, `-` or `_` (it is written into the base URL's path)",
                        ));
                    }
                    url.replace_range(open..=close, value);
                    from = open + value.len();
                }
                None => from = close + 1,
            }
        }
        Ok(url)
    }

    /// One [`ProviderSetup`] per provider of `registry` and per provider the settings
    /// define (`kind = "openai"`), with a client per key (none when the provider has no
    /// key), dating responses with the system clock.
    pub fn provider_setups(&self, registry: &Registry) -> Result<Vec<ProviderSetup>, ConfigError> {
        self.provider_setups_with_clock(registry, &(Arc::new(SystemClock) as Arc<dyn Clock>))
    }

    /// [`Config::provider_setups`] whose clients read wall-clock time from `clock`, the
    /// router's, so that quota resets a provider reads from an error body and the
    /// ledger's windows come from one clock.
    pub fn provider_setups_with_clock(
        &self,
        registry: &Registry,
        clock: &Arc<dyn Clock>,
    ) -> Result<Vec<ProviderSetup>, ConfigError> {
        let mut setups = Vec::new();
        let custom = self
            .custom
            .iter()
            .copied()
            .filter(|f| registry.get(f.id).is_none());
        for factory in registry.factories().iter().copied().chain(custom) {
            let base_url = self.base_url(factory)?;
            let mut keys = self.keys(factory);
            let mut labels = key_labels(&keys);
            if keys.is_empty() && self.keyless_in_use(factory) {
                // One anonymous client: the provider sends no key, and its quota is the
                // egress IP's (the same label on every instance shares it through a
                // shared store).
                keys.push(SecretString::from(String::new()));
                labels.push(ANONYMOUS_LABEL.to_owned());
            }
            let mut clients = Vec::new();
            for (key, key_label) in keys.iter().zip(labels) {
                let mut cfg = ProviderConfig::new(factory, key.expose_secret().to_owned())
                    .with_base_url(base_url.clone())
                    .with_clock(Arc::clone(clock));
                cfg.timeout = self.settings.timeout();
                cfg.connect_timeout = self.settings.connect_timeout();
                cfg.headers = self.extra_headers(factory);
                if let Some(model) = self
                    .settings
                    .providers
                    .get(factory.id)
                    .and_then(|p| p.models.as_ref())
                    .and_then(|m| m.first())
                {
                    cfg.model.clone_from(model);
                }
                let provider = (factory.build)(&cfg)?;
                clients.push(KeyedClient {
                    key_label,
                    provider,
                });
            }
            setups.push(ProviderSetup { factory, clients });
        }
        Ok(setups)
    }

    /// Whether `factory` gets one anonymous client: a compiled-in keyless provider
    /// (OVHcloud's anonymous lane, Kilo's free models) only when the user wrote
    /// `[providers.<id>] enabled = true` (it sends prompts to a third party the user never
    /// signed up with, so it is never used by default); a configured provider without
    /// `api_key_env` always (the user named the endpoint: typically a local server).
    fn keyless_in_use(&self, factory: &ProviderFactory) -> bool {
        if self.custom.iter().any(|f| std::ptr::eq(*f, factory)) {
            return factory.key_env.is_empty();
        }
        KEYLESS.contains(&factory.id)
            && self
                .settings
                .providers
                .get(factory.id)
                .is_some_and(ProviderSettings::explicitly_enabled)
    }

    /// Why a compiled-in keyless provider is off, when it is: it has no key and the
    /// user has not opted in. `None` for any other provider.
    pub fn keyless_off_reason(&self, factory: &ProviderFactory) -> Option<String> {
        if !KEYLESS.contains(&factory.id)
            || !self.keys(factory).is_empty()
            || self.keyless_in_use(factory)
        {
            return None;
        }
        Some(format!(
            "keyless, not opted in: set enabled = true in [providers.{}] to use the anonymous lane; it sends prompts to {} ({}), a third party you have not signed up with",
            factory.id, factory.display_name, factory.default_base_url
        ))
    }

    /// Every provider this configuration knows (compiled-in ones by id, then the
    /// `kind = "openai"` ones), each on or off with the reason: what the start line,
    /// `/v1/models` and the status report say. Key values are never read into it.
    pub fn availability(&self) -> Vec<ProviderAvailability> {
        let compiled_in = crate::providers();
        let custom = self
            .custom
            .iter()
            .copied()
            .filter(|f| !compiled_in.iter().any(|c| c.id == f.id));
        compiled_in
            .iter()
            .copied()
            .map(|f| (f, false))
            .chain(custom.map(|f| (f, true)))
            .map(|(factory, config_only)| {
                let keys = self.keys(factory).len();
                let keyless = keys == 0 && self.keyless_in_use(factory);
                let disabled = self
                    .settings
                    .providers
                    .get(factory.id)
                    .is_some_and(|p| !p.is_enabled());
                let off_reason = if disabled {
                    Some(format!(
                        "disabled in config: enabled = false in [providers.{}]",
                        factory.id
                    ))
                } else if keys > 0 || keyless {
                    None
                } else if let Some(reason) = self.keyless_off_reason(factory) {
                    Some(reason)
                } else if config_only {
                    Some(format!(
                        "no key: set {} (its api_key_env in [providers.{}])",
                        factory.key_env, factory.id
                    ))
                } else {
                    Some(format!("no key: set {}", factory.key_env))
                };
                ProviderAvailability {
                    id: factory.id,
                    config_only,
                    keys,
                    keyless,
                    off_reason,
                }
            })
            .collect()
    }

    /// Extra headers a provider takes from the environment (OpenRouter's attribution). The
    /// env names and header names come from the provider crate, the one source of truth.
    fn extra_headers(&self, factory: &ProviderFactory) -> Vec<(String, String)> {
        #[cfg(feature = "openrouter")]
        if factory.id == llmpool_provider_openrouter::FACTORY.id {
            return llmpool_provider_openrouter::attribution_headers(
                self.var(llmpool_provider_openrouter::HTTP_REFERER_ENV),
                self.var(llmpool_provider_openrouter::X_TITLE_ENV),
            );
        }
        #[cfg(not(feature = "openrouter"))]
        let _ = (self, factory);
        Vec::new()
    }

    /// Opens the configured state store: `sqlite:PATH`, `redis://…` / `rediss://…`, or
    /// `memory` (nothing survives a restart).
    pub async fn open_store(
        &self,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<dyn StateStore>, llmpool_core::Error> {
        open_store(&self.store_url(), &self.origin, clock).await
    }
}

/// Whether a provider is in use and, when it is off, why: see [`Config::availability`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAvailability {
    /// The provider id.
    pub id: &'static str,
    /// Defined by `llmpool.toml` alone (`kind = "openai"`) rather than compiled in.
    pub config_only: bool,
    /// How many keys it has (never the keys themselves).
    pub keys: usize,
    /// In use without a key: an opted-in keyless provider, or a configured one without
    /// `api_key_env`.
    pub keyless: bool,
    /// Why it is off (no key, and which variable gives one; a keyless provider not opted
    /// in to, and the setting that does; disabled in config); `None` when it is on.
    pub off_reason: Option<String>,
}

impl ProviderAvailability {
    /// Whether the router may use it.
    pub fn is_on(&self) -> bool {
        self.off_reason.is_none()
    }
}

impl fmt::Display for ProviderAvailability {
    /// `groq=2 keys`, `kilo=keyless`, `ovhcloud=off (keyless: …)`, `groq=off (no key: set
    /// GROQ_API_KEY)`: one item of the start line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.off_reason, self.keys) {
            (Some(reason), _) => write!(f, "{}=off ({reason})", self.id),
            (None, 0) => write!(f, "{}=keyless", self.id),
            (None, 1) => write!(f, "{}=1 key", self.id),
            (None, n) => write!(f, "{}={n} keys", self.id),
        }
    }
}

/// The compiled-in providers that answer without a key, used only on explicit opt-in.
const KEYLESS: &[&str] = &[
    #[cfg(feature = "ovhcloud")]
    llmpool_provider_ovhcloud::FACTORY.id,
    #[cfg(feature = "kilo")]
    llmpool_provider_kilo::FACTORY.id,
];

/// Opens a store from its URL; `origin` names where the URL came from in errors.
pub async fn open_store(
    url: &str,
    origin: &str,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn StateStore>, llmpool_core::Error> {
    let url = url.trim();
    if url == "memory" {
        return Ok(Arc::new(llmpool_core::MemoryStore::with_clock(clock)));
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        #[cfg(feature = "sqlite")]
        {
            let path = path.strip_prefix("//").unwrap_or(path);
            let store = llmpool_store_sqlite::SqliteStore::open(path).await?;
            return Ok(Arc::new(store));
        }
        #[cfg(not(feature = "sqlite"))]
        {
            let _ = path;
            return Err(ConfigError::new(
                origin,
                "store",
                "SQLite support is not compiled in (enable the `sqlite` feature)",
            )
            .into());
        }
    }
    if url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://")
    {
        #[cfg(feature = "redis")]
        {
            let store = llmpool_store_redis::RedisStore::connect(url).await?;
            return Ok(Arc::new(store));
        }
        #[cfg(not(feature = "redis"))]
        {
            return Err(ConfigError::new(
                origin,
                "store",
                "Redis support is not compiled in (enable the `redis` feature)",
            )
            .into());
        }
    }
    Err(ConfigError::new(
        origin,
        "store",
        format!("`{url}` is not a store URL; use `sqlite:PATH`, `redis://HOST:PORT` or `memory`"),
    )
    .into())
}

/// Variables llmpool reads; everything else in the environment is ignored (and never
/// copied, so unrelated secrets stay out of this process's config).
fn relevant(name: &str) -> bool {
    name.starts_with("LLMPOOL_")
        || name.ends_with("_API_KEY")
        || name.ends_with("_BASE_URL")
        // Base-URL placeholders (`CLOUDFLARE_ACCOUNT_ID`).
        || name.ends_with("_ACCOUNT_ID")
        || name.starts_with("OPENROUTER_")
        // Key variables named by the providers' own docs (`HF_TOKEN`, `CLOUDFLARE_API_TOKEN`).
        || crate::providers().iter().any(|f| f.key_env == name)
}

fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let origin = path.display().to_string();
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| ConfigError::new(&origin, "file", e.to_string()))?;
    let mut vars = BTreeMap::new();
    for item in iter {
        let (k, v) = item.map_err(|e| ConfigError::new(&origin, "line", dotenv_reason(&e)))?;
        vars.insert(k, v);
    }
    Ok(vars)
}

/// dotenvy's parse errors quote the offending line, which may hold a key: say where only.
fn dotenv_reason(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(_, index) => format!("cannot parse the line at byte {index}"),
        other => other.to_string(),
    }
}

/// Labels for a provider's keys: the masked key, with its position added when two keys
/// would mask alike.
/// The key label of a keyless provider's one client.
pub(crate) const ANONYMOUS_LABEL: &str = "anonymous";

fn key_labels(keys: &[SecretString]) -> Vec<String> {
    let masked: Vec<String> = keys.iter().map(|k| mask_key(k.expose_secret())).collect();
    masked
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if masked.iter().filter(|o| *o == m).count() > 1 {
                format!("{m}#{}", i + 1)
            } else {
                m.clone()
            }
        })
        .collect()
}

#[cfg(all(test, feature = "openrouter"))]
mod tests {
    use super::*;

    #[cfg(feature = "cloudflare")]
    #[test]
    fn the_account_id_fills_the_cloudflare_base_url() {
        use llmpool_provider_cloudflare::FACTORY;
        assert!(relevant("CLOUDFLARE_API_TOKEN") && relevant("CLOUDFLARE_ACCOUNT_ID"));
        let with = |pairs: &[(&str, &str)]| {
            let vars = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Config::from_parts(Settings::default(), "test", vars)
        };
        let id = "0123456789abcdef0123456789abcdef";
        let config = with(&[("CLOUDFLARE_ACCOUNT_ID", id)]).unwrap();
        assert_eq!(
            config.base_url(&FACTORY).unwrap(),
            format!("https://api.cloudflare.com/client/v4/accounts/{id}/ai/v1")
        );
        // An override that keeps the placeholder is filled; a full URL is used as given.
        let kept = with(&[
            ("CLOUDFLARE_ACCOUNT_ID", id),
            (
                "CLOUDFLARE_BASE_URL",
                "http://127.0.0.1:9/accounts/{account_id}/ai/v1",
            ),
        ])
        .unwrap();
        assert_eq!(
            kept.base_url(&FACTORY).unwrap(),
            format!("http://127.0.0.1:9/accounts/{id}/ai/v1")
        );
        let full = with(&[
            ("CLOUDFLARE_ACCOUNT_ID", id),
            (
                "CLOUDFLARE_BASE_URL",
                "http://127.0.0.1:9/accounts/other/ai/v1",
            ),
        ])
        .unwrap();
        assert_eq!(
            full.base_url(&FACTORY).unwrap(),
            "http://127.0.0.1:9/accounts/other/ai/v1"
        );
        // Unset: the placeholder stays (the provider refuses it when it has a key).
        let unset = with(&[]).unwrap();
        assert!(unset.base_url(&FACTORY).unwrap().contains("{account_id}"));
        let with_key_only = with(&[("CLOUDFLARE_API_TOKEN", "token-0123456789")]).unwrap();
        let err = with_key_only
            .provider_setups(&crate::registry().unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("CLOUDFLARE_ACCOUNT_ID"), "{err}");
        // A value that would change the path is refused, naming the variable.
        let err = with(&[("CLOUDFLARE_ACCOUNT_ID", "../x")]).unwrap_err();
        assert_eq!(err.key, "CLOUDFLARE_ACCOUNT_ID");
    }

    #[cfg(all(feature = "ovhcloud", feature = "kilo"))]
    #[test]
    fn keyless_providers_are_off_unless_opted_in() {
        let clients = |toml: &str, vars: &[(&str, &str)]| {
            let settings = Settings::from_toml("test", toml).unwrap();
            let vars = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let config = Config::from_parts(settings, "test", vars).unwrap();
            let setups = config.provider_setups(&crate::registry().unwrap()).unwrap();
            ["ovhcloud", "kilo", "groq"].map(|id| {
                setups
                    .iter()
                    .find(|s| s.factory.id == id)
                    .unwrap()
                    .clients
                    .iter()
                    .map(|c| c.key_label.clone())
                    .collect::<Vec<_>>()
            })
        };
        let none: Vec<String> = Vec::new();
        assert_eq!(clients("", &[]), [none.clone(), none.clone(), none.clone()]);
        let opted = clients(
            "[providers.ovhcloud]\nenabled = true\n[providers.groq]\nenabled = true\n",
            &[],
        );
        assert_eq!(
            opted,
            [vec![ANONYMOUS_LABEL.to_owned()], none.clone(), none.clone()]
        );
        // A table without `enabled = true` is no opt-in, and says why the lane is off.
        let table = clients("[providers.ovhcloud]\npriority = 5\n", &[]);
        assert_eq!(table[0], none);
        let config = Config::from_parts(Settings::default(), "test", BTreeMap::new()).unwrap();
        let reason = config
            .keyless_off_reason(&llmpool_provider_ovhcloud::FACTORY)
            .unwrap();
        assert!(
            reason.contains("enabled = true") && reason.contains("OVHcloud"),
            "{reason}"
        );
        assert!(
            config
                .keyless_off_reason(&llmpool_provider_openrouter::FACTORY)
                .is_none()
        );
        let off = clients("[providers.kilo]\nenabled = false\n", &[]);
        assert_eq!(off[1], none);
        // A key, when given, is used instead of the anonymous lane.
        let keyed = clients(
            "[providers.kilo]\nenabled = true\n",
            &[("KILO_API_KEY", "kilo-key-0123456789")],
        );
        assert_eq!(keyed[1], vec!["***6789".to_owned()]);
    }

    fn configured(toml: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let settings = Settings::from_toml("test", toml)?;
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_parts(settings, "test", vars)
    }

    #[test]
    fn a_configured_provider_is_set_up_from_its_table() {
        let local = "[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1/\"\nmodels = [\"qwen3:8b\", \"llama3.2\"]\ncontext_window = 32768\n";
        let config = configured(local, &[]).unwrap();
        let setups = config.provider_setups(&crate::registry().unwrap()).unwrap();
        let setup = setups.iter().find(|s| s.factory.id == "local").unwrap();
        // No `api_key_env`: one anonymous client, no opt-in needed (the user named it).
        let labels: Vec<_> = setup.clients.iter().map(|c| c.key_label.as_str()).collect();
        assert_eq!(labels, [ANONYMOUS_LABEL]);
        assert_eq!(
            config.base_url(setup.factory).unwrap(),
            "http://127.0.0.1:11434/v1"
        );
        let catalog = setup.factory.model_catalog().unwrap();
        let ids: Vec<_> = catalog.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["qwen3:8b", "llama3.2"]);
        assert_eq!(catalog.models[0].context_window, Some(32768));
        // `LOCAL_BASE_URL` overrides its base URL like any provider's.
        let moved = configured(local, &[("LOCAL_BASE_URL", "http://127.0.0.1:9/v1")]).unwrap();
        assert_eq!(
            moved.base_url(setup.factory).unwrap(),
            "http://127.0.0.1:9/v1"
        );

        let hosted = "[providers.other-free]\nkind = \"openai\"\nbase_url = \"https://api.example/v1\"\napi_key_env = \"OTHER_FREE_TOKEN\"\nmodels = [\"m\"]\nrpd = 100\n";
        let keyless = configured(hosted, &[]).unwrap();
        let setups = keyless
            .provider_setups(&crate::registry().unwrap())
            .unwrap();
        let setup = setups
            .iter()
            .find(|s| s.factory.id == "other-free")
            .unwrap();
        assert!(
            setup.clients.is_empty(),
            "a named key variable that is unset means no key"
        );
        let keyed = configured(
            hosted,
            &[("OTHER_FREE_TOKEN", "tok-0123456789, tok-abcdefgh")],
        )
        .unwrap();
        let setups = keyed.provider_setups(&crate::registry().unwrap()).unwrap();
        let setup = setups
            .iter()
            .find(|s| s.factory.id == "other-free")
            .unwrap();
        assert_eq!(setup.clients.len(), 2);
    }

    #[test]
    fn availability_says_what_is_on_and_why_the_rest_is_off() {
        let toml = "[providers.cerebras]\nenabled = false\n[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodels = [\"m\"]\n[providers.hosted]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:2/v1\"\napi_key_env = \"HOSTED_TOKEN\"\nmodels = [\"m\"]\n";
        let config = configured(
            toml,
            &[
                ("GROQ_API_KEY", "gsk-0123456789,gsk-abcdefghij"),
                ("CEREBRAS_API_KEY", "csk-0123456789"),
            ],
        )
        .unwrap();
        let all = config.availability();
        let line = |id: &str| all.iter().find(|a| a.id == id).unwrap().to_string();
        assert_eq!(line("groq"), "groq=2 keys");
        assert_eq!(
            line("cerebras"),
            "cerebras=off (disabled in config: enabled = false in [providers.cerebras])"
        );
        assert_eq!(
            line("openrouter"),
            "openrouter=off (no key: set OPENROUTER_API_KEY)"
        );
        assert_eq!(line("local"), "local=keyless");
        assert_eq!(
            line("hosted"),
            "hosted=off (no key: set HOSTED_TOKEN (its api_key_env in [providers.hosted]))"
        );
        // Compiled-in providers first, each once; then the configured ones.
        let compiled_in = crate::providers().len();
        assert_eq!(all.len(), compiled_in + 2);
        assert!(all[..compiled_in].iter().all(|a| !a.config_only));
        assert!(all[compiled_in..].iter().all(|a| a.config_only));
        // Never a key, masked or not.
        let text: String = all.iter().map(ToString::to_string).collect();
        assert!(
            !text.contains("0123456789") && !text.contains("***"),
            "{text}"
        );
        #[cfg(feature = "ovhcloud")]
        {
            let ovh = all.iter().find(|a| a.id == "ovhcloud").unwrap();
            assert!(!ovh.is_on());
            let reason = ovh.off_reason.as_deref().unwrap();
            assert!(
                reason.contains("enabled = true in [providers.ovhcloud]"),
                "{reason}"
            );
            let opted = configured("[providers.ovhcloud]\nenabled = true\n", &[]).unwrap();
            let ovh = opted
                .availability()
                .into_iter()
                .find(|a| a.id == "ovhcloud");
            assert_eq!(ovh.unwrap().to_string(), "ovhcloud=keyless");
        }
    }

    #[test]
    fn a_configured_provider_is_checked_naming_the_key() {
        let key = |toml: &str| configured(toml, &[]).unwrap_err().key;
        let ok = "kind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodels = [\"m\"]\n";
        assert_eq!(
            key(&format!("[providers.groq]\n{ok}")),
            "providers.groq.kind"
        );
        assert_eq!(
            key(&format!("[providers.My_Server]\n{ok}")),
            "providers.My_Server"
        );
        assert_eq!(
            key(
                "[providers.x]\nkind = \"anthropic\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodels = [\"m\"]\n"
            ),
            "providers.x.kind"
        );
        assert_eq!(
            key("[providers.x]\nkind = \"openai\"\nmodels = [\"m\"]\n"),
            "providers.x.base_url"
        );
        assert_eq!(
            key("[providers.x]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n"),
            "providers.x.models"
        );
        assert_eq!(
            key(&format!("[providers.x]\n{ok}api_key_env = \"bad name\"\n")),
            "providers.x.api_key_env"
        );
        assert_eq!(
            key("[providers.groq]\napi_key_env = \"MY_KEY\"\n"),
            "providers.groq.api_key_env"
        );
        assert_eq!(key("[providers.x]\nmodels = [\"m\"]\n"), "providers.x");
    }

    #[test]
    fn openrouter_attribution_uses_the_provider_crate_names() {
        use llmpool_provider_openrouter::{FACTORY, HTTP_REFERER_ENV, X_TITLE_ENV};
        // The env names are part of the contract: users set them.
        assert_eq!(
            (HTTP_REFERER_ENV, X_TITLE_ENV),
            ("OPENROUTER_HTTP_REFERER", "OPENROUTER_X_TITLE")
        );
        assert!(relevant(HTTP_REFERER_ENV) && relevant(X_TITLE_ENV));
        let vars = BTreeMap::from([
            (
                HTTP_REFERER_ENV.to_owned(),
                " https://app.example ".to_owned(),
            ),
            (X_TITLE_ENV.to_owned(), "My Bot".to_owned()),
        ]);
        let config = Config::from_parts(Settings::default(), "test", vars).unwrap();
        assert_eq!(
            config.extra_headers(&FACTORY),
            vec![
                ("HTTP-Referer".to_owned(), "https://app.example".to_owned()),
                ("X-Title".to_owned(), "My Bot".to_owned()),
            ]
        );
        let registry = crate::registry().unwrap();
        for other in registry.factories().iter().filter(|f| f.id != FACTORY.id) {
            assert!(config.extra_headers(other).is_empty(), "{}", other.id);
        }
    }
}
