//! Google Gemini for llmpool, over Gemini's native `generateContent` API.
//!
//! - **id** `gemini` (crate suffix, facade feature, config key)
//! - **env** `GEMINI_API_KEY` (the key), `GEMINI_BASE_URL` (override of the base URL)
//! - **base URL** `https://generativelanguage.googleapis.com/v1beta`; the crate appends
//!   `/models/{model}:generateContent` and `/models/{model}:streamGenerateContent?alt=sse`
//! - **auth** the `x-goog-api-key` header only; the key is never put in the URL
//! - **default priority** 30
//! - **upstream docs** <https://ai.google.dev/api/generate-content>,
//!   errors <https://ai.google.dev/gemini-api/docs/troubleshooting>,
//!   limits <https://ai.google.dev/gemini-api/docs/rate-limits>
//!
//! # Free tier
//!
//! Limits are per Google Cloud project and per model, and requests per day reset at
//! **midnight US Pacific time**. The embedded catalog (`catalog.toml`) lists the free
//! models best first: `gemini-3.1-flash-lite` (15 RPM, 500 RPD, 250K input TPM) for
//! volume; `gemini-2.5-flash`, `gemini-3.5-flash`, `gemini-3-flash-preview` (5 RPM,
//! 20 RPD; the last two share one quota bucket, `gemini-3-flash`, so 20 RPD for the pair)
//! and `gemini-3.6-flash` (20 RPD) for a few better answers;
//! `gemini-2.5-flash-lite` (10 RPM, 20 RPD); Gemma 3 (`gemma-3-27b-it` and smaller: 30
//! RPM, 14,400 RPD, 15K TPM). Pro models have no free tier. Figures as of October 2026;
//! override them from config when Google changes them.
//!
//! # Mapping
//!
//! - System messages become `systemInstruction`; `assistant` becomes `model`;
//!   consecutive messages of one role are merged into one turn; empty messages are
//!   dropped. `temperature`, `max_tokens`, `top_p` and `stop` go to `generationConfig`
//!   (`temperature`, `maxOutputTokens`, `topP`, `stopSequences`).
//! - Text is every non-thought text part of the first candidate; thought parts (asked
//!   for with `includeThoughts` when the request sets a reasoning effort) become the
//!   answer's reasoning; usage counts thinking tokens as completion tokens (candidates +
//!   thoughts); the model is `modelVersion`.
//! - Mapped beyond plain chat: `seed`, `response_format` (`responseMimeType` +
//!   `responseJsonSchema`), images (`inlineData` for `data:` URLs, `fileData` for
//!   `https:` URLs), `reasoning_effort` (`thinkingConfig`), tools (below). `user`,
//!   `logprobs`, `parallel_tool_calls` (Gemini has no such control) and other
//!   meaning-neutral fields are dropped and reported.
//!
//! # Tools
//!
//! - `tools` become one `{"functionDeclarations": [...]}`; each function's schema goes
//!   as `parametersJsonSchema` (JSON Schema, only the root `$schema` removed), not as
//!   the OpenAPI-subset `parameters`, which rejects the whole request for one keyword
//!   it does not know (`additionalProperties`, `const`, …) and would need a sanitizer
//!   that loosens the caller's schema. A function without arguments (no schema, `{}` or
//!   an object without properties) has none. Names Gemini rejects are refused locally.
//! - `tool_choice` → `toolConfig.functionCallingConfig.mode`: `auto` → `AUTO`, `none`
//!   → `NONE` (declarations kept), `required` → `ANY`, a named function → `ANY` +
//!   `allowedFunctionNames`; `strict` tools under the default choice → `VALIDATED`.
//! - Combinations Gemini answers 400 are refused before any call as `BadRequest`
//!   naming the fields (the router moves on): a JSON `response_format` with a forced
//!   call (`required` or named), and on models before Gemini 3 a JSON format with
//!   tools at all; tools to Gemma 3 and older (no function calling).
//! - History: an assistant message's tool calls become `functionCall` parts of its
//!   `model` turn (arguments parsed; invalid JSON or a non-object is a `BadRequest`
//!   naming the call); `tool` messages become `functionResponse` parts named after the
//!   matching call (a result answering no earlier call is a `BadRequest`), all
//!   results of one turn in **one** `user` content, each as
//!   `{"name": <function>, "content": <result>}` (a JSON object or array as itself,
//!   anything else, or JSON holding `$ref`/`$defs` keys, as text).
//! - Answers: `functionCall` parts become `tool_calls` (arguments as a JSON text, `{}`
//!   when absent) and the finish reason `tool_calls` (Gemini says `STOP`);
//!   `MALFORMED_FUNCTION_CALL`, `UNEXPECTED_TOOL_CALL` and `TOO_MANY_TOOL_CALLS` without
//!   any answer are `InvalidResponse` errors. Streamed, each call arrives whole and
//!   goes out as one tool-call delta (index, id, name and the whole arguments).
//! - **Thought signatures, stateless.** Gemini 3 signs the first call of a turn and
//!   answers 400 when the next request replays it without the signature. The gateway
//!   keeps no conversation state, so the signature travels in the call's id (option 1
//!   of capabilities.md §6.5): a signed call's id is `call_g1` + base64url of
//!   `{"g": <Gemini's id>, "s": <signature>}`, which clients send back unchanged; an
//!   unsigned call keeps Gemini's id, and a call Gemini gave no id (Gemini 2.5) gets
//!   `call_<responseId>_<index>`. Building the next request decodes such ids back into
//!   `functionCall.id`/`functionResponse.id` and `thoughtSignature`; any other id (from
//!   another provider after a failover, or made by the client) is sent as the call's
//!   id, and on Gemini 3 models the first call of a turn left without a signature gets
//!   Google's documented placeholder `skip_thought_signature_validator`. Signed ids are
//!   long (signatures run from 70 to 1,500+ characters). Signatures on text parts are
//!   not carried back (recommended by Google, not enforced).
//!
//! # Quirks
//!
//! - **Gemma rejects `systemInstruction`** (400 "Developer instruction is not enabled"):
//!   for `gemma-*` models the system prompt is folded into the first user turn.
//! - **At most five stop sequences**: a request with more is refused locally as
//!   [`ErrorKind::BadRequest`](llmpool_core::ErrorKind::BadRequest) (Gemini would
//!   answer 400; dropping some would let output run past a requested stop).
//! - **A bad key is HTTP 400** (`INVALID_ARGUMENT`, reason `API_KEY_INVALID`), a missing
//!   one 403: classified as `Unauthorized` from the body, never by status alone.
//! - **429 means three things**: `…PerMinute…` quota → `RateLimited` for
//!   `RetryInfo.retryDelay`; `…PerDay…` → `QuotaExhausted` until the next midnight in
//!   America/Los_Angeles (the short `retryDelay` is ignored); `limit: 0` → the model
//!   has no free tier → `ModelNotFound`.
//! - **No rate-limit headers**: only a `retry-after` (never observed) is read; limits
//!   named in 429 bodies fill the error's rate-limit snapshot.
//! - **Streams** are framed with CRLF and have no `[DONE]`: the body's end is the end,
//!   a stream without a `finishReason` was cut and ends with an error, and a raw JSON
//!   error appended after valid events (even after the `finishReason`) becomes an error.
//!   Usage is cumulative on every chunk; the last one is kept.
//! - **Blocked prompts** (`promptFeedback.blockReason`) and answers stopped for safety
//!   before any text are `ContentFiltered`.
//! - **Prefill**: Gemini continues a trailing `model` turn on some models only; the
//!   catalog marks them (`prefill = true`), others answer 400.

