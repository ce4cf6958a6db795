//! Cohere's Chat API v2 as an llmpool provider: a native request, response and SSE codec
//! with Cohere's own error classification and trial-key headers.
//!
//! - **id**: `cohere` (Cargo feature, config key and env prefix alike)
//! - **env**: `COHERE_API_KEY` (the key), `COHERE_BASE_URL` (override of the base URL)
//! - **base URL**: `https://api.cohere.com/v2`; the base URL includes the version prefix and
//!   the crate appends only `/chat`, so `COHERE_BASE_URL=http://127.0.0.1:9000/v2` points it
//!   at a local server
//! - **auth**: `Authorization: Bearer <key>`
//! - **default model**: `command-a-03-2025`, the first of the embedded `catalog.toml`;
//!   default priority 50
//! - **free tier** (trial keys): 20 chat requests per minute per model and 1,000 API calls
//!   per month per key, across every endpoint and model (production keys get the monthly
//!   cap too on the newer models). No daily limit. Trial keys receive
//!   `x-endpoint-monthly-call-limit`, `x-trial-endpoint-call-limit` and
//!   `x-trial-endpoint-call-remaining`, parsed into the month and minute windows of the
//!   [`RateLimitSnapshot`](llmpool_core::RateLimitSnapshot); no header tells the calls left
//!   in the month, so the ledger counts them. The catalog puts the 1,000 in its `[shared]`
//!   table (one monthly budget for all models of a key) and the 20 on each model.
//!
//! # Mapping
//!
//! | core | Cohere v2 |
//! | --- | --- |
//! | messages (system/user/assistant/tool) | `messages` with the same lowercase roles |
//! | `temperature` | `temperature`, **clamped to 0..=1** |
//! | `top_p` | `p`, clamped to 0.01..=0.99 |
//! | `max_tokens` | `max_tokens` |
//! | `stop` | `stop_sequences`, at most 5 |
//! | `seed`, penalties, images (`image_url` parts) | the same fields and parts |
//! | `response_format` | `{type: json_object[, json_schema]}`; refused together with tools |
//! | `tools`, `tool_choice` | OpenAI's tool shape minus `strict` (any strict tool sets `strict_tools`); `REQUIRED`/`NONE`, a named choice as that one tool, required |
//! | assistant `tool_calls`, role `tool` | the same objects (`content` omitted on a tool-only turn) |
//! | answer `tool_calls`, `tool_plan` | tool calls (`"null"` arguments read as `{}`); the plan becomes reasoning; streamed as `tool-call-start/delta/end` → tool-call pieces, `{}` for a call without arguments |
//! | `reasoning_effort` | `thinking`: `{type: disabled}` for `none`, else `{type: enabled}` (no `token_budget`: Cohere's default) |
//! | `user`, `logprobs`, `parallel_tool_calls`, … | left out and reported as dropped (Cohere answers 422 to unknown fields); `logit_bias` refused by name |
//! | answer text | every `message.content[*]` block of type `text`; `thinking` blocks become the answer's reasoning (one-shot and streamed) |
//! | finish reason | `COMPLETE`/`STOP_SEQUENCE` → stop, `MAX_TOKENS` → length, `TOOL_CALL` → tool calls |
//! | usage | `usage.tokens` (what the model processed), else `usage.billed_units` |
//!
//! # Quirks
//!
//! - Temperature above 1 is clamped, not rejected: a request written for OpenAI's 0..=2
//!   scale still gets Cohere's closest answer, and no call of the monthly 1,000 is spent on
//!   a 400. More than five stop sequences, or no message, are a `BadRequest` before any
//!   call, because dropping stop sequences would change the answer.
//! - `finish_reason` `ERROR` or `TIMEOUT` arrives with HTTP 200 (also in a stream's
//!   `message-end`): a `Transient` failure, not an answer.
//! - An answer without text is `InvalidResponse`, so the router tries another route.
//! - Error bodies are flat `{"id", "message"}`; the kind comes from status and message
//!   together (a 429 is either a minute's wait or the monthly wall). See the `errors`
//!   module for the table and for the monthly reset assumption (first instant of next
//!   month, UTC: Cohere does not document it).
//! - Streams are `event:` + `data:` SSE ending in `data: [DONE]`; a stream without
//!   `message-end` was cut and ends with an `Err`, never `Done`.
//! - Cohere never names the model in its answers; responses report the requested one.
//!
//! Upstream docs: <https://docs.cohere.com/reference/chat>, errors
//! <https://docs.cohere.com/reference/errors>, limits
//! <https://docs.cohere.com/docs/rate-limits>.

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};

mod client;
mod convert;
mod errors;
mod limits;
mod models;
mod stream;
mod wire;

pub use client::CohereProvider;

/// The provider id.
pub(crate) const ID: &str = "cohere";

/// Cohere's registration: constants, embedded catalog and constructor.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Cohere",
    key_env: "COHERE_API_KEY",
    base_url_env: "COHERE_BASE_URL",
    default_base_url: "https://api.cohere.com/v2",
    default_model: "command-a-03-2025",
    catalog: include_str!("../catalog.toml"),
    default_priority: 50,
    docs_url: "https://docs.cohere.com/reference/chat",
    build,
};

register_provider!(FACTORY);

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(CohereProvider::new(cfg)?))
}

#[cfg(test)]
mod tests {
    use llmpool_core::testkit::assert_factory_consistent;

    use super::*;

    #[test]
    fn factory_is_consistent_and_registered() {
        let catalog = assert_factory_consistent(&FACTORY);
        assert_eq!(FACTORY.default_priority, 50);
        assert_eq!(catalog.day_reset_tz, "UTC");
        // 1,000 calls a month for the key, across all models; 20 a minute per model.
        assert_eq!(
            catalog.shared,
            llmpool_core::Limits {
                rpmonth: Some(1000),
                ..llmpool_core::Limits::default()
            }
        );
        for model in &catalog.models {
            assert_eq!(model.rpm, Some(20), "{}", model.id);
            assert_eq!(
                model.rpmonth, None,
                "{}: the monthly cap is shared",
                model.id
            );
            assert!(!model.prefill, "{}", model.id);
        }
        assert_eq!(catalog.models[1].id, "command-r7b-12-2024");
    }

    #[test]
    fn builds_and_refuses_an_empty_key() {
        let cfg = ProviderConfig::new(&FACTORY, "k-0123456789abcdef");
        assert_eq!(cfg.endpoint("/chat"), "https://api.cohere.com/v2/chat");
        assert_eq!((FACTORY.build)(&cfg).unwrap().id(), "cohere");
        let err = (FACTORY.build)(&ProviderConfig::new(&FACTORY, " ")).unwrap_err();
        assert_eq!(err.key, "api_key");
    }
}
