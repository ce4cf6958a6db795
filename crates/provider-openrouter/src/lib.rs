//! OpenRouter's free models for llmpool, over the OpenAI-compatible chat-completions API.
//!
//! - **id** `openrouter` (crate suffix, facade feature, config key)
//! - **env** `OPENROUTER_API_KEY` (the key, `sk-or-v1-…`), `OPENROUTER_BASE_URL`
//!   (override of the base URL); optional attribution: `OPENROUTER_HTTP_REFERER` (sent as
//!   `HTTP-Referer`, your site) and `OPENROUTER_X_TITLE` (sent as `X-Title`, your app's
//!   name). The facade reads those two and passes them as `ProviderConfig::headers`, built
//!   with [`attribution_headers`].
//! - **base URL** `https://openrouter.ai/api/v1`; the crate appends `/chat/completions`
//! - **auth** `Authorization: Bearer <key>`
//! - **default priority** 40
//! - **upstream docs** <https://openrouter.ai/docs/api/reference/overview>,
//!   errors <https://openrouter.ai/docs/api/reference/errors-and-debugging>,
//!   limits <https://openrouter.ai/docs/api/reference/limits>
//!
//! # Free tier
//!
//! Model ids ending in `:free` and the `openrouter/free` router cost nothing: 20 requests
//! per minute, and 50 per day (1,000 once the account has bought $10 of credits), in one
//! daily budget shared by all free models and reset at 00:00 UTC. The embedded catalog
//! (`catalog.toml`) lists `openrouter/free`, `openai/gpt-oss-20b:free` and
//! `google/gemma-4-31b-it:free`, with the account's limits in its `[shared]` table (one
//! budget per key across the models, not 50 per model); raise them from config
//! (`[providers.openrouter] rpd = 1000`) for an account with credits. A negative credit
//! balance blocks even free models (402).
//!
//! # Quirks handled here
//!
//! - **Errors inside HTTP 200**: a body with a top-level `error` (or a choice with an
//!   `error`), and mid-stream chunks with `error` and `finish_reason: "error"`. They are
//!   classified by the status OpenRouter writes in `error.code` (a number), so a mid-stream
//!   429 is `RateLimited` and a 502 is `Transient`.
//! - **Keep-alives**: non-streamed bodies may start with whitespace, streams carry
//!   `: OPENROUTER PROCESSING` comments; both are skipped.
//! - **Unknown model is 400** ("… is not a valid model ID") → `ModelNotFound`; 404 means the
//!   model has no endpoint now (`no_endpoints`, `free_variant_ended`) → `ModelNotFound`.
//! - **402 is usually credits** → `PaymentRequired`, except `limit_source:
//!   openrouter_in_flight_budget`, which passes → `RateLimited` for `Retry-After`.
//! - **429 is your free daily cap or a busy upstream**: `openrouter_free_tier_daily` /
//!   "free-models-per-day" → `QuotaExhausted` until `X-RateLimit-Reset` (epoch
//!   **milliseconds**, also copied in `error.metadata.headers`; else next UTC midnight);
//!   anything else (`upstream_provider_shared_pool`, per-minute cap) → `RateLimited` for
//!   `Retry-After`.
//! - **403 is moderation or a guardrail** → `ContentFiltered` (a permission or region
//!   refusal is not; see module `errors`).
//! - **No rate-limit headers on success**; `X-RateLimit-*` only come with OpenRouter's own
//!   429s (module `limits`).
//! - The response `model` names the model that answered (with `openrouter/free` it differs
//!   from the request). The output cap is sent as `max_tokens`.

mod errors;
mod limits;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::{CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "openrouter";

/// Env variable whose value is sent as `HTTP-Referer` (optional attribution).
pub const HTTP_REFERER_ENV: &str = "OPENROUTER_HTTP_REFERER";
/// Env variable whose value is sent as `X-Title` (optional attribution).
pub const X_TITLE_ENV: &str = "OPENROUTER_X_TITLE";

/// OpenRouter's registration: constants and constructor. Also registered with the
/// inventory, so linking this crate is enough for the registry to find it.
///
/// A `const` rather than a `static`: `register_provider!` needs a value it can copy into
/// the inventory's own static.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "OpenRouter",
    key_env: "OPENROUTER_API_KEY",
    base_url_env: "OPENROUTER_BASE_URL",
    default_base_url: "https://openrouter.ai/api/v1",
    default_model: "openrouter/free",
    catalog: CATALOG,
    default_priority: 40,
    docs_url: "https://openrouter.ai/docs/api/reference/overview",
    build,
};

register_provider!(FACTORY);

/// The embedded model catalog (core's `ModelCatalog` TOML format).
const CATALOG: &str = include_str!("../catalog.toml");

/// Where OpenRouter departs from the generic OpenAI protocol. Errors inside 200 bodies and
/// streams need no hook of their own: the generic `embedded_error` finds them and the
/// provider classifies them by their numeric `error.code`.
static HOOKS: CompatHooks = CompatHooks {
    rate_limits: limits::parse,
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxTokens,
    ..CompatHooks::DEFAULT
};

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(OpenAiCompatProvider::new(cfg, &HOOKS)?))
}

/// The optional attribution headers for [`ProviderConfig::headers`]: `HTTP-Referer`
/// (from [`HTTP_REFERER_ENV`]) and `X-Title` (from [`X_TITLE_ENV`]). Blank values are
/// left out.
///
/// ```
/// let headers = llmpool_provider_openrouter::attribution_headers(
///     Some("https://example.com/app"),
///     None,
/// );
/// assert_eq!(headers, vec![("HTTP-Referer".to_owned(), "https://example.com/app".to_owned())]);
/// ```
pub fn attribution_headers(referer: Option<&str>, title: Option<&str>) -> Vec<(String, String)> {
    [("HTTP-Referer", referer), ("X-Title", title)]
        .into_iter()
        .filter_map(|(name, value)| {
            let value = value?.trim();
            (!value.is_empty()).then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use llmpool_core::testkit::assert_factory_consistent;

    use super::*;

    #[test]
    fn factory_is_consistent_and_registered() {
        let catalog = assert_factory_consistent(&FACTORY);
        assert_eq!(FACTORY.default_priority, 40);
        assert_eq!(catalog.day_reset_tz, "UTC");
        // 20 a minute and 50 a day for the account, across all free models together.
        assert_eq!(
            (catalog.shared.rpm, catalog.shared.rpd),
            (Some(20), Some(50))
        );
        for m in &catalog.models {
            assert_eq!(m.limits(), llmpool_core::Limits::default(), "{}", m.id);
            assert!(
                m.id == "openrouter/free" || m.id.ends_with(":free"),
                "{}",
                m.id
            );
        }
    }

    #[test]
    fn attribution_headers_skip_blanks() {
        assert_eq!(
            attribution_headers(Some(" https://a.example "), Some("My App")),
            vec![
                ("HTTP-Referer".to_owned(), "https://a.example".to_owned()),
                ("X-Title".to_owned(), "My App".to_owned()),
            ]
        );
        assert!(attribution_headers(Some(" "), None).is_empty());
    }
}
