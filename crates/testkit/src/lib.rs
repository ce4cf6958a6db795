//! Contract-test helpers of llmpool's provider crates, for dev-dependencies only (the
//! crate is not published).
//!
//! - fixtures: [`fixture`], [`fixture_json`], [`fixture_headers`] read a crate's
//!   `tests/fixtures/`;
//! - upstreams and configs: [`config`] (the [`TEST_KEY`], short timeouts),
//!   [`refused_base_url`], [`only_request`] and [`request_snapshot`] for what a wiremock
//!   server received;
//! - assertions: [`assert_no_key`], [`assert_error_clean`], [`assert_quota_until`];
//! - [`compat`]: the harness of the OpenAI-compatible provider crates ([`compat::Contract`]);
//! - [`surface`]: the scaffold of their chat-surface suites ([`surface::Surface`]).
//!
//! The fake provider and the store conformance suite live in `llmpool_core::testkit`
//! (core's own tests use them).

#![expect(
    clippy::panic,
    reason = "test helpers: a panic fails the test, as an assertion would"
)]

pub mod compat;
pub mod fuzz;
pub mod surface;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use llmpool_core::{ErrorKind, ProviderConfig, ProviderError, ProviderFactory, StreamEvent};
use serde_json::{Value, json};

pub use llmpool_core::testkit::{TEST_KEY, assert_no_key};

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
