//! Configuration: keys, base URLs and settings errors that name file, key and reason.

use std::collections::BTreeMap;
use std::io::Write;

use llmpool::Config;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failing temp file is a broken test"
)]
fn settings_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn comma_separated_keys_are_separate_buckets() {
    let config = Config::from_vars(vars(&[
        ("LLMPOOL_CONFIG", ""),
        (
            "GROQ_API_KEY",
            " gsk_first_key_0000000001 , ,gsk_second_key_000000002",
        ),
    ]))
    .unwrap();
    let groq = llmpool::registry().unwrap().get("groq").unwrap();
    assert_eq!(config.keys(groq).len(), 2);
    let setups = config
        .provider_setups(&llmpool::registry().unwrap())
        .unwrap();
    let groq_setup = setups.iter().find(|s| s.factory.id == "groq").unwrap();
    let labels: Vec<&str> = groq_setup
        .clients
        .iter()
        .map(|c| c.key_label.as_str())
        .collect();
    assert_eq!(labels, ["***0001", "***0002"]);
    // Debug never shows a key.
    let shown = format!("{config:?} {setups:?}");
    assert!(!shown.contains("gsk_first_key"), "{shown}");
}

#[test]
fn base_url_override_is_checked() {
    let config =
        Config::from_vars(vars(&[("GROQ_BASE_URL", "http://127.0.0.1:9000/v1/")])).unwrap();
    let groq = llmpool::registry().unwrap().get("groq").unwrap();
    assert_eq!(config.base_url(groq).unwrap(), "http://127.0.0.1:9000/v1");
    let err = Config::from_vars(vars(&[("GROQ_BASE_URL", "127.0.0.1:9000")])).unwrap_err();
    assert_eq!(err.location, "environment");
    assert_eq!(err.key, "GROQ_BASE_URL");
    assert!(err.reason.contains("not an http(s) URL"), "{err}");
}

#[test]
fn settings_errors_name_file_key_and_reason() {
    let file = settings_file("strategy = \"priority\"\nretry_atempts = 3\n");
    let path = file.path().display().to_string();
    let err = Config::from_vars(vars(&[("LLMPOOL_CONFIG", &path)])).unwrap_err();
    assert_eq!(err.location, path);
    assert_eq!(err.key, "retry_atempts");
    assert!(err.reason.contains("unknown field"), "{err}");

    let file = settings_file("[providers.grok]\npriority = 1\n");
    let path = file.path().display().to_string();
    let err = Config::from_vars(vars(&[("LLMPOOL_CONFIG", &path)])).unwrap_err();
    assert_eq!(err.location, path);
    assert_eq!(err.key, "providers.grok");
    assert!(err.reason.contains("unknown provider"), "{err}");

    let file = settings_file("strategy = \"fastest\"\n");
    let path = file.path().display().to_string();
    let err = Config::from_vars(vars(&[("LLMPOOL_CONFIG", &path)])).unwrap_err();
    assert!(err.to_string().contains(&path), "{err}");
    assert!(err.reason.contains("fastest"), "{err}");

    let err =
        Config::from_vars(vars(&[("LLMPOOL_CONFIG", "/nonexistent/llmpool.toml")])).unwrap_err();
    assert!(err.reason.contains("cannot read"), "{err}");
}

#[test]
fn the_committed_example_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../llmpool.toml");
    let config = Config::from_vars(vars(&[("LLMPOOL_CONFIG", path)])).unwrap();
    assert_eq!(config.origin, path);
}

#[tokio::test]
async fn store_urls_are_checked() {
    let clock = std::sync::Arc::new(llmpool::SystemClock);
    let err = llmpool::open_store("postgres://x", "llmpool.toml", clock.clone())
        .await
        .unwrap_err();
    let text = err.to_string() + &format!("{err:?}");
    assert!(text.contains("sqlite:PATH"), "{text}");
    assert!(
        llmpool::open_store("memory", "t", clock.clone())
            .await
            .is_ok()
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("s.db").display());
    let store = llmpool::open_store(&url, "t", clock).await.unwrap();
    store.put("k", "v", None).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some("v"));
}
