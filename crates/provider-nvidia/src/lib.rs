//! Nvidia provider for llmpool: an OpenAI-compatible chat-completions API.
//!
//! - id: `nvidia` (Cargo feature, config table `[providers.nvidia]`, env prefix)
//! - key: `NVIDIA_API_KEY` (comma-separated for several keys)
//! - base URL: `NVIDIA_BASE_URL`, default `https://api.nvidia.invalid/v1` (includes the version prefix; the
//!   crate appends `/chat/completions`)
//! - free-tier limits: see `catalog.toml` (fill in from the provider's documentation)
//! - quirks: none known yet; add `CompatHooks` fields for its rate-limit headers and
//!   error bodies as they are learned
//!
//! Scaffolded by `cargo xtask new-provider nvidia`.

use std::sync::Arc;

use llmpool_core::{ConfigError, Provider, ProviderConfig, ProviderFactory, register_provider};
use llmpool_openai_compat::{CompatHooks, OpenAiCompatProvider};

/// The provider id.
pub(crate) const ID: &str = "nvidia";

/// Nvidia's registration: constants and constructor, also submitted to the inventory.
pub const FACTORY: ProviderFactory = ProviderFactory {
    id: ID,
    display_name: "Nvidia",
    key_env: "NVIDIA_API_KEY",
    base_url_env: "NVIDIA_BASE_URL",
    default_base_url: "https://api.nvidia.invalid/v1",
    default_model: "nvidia-default",
    catalog: include_str!("../catalog.toml"),
    default_priority: 100,
    docs_url: "",
    build,
};

register_provider!(FACTORY);

/// The generic OpenAI protocol; replace fields as the provider's quirks become known.
static HOOKS: CompatHooks = CompatHooks::DEFAULT;

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(OpenAiCompatProvider::new(cfg, &HOOKS)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_model_is_the_first_catalog_model() {
        let catalog = FACTORY.model_catalog().unwrap();
        assert_eq!(catalog.models[0].id, FACTORY.default_model);
    }

    #[test]
    fn registered_in_the_inventory() {
        let registry = llmpool_core::Registry::from_inventory().unwrap();
        assert_eq!(registry.get(ID).unwrap().key_env, "NVIDIA_API_KEY");
    }
}
