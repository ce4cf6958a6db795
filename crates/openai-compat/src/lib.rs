//! The OpenAI chat-completions wire protocol, once, plus the HTTP/SSE transport that every
//! llmpool provider crate shares.
//!
//! Groq, Cerebras and OpenRouter speak (variants of) OpenAI's chat-completions API, and the
//! llmpool gateway serves it. This crate holds that protocol once:
//!
//! - [`wire`]: request, response, stream chunk and error body types (`Serialize` and
//!   `Deserialize`, so the gateway reuses them for its server side), their conversions
//!   to and from `llmpool-core` types, and a tolerant error-body reader;
//! - [`OpenAiCompatProvider`]: a [`Provider`](llmpool_core::Provider) for any
//!   OpenAI-compatible API (`POST {base_url}/chat/completions`, bearer key, SSE streams
//!   ending with `data: [DONE]`, usage from the final chunk);
//! - [`CompatHooks`]: where a provider departs from the generic protocol (how the key is
//!   sent, rate-limit headers, error classification, errors inside 200 payloads, the
//!   output-cap field);
//! - [`sse`]: a tolerant server-sent-events decoder (and encoder for the gateway);
//! - [`transport`]: the upstream HTTP skeleton every provider crate (this one, Gemini,
//!   Cohere) goes through: [`transport::Upstream`] (client, endpoint URL parsed once,
//!   sensitive auth header, extra headers checked at build, per-attempt timeout, clock,
//!   key scrubbing, `post_json`, `open_stream`) and [`transport::fallback_kind`], the one
//!   status-code table;
//! - `testkit` (feature `testkit`, dev-dependencies only): helpers for the hooks' unit
//!   tests (the contract-test harness is in the `llmpool-testkit` crate).
//!
//! A thin provider crate is a factory plus hooks:
//!
//! ```
//! use std::sync::Arc;
//! use llmpool_core::{ConfigError, Provider, ProviderConfig};
//! use llmpool_openai_compat::{CompatHooks, MaxTokensField, OpenAiCompatProvider};
//!
//! static HOOKS: CompatHooks = CompatHooks {
//!     max_tokens_field: MaxTokensField::MaxCompletionTokens,
//!     ..CompatHooks::DEFAULT
//! };
//!
//! fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
//!     Ok(Arc::new(OpenAiCompatProvider::new(cfg, &HOOKS)?))
//! }
//! ```

pub mod hooks;
pub mod models;
mod provider;
pub mod sse;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod transport;
pub mod wire;

pub use hooks::{BodyHook, BodyRewrite, CompatHooks, ErrorContext, no_body_hook};
pub use provider::{CHAT_PATH, OpenAiCompatProvider};
pub use reqwest::header::{HeaderMap, HeaderValue};
pub use wire::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ErrorBody, ErrorResponse,
    MaxTokensField, WireError,
};
