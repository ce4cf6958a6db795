//! NVIDIA NIM's hosted API catalog (build.nvidia.com) for llmpool, over the
//! OpenAI-compatible chat-completions API.
//!
//! - **id** `nvidia` (crate suffix, facade feature, config key)
//! - **env** `NVIDIA_API_KEY` (the key, `nvapi-…`; comma-separated for several),
//!   `NVIDIA_BASE_URL` (override of the base URL)
//! - **base URL** `https://integrate.api.nvidia.com/v1`; the crate appends `/chat/completions`
//! - **auth** `Authorization: Bearer <key>`
//! - **default priority** 45 (after the first five's strong free tiers: per-minute limits
//!   only, but slow first bytes on several models and models retired without notice)
//! - **upstream docs** <https://docs.api.nvidia.com/nim/reference/llm-apis>
//!
//! # Free tier
//!
//! Recurring and free, limited by requests per minute rather than credits: about 40 per
//! account, "may vary by model" (second-hand figure), with per-(key, model) throttles that
//! can last minutes. No daily, token or monthly cap is published. The terms allow
//! **evaluation and prototyping only, not production**. The catalog (`catalog.toml`) lists
//! `nvidia/nemotron-3-super-120b-a12b`, `openai/gpt-oss-20b` and `z-ai/glm-5.2`, which
//! answered free keys in Aug–Sept 2026.
//!
//! # Quirks handled here
//!
//! - **Problem-JSON errors** (`{"status","title","detail"}`, no `error` key); `detail` is
//!   the message. One capacity error is an OpenAI `error` object, one 404 is plain text.
//! - **A 400 can be transient**: "… DEGRADED function cannot be invoked" is a sick
//!   deployment, not the caller's fault → `Transient` (switch model).
//! - **410 end of life** ("… has reached its end of life on …") is permanent and sent
//!   before auth → `ModelNotFound`.
//! - **404 "Not found for account"** means the key is fine and the model is not served to
//!   this account → `ModelNotFound` (the route, not the key); plain-text `404 page not
//!   found` likewise.
//! - **403 is Auth** here (bad key on a live model, NGC personal key, account without API
//!   permission); 401 too.
//! - **429 has no headers and no body detail** → `RateLimited` for 60 s, the first step of
//!   the reference's 60 s / 5 min / 15 min cooldown.
//! - The output cap is sent as `max_tokens` (NIM's name); streams ask for
//!   `stream_options.include_usage` and take usage from the last chunk.
//! - Reasoning models put their trace in `reasoning_content` (read as the answer's
//!   reasoning, never as its text) and can spend the whole budget thinking: a one-shot
//!   answer with an empty `content` is an `InvalidResponse` for that attempt, not a success.
//! - **Tools** pass in the OpenAI shape (nvidia.md §2). Several models answer 400 "This
//!   model only supports single tool-calls at once!" to parallel calls: a request with
//!   tools that does not choose is sent with `parallel_tool_calls: false` (a client's own
//!   choice is sent as it is). Reasoning switches are model-specific (`chat_template_kwargs`,
//!   a `/think` system line), not `reasoning_effort`, so no model here claims reasoning.
//!
//! Not handled here: an empty streamed answer ends as an empty success. First bytes can
//! take minutes on some models: give `[providers.nvidia]` a longer timeout when routing
//! to them.

mod errors;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::{
    ChatCompletionRequest, CompatHooks, MaxTokensField, OpenAiCompatProvider,
};

/// The provider id.
pub(crate) const ID: &str = "nvidia";

/// NVIDIA's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "NVIDIA NIM",
    key_env: "NVIDIA_API_KEY",
    base_url_env: "NVIDIA_BASE_URL",
    default_base_url: "https://integrate.api.nvidia.com/v1",
    default_model: "nvidia/nemotron-3-super-120b-a12b",
    catalog: include_str!("../catalog.toml"),
    default_priority: 45,
    docs_url: "https://docs.api.nvidia.com/nim/reference/llm-apis",
    build,
};

register_provider!(FACTORY);

/// Where NVIDIA departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxTokens,
    empty_answer_is_invalid: true,
    body_hook: one_tool_call_at_a_time,
    ..CompatHooks::DEFAULT
};

/// Asks for one tool call at a time when the request declares tools and leaves
/// `parallel_tool_calls` unset: several NIM models refuse parallel calls with a 400
/// (nvidia.md §2, §5 [REC N2]). A client that chose either way is sent its choice.
#[expect(
    clippy::unnecessary_wraps,
    reason = "the signature of CompatHooks::body_hook"
)]
fn one_tool_call_at_a_time(
    body: &mut ChatCompletionRequest,
    _: &mut Vec<String>,
) -> Result<(), String> {
    if !body.tools.is_empty() && body.parallel_tool_calls.is_none() {
        body.parallel_tool_calls = Some(false);
    }
    Ok(())
}

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
        assert_eq!(catalog.shared.rpm, Some(40));
        assert!(catalog.models.iter().all(|m| m.rpm == Some(40)));
    }
}
