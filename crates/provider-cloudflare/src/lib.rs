//! Cloudflare Workers AI's OpenAI-compatible endpoint for llmpool.
//!
//! - **id** `cloudflare` (crate suffix, facade feature, config key)
//! - **env** `CLOUDFLARE_API_TOKEN` (an API token with the Workers AI permission;
//!   comma-separated for several), `CLOUDFLARE_ACCOUNT_ID` (the 32-hex account id, part of
//!   the URL), `CLOUDFLARE_BASE_URL` (override of the base URL)
//! - **base URL** `https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1`; the
//!   facade fills `{account_id}` from `CLOUDFLARE_ACCOUNT_ID` (also in an override that
//!   keeps the placeholder; a full URL is used as given). A URL that still holds the
//!   placeholder is refused with an error naming the variable. The crate appends
//!   `/chat/completions`.
//! - **auth** `Authorization: Bearer <API token>`
//! - **default priority** 50 (a small daily budget, good models)
//! - **upstream docs** <https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/>,
//!   errors <https://developers.cloudflare.com/workers-ai/platform/errors/>,
//!   pricing <https://developers.cloudflare.com/workers-ai/platform/pricing/>
//!
//! # Free tier
//!
//! 10,000 Neurons a day per account, shared by all models, ending at **00:00 UTC**;
//! about 150 short calls a day on `@cf/openai/gpt-oss-120b`, 440 on
//! `@cf/google/gemma-4-26b-a4b-it`. Text generation defaults to 300 requests a minute per
//! account. Workers Free refuses past the allocation (429 code 3036/4006); **Workers Paid
//! bills** instead, so the catalog's daily request caps are the self-cap that stops llmpool
//! first. The `cf-ai-neurons` header gives each call's real cost: it is read into the
//! rate-limit snapshot's `cost_milli` (thousandths of a Neuron, module `limits`), but the
//! ledger does not count Neurons yet, so the daily caps stay request counts.
//!
//! # Quirks handled here
//!
//! - **v4 envelope errors** `{"success":false,"errors":[{"code","message"}]}`: classified
//!   on `errors[0].code` (module `errors`), also when one arrives as the **first event of a
//!   200 stream**.
//! - **The daily wall has two codes** (3036 documented, 4006 live) → `QuotaExhausted`
//!   until the next 00:00 UTC, for the whole account.
//! - **403 is model-level** for 5035 (paid-plan-only model), 5016 (terms not accepted),
//!   5018/3041 → `ModelNotFound` (the route, not the key); **404 code 7003** is a wrong
//!   account id → `Unauthorized`.
//! - **429 code 3040** is capacity (per model, seconds) → `Transient`, not a quota.
//! - **Always send `max_tokens`**: the server default truncates reasoning models; the
//!   request policy sends 2,048 when the caller set none. `options.rejectIfBusy` is sent
//!   so a busy model fails fast (3040) instead of queueing.
//! - **Inline `<think>…</think>`** at the start of an answer (DeepSeek-R1 distills) is
//!   reasoning, not text: the OpenAI-compatible reader moves it to the answer's
//!   `reasoning` one-shot, and to `Reasoning` events in a stream even when the tags are
//!   split across chunks. A block never closed (cut off while thinking) is all reasoning;
//!   a `<think>` that does not open the answer is answer text.
//!
//! - **String content only** (§2): text-only part lists are sent as one string, a
//!   tool-only assistant turn as `""` instead of `null`; an image (or any other non-text
//!   part) fails the route by its place (`messages[1].content[0].image_url`) before any
//!   call (module `content`).
//! - **Tools** (`tools`, `tool_choice`, `parallel_tool_calls`) pass in the OpenAI shape
//!   (§2); no model in the catalog is documented to call them, so none claims tools.
//!   `logprobs` and `top_logprobs` are left out and named; `logit_bias` and
//!   `reasoning_effort` (not accepted, §2) fail the route by name.
//!
//! Not handled here: Neurons are reported per call, not counted against the daily 10,000.

mod content;
mod errors;
mod limits;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::wire::RequestPolicy;
use llmpool_openai_compat::{BodyRewrite, CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "cloudflare";

/// The env variable holding the account id that fills the base URL's placeholder.
pub const ACCOUNT_ID_ENV: &str = "CLOUDFLARE_ACCOUNT_ID";

/// The placeholder of the account id in the base URL.
pub const ACCOUNT_ID_PLACEHOLDER: &str = "{account_id}";

/// Cloudflare's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Cloudflare Workers AI",
    key_env: "CLOUDFLARE_API_TOKEN",
    base_url_env: "CLOUDFLARE_BASE_URL",
    default_base_url: "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1",
    default_model: "@cf/openai/gpt-oss-120b",
    catalog: include_str!("../catalog.toml"),
    default_priority: 50,
    docs_url: "https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/",
    build,
};

register_provider!(FACTORY);

/// Where Cloudflare departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    rate_limits: limits::parse,
    classify: errors::classify,
    embedded_error: errors::embedded_error,
    max_tokens_field: MaxTokensField::MaxTokens,
    body_rewrite: BodyRewrite {
        rename: &[],
        drop: &[],
        default_max_tokens: Some(2048),
        add: &[("options", r#"{"rejectIfBusy":true}"#)],
    },
    // Accepted: model, messages, temperature, top_p, max_tokens, stop, stream, tools,
    // tool_choice, parallel_tool_calls (cloudflare.md §2 [REC CF9]); the fields below are
    // dropped by the reference's proxy [UNC CF9]: the droppable ones are left out and
    // named, the others fail the route by name.
    request_policy: RequestPolicy {
        unsupported: &[
            "logprobs",
            "top_logprobs",
            "logit_bias",
            "reasoning_effort",
            "min_p",
        ],
        ..RequestPolicy::PASS_THROUGH
    },
    body_hook: content::string_content,
    ..CompatHooks::DEFAULT
};

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    if cfg.base_url.contains(ACCOUNT_ID_PLACEHOLDER) {
        return Err(ConfigError::new(
            ID,
            "base_url",
            format!(
                "the base URL still holds `{ACCOUNT_ID_PLACEHOLDER}`: set {ACCOUNT_ID_ENV} to the account id (32 hex characters), or give a full URL in CLOUDFLARE_BASE_URL"
            ),
        ));
    }
    Ok(Arc::new(OpenAiCompatProvider::new(cfg, &HOOKS)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_is_consistent_and_registered() {
        let catalog = FACTORY.model_catalog().unwrap();
        assert_eq!(catalog.models[0].id, FACTORY.default_model);
        assert_eq!(catalog.day_reset_tz, "UTC");
        let registry = llmpool_core::Registry::from_inventory().unwrap();
        assert_eq!(registry.get(ID).unwrap().key_env, "CLOUDFLARE_API_TOKEN");
        assert!(HOOKS.body_rewrite.invalid_additions().is_empty());
    }

    #[test]
    fn an_unfilled_account_id_is_a_clear_config_error() {
        let cfg = ProviderConfig::new(&FACTORY, "token-0123456789");
        let Err(err) = build(&cfg) else {
            panic!("built with `{{account_id}}` in the URL");
        };
        assert_eq!(err.key, "base_url");
        assert!(err.to_string().contains(ACCOUNT_ID_ENV), "{err}");
        let filled = cfg.with_base_url(
            "https://api.cloudflare.com/client/v4/accounts/0123456789abcdef0123456789abcdef/ai/v1",
        );
        assert!(build(&filled).is_ok());
    }
}
