//! The `Provider` trait, provider configuration, and the registry of compiled-in providers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use secrecy::{ExposeSecret, SecretString};

use crate::catalog::ModelCatalog;
use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, ProviderError};
use crate::types::{ChatRequest, ChatResponse, StreamEvent};

/// A stream of chat events: an optional `Started`, deltas, then exactly one `Done` when
/// the upstream finished cleanly. A stream that ends without `Done`, or yields an `Err`,
/// was cut.
pub type ChatStream = BoxStream<'static, Result<StreamEvent, ProviderError>>;

/// One upstream API: maps requests and outcomes; holds no policy, no counters, no retries.
#[async_trait::async_trait] // only for this trait: the registry hands out `Arc<dyn Provider>`
pub trait Provider: Send + Sync + fmt::Debug {
    /// The provider id (`groq`, `gemini`, …).
    fn id(&self) -> &'static str;

    /// One complete answer.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError>;

    /// A streamed answer. Errors before the first event come back as `Err` here; errors
    /// after it come as `Err` items of the stream.
    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError>;

    /// The model ids this key may use, asked in a way that spends no quota (the
    /// provider's model-list endpoint). `Ok(None)`: the provider has no such way, so the
    /// key cannot be checked for free. A rejected key is an `Unauthorized` error.
    async fn list_models(&self) -> Result<Option<Vec<String>>, ProviderError> {
        Ok(None)
    }
}

/// Everything needed to build one provider client for one key.
#[derive(Clone)]
pub struct ProviderConfig {
    /// Provider id.
    pub id: &'static str,
    /// The API key; never printed.
    pub api_key: SecretString,
    /// Base URL including the API's version prefix, without trailing slash.
    pub base_url: String,
    /// Model used when a request names none.
    pub model: String,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout for one-shot calls (streams are timed by the router).
    pub timeout: Duration,
    /// Extra headers sent with every request (e.g. OpenRouter's `HTTP-Referer`).
    pub headers: Vec<(String, String)>,
    /// The wall clock the provider dates responses with (quota resets, rate-limit
    /// windows). The system clock unless a test or the router injects another one, so
    /// that every time a provider reads comes from this one source.
    pub clock: Arc<dyn Clock>,
}

impl ProviderConfig {
    /// A config for `factory` with its defaults and this key.
    pub fn new(factory: &ProviderFactory, api_key: impl Into<String>) -> Self {
        Self {
            id: factory.id,
            api_key: SecretString::from(api_key.into()),
            base_url: factory.default_base_url.to_owned(),
            model: factory.default_model.to_owned(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            headers: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same config reading wall-clock time from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same config with another base URL (trailing slashes removed).
    #[must_use]
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        let base_url: String = base_url.into();
        base_url
            .trim_end_matches('/')
            .clone_into(&mut self.base_url);
        self
    }

    /// `base_url` joined with an endpoint path starting with `/`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), path)
    }

    /// The key, for building the auth header. Do not log the result.
    pub fn expose_key(&self) -> &str {
        self.api_key.expose_secret()
    }

    /// The key in masked form (`gsk_…9f2c`), safe for logs and reports.
    pub fn masked_key(&self) -> String {
        mask_key(self.api_key.expose_secret())
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("api_key", &self.masked_key())
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("clock", &self.clock)
            .finish()
    }
}

/// Masks a key for display: at most the last four characters are kept, and only for
/// keys long enough that four characters reveal nothing useful.
pub fn mask_key(key: &str) -> String {
    let n = key.chars().count();
    if n < 16 {
        return "***".to_owned();
    }
    let tail: String = key.chars().skip(n - 4).collect();
    format!("***{tail}")
}

/// A compiled-in provider: its constants and its constructor. Every provider crate
/// submits one with [`register_provider!`](crate::register_provider).
pub struct ProviderFactory {
    /// The one id used everywhere: crate suffix, feature, config key, env prefix.
    pub id: &'static str,
    /// Human name (`Google Gemini`).
    pub display_name: &'static str,
    /// Env variable holding the key (comma-separated for several keys).
    pub key_env: &'static str,
    /// Env variable overriding the base URL.
    pub base_url_env: &'static str,
    /// Default base URL, including the API's version prefix.
    pub default_base_url: &'static str,
    /// Default model (the first of the catalog).
    pub default_model: &'static str,
    /// The embedded model catalog (TOML, see [`ModelCatalog`]).
    pub catalog: &'static str,
    /// Default priority; lower is tried first.
    pub default_priority: u32,
    /// Link to the upstream's API docs.
    pub docs_url: &'static str,
    /// Builds a client for one key.
    pub build: fn(&ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError>,
}

impl ProviderFactory {
    /// The embedded catalog, parsed.
    pub fn model_catalog(&self) -> Result<ModelCatalog, ConfigError> {
        ModelCatalog::parse(&format!("{} catalog", self.id), self.catalog)
    }
}

impl fmt::Debug for ProviderFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderFactory")
            .field("id", &self.id)
            .field("default_base_url", &self.default_base_url)
            .field("default_model", &self.default_model)
            .field("default_priority", &self.default_priority)
            .finish_non_exhaustive()
    }
}

