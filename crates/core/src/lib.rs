//! The vocabulary and the engine of llmpool.
//!
//! llmpool makes several free-tier LLM APIs act as one dependable service. This crate
//! holds what every other crate shares and never names a provider, a store backend or an
//! HTTP client:
//!
//! - [`ChatRequest`], [`ChatResponse`], [`StreamEvent`]: provider-neutral messages;
//! - [`Provider`]: one upstream API; [`ProviderFactory`] registers it through
//!   `inventory` with [`register_provider!`], and [`Registry`] lists what was linked in;
//! - [`ErrorKind`]: what went wrong, in terms the router acts on (see DESIGN.md);
//! - [`RateLimitSnapshot`]: what a provider's headers said about its limits;
//! - [`ModelCatalog`]: a provider's free models and their limits, as data;
//! - [`StateStore`]: where counters, health and history live, with [`MemoryStore`];
//! - [`Router`]: the engine: policy, quota ledger, health, retries and fallback over
//!   every configured route, configured by [`Settings`] (`llmpool.toml`), reporting
//!   [`QuotaStatus`].

// One public path per item: the modules are private and every public item is re-exported
// here (`llmpool_core::Settings`, never `llmpool_core::config::Settings`). `testkit`
// (feature-gated, tests only) is the one public module.
mod capability;
mod catalog;
mod clock;
mod config;
mod error;
mod health;
mod ledger;
mod provider;
mod ratelimit;
mod router;
mod status;
mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
mod types;

pub use catalog::{Capabilities, DayWindow, Limits, ModelCatalog, ModelInfo};
pub use clock::{Clock, SystemClock, TokioClock, next_midnight, next_utc_midnight, next_utc_month};
pub use config::{CapabilityOverride, ProviderSettings, Settings, Strategy};
pub use error::{
    BoxError, ConfigError, Error, ErrorKind, ErrorKindLabel, ProviderError, StoreError,
    Unavailable, redact_secret,
};
#[doc(hidden)]
pub use provider::__private;
pub use provider::{ChatStream, Provider, ProviderConfig, ProviderFactory, Registry, mask_key};
pub use ratelimit::{RateLimitSnapshot, Window, parse_duration};
pub use router::{
    KeyedClient, ONE_OFF_ROUTES_PER_PROVIDER, ProviderSetup, RoutedEvent, RoutedStream, Router,
};
pub use status::{HealthState, ProviderStatus, QuotaStatus, RouteStatus};
pub use store::{Acquire, CounterCheck, MemoryStore, StateStore, weighted_use};
pub use types::{
    Attempt, ChatRequest, ChatResponse, Content, ContentPart, FinishReason, ImageUrl, JsonSchema,
    Message, Missing, Needs, ResponseFormat, Role, SkippedRoute, StreamEnd, StreamEvent, Tool,
    ToolCall, ToolCallDelta, ToolChoice, Usage, estimate_tokens, is_droppable,
};
