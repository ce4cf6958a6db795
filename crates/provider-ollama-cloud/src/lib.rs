//! Ollama Cloud's Free plan for llmpool, over Ollama's OpenAI-compatibility layer.
//!
//! - **id** `ollama-cloud` (facade feature and config key; the Rust crate is
//!   `llmpool_provider_ollama_cloud`)
//! - **env** `OLLAMA_API_KEY` (Ollama's own name; comma-separated for several),
//!   `OLLAMA_CLOUD_BASE_URL` (override of the base URL)
//! - **base URL** `https://ollama.com/v1`; the crate appends `/chat/completions`
//! - **auth** `Authorization: Bearer <key>`
//! - **default priority** 60 (good starter models, but one request in flight and an
//!   unpublished monthly allowance)
//! - **upstream docs** <https://docs.ollama.com/cloud>, pricing <https://ollama.com/pricing>
//!
//! # Free tier
//!
//! "Starter usage credits" of GPU time a month from the signup date (amount unpublished),
//! one request in flight per account, starter models only (`gpt-oss:120b`, `gpt-oss:20b`,
//! `nemotron-3-super`, `gemma4:31b`); larger models answer 403 "requires a subscription".
//! Legacy plans count a 5-hour session window and a weekly window instead. Model ids are
//! the library names without the local `-cloud` suffix. Ollama says prompts and outputs
//! are not logged or used for training.
//!
//! # Quirks handled here
//!
//! - **403 "this model requires a subscription"** (also possible inside a 200 on `/v1`)
//!   → `ModelNotFound`: the route, not the key.
//! - **429 means different walls, told apart by the text**: monthly (parked a day, then
//!   re-probed: llmpool cannot know the signup date), weekly (next Monday 00:00 UTC),
//!   5-hour session (next 18,000-second epoch), hourly (`RateLimited` to the next hour);
//!   any other 429 is the one-request-in-flight limit (module `errors`).
//! - **410** (model withdrawn) → `ModelNotFound`.
//! - **Unknown fields are silently ignored**: the cap is sent as `max_tokens` (a
//!   `max_completion_tokens` would be dropped without error), and
//!   `stream_options.include_usage` is always sent on streams (usage comes only then).
//! - Reasoning arrives in `reasoning` / `delta.reasoning` (read as the answer's reasoning,
//!   never as its text); every chunk repeats `delta.role`. `reasoning_effort` and an
//!   assistant's earlier `reasoning` pass through (both are read, §2).
//! - **Tools, JSON formats and images** pass in the OpenAI shape (§2), except what the
//!   layer would ignore in silence and that changes the answer: a `tool_choice` other than
//!   `auto`, and an image by https URL (data URLs only), fail the route by name before any
//!   call (module `surface`). `logprobs`, `top_logprobs`, `user` and `parallel_tool_calls`
//!   (ignored too) are left out and named in `dropped_params`; `logit_bias` is refused.
//!
//! Not handled here: frontier models take 30–90 s on Free; give `[providers.ollama-cloud]`
//! a longer timeout when routing to them.

mod errors;
mod surface;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::wire::RequestPolicy;
use llmpool_openai_compat::{BodyRewrite, CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "ollama-cloud";

/// Ollama Cloud's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Ollama Cloud",
    key_env: "OLLAMA_API_KEY",
    base_url_env: "OLLAMA_CLOUD_BASE_URL",
    default_base_url: "https://ollama.com/v1",
    default_model: "gpt-oss:120b",
    catalog: include_str!("../catalog.toml"),
    default_priority: 60,
    docs_url: "https://docs.ollama.com/cloud",
    build,
};

register_provider!(FACTORY);

/// Where Ollama Cloud departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxTokens,
    body_rewrite: BodyRewrite {
        rename: &[],
        drop: &[],
        default_max_tokens: None,
        add: &[],
    },
    request_policy: RequestPolicy {
        unsupported: &[
            "logprobs",
            "top_logprobs",
            "user",
            "parallel_tool_calls",
            "logit_bias",
        ],
        ..RequestPolicy::PASS_THROUGH
    },
    body_hook: surface::refuse_ignored,
    ..CompatHooks::DEFAULT
};

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(OpenAiCompatProvider::new(cfg, &HOOKS)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_is_consistent_and_registered() {
        let catalog = FACTORY.model_catalog().unwrap();
        assert_eq!(catalog.models[0].id, FACTORY.default_model);
        let registry = llmpool_core::Registry::from_inventory().unwrap();
        let registered = registry.get(ID).unwrap();
        assert_eq!(registered.key_env, "OLLAMA_API_KEY");
        assert_eq!(registered.base_url_env, "OLLAMA_CLOUD_BASE_URL");
    }
}
