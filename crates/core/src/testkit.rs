//! Test helpers that need core's own types: the [`FakeProvider`], the `StateStore`
//! [`conformance`] suite, the test key and the factory checks every provider crate runs.
//! Enabled by the `testkit` feature, for dev-dependencies only. The contract-test helpers
//! (fixtures, wiremock upstreams, request snapshots) are in the `llmpool-testkit` crate.

#![expect(
    clippy::panic,
    reason = "test helpers: a panic fails the test, as an assertion would"
)]

pub mod conformance;

mod fake;

use std::time::Duration;

use crate::catalog::ModelCatalog;
use crate::provider::{ProviderFactory, Registry};

pub use fake::{FakeProvider, Reply, StreamStep, clone_error, fake_factory, refused};

/// The API key every contract test uses; tests assert it never appears in output.
pub const TEST_KEY: &str = "test-key-0123456789abcdef";

/// Asserts that no text produced by a test shows the test key.
pub fn assert_no_key(text: &str) {
    assert!(!text.contains(TEST_KEY), "the API key leaked into: {text}");
}

/// Asserts what every provider crate promises of its factory, and returns its catalog for
/// the crate's own checks: the embedded catalog parses and lists the default model first,
/// and linking the crate registered the factory in the inventory under its id, with the
/// key variable `<ID>_API_KEY`.
pub fn assert_factory_consistent(factory: &ProviderFactory) -> ModelCatalog {
    let catalog = factory
        .model_catalog()
        .unwrap_or_else(|e| panic!("the catalog of `{}` does not parse: {e}", factory.id));
    assert_eq!(catalog.models[0].id, factory.default_model);
    let registry = Registry::from_inventory().unwrap_or_else(|e| panic!("no usable registry: {e}"));
    let registered = registry
        .get(factory.id)
        .unwrap_or_else(|| panic!("`{}` is not in the inventory", factory.id));
    assert_eq!(
        registered.key_env,
        format!("{}_API_KEY", factory.id.to_ascii_uppercase())
    );
    assert_eq!(registered.key_env, factory.key_env);
    assert_eq!(registered.default_priority, factory.default_priority);
    assert_eq!(registered.default_model, factory.default_model);
    catalog
}

/// What the ledger checks for one request, for store benchmarks: requests per minute (a
/// 10 s sub-bucket and the 6 before it, counted in full), per day, and tokens per minute
/// (likewise), with limits no benchmark reaches.
pub fn ledger_like_checks() -> Vec<crate::CounterCheck> {
    let check = |key: &str, cost: u64, earlier: &str| crate::CounterCheck {
        key: key.into(),
        limit: u64::MAX / 2,
        cost,
        ttl: Duration::from_secs(130),
        previous: if earlier.is_empty() {
            Vec::new()
        } else {
            (995..1001)
                .map(|b| (format!("{earlier}:{b}"), 1.0))
                .collect()
        },
    };
    vec![
        check("groq:llama:rpm:1001", 1, "groq:llama:rpm"),
        check("groq:llama:rpd:20", 1, ""),
        check("groq:llama:tpm:1001", 700, "groq:llama:tpm"),
    ]
}