inventory::collect!(ProviderFactory);

#[doc(hidden)]
pub mod __private {
    pub use inventory;
}

/// Registers a provider factory so the registry finds it. Providers never depend on
/// `inventory` themselves.
#[macro_export]
macro_rules! register_provider {
    ($factory:expr) => {
        $crate::__private::inventory::submit! { $factory }
    };
}

/// The compiled-in providers, sorted by id.
#[derive(Debug, Clone)]
pub struct Registry {
    factories: Vec<&'static ProviderFactory>,
}

impl Registry {
    /// Every factory linked into this binary. Errors on duplicate ids and on an empty
    /// registry (which means no provider feature was enabled).
    pub fn from_inventory() -> Result<Self, ConfigError> {
        Self::new(inventory::iter::<ProviderFactory>.into_iter().collect())
    }

    /// A registry of exactly these factories (sorted and checked like the inventory).
    pub fn new(mut factories: Vec<&'static ProviderFactory>) -> Result<Self, ConfigError> {
        if factories.is_empty() {
            return Err(ConfigError::new(
                "build",
                "features",
                "no provider is compiled in; enable at least one of the features \
                 groq, cerebras, gemini, openrouter, cohere",
            ));
        }
        factories.sort_by_key(|f| f.id);
        for pair in factories.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(ConfigError::new(
                    "build",
                    "providers",
                    format!("provider id `{}` is registered twice", pair[0].id),
                ));
            }
        }
        Ok(Self { factories })
    }

    /// The factories, sorted by id.
    pub fn factories(&self) -> &[&'static ProviderFactory] {
        &self.factories
    }

    /// The factory with this id.
    pub fn get(&self, id: &str) -> Option<&'static ProviderFactory> {
        self.factories.iter().copied().find(|f| f.id == id)
    }

    /// Ids, sorted.
    pub fn ids(&self) -> Vec<&'static str> {
        self.factories.iter().map(|f| f.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_build(_: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
        Err(ConfigError::new("t", "t", "t"))
    }

    static A: ProviderFactory = ProviderFactory {
        id: "a",
        display_name: "A",
        key_env: "A_API_KEY",
        base_url_env: "A_BASE_URL",
        default_base_url: "http://127.0.0.1:1/v1",
        default_model: "m",
        catalog: "[[models]]\nid = \"m\"\n",
        default_priority: 1,
        docs_url: "",
        build: no_build,
    };

    #[test]
    fn registry_rejects_empty_and_duplicates() {
        let err = Registry::new(vec![]).unwrap_err();
        assert!(err.reason.contains("enable at least one"));
        let err = Registry::new(vec![&A, &A]).unwrap_err();
        assert!(err.reason.contains("twice"));
        assert_eq!(Registry::new(vec![&A]).unwrap().ids(), vec!["a"]);
    }

    #[test]
    fn debug_masks_the_key() {
        let cfg = ProviderConfig::new(&A, "sk-very-secret-key-123456");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("***3456"));
        assert_eq!(mask_key("short"), "***");
    }

    #[test]
    fn endpoint_joins_without_double_slash() {
        let cfg = ProviderConfig::new(&A, "k").with_base_url("http://127.0.0.1:9000/v1/");
        assert_eq!(cfg.endpoint("/chat"), "http://127.0.0.1:9000/v1/chat");
    }
}
