//! OVHcloud AI Endpoints' anonymous (keyless) lane for llmpool, over the OpenAI-compatible
//! chat-completions API.
//!
//! - **id** `ovhcloud` (crate suffix, facade feature, config key)
//! - **env** none needed; `OVHCLOUD_API_KEY` (optional: a paid Public Cloud access key
//!   switches to the keyed lane), `OVHCLOUD_BASE_URL` (override of the base URL)
//! - **opt-in**: keyless, so llmpool uses it only when the user sets
//!   `[providers.ovhcloud] enabled = true` (prompts go to a third party the user never
//!   signed up with)
//! - **base URL** `https://oai.endpoints.kepler.ai.cloud.ovh.net/v1`; the crate appends
//!   `/chat/completions`
//! - **auth** none: an empty key sends **no `Authorization` header** (not an empty
//!   bearer); a configured key is sent as `Authorization: Bearer <key>`
//! - **default priority** 90 (a fallback: 2 requests per minute per model, shared)
//! - **upstream docs** <https://help.ovhcloud.com/csm/en-public-cloud-ai-endpoints-getting-started>
//!
//! # Free tier
//!
//! 2 requests per minute **per egress IP and per model**, no token, daily or monthly
//! limit, 2 MB per request. The quota belongs to the egress IP: instances behind one NAT
//! share it (count it per IP, in a shared store), and in practice other anonymous callers
//! share it too. Each model has its own bucket, so the catalog lists five (four text
//! models and `Qwen2.5-VL-72B-Instruct`, the one that reads images). Hosted in the
//! EU; OVHcloud says prompts are not used for training.
//!
//! # Quirks handled here
//!
//! - **Keyless**: `CompatHooks::key_optional` lets an empty key build a client that sends
//!   no `Authorization`.
//! - **Draft rate-limit headers** `ratelimit-limit/-remaining/-reset` (no `x-`), read into
//!   the minute window (module `limits`); a 429 waits `ratelimit-reset` when sent, else a
//!   minute (module `errors`).
//! - **No error body was ever captured**: classified by status (413 over 2 MB →
//!   `BadRequest`, 403 keyed-lane auth → `Unauthorized`, 404 → `ModelNotFound`).
//! - **Reasoning field names differ** between one-shot (`reasoning_content`) and streams
//!   (`delta.reasoning`); neither is answer text.
//! - Model ids are case- and punctuation-sensitive (`Meta-Llama-3_3-70B-Instruct`).

mod errors;
mod limits;

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::{CompatHooks, MaxTokensField, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "ovhcloud";

/// OVHcloud's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "OVHcloud AI Endpoints",
    key_env: "OVHCLOUD_API_KEY",
    base_url_env: "OVHCLOUD_BASE_URL",
    default_base_url: "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
    default_model: "gpt-oss-120b",
    catalog: include_str!("../catalog.toml"),
    default_priority: 90,
    docs_url: "https://help.ovhcloud.com/csm/en-public-cloud-ai-endpoints-getting-started",
    build,
};

register_provider!(FACTORY);

/// Where OVHcloud departs from the generic OpenAI protocol.
static HOOKS: CompatHooks = CompatHooks {
    rate_limits: limits::parse,
    classify: errors::classify,
    max_tokens_field: MaxTokensField::MaxTokens,
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
        assert!(catalog.models.iter().all(|m| m.rpm == Some(2)));
    }

    #[test]
    fn the_vision_model_is_the_only_one_that_reads_images() {
        let catalog = FACTORY.model_catalog().unwrap();
        let ids: Vec<&str> = catalog.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "gpt-oss-120b",
                "Qwen3.8-27B",
                "Meta-Llama-3_3-70B-Instruct",
                "gpt-oss-20b",
                "Qwen2.5-VL-72B-Instruct"
            ]
        );
        let vl = catalog.models.last().unwrap();
        assert!(vl.vision, "{vl:?}");
        assert!(!vl.tools && !vl.json_schema && !vl.json_object);
        assert!(!vl.reasoning);
        assert_eq!((vl.rpm, vl.context_window), (Some(2), None));
        let readers: Vec<&str> = catalog
            .models
            .iter()
            .filter(|m| m.vision)
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(readers, ["Qwen2.5-VL-72B-Instruct"]);
    }

    #[test]
    fn builds_without_a_key() {
        let cfg = ProviderConfig::new(&FACTORY, "");
        assert!(build(&cfg).is_ok());
    }
}
