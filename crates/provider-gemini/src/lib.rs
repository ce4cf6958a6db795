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
//!   `https:` URLs), `reasoning_effort` (`thinkingConfig`). Tools are refused by name
//!   until mapped; `user`, `logprobs` and other meaning-neutral fields are dropped and
//!   reported.
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
