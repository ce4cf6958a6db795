//! Cerebras Inference for llmpool, over the OpenAI-compatible chat-completions API.
//!
//! - **id** `cerebras` (crate suffix, facade feature, config key)
//! - **env** `CEREBRAS_API_KEY` (the key, `csk-…`), `CEREBRAS_BASE_URL` (override of the
//!   base URL)
//! - **base URL** `https://api.cerebras.ai/v1`; the crate appends `/chat/completions`
//! - **auth** `Authorization: Bearer <key>`
//! - **default priority** 20
//! - **upstream docs** <https://inference-docs.cerebras.ai/api-reference/chat-completions>,
//!   errors <https://inference-docs.cerebras.ai/support/error>,
//!   limits <https://inference-docs.cerebras.ai/support/rate-limits>
//!
//! # Free tier
//!
//! **There is no permanent free tier since 2026-08-17.** New accounts get a one-time $5
//! Free Trial (30 days, card required); afterwards every call answers 402 until credits
//! are bought, which this crate reports as `PaymentRequired` so the router stops trying.
//! The embedded catalog (`catalog.toml`) lists `gpt-oss-120b` and `qwen-3.8-27b` with the
//! trial's limits: 5 requests per minute, 30,000 uncached tokens per minute, 1M tokens
//! per hour and per day. Legacy free accounts (30 RPM, 14,400 RPD, 60,000 TPM) override
//! them from config.
//!
//! # Quirks handled here
//!
//! - **Flat error bodies** (`{"message","type","param","code"}`, no `error` wrapper), and
//!   `{"detail":"Not authenticated"}` with **403** when the key header is missing: both
//!   read by the tolerant error reader; 401 and 403 are `Unauthorized`.
//! - **429 means four things**: `queue_exceeded` is Cerebras' own capacity (`Transient`,
//!   not your quota); "per day" is `QuotaExhausted` until `retry-after` or
//!   `x-ratelimit-reset-requests-day`; "per hour" and "per minute" are `RateLimited` for
//!   `retry-after` or the window's reset header. `code` alone (`token_quota_exceeded`)
//!   does not tell minute from day; the message does (module `errors`).
//! - **Rate-limit headers carry their window** (`x-ratelimit-*-requests-day`,
//!   `x-ratelimit-*-tokens-minute`) and reset in float seconds (module `limits`).
//! - **Reasoning models** may stop at the token limit with a `reasoning` but no `content`:
//!   the answer text is then empty with finish reason `length`. Reasoning is never part of
//!   the answer text. The limiter reserves `max_tokens` up front, so callers should set it.
//! - **Streams**: usage is requested with `stream_options.include_usage`; an `event: error`,
//!   a top-level `error` object or a flat error object inside a stream ends it with an
//!   error.
//! - The output cap is sent as `max_completion_tokens`.

mod errors;
mod limits;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::{CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "cerebras";

/// Cerebras' registration: constants and constructor. Also registered with the
/// inventory, so linking this crate is enough for the registry to find it.
///
/// A `const` rather than a `static`: `register_provider!` needs a value it can copy into
/// the inventory's own static.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Cerebras",
    key_env: "CEREBRAS_API_KEY",
    base_url_env: "CEREBRAS_BASE_URL",
    default_base_url: "https://api.cerebras.ai/v1",
    default_model: "gpt-oss-120b",
    catalog: CATALOG,
    default_priority: 20,
    docs_url: "https://inference-docs.cerebras.ai/api-reference/chat-completions",
    build,
};

register_provider!(FACTORY);

/// The embedded model catalog (core's `ModelCatalog` TOML format).
const CATALOG: &str = include_str!("../catalog.toml");

/// Where Cerebras departs from the generic OpenAI protocol. Flat error bodies need no
/// hook: the generic reader and `embedded_error` already accept them.
static HOOKS: CompatHooks = CompatHooks {
    rate_limits: limits::parse,
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxCompletionTokens,
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
        assert_eq!(FACTORY.default_priority, 20);
        assert_eq!(catalog.day_reset_tz, "UTC");
        let ids: Vec<_> = catalog.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["gpt-oss-120b", "qwen-3.8-27b"]);
        for m in &catalog.models {
            assert_eq!(
                (m.rpm, m.rpd, m.tpm, m.tpd),
                (Some(5), None, Some(30_000), Some(1_000_000)),
                "{}",
                m.id
            );
        }
    }
}
