//! Helpers for provider contract tests: fixtures, loopback mock servers, configs and
//! request snapshots. Enabled by the `testkit` feature, for dev-dependencies only.

#![expect(
    clippy::panic,
    reason = "test helpers: a panic fails the test, as an assertion would"
)]

pub mod conformance;
pub mod fuzz;

mod fake;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::catalog::ModelCatalog;
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{ProviderConfig, ProviderFactory, Registry};
use crate::types::StreamEvent;

pub use fake::{FakeProvider, Reply, StreamStep, clone_error, fake_factory, refused};

/// The API key every contract test uses; tests assert it never appears in output.
pub const TEST_KEY: &str = "test-key-0123456789abcdef";

/// Reads `tests/fixtures/<name>` of the crate at `manifest_dir` (pass
/// `env!("CARGO_MANIFEST_DIR")`). Panics with the path when it is missing: tests only.
pub fn fixture(manifest_dir: &str, name: &str) -> String {
    let path = Path::new(manifest_dir)
        .join("tests")
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// Reads `tests/fixtures/<name>` of the crate at `manifest_dir` as JSON. Panics when it is
/// missing or not JSON: tests only.
pub fn fixture_json(manifest_dir: &str, name: &str) -> Value {
    serde_json::from_str(&fixture(manifest_dir, name))
        .unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

/// Status and headers of the `.headers` fixture `name` (see [`parse_headers_fixture`]).
pub fn fixture_headers(manifest_dir: &str, name: &str) -> (u16, Vec<(String, String)>) {
    parse_headers_fixture(&fixture(manifest_dir, name))
}

/// Parses a `.headers` fixture: a status line (`HTTP/2 429`) and `name: value` lines.
/// Returns the status (200 when the first line has none) and the headers.
pub fn parse_headers_fixture(text: &str) -> (u16, Vec<(String, String)>) {
    let mut status = 200;
    let mut headers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if i == 0 && line.to_ascii_uppercase().starts_with("HTTP/") {
            status = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(200);
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (status, headers)
}

/// A config for `factory` pointing at `base_url` (a mock server's URI plus the API's
/// version prefix), with [`TEST_KEY`] and short timeouts.
pub fn config(factory: &ProviderFactory, base_url: &str) -> ProviderConfig {
    let mut cfg = ProviderConfig::new(factory, TEST_KEY).with_base_url(base_url);
    cfg.timeout = Duration::from_millis(500);
    cfg.connect_timeout = Duration::from_millis(500);
    cfg
}

/// A loopback URL on which nothing listens, for connection-refused tests.
pub async fn refused_base_url(prefix: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok();
    let port = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(9, |a| a.port());
    drop(listener);
    format!("http://127.0.0.1:{port}{prefix}")
}

/// The one request `server` received. Panics when it received none or several.
pub async fn only_request(server: &wiremock::MockServer) -> wiremock::Request {
    let mut requests = server.received_requests().await.unwrap_or_default();
    match requests.len() {
        1 => requests.remove(0),
        n => panic!("expected exactly one request, got {n}"),
    }
}

/// A snapshot-friendly view of a request wiremock received: method, path, query, the
/// auth headers masked (their presence is asserted by the mock's matchers), other
/// interesting headers, and the JSON body.
pub fn request_snapshot(req: &wiremock::Request) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in &req.headers {
        let name = name.as_str().to_ascii_lowercase();
        let shown = match name.as_str() {
            "authorization" | "x-goog-api-key" | "api-key" | "x-api-key" => {
                let v = value.to_str().unwrap_or_default();
                if v.contains(TEST_KEY) {
                    Value::String(v.replace(TEST_KEY, "[KEY]"))
                } else {
                    Value::String("[UNEXPECTED VALUE]".into())
                }
            }
            "content-type" | "accept" | "http-referer" | "x-title" | "x-openrouter-title" => {
                Value::String(value.to_str().unwrap_or_default().to_owned())
            }
            _ => continue,
        };
        headers.insert(name, shown);
    }
    let body = serde_json::from_slice::<Value>(&req.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&req.body).into_owned()));
    json!({
        "method": req.method.as_str(),
        "path": req.url.path(),
        "query": req.url.query(),
        "headers": Value::Object(headers),
        "body": body,
    })
}

/// Asserts that no text produced by a test shows the test key.
pub fn assert_no_key(text: &str) {
    assert!(!text.contains(TEST_KEY), "the API key leaked into: {text}");
}

/// Asserts that no rendering of `err` (`Debug`, `Display`, [`ProviderError::summary`])
/// shows the test key.
pub fn assert_error_clean(err: &ProviderError) {
    assert_no_key(&format!("{err:?} {err} {}", err.summary()));
}

/// Asserts that `err` is `QuotaExhausted` until `wait_ms` after the call that failed:
/// between `before + wait` and `after + wait`, `before` and `after` being clock readings
/// taken around the call.
pub fn assert_quota_until(
    err: &ProviderError,
    before: DateTime<Utc>,
    after: DateTime<Utc>,
    wait_ms: i64,
) {
    let ErrorKind::QuotaExhausted { until: Some(until) } = err.kind else {
        panic!("expected quota exhausted with an end, got {err:?}");
    };
    let wait = chrono::Duration::milliseconds(wait_ms);
    assert!(
        until >= before + wait && until <= after + wait,
        "{until} not now + {wait_ms} ms"
    );
}

/// The text of all deltas of a stream's items.
pub fn streamed_text(items: &[Result<StreamEvent, ProviderError>]) -> String {
    items
        .iter()
        .filter_map(|item| match item {
            Ok(StreamEvent::Delta(text)) => Some(text.as_str()),
            _ => None,
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_fixture() {
        let (status, headers) = parse_headers_fixture("HTTP/2 429\nRetry-After: 7\nx-a: b: c\n");
        assert_eq!(status, 429);
        assert_eq!(headers[0], ("retry-after".into(), "7".into()));
        assert_eq!(headers[1], ("x-a".into(), "b: c".into()));
    }
}
