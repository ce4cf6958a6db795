//! Hugging Face's Inference Providers router for llmpool, over the OpenAI-compatible
//! chat-completions API.
//!
//! - **id** `huggingface` (crate suffix, facade feature, config key)
//! - **env** `HF_TOKEN` (Hugging Face's own name; a token with the "Make calls to
//!   Inference Providers" permission; comma-separated for several),
//!   `HUGGINGFACE_BASE_URL` (override of the base URL)
//! - **base URL** `https://router.huggingface.co/v1`; the crate appends `/chat/completions`
//! - **auth** `Authorization: Bearer hf_…`
//! - **default priority** 70 (a small monthly dollar budget: overflow)
//! - **upstream docs** <https://huggingface.co/docs/inference-providers/index>,
//!   pricing <https://huggingface.co/docs/inference-providers/pricing>
//!
//! # Free tier
//!
//! Less than $0.10 of routed usage a month per account (all models, all backends), reset
//! at an undocumented moment (the 1st, 00:00 UTC assumed). No per-minute limit is
//! documented. Model ids are Hub repo ids; the catalog uses the `:cheapest` suffix, which
//! lets the router pick the cheapest enabled backend. **Accounts holding purchased credits
//! are billed past the free amount** instead of refused: the catalog's `[shared] rpmonth`
//! is the self-cap that stops llmpool first.
//!
//! # Quirks handled here
//!
//! - **402 is the monthly wall**, not billing: `QuotaExhausted` until next month, for the
//!   whole account (module `errors`).
//! - **403 means two things**: a gated model whose licence the user has not accepted →
//!   `ModelNotFound` (the route, not the key); a token without the Inference Providers
//!   permission (`permission_error`) → `Unauthorized`.
//! - **400 `model_not_supported`** (no enabled backend serves the model) → `ModelNotFound`.
//! - **Error bodies** are a flat string `{"error":"…"}` or an OpenAI `error` object; the
//!   tolerant reader accepts both.
//! - A backend's `NOT_ENOUGH_BALANCE` is `Transient` (another backend may answer).
//! - Reasoning fields are the backend's (`reasoning_content` or `reasoning`); neither is
//!   answer text. `x-inference-provider` names the backend that served the call.

mod errors;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::{CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "huggingface";

/// Hugging Face's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Hugging Face",
    key_env: "HF_TOKEN",
    base_url_env: "HUGGINGFACE_BASE_URL",
    default_base_url: "https://router.huggingface.co/v1",
    default_model: "openai/gpt-oss-20b:cheapest",
    catalog: include_str!("../catalog.toml"),
    default_priority: 70,
    docs_url: "https://huggingface.co/docs/inference-providers/index",
    build,
};

register_provider!(FACTORY);

/// Where Hugging Face departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxTokens,
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
        assert_eq!(catalog.shared.rpmonth, Some(300));
        let registry = llmpool_core::Registry::from_inventory().unwrap();
        assert_eq!(registry.get(ID).unwrap().key_env, "HF_TOKEN");
    }
}
