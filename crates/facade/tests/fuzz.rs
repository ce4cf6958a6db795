//! Fuzz target: `llmpool.toml`. The documented settings mutated (a value of the wrong type,
//! huge or negative numbers, unicode, a table removed or replaced), damaged as text, or
//! arbitrary text are read by `Settings::from_toml` and validated by `Config::from_parts`
//! with the real provider registry. Whatever the text: no panic; a refusal is a
//! `ConfigError` naming the file, a key and a reason; settings that pass are usable: a
//! router built from them answers a one-shot and a streamed request over scripted
//! providers.
//!
//! Short bounded runs here; `cargo xtask fuzz --secs N` runs them longer. (`.env` reading
//! is fuzzed inside the crate, `src/config/fuzz_tests.rs`.)
#![expect(
    clippy::unwrap_used,
    reason = "test set-up outside #[test] functions: a failed step is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use llmpool::{ChatRequest, Config, Settings};
use llmpool::{
    KeyedClient, MemoryStore, Provider, ProviderSetup, Router, StateStore, SystemClock, mask_key,
};
use llmpool_core::testkit::FakeProvider;
use llmpool_testkit::fuzz;
use proptest::prelude::*;
use serde_json::Value;

const ORIGIN: &str = "fuzz.toml";

/// The settings a user writes: every top-level key, one provider table of each kind.
const SEED: &str = r#"
strategy = "priority"
retry_attempts = 2
timeout_secs = 30
deadline_secs = 60
connect_timeout_secs = 5
ttft_timeout_secs = 10
stall_timeout_secs = 10
max_retry_wait_secs = 5
circuit_failures = 3
cooldown_secs = 5
max_cooldown_secs = 300
content_filter_fallback = false
history_turns = 20
target_language = "English"
store = "memory"
max_body_bytes = 1048576
routes = ["groq/openai/gpt-oss-120b", "cerebras/gpt-oss-120b"]

[aliases]
"gpt-4o-mini" = "auto"
fast = "groq"

[providers.groq]
enabled = true
priority = 1
weight = 2
models = ["openai/gpt-oss-120b"]
rpm = 30
tpd = 200000
base_url = "http://127.0.0.1:9/openai/v1"

[providers.groq.model_limits."openai/gpt-oss-120b"]
rpm = 20

[providers.cerebras.shared]
tpd = 1000000
"#;

/// The seed with the value of one `key = value` line replaced by an edge number or any
/// value TOML can write: the type often still matches, so values reach the checks (and
/// the router) behind the parser.
fn one_value_replaced() -> impl Strategy<Value = String> {
    let lines: Vec<usize> = SEED
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(" = "))
        .map(|(i, _)| i)
        .collect();
    let value = prop_oneof![2 => fuzz::json_number(), 1 => fuzz::json_value()];
    (prop::sample::select(lines), value).prop_filter_map(
        "not representable in TOML",
        |(line, value)| {
            let written = toml::to_string(&serde_json::json!({ "v": value })).ok()?;
            let written = written.strip_prefix("v = ")?.trim_end().to_owned();
            let text: Vec<String> = SEED
                .lines()
                .enumerate()
                .map(|(i, l)| match l.split_once(" = ") {
                    Some((key, _)) if i == line => format!("{key} = {written}"),
                    _ => l.to_owned(),
                })
                .collect();
            Some(text.join("\n"))
        },
    )
}

fn texts() -> impl Strategy<Value = String> {
    let seed: Value = toml::from_str(SEED).unwrap();
    prop_oneof![
        3 => one_value_replaced(),
        // Structure-aware: one node changed, written back as TOML (when TOML can hold it).
        4 => fuzz::mutated_json(seed).prop_filter_map("not representable in TOML", |v| toml::to_string(&v).ok()),
        2 => fuzz::mutated_bytes(SEED.as_bytes().to_vec())
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => fuzz::text(200),
    ]
}

/// A router over scripted providers for every configured provider that is enabled.
fn router(settings: &Settings) -> Result<Router, llmpool::ConfigError> {
    let clock = Arc::new(SystemClock);
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let registry = llmpool::registry()?;
    let setups = registry
        .factories()
        .iter()
        .map(|f| ProviderSetup {
            factory: f,
            clients: vec![KeyedClient {
                key_label: mask_key("upstream-secret-key-0123456789"),
                provider: Arc::new(FakeProvider::new(f.id)) as Arc<dyn Provider>,
            }],
        })
        .collect();
    Router::new(settings, setups, store, clock)
}

#[test]
fn fuzz_settings_files() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    fuzz::run(384, &texts(), |text| {
        let settings = match Settings::from_toml(ORIGIN, &text) {
            Ok(settings) => settings,
            Err(e) => {
                assert_eq!(e.location, ORIGIN, "{e}");
                assert!(
                    !e.key.trim().is_empty() && !e.reason.trim().is_empty(),
                    "{e:?}"
                );
                return;
            }
        };
        let config = match Config::from_parts(settings.clone(), ORIGIN, BTreeMap::new()) {
            Ok(config) => config,
            Err(e) => {
                assert!(
                    !e.key.trim().is_empty() && !e.reason.trim().is_empty(),
                    "{e:?}"
                );
                assert!(
                    e.to_string().contains(&e.key),
                    "the message must name the key: {e}"
                );
                return;
            }
        };
        // Accepted settings are usable: routing with them never panics.
        let Ok(router) = router(&config.settings) else {
            return;
        };
        runtime.block_on(async {
            let _ = router.chat(ChatRequest::from_user("hi")).await;
            if let Ok(mut stream) = router.chat_stream(ChatRequest::from_user("hi")).await {
                while stream.next().await.is_some() {}
            }
        });
    });
}

/// Found by `fuzz_settings_files`: an empty key (`"" = false`) in a provider table gave a
/// `ConfigError` whose key was empty, pointing nowhere.
#[test]
fn an_empty_key_names_the_file() {
    let e = Settings::from_toml(ORIGIN, "[providers.cerebras]\n\"\" = false\n").unwrap_err();
    assert_eq!(e.key, "llmpool.toml");
    assert!(e.reason.contains("line 2"), "{e}");
}

/// Found by `fuzz_settings_files`: a deadline too far away to be an `Instant` made the
/// router panic on the first request; the settings now refuse it, naming the key.
#[test]
fn a_deadline_beyond_any_clock_is_refused() {
    let settings = Settings::from_toml(ORIGIN, "deadline_secs = 9223372036854775807\n").unwrap();
    let e = Config::from_parts(settings, ORIGIN, BTreeMap::new()).unwrap_err();
    assert_eq!(e.key, "deadline_secs", "{e}");
}

/// The seed is valid: mutations start from settings that are accepted and route.
#[test]
fn the_seed_is_accepted_and_routes() {
    let settings = Settings::from_toml(ORIGIN, SEED).unwrap();
    let config = Config::from_parts(settings, ORIGIN, BTreeMap::new()).unwrap();
    let router = router(&config.settings).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime.block_on(router.chat(ChatRequest::from_user("hi")));
    assert!(answer.is_ok(), "{answer:?}");
}
