//! Kilo AI Gateway's `:free` models for llmpool, keyless, over its OpenRouter-like
//! chat-completions API.
//!
//! - **id** `kilo` (crate suffix, facade feature, config key)
//! - **env** none needed; `KILO_API_KEY` (optional: a Kilo account key),
//!   `KILO_BASE_URL` (override of the base URL)
//! - **opt-in**: keyless, so llmpool uses it only when the user sets
//!   `[providers.kilo] enabled = true`. **Free-model prompts may be logged and used for
//!   training**, and they go to a third party the user never signed up with.
//! - **base URL** `https://api.kilo.ai/api/gateway` (**no `/v1`**); the crate appends
//!   `/chat/completions`
//! - **auth** none for free models: an empty key sends no `Authorization`; a key is sent
//!   as `Authorization: Bearer <key>` (an invalid one is silently served as anonymous on
//!   free models, so it never shows as an auth error there)
//! - **default priority** 80 (a keyless fallback with modest per-IP limits)
//! - **upstream docs** <https://kilo.ai/docs/gateway>
//!
//! # Free tier
//!
//! `:free` model ids and `kilo-auto/free` cost $0. Anonymous requests are limited per
//! **egress IP**, all free models together: 200 per rolling hour and 10,000 per rolling
//! 24 hours; upstream (OpenRouter) limits also apply. The free list rotates: a model whose
//! free period ended answers 404 `discontinued_free_model`.
//!
//! # Quirks handled here
//!
//! - **`error_type` decides** (module `errors`); bodies are
//!   `{"error": <string or object>, "error_type", "message"}`.
//! - **401 is not always Auth**: `promotion_limit_reached` is the 24-hour quota
//!   (`QuotaExhausted` for 24 h), `paid_model_auth_required` means the model is not free
//!   (`ModelNotFound`); only `authentication_required` is `Unauthorized`.
//! - **402 `usage_limit_exceeded`** ("Paid Model - Credits Required"): the model is not
//!   free → `ModelNotFound` (park the route).
//! - **404 `discontinued_free_model`** is permanent → `ModelNotFound`.
//! - **Keyless**: `CompatHooks::key_optional`.
//! - **`response_format` fails the route by name** before any call (free routes answer
//!   400 "Provider returned error"); the cap is sent as `max_tokens`; the gateway forces
//!   usage on streams.
//! - Tools and tool results pass in OpenRouter's (OpenAI's) shape; tool calls are repaired
//!   server-side.
//! - Reasoning arrives in OpenRouter's `reasoning` (read apart from the answer text);
//!   `:` keep-alive comments are ignored.

mod errors;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::wire::RequestPolicy;
use llmpool_openai_compat::{BodyRewrite, CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "kilo";

/// Kilo's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Kilo Gateway",
    key_env: "KILO_API_KEY",
    base_url_env: "KILO_BASE_URL",
    default_base_url: "https://api.kilo.ai/api/gateway",
    default_model: "kilo-auto/free",
    catalog: include_str!("../catalog.toml"),
    default_priority: 80,
    docs_url: "https://kilo.ai/docs/gateway",
    build,
};

register_provider!(FACTORY);

/// Where Kilo departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxTokens,
    body_rewrite: BodyRewrite {
        rename: &[],
        drop: &[],
        default_max_tokens: None,
        add: &[],
    },
    // Kilo's free lane rejects `response_format`: a JSON format changes the answer, so
    // such a request fails this route by name and moves on instead of losing the format.
    request_policy: RequestPolicy {
        unsupported: &["response_format"],
        ..RequestPolicy::PASS_THROUGH
    },
    key_optional: true,
    ..CompatHooks::DEFAULT
};

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(OpenAiCompatProvider::new(cfg, &HOOKS)?))
}

#[cfg(test)]
mod tests {
    use llmpool_core::testkit::assert_factory_consistent;

    use super::*;

    #[test]
    fn factory_is_consistent_and_registered() {
        let catalog = assert_factory_consistent(&FACTORY);
        assert_eq!(
            (catalog.shared.rpm, catalog.shared.rpd),
            (Some(3), Some(10_000))
        );
        assert!(build(&ProviderConfig::new(&FACTORY, "")).is_ok());
    }

    /// A JSON format changes the answer: Kilo's free lane rejects it, so the route is
    /// refused by name before any call (never sent without it).
    #[tokio::test]
    async fn response_format_fails_the_route_by_name() {
        let cfg = ProviderConfig::new(&FACTORY, "").with_base_url("http://127.0.0.1:1/api/gateway");
        let provider = build(&cfg).unwrap();
        let mut req = llmpool_core::ChatRequest::from_user("hi");
        req.response_format = Some(llmpool_core::ResponseFormat::JsonObject);
        let err = provider.chat(&req).await.unwrap_err();
        assert!(
            matches!(err.kind, llmpool_core::ErrorKind::BadRequest),
            "{err:?}"
        );
        assert!(
            err.message
                .as_deref()
                .unwrap_or_default()
                .contains("response_format"),
            "{err:?}"
        );
    }
}
