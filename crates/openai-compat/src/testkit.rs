//! Contract-test helpers shared by the OpenAI-compatible provider crates: a loopback
//! upstream that serves fixtures on `/chat/completions`, and snapshot-friendly views of
//! stream events and errors. Enabled by the `testkit` feature, for dev-dependencies only.
//!
//! Generic helpers (fixtures, configs, request snapshots, key checks) are in
//! `llmpool_core::testkit`; this module adds what is specific to `/chat/completions`.

use std::time::Duration;

use futures::StreamExt;
use llmpool_core::testkit::{TEST_KEY, request_snapshot};
use llmpool_core::{ChatStream, ErrorKind, ProviderError, StreamEvent};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::CHAT_PATH;

/// Response headers a fixture must not set on a mock: they describe the recorded framing
/// (length, compression, chunking), not the body the mock sends.
const FRAMING_HEADERS: &[&str] = &[
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
];

/// A mock upstream on 127.0.0.1 serving `POST {prefix}/chat/completions`.
#[derive(Debug)]
pub struct Upstream {
    /// The wiremock server; mocks registered through [`Upstream::reply`] expect exactly
    /// one call, checked when the server is dropped.
    pub server: MockServer,
    prefix: &'static str,
}

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: String,
    /// Further headers (a `.headers` fixture's lines); framing headers are skipped.
    pub headers: Vec<(String, String)>,
    /// Delay before answering (timeout tests).
    pub delay: Option<Duration>,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            content_type: "application/json".to_owned(),
            headers: Vec::new(),
            delay: None,
        }
    }

    /// A `text/event-stream` answer with status 200.
    pub fn sse(body: impl Into<Vec<u8>>) -> Self {
        Self {
            content_type: "text/event-stream".to_owned(),
            ..Self::json(200, body)
        }
    }

    /// The same answer with another content type.
    #[must_use]
    pub fn content_type(mut self, content_type: &str) -> Self {
        content_type.clone_into(&mut self.content_type);
        self
    }

    /// The same answer with these headers (as parsed from a `.headers` fixture).
    #[must_use]
    pub fn headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// The same answer, sent after `delay`.
    #[must_use]
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

impl Upstream {
    /// Starts a mock server; `prefix` is the API's version prefix (`/openai/v1`).
    pub async fn start(prefix: &'static str) -> Self {
        Self {
            server: MockServer::start().await,
            prefix,
        }
    }

    /// The base URL to configure the provider with (server URI plus prefix).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.server.uri(), self.prefix)
    }

    /// Serves `reply` to exactly one `POST {prefix}/chat/completions` that carries
    /// `Authorization: Bearer <TEST_KEY>`.
    pub async fn reply(&self, reply: Reply) {
        let mut template = ResponseTemplate::new(reply.status)
            .set_body_raw(reply.body, reply.content_type.as_str());
        for (name, value) in &reply.headers {
            let lower = name.to_ascii_lowercase();
            if FRAMING_HEADERS.contains(&lower.as_str()) || lower == "content-type" {
                continue;
            }
            template = template.insert_header(name.as_str(), value.as_str());
        }
        if let Some(delay) = reply.delay {
            template = template.set_delay(delay);
        }
        Mock::given(method("POST"))
            .and(path(format!("{}{CHAT_PATH}", self.prefix)))
            .and(header("authorization", format!("Bearer {TEST_KEY}")))
            .respond_with(template)
            .expect(1)
            .mount(&self.server)
            .await;
    }

    /// The one request the server received, as `llmpool_core::testkit::request_snapshot`.
    #[expect(
        clippy::panic,
        reason = "test helper: a wrong request count is a failed test"
    )]
    pub async fn only_request(&self) -> Value {
        let requests = self.server.received_requests().await.unwrap_or_default();
        match requests.as_slice() {
            [one] => request_snapshot(one),
            other => panic!("expected exactly one request, got {}", other.len()),
        }
    }
}

/// Every item of a stream, in order.
pub async fn collect(stream: ChatStream) -> Vec<Result<StreamEvent, ProviderError>> {
    stream.collect().await
}

/// A snapshot-friendly view of stream items: `{"started": …}`, `{"delta": "…"}`,
/// `{"done": …}`, `{"error": …}` (see [`error_json`]).
pub fn events_json(items: &[Result<StreamEvent, ProviderError>]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|item| match item {
                Ok(StreamEvent::Started { rate_limits, model }) => {
                    json!({"started": {"rate_limits": rate_limits, "model": model}})
                }
                Ok(StreamEvent::Delta(text)) => json!({ "delta": text }),
                Ok(StreamEvent::Done(end)) => json!({"done": {
                    "finish_reason": end.finish_reason,
                    "usage": end.usage,
                    "model": end.model,
                }}),
                Err(e) => json!({ "error": error_json(e) }),
            })
            .collect(),
    )
}

/// The text of all deltas.
pub fn streamed_text(items: &[Result<StreamEvent, ProviderError>]) -> String {
    items
        .iter()
        .filter_map(|item| match item {
            Ok(StreamEvent::Delta(text)) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A snapshot-friendly view of an error: kind, status, message, the wait of a
/// `RateLimited`, whether a `QuotaExhausted` knows its end (the instant itself depends
/// on the clock; tests check it against the wait), and the rate-limit snapshot.
pub fn error_json(e: &ProviderError) -> Value {
    let mut v = json!({
        "kind": e.kind.label(),
        "status": e.status,
        "message": e.message,
    });
    match &e.kind {
        ErrorKind::RateLimited { retry_after } => {
            v["retry_after_ms"] = json!(retry_after.map(|d| d.as_millis()));
        }
        ErrorKind::QuotaExhausted { until } => {
            v["until_known"] = json!(until.is_some());
        }
        ErrorKind::Transient { status } => v["transient_status"] = json!(status),
        _ => {}
    }
    if !e.rate_limits.is_empty() {
        v["rate_limits"] = json!(e.rate_limits);
    }
    v
}
