//! llmpool: one dependable LLM service out of several free tiers.
//!
//! Groq, Cerebras, Google Gemini, OpenRouter and Cohere are tried in priority order with
//! automatic fallback, rate-limit detection, load balancing, health monitoring and quota
//! tracking, so that their free daily limits add up. Applications use [`ChatHandler`]
//! (the seed's API: [`ChatHandler::send_message_with_history`],
//! [`ChatHandler::translate_multiple_texts`], [`ChatHandler::get_quota_status`]) or the
//! [`Router`] directly.
//!
//! # Features
//! One per provider (`groq`, `cerebras`, `gemini`, `openrouter`, `cohere`, `nvidia`,
//! `mistral`, `cloudflare`, `zai`, `ovhcloud`, `huggingface`, `ollama-cloud`, `kilo`) and
//! per persistent store (`sqlite`, `redis`); all are on by default. A provider compiled out
//! is not registered: [`providers()`] lists exactly the enabled ones.
//!
//! ```no_run
//! # async fn demo() -> Result<(), llmpool::Error> {
//! let handler = llmpool::ChatHandler::from_env().await?;
//! println!("{}", handler.send_message_with_history("42", "Hi!").await?);
//! # Ok(()) }
//! ```
// Dev-dependencies are unused in unit tests, so the lint watches normal builds only.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod config;
mod custom;
mod handler;
mod translate;

pub use config::{Config, ProviderAvailability, open_store};
pub use handler::{ChatHandler, ChatHandlerBuilder};
pub use translate::BatchLimits;

// The library's vocabulary, at the root (one path each): messages and answers, streams,
// errors, the router and its setup, status reports, stores and clocks. The gateway and
// the CLI use nothing else.
pub use llmpool_core::{
    Acquire, Attempt, Capabilities, CapabilityOverride, ChatRequest, ChatResponse, ChatStream,
    Clock, ConfigError, Content, ContentPart, CounterCheck, Error, ErrorKind, ErrorKindLabel,
    FinishReason, HealthState, ImageUrl, JsonSchema, KeyedClient, Limits, MemoryStore, Message,
    Missing, ModelCatalog, ModelInfo, Needs, ONE_OFF_ROUTES_PER_PROVIDER, Provider, ProviderConfig,
    ProviderError, ProviderFactory, ProviderSettings, ProviderSetup, ProviderStatus, QuotaStatus,
    RateLimitSnapshot, Registry, ResponseFormat, Role, RouteStatus, RoutedEvent, RoutedStream,
    Router, Settings, SkippedRoute, StateStore, StoreError, Strategy, StreamEnd, StreamEvent,
    SystemClock, TokioClock, Tool, ToolCall, ToolCallDelta, ToolChoice, Unavailable, Usage,
    estimate_tokens, is_droppable, mask_key,
};

/// The OpenAI chat-completions wire types (requests, answers, stream chunks, error bodies),
/// as the gateway serves them.
pub mod openai {
    pub use llmpool_openai_compat::wire::{
        ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ErrorBody, ErrorResponse,
        WireError,
    };
}

// Naming each enabled provider crate is what links it (and its registration) in.
// xtask new-provider: re-exports
#[cfg(feature = "cerebras")]
pub use llmpool_provider_cerebras as cerebras;
#[cfg(feature = "cloudflare")]
pub use llmpool_provider_cloudflare as cloudflare;
#[cfg(feature = "cohere")]
pub use llmpool_provider_cohere as cohere;
#[cfg(feature = "gemini")]
pub use llmpool_provider_gemini as gemini;
#[cfg(feature = "groq")]
pub use llmpool_provider_groq as groq;
#[cfg(feature = "huggingface")]
pub use llmpool_provider_huggingface as huggingface;
#[cfg(feature = "kilo")]
pub use llmpool_provider_kilo as kilo;
#[cfg(feature = "mistral")]
pub use llmpool_provider_mistral as mistral;
#[cfg(feature = "nvidia")]
pub use llmpool_provider_nvidia as nvidia;
#[cfg(feature = "ollama-cloud")]
pub use llmpool_provider_ollama_cloud as ollama_cloud;
#[cfg(feature = "openrouter")]
pub use llmpool_provider_openrouter as openrouter;
#[cfg(feature = "ovhcloud")]
pub use llmpool_provider_ovhcloud as ovhcloud;
#[cfg(feature = "zai")]
pub use llmpool_provider_zai as zai;
#[cfg(feature = "redis")]
pub use llmpool_store_redis as redis_store;
#[cfg(feature = "sqlite")]
pub use llmpool_store_sqlite as sqlite_store;

/// The provider features of this build, sorted: exactly what [`providers()`] must list.
pub fn enabled_provider_features() -> Vec<&'static str> {
    let mut features = Vec::new();
    // xtask new-provider: features
    if cfg!(feature = "kilo") {
        features.push("kilo");
    }
    if cfg!(feature = "ollama-cloud") {
        features.push("ollama-cloud");
    }
    if cfg!(feature = "huggingface") {
        features.push("huggingface");
    }
    if cfg!(feature = "ovhcloud") {
        features.push("ovhcloud");
    }
    if cfg!(feature = "zai") {
        features.push("zai");
    }
    if cfg!(feature = "cloudflare") {
        features.push("cloudflare");
    }
    if cfg!(feature = "mistral") {
        features.push("mistral");
    }
    if cfg!(feature = "nvidia") {
        features.push("nvidia");
    }
    if cfg!(feature = "groq") {
        features.push("groq");
    }
    if cfg!(feature = "cerebras") {
        features.push("cerebras");
    }
    if cfg!(feature = "gemini") {
        features.push("gemini");
    }
    if cfg!(feature = "openrouter") {
        features.push("openrouter");
    }
    if cfg!(feature = "cohere") {
        features.push("cohere");
    }
    features.sort_unstable();
    features
}

/// The compiled-in provider factories, sorted by id (empty when no provider feature is on).
pub fn providers() -> Vec<&'static ProviderFactory> {
    registry()
        .map(|r| r.factories().to_vec())
        .unwrap_or_default()
}

/// The registry of compiled-in providers; an error says which features to enable when
/// there is none.
pub fn registry() -> Result<Registry, ConfigError> {
    Registry::from_inventory()
}
