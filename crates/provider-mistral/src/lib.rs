//! Mistral's La Plateforme free plan for llmpool, over its OpenAI-like chat-completions API.
//!
//! - **id** `mistral` (crate suffix, facade feature, config key)
//! - **env** `MISTRAL_API_KEY` (comma-separated for several), `MISTRAL_BASE_URL` (override
//!   of the base URL)
//! - **base URL** `https://api.mistral.ai/v1`; the crate appends `/chat/completions`
//! - **auth** `Authorization: Bearer <key>`
//! - **default priority** 35 (large monthly token allowance and good models, but one
//!   request per second and a free plan in flux)
//! - **upstream docs** <https://docs.mistral.ai/api/>, limits
//!   <https://help.mistral.ai/en/articles/424390-how-do-api-rate-limits-work-and-how-do-i-increase-them>
//!
//! # Free tier
//!
//! Per organisation (every key of one org shares it): about 1 request per second per key,
//! 500,000 tokens per minute and 1B tokens a month on the Experiment plan (4M measured), or
//! "$10/mo in API credits" on the newer Free plan. The catalog lists `ministral-8b-latest`
//! and `codestral-latest`; Small and Medium reportedly have a free limit of 0. Free-plan
//! prompts may be used for training unless the account opts out.
//!
//! # Quirks handled here
//!
//! - **Strict schema**: any unknown field is a 422 (`extra_forbidden`). The request
//!   policy drops `stream_options` (usage comes in the last chunk anyway), renames
//!   `max_completion_tokens` → `max_tokens` and `seed` → `random_seed`; the cap is sent as
//!   `max_tokens`.
//! - **One 429, three meanings**, told apart by the headers only: month tokens at 0 →
//!   `QuotaExhausted` until the 1st of next month 00:00 UTC (assumed; undocumented); a
//!   limit header at 0 → `ModelNotFound` (not on this free tier: disables the route, not
//!   the key); else `RateLimited` (module `errors`).
//! - **"Service tier capacity exceeded"** is a 429 whose `type` says
//!   `invalid_request_error`: `Transient`.
//! - **402** (credits of the $10 plan spent; body not captured) → `QuotaExhausted` until
//!   next month, not `PaymentRequired`.
//! - **400 `invalid_model` / code `1500`** → `ModelNotFound`.
//! - **`code` is a string or an integer; `message` can be an object** (422): the tolerant
//!   reader keeps it as text.
//! - **Array `content`** (`thinking` then `text` chunks, answers and deltas): the text
//!   chunks are the answer, the thinking chunks the reasoning (`reasoning` of the answer,
//!   `Reasoning` events of a stream; `reasoning_content` at the gateway), never mixed and
//!   never dropped (read by `llmpool-openai-compat`).
//! - **Headers**: `x-ratelimit-{limit,remaining}-{req-minute,tokens-minute,tokens-month}`,
//!   integers without reset times (module `limits`); the month window fills the
//!   snapshot's `tokens_month`, whose "0 left" the ledger takes as exhausted until the
//!   next UTC month.
//!
//! - **Tool-call ids must be exactly 9 letters or digits** (else 400 code `3280`): a tool
//!   conversation carrying other ids (OpenAI `call_…`, ids from another provider before a
//!   failover) has every `tool_calls[].id` and matching `tool_call_id` rewritten to the same
//!   9-character id, derived from the old one (module `tool_ids`); answers' ids pass back
//!   unchanged.
//! - **Fields the strict schema refuses** (mistral.md §2): `user`, `logprobs`,
//!   `top_logprobs`, `store`, `metadata`, a message's `name` and an assistant's earlier
//!   reasoning are left out and named in `dropped_params`; `logit_bias`, `top_k` and
//!   `min_p` change the answer, so a request with one of them fails this route by name.
//! - **Tools, `tool_choice`, `parallel_tool_calls` and `response_format`** (`json_object`,
//!   `json_schema`) pass through in the OpenAI shape (mistral.md §2).

mod errors;
mod limits;
mod tool_ids;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::wire::RequestPolicy;
use llmpool_openai_compat::{BodyRewrite, CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "mistral";

/// Mistral's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Mistral",
    key_env: "MISTRAL_API_KEY",
    base_url_env: "MISTRAL_BASE_URL",
    default_base_url: "https://api.mistral.ai/v1",
    default_model: "ministral-8b-latest",
    catalog: include_str!("../catalog.toml"),
    default_priority: 35,
    docs_url: "https://docs.mistral.ai/api/",
    build,
};

register_provider!(FACTORY);

/// Where Mistral departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    rate_limits: limits::parse,
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxTokens,
    body_rewrite: BodyRewrite {
        rename: &[
            ("max_completion_tokens", "max_tokens"),
            ("seed", "random_seed"),
        ],
        drop: &["stream_options"],
        default_max_tokens: None,
        add: &[],
    },
    request_policy: REQUEST_POLICY,
    body_hook: tool_ids::rewrite,
    ..CompatHooks::DEFAULT
};

/// The fields Mistral's strict schema answers with a 422 (mistral.md §2, "Strip or rename
/// before sending"): the droppable ones are left out and reported, `logit_bias`, `top_k`
/// and `min_p` fail the route by name. Messages lose `name` (refused on user messages) and
/// an assistant's earlier reasoning (refused in history).
const REQUEST_POLICY: RequestPolicy = RequestPolicy {
    unsupported: &[
        "user",
        "logprobs",
        "top_logprobs",
        "store",
        "metadata",
        "logit_bias",
        "top_k",
        "min_p",
    ],
    message_name: false,
    reasoning_input: false,
};

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(OpenAiCompatProvider::new(cfg, &HOOKS)?))
}

#[cfg(test)]
mod tests {
    use llmpool_core::testkit::assert_factory_consistent;
    use llmpool_openai_compat::ChatCompletionRequest;

    use super::*;

    #[test]
    fn factory_is_consistent_and_registered() {
        let catalog = assert_factory_consistent(&FACTORY);
        assert_eq!(catalog.shared.rpm, Some(60));
    }

    /// Fields a client may carry that Mistral's strict schema rejects or names otherwise.
    #[test]
    fn request_policy_fits_the_strict_schema() {
        let mut body: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"ministral-8b-latest","messages":[],"max_completion_tokens":256,
                "seed":42,"stream":true,"stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        HOOKS.body_rewrite.apply(&mut body);
        let sent = serde_json::to_value(&body).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"model":"ministral-8b-latest","messages":[],"max_tokens":256,
                "random_seed":42,"stream":true})
        );
    }
}
