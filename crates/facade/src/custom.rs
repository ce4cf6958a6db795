//! Providers defined in `llmpool.toml` alone: `[providers.<name>] kind = "openai"`, any
//! OpenAI-compatible endpoint (another hosted free tier, a local model server), with no
//! crate.
//!
//! The router takes `&'static ProviderFactory`s, as the inventory gives them. A
//! configured provider's factory is built from its table and leaked once: the leak is
//! bounded by the distinct definitions a process reads (a cache hands the same factory
//! back for the same table, so a configuration reloaded many times leaks nothing more).

use std::sync::{Arc, Mutex, PoisonError};

use llmpool_core::{
    ConfigError, Provider, ProviderConfig, ProviderFactory, ProviderSettings, Registry,
};
use llmpool_openai_compat::{CompatHooks, OpenAiCompatProvider};

/// The generic OpenAI protocol; a key is optional (a provider without `api_key_env`
/// sends no `Authorization` header), and a key, when configured, is sent as a bearer.
static HOOKS: CompatHooks = CompatHooks {
    key_optional: true,
    ..CompatHooks::DEFAULT
};

/// The priority of a configured provider that sets none: after every compiled-in one.
pub(crate) const DEFAULT_PRIORITY: u32 = 100;

/// Every factory leaked so far, reused for an identical definition.
static LEAKED: Mutex<Vec<&'static ProviderFactory>> = Mutex::new(Vec::new());

fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(OpenAiCompatProvider::new(cfg, &HOOKS)?))
}

/// The factories of the settings' `kind = "openai"` providers. A name that a compiled-in
/// provider already uses is an error naming the key.
pub(crate) fn factories(
    providers: &std::collections::BTreeMap<String, ProviderSettings>,
    compiled_in: &Registry,
    origin: &str,
) -> Result<Vec<&'static ProviderFactory>, ConfigError> {
    let mut out = Vec::new();
    for (name, p) in providers.iter().filter(|(_, p)| p.kind.is_some()) {
        if compiled_in.get(name).is_some() {
            return Err(ConfigError::new(
                origin,
                format!("providers.{name}.kind"),
                format!(
                    "`{name}` is a compiled-in provider; give the `kind = \"openai\"` provider another name"
                ),
            ));
        }
        let (Some(base_url), Some(models)) = (&p.base_url, &p.models) else {
            // `Settings::validate` names the missing key.
            continue;
        };
        out.push(leak(name, p, base_url, models));
    }
    Ok(out)
}

/// The catalog of a configured provider: its models, each with the table's
/// `context_window`; its limits come from the table itself, as for any provider.
fn catalog(models: &[String], context_window: Option<u64>) -> String {
    let mut text = String::from("day_reset_tz = \"UTC\"\n");
    for id in models {
        // A JSON string is a valid TOML basic string.
        let quoted = serde_json::Value::String(id.clone()).to_string();
        text.push_str("\n[[models]]\nid = ");
        text.push_str(&quoted);
        text.push('\n');
        if let Some(n) = context_window {
            text.push_str("context_window = ");
            text.push_str(&n.to_string());
            text.push('\n');
        }
    }
    text
}

fn leak(
    name: &str,
    p: &ProviderSettings,
    base_url: &str,
    models: &[String],
) -> &'static ProviderFactory {
    let base_url_env = format!("{}_BASE_URL", name.to_ascii_uppercase().replace('-', "_"));
    let key_env = p.api_key_env.clone().unwrap_or_default();
    let catalog = catalog(models, p.context_window);
    let base_url = base_url.trim().trim_end_matches('/');
    let default_model = models.first().map_or("", String::as_str);
    let mut leaked = LEAKED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = leaked.iter().find(|f| {
        f.id == name
            && f.key_env == key_env
            && f.base_url_env == base_url_env
            && f.default_base_url == base_url
            && f.default_model == default_model
            && f.catalog == catalog
    }) {
        return found;
    }
    let id: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let factory: &'static ProviderFactory = Box::leak(Box::new(ProviderFactory {
        id,
        display_name: id,
        key_env: Box::leak(key_env.into_boxed_str()),
        base_url_env: Box::leak(base_url_env.into_boxed_str()),
        default_base_url: Box::leak(base_url.to_owned().into_boxed_str()),
        default_model: Box::leak(default_model.to_owned().into_boxed_str()),
        catalog: Box::leak(catalog.into_boxed_str()),
        default_priority: DEFAULT_PRIORITY,
        docs_url: "",
        build,
    }));
    leaked.push(factory);
    factory
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_quotes_model_ids() {
        let text = catalog(&["a\"b".to_owned(), "qwen3:8b".to_owned()], Some(8192));
        let parsed = llmpool_core::ModelCatalog::parse("test", &text).unwrap();
        let ids: Vec<_> = parsed.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a\"b", "qwen3:8b"]);
        assert!(parsed.models.iter().all(|m| m.context_window == Some(8192)));
    }

    #[test]
    fn an_identical_definition_is_leaked_once() {
        let p = ProviderSettings {
            kind: Some("openai".to_owned()),
            ..ProviderSettings::default()
        };
        let models = vec!["m".to_owned()];
        let a = leak("leak-once", &p, "http://127.0.0.1:1/v1", &models);
        let b = leak("leak-once", &p, "http://127.0.0.1:1/v1/", &models);
        assert!(std::ptr::eq(a, b));
        let c = leak("leak-once", &p, "http://127.0.0.1:2/v1", &models);
        assert!(!std::ptr::eq(a, c));
        assert_eq!(a.base_url_env, "LEAK_ONCE_BASE_URL");
    }
}
