//! The providers registered are exactly the provider features enabled: a provider crate
//! that is compiled in but not linked (its `inventory::submit!` dropped) fails here.

#[test]
fn registered_providers_match_enabled_features() {
    let expected = llmpool::enabled_provider_features();
    let ids: Vec<&str> = llmpool::providers().iter().map(|f| f.id).collect();
    assert_eq!(ids, expected);
    if expected.is_empty() {
        let err = llmpool::registry().unwrap_err();
        assert!(err.reason.contains("enable at least one"), "{err}");
    }
}

#[test]
fn feature_list_follows_cargo_features() {
    // Spot-check the list against cfg! so a wrong line in it cannot hide a missing link.
    assert_eq!(
        llmpool::enabled_provider_features().contains(&"groq"),
        cfg!(feature = "groq")
    );
    assert_eq!(
        llmpool::enabled_provider_features().contains(&"gemini"),
        cfg!(feature = "gemini")
    );
}

#[test]
fn every_factory_is_consistent() {
    for f in llmpool::providers() {
        let catalog = f.model_catalog().unwrap();
        assert_eq!(catalog.models[0].id, f.default_model, "{}", f.id);
        // Key variables follow each provider's own docs (`HF_TOKEN`, `CLOUDFLARE_API_TOKEN`,
        // `OLLAMA_API_KEY`); base-URL overrides are the id upper-cased, `-` written `_`.
        assert!(
            f.key_env.ends_with("_API_KEY") || f.key_env.ends_with("_TOKEN"),
            "{}: {}",
            f.id,
            f.key_env
        );
        let prefix = f.id.to_uppercase().replace('-', "_");
        assert_eq!(f.base_url_env, format!("{prefix}_BASE_URL"));
        assert!(f.default_base_url.starts_with("https://"), "{}", f.id);
    }
}
