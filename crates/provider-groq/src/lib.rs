//! Groq's free plan for llmpool, over the OpenAI-compatible chat-completions API.
//!
//! - **id** `groq` (crate suffix, facade feature, config key)
//! - **env** `GROQ_API_KEY` (the key, `gsk_…`), `GROQ_BASE_URL` (override of the base URL)
//! - **base URL** `https://api.groq.com/openai/v1`; the crate appends `/chat/completions`
//! - **auth** `Authorization: Bearer <key>`
//! - **default priority** 10 (tried first)
//! - **upstream docs** <https://console.groq.com/docs/api-reference>,
//!   errors <https://console.groq.com/docs/errors>,
//!   limits <https://console.groq.com/docs/rate-limits>
//!
//! # Free tier
//!
//! Limits are per organization (keys of one org share them) and per model. The embedded
//! catalog (`catalog.toml`) lists `openai/gpt-oss-120b`, `openai/gpt-oss-20b` and
//! `qwen/qwen3.8-27b`, each at 30 requests per minute, 1,000 per day, 8,000 tokens per
//! minute and 200,000 per day (Groq docs, October 2026). Groq retires models every few
//! months; override the catalog from config when it does.
//!
//! # Quirks handled here
//!
//! - **Rate-limit headers mix windows**: `x-ratelimit-*-requests` is the requests-per-
//!   **day** window, `x-ratelimit-*-tokens` the tokens-per-**minute** window; resets are Go
//!   durations like `2m59.56s` (module `limits`).
//! - **429 means a minute or a day**, told only by the message: "… per day (RPD)" / "(TPD)"
//!   is `QuotaExhausted` until now plus the wait ("Please try again in 9m38.016s", or
//!   `retry-after`); "per minute" is `RateLimited` for that wait.
//! - **413 `rate_limit_exceeded`** means one request is bigger than the tokens-per-minute
//!   limit: `BadRequest` (never resent unchanged), not a rate limit.
//! - **Retired models** answer 400 `model_decommissioned` or 404 `model_not_found`: both
//!   are `ModelNotFound`. **498** (flex capacity) is `Transient`.
//! - **Cloudflare** may answer 403 with an HTML page: `Unauthorized` (a block, not a
//!   transient failure).
//! - **Streams** carry usage in the final chunk's `usage` and/or `x_groq.usage`; an
//!   `x_groq.error` string or a top-level `error` object inside a stream ends it with an
//!   error.
//! - The output cap is sent as `max_completion_tokens`.

mod errors;
mod limits;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::wire::RequestPolicy;
use llmpool_openai_compat::{CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "groq";

/// Groq's registration: constants and constructor. Also registered with the inventory,
/// so linking this crate is enough for the registry to find it.
///
/// A `const` rather than a `static`: `register_provider!` needs a value it can copy into
/// the inventory's own static.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Groq",
    key_env: "GROQ_API_KEY",
    base_url_env: "GROQ_BASE_URL",
    default_base_url: "https://api.groq.com/openai/v1",
    default_model: "openai/gpt-oss-120b",
    catalog: CATALOG,
    default_priority: 10,
    docs_url: "https://console.groq.com/docs/api-reference",
    build,
};

register_provider!(FACTORY);

/// The embedded model catalog (core's `ModelCatalog` TOML format).
const CATALOG: &str = include_str!("../catalog.toml");

/// Where Groq departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    rate_limits: limits::parse,
    classify: errors::classify,
    embedded_error: errors::embedded_error,
    max_tokens_field: MaxTokensField::MaxCompletionTokens,
    request_policy: REQUEST_POLICY,
    ..CompatHooks::DEFAULT
};

/// Groq answers 400 to `logprobs`, `top_logprobs` and `logit_bias`, to `name` on a
/// message and to an assistant's earlier `reasoning_content` (capabilities.md §1.1, §5):
/// the first two and the message fields are left out and reported as dropped,
/// `logit_bias` (it changes the answer) fails the route by name.
const REQUEST_POLICY: RequestPolicy = RequestPolicy {
    unsupported: &["logprobs", "top_logprobs", "logit_bias"],
    message_name: false,
    reasoning_input: false,
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
        assert_eq!(FACTORY.default_priority, 10);
        assert_eq!(catalog.day_reset_tz, "UTC");
        for m in &catalog.models {
            assert_eq!(
                (m.rpm, m.rpd, m.tpm, m.tpd),
                (Some(30), Some(1000), Some(8000), Some(200_000)),
                "{}",
                m.id
            );
        }
    }
}