mod client;
mod convert;
mod errors;
mod limits;
mod models;
mod signature;
mod stream;
mod tools;
mod wire;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};

pub use crate::client::GeminiProvider;

/// The decoding step of [`GeminiProvider`]'s one-shot `chat`: a successful
/// `generateContent` body to its text, finish reason and usage, exactly as `chat` reads
/// it. Exposed for the crate's benchmark (`cargo bench -p llmpool-provider-gemini`).
#[doc(hidden)]
pub fn decode_generate_content(
    body: &[u8],
    model: &str,
) -> Result<
    (
        String,
        Option<llmpool_core::FinishReason>,
        Option<llmpool_core::Usage>,
    ),
    llmpool_core::ProviderError,
> {
    let parsed: wire::GenerateContentResponse = serde_json::from_slice(body).map_err(|e| {
        llmpool_core::ProviderError::new(ID, llmpool_core::ErrorKind::InvalidResponse)
            .with_message(format!("unparseable response body: {e}"))
    })?;
    let answer = convert::answer(&parsed, model)?;
    Ok((answer.text, answer.finish_reason, answer.usage))
}

/// The provider id.
pub(crate) const ID: &str = "gemini";

/// Gemini's registration: constants and constructor. Also registered with the
/// inventory, so linking this crate is enough for the registry to find it.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Google Gemini",
    key_env: "GEMINI_API_KEY",
    base_url_env: "GEMINI_BASE_URL",
    default_base_url: "https://generativelanguage.googleapis.com/v1beta",
    default_model: "gemini-3.1-flash-lite",
    catalog: CATALOG,
    default_priority: 30,
    docs_url: "https://ai.google.dev/api/generate-content",
    build,
};

register_provider!(FACTORY);

/// The embedded model catalog (core's `ModelCatalog` TOML format).
const CATALOG: &str = include_str!("../catalog.toml");

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(GeminiProvider::new(cfg)?))
}

#[cfg(test)]
mod tests {
    use llmpool_core::testkit::assert_factory_consistent;

    use super::*;

    #[test]
    fn factory_is_consistent_and_registered() {
        assert_factory_consistent(&FACTORY);
        assert_eq!(FACTORY.default_priority, 30);
    }

    #[test]
    fn catalog_resets_at_pacific_midnight() {
        let catalog = FACTORY.model_catalog().unwrap();
        assert_eq!(
            catalog.day_reset_zone("test").unwrap(),
            limits::DAY_RESET_TZ
        );
        let gemma = catalog.model("gemma-3-27b-it").unwrap();
        assert_eq!(
            (gemma.rpm, gemma.rpd, gemma.tpm),
            (Some(30), Some(14_400), Some(15_000))
        );
        assert!(catalog.models.iter().all(|m| !m.id.contains("pro")));
    }

    #[test]
    fn flash_3_models_share_one_bucket() {
        let catalog = FACTORY.model_catalog().unwrap();
        let in_bucket: Vec<&str> = catalog
            .models
            .iter()
            .filter(|m| m.bucket.as_deref() == Some("gemini-3-flash"))
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(in_bucket, ["gemini-3.5-flash", "gemini-3-flash-preview"]);
        let a = catalog.model("gemini-3.5-flash").unwrap();
        let b = catalog.model("gemini-3-flash-preview").unwrap();
        assert_eq!(a.limits(), b.limits());
        assert_eq!((a.rpm, a.rpd), (Some(5), Some(20)));
        assert!(
            catalog.shared.is_empty(),
            "limits are per model and project"
        );
    }
}
