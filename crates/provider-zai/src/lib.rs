//! Z.ai's (Zhipu) free GLM Flash models for llmpool, over its OpenAI-like
//! chat-completions API.
//!
//! - **id** `zai` (crate suffix, facade feature, config key)
//! - **env** `ZAI_API_KEY` (comma-separated for several), `ZAI_BASE_URL` (override of the
//!   base URL)
//! - **base URL** `https://api.z.ai/api/paas/v4` (**no `/v1`**); China-console keys need
//!   `https://open.bigmodel.cn/api/paas/v4` (the consoles do not share keys); the Coding
//!   Plan endpoints (`/api/coding/paas/v4`) are another product. The crate appends
//!   `/chat/completions`.
//! - **auth** `Authorization: Bearer <key>`
//! - **default priority** 55 (free models of good quality, but about one request in
//!   flight per key and unpublished limits)
//! - **upstream docs** <https://docs.z.ai/api-reference/llm/chat-completion>,
//!   errors <https://docs.z.ai/api-reference/api-code>
//!
//! # Free tier
//!
//! `glm-4.7-flash`, `glm-4.5-flash` and `glm-4.6v-flash` are priced free. No RPM or RPD
//! is published; a daily cap exists (code 1304) without a number, and a free key allows
//! about one request in flight. Reset times written in messages are China time (UTC+8)
//! without a zone.
//!
//! # Quirks handled here
//!
//! - **The business code decides, not the status**: a 429 can be concurrency (1302),
//!   frequency (1303, 1305), a daily wall (1304), a window wall with a reset time
//!   (1308, 1310), a locked account (1110–1112, 1121, 1313) or **1113 "Insufficient
//!   balance"** — which for a free key means this model is not free: `ModelNotFound`,
//!   never retried (module `errors`).
//! - **Codes are strings** (`"1302"`), messages often Chinese: classified on the code.
//! - **`thinking: {"type":"disabled"}`** is sent unless the caller set `thinking`:
//!   GLM-4.7-Flash otherwise reasons silently for tens of seconds before the first byte.
//! - **Undocumented fields are dropped**: `stream_options`; `seed`, `user`, `logprobs`,
//!   `top_logprobs`, `parallel_tool_calls` and an assistant's earlier reasoning are left out
//!   and named in `dropped_params`; `logit_bias` fails the route by name.
//! - **`reasoning_effort` becomes `thinking`**: the free Flash models take no effort, only
//!   `thinking` on or off (zai.md §2): `none` sends `{"type":"disabled"}`, any other effort
//!   `{"type":"enabled"}`; the trace comes back in `reasoning_content`, apart from the text.
//! - **`response_format` is `json_object` only** (§2): a `json_schema` request fails the
//!   route by name before any call rather than being answered as loose JSON.
//! - Tools, `tool_choice`, tool results and images (`glm-4.6v-flash`) pass in the OpenAI
//!   shape.
//!
//! Not handled here: a paid model called with a free key may hang without an error;
//! the router's timeout ends it as `Timeout`, not `ModelNotFound`.

mod errors;

use std::sync::Arc;

use llmpool_core::{
    ConfigError, Provider, ProviderConfig, ProviderFactory, ResponseFormat, register_provider,
};
use llmpool_openai_compat::wire::RequestPolicy;
use llmpool_openai_compat::{
    BodyRewrite, ChatCompletionRequest, CompatHooks, MaxTokensField, OpenAiCompatProvider,
};

/// The provider id.
pub(crate) const ID: &str = "zai";

/// Z.ai's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Z.ai",
    key_env: "ZAI_API_KEY",
    base_url_env: "ZAI_BASE_URL",
    default_base_url: "https://api.z.ai/api/paas/v4",
    default_model: "glm-4.7-flash",
    catalog: include_str!("../catalog.toml"),
    default_priority: 55,
    docs_url: "https://docs.z.ai/api-reference/llm/chat-completion",
    build,
};

register_provider!(FACTORY);

/// Where Z.ai departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxTokens,
    body_rewrite: BodyRewrite {
        rename: &[],
        drop: &["stream_options"],
        default_max_tokens: None,
        add: &[("thinking", r#"{"type":"disabled"}"#)],
    },
    // Z.ai has no `seed` (it samples with `do_sample`), and documents neither `user` (it
    // has `user_id`), `logprobs`, `parallel_tool_calls` nor `logit_bias` (zai.md §2): the
    // droppable ones are left out and reported, `logit_bias` fails the route by name.
    request_policy: RequestPolicy {
        unsupported: &[
            "seed",
            "user",
            "logprobs",
            "top_logprobs",
            "parallel_tool_calls",
            "logit_bias",
        ],
        message_name: true,
        reasoning_input: false,
    },
    body_hook: thinking_and_json,
    ..CompatHooks::DEFAULT
};

/// `reasoning_effort` → `thinking` (the free Flash models take no effort, zai.md §2), and
/// the refusal of `json_schema` (only `json_object` is documented).
///
/// # Errors
///
/// `response_format.json_schema` for a JSON-schema request.
fn thinking_and_json(body: &mut ChatCompletionRequest, _: &mut Vec<String>) -> Result<(), String> {
    if matches!(
        body.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ) {
        return Err("response_format.json_schema".to_owned());
    }
    if let Some(effort) = body.reasoning_effort.take() {
        let kind = if effort == "none" {
            "disabled"
        } else {
            "enabled"
        };
        body.extra
            .insert("thinking".to_owned(), serde_json::json!({ "type": kind }));
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
        assert_eq!(catalog.day_reset_tz, "Asia/Shanghai");
        assert!(HOOKS.body_rewrite.invalid_additions().is_empty());
    }
}
