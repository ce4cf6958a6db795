//! Contract-test helpers shared by the OpenAI-compatible provider crates: a loopback
//! upstream that serves fixtures on `/chat/completions`, and snapshot-friendly views of
//! stream events and errors.
//!
//! Generic helpers (fixtures, configs, request snapshots, key checks) are at the crate
//! root; this module adds what is specific to `/chat/completions`, and [`Contract`], the
//! harness the three OpenAI-compatible suites share. A suite
//! (`crates/provider-groq/tests/contract.rs`) reads:
//!
//! ```text
//! const SUITE: Contract = Contract {
//!     factory: &FACTORY,
//!     prefix: "/openai/v1",
//!     dir: env!("CARGO_MANIFEST_DIR"),
//!     request: documented_request,
//!     stream_request,
//! };
//!
//! #[tokio::test]
//! async fn auth_401_is_unauthorized() {
//!     let err = SUITE.fixture_error(401, "error_401.json").await;
//!     assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
//! }
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use llmpool_core::{
    ChatRequest, ChatStream, ErrorKind, Provider, ProviderError, ProviderFactory, StreamEvent,
};
use llmpool_openai_compat::CHAT_PATH;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{
    TEST_KEY, assert_error_clean, assert_no_key, config, fixture, fixture_headers, fixture_json,
    refused_base_url, request_snapshot,
};

pub use crate::streamed_text;

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

    /// The one request the server received, as [`request_snapshot`](crate::request_snapshot).
    /// Panics when it received none or several.
    pub async fn only_request(&self) -> Value {
        request_snapshot(&crate::only_request(&self.server).await)
    }
}

/// Every item of a stream, in order.
pub async fn collect(stream: ChatStream) -> Vec<Result<StreamEvent, ProviderError>> {
    stream.collect().await
}

/// A snapshot-friendly view of stream items: `{"started": …}`, `{"delta": "…"}`,
/// `{"reasoning": "…"}`, `{"tool_call": …}`, `{"dropped": […]}`, `{"done": …}`,
/// `{"error": …}` (see [`error_json`]).
pub fn events_json(items: &[Result<StreamEvent, ProviderError>]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|item| match item {
                Ok(StreamEvent::Started { rate_limits, model }) => {
                    json!({"started": {"rate_limits": rate_limits, "model": model}})
                }
                Ok(StreamEvent::Delta(text)) => json!({ "delta": text }),
                Ok(StreamEvent::Reasoning(text)) => json!({ "reasoning": text }),
                Ok(StreamEvent::ToolCall(call)) => json!({"tool_call": {
                    "index": call.index,
                    "id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                }}),
                Ok(StreamEvent::Dropped(names)) => json!({ "dropped": names }),
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

/// One OpenAI-compatible provider as its contract suite sees it: the factory under test,
/// the API's version prefix, the crate whose `tests/fixtures/` hold the payloads, and the
/// documented requests. A suite declares it once as a `const` and calls its methods; each
/// method fails the test by panicking.
#[derive(Debug, Clone, Copy)]
pub struct Contract {
    /// The provider under test.
    pub factory: &'static ProviderFactory,
    /// The API's version prefix (`/openai/v1`), part of every base URL.
    pub prefix: &'static str,
    /// The crate's manifest directory (`env!("CARGO_MANIFEST_DIR")`).
    pub dir: &'static str,
    /// The documented one-shot request, sent by [`Contract::chat_error`] and
    /// [`Contract::refused_chat_error`].
    pub request: fn() -> ChatRequest,
    /// The documented streaming request, sent by [`Contract::stream_items`] and
    /// [`Contract::stream_error`].
    pub stream_request: fn() -> ChatRequest,
}

#[expect(
    clippy::panic,
    reason = "test helpers: a panic fails the test, as an assertion would"
)]
impl Contract {
    /// The text of `tests/fixtures/<name>`.
    pub fn fixture(&self, name: &str) -> String {
        fixture(self.dir, name)
    }

    /// `tests/fixtures/<name>` parsed as JSON.
    pub fn fixture_json(&self, name: &str) -> Value {
        fixture_json(self.dir, name)
    }

    /// Status and headers of the `.headers` fixture `name`.
    pub fn fixture_headers(&self, name: &str) -> (u16, Vec<(String, String)>) {
        fixture_headers(self.dir, name)
    }

    /// A JSON answer with `status` whose body is the fixture `name`.
    pub fn json_error(&self, status: u16, name: &str) -> Reply {
        Reply::json(status, self.fixture(name))
    }

    /// A recorded JSON answer: status and headers from the `.headers` fixture
    /// `headers`, body from the fixture `body`.
    pub fn recorded(&self, headers: &str, body: &str) -> Reply {
        let (status, headers) = self.fixture_headers(headers);
        Reply::json(status, self.fixture(body)).headers(headers)
    }

    /// A fresh mock upstream serving the API's prefix.
    pub async fn upstream(&self) -> Upstream {
        Upstream::start(self.prefix).await
    }

    /// The provider built by the factory for `base_url` with the test config; its
    /// `Debug` is checked not to show the key.
    pub fn provider(&self, base_url: &str) -> Arc<dyn Provider> {
        let p = (self.factory.build)(&config(self.factory, base_url))
            .unwrap_or_else(|e| panic!("cannot build `{}`: {e}", self.factory.id));
        assert_no_key(&format!("{p:?}"));
        p
    }

    /// Asserts that `err` shows no key and names this provider.
    pub fn assert_clean(&self, err: &ProviderError) {
        assert_error_clean(err);
        assert_eq!(err.provider, self.factory.id);
    }

    /// The error of a call that had to fail, checked with [`Contract::assert_clean`].
    fn failed<T>(&self, result: Result<T, ProviderError>) -> ProviderError {
        let Err(err) = result else {
            panic!("expected an error, got a success");
        };
        self.assert_clean(&err);
        err
    }

    /// The error of a one-shot call of the documented request answered by `reply`,
    /// checked with [`Contract::assert_clean`].
    pub async fn chat_error(&self, reply: Reply) -> ProviderError {
        let up = self.upstream().await;
        up.reply(reply).await;
        self.failed(self.provider(&up.base_url()).chat(&(self.request)()).await)
    }

    /// The error of a one-shot call of the documented request answered with `status`
    /// and the fixture `name` as JSON body: [`Contract::chat_error`] of
    /// [`Contract::json_error`].
    pub async fn fixture_error(&self, status: u16, name: &str) -> ProviderError {
        self.chat_error(self.json_error(status, name)).await
    }

    /// The error of a one-shot call of the documented request to a port where nothing
    /// listens, checked with [`Contract::assert_clean`].
    pub async fn refused_chat_error(&self) -> ProviderError {
        let base = refused_base_url(self.prefix).await;
        self.failed(self.provider(&base).chat(&(self.request)()).await)
    }

    /// Every item of a streaming call of the documented stream request whose body is
    /// the fixture `name`; each error item is checked with [`Contract::assert_clean`].
    pub async fn stream_items(&self, name: &str) -> Vec<Result<StreamEvent, ProviderError>> {
        let up = self.upstream().await;
        up.reply(Reply::sse(self.fixture(name))).await;
        let stream = self
            .provider(&up.base_url())
            .chat_stream(&(self.stream_request)())
            .await
            .unwrap_or_else(|e| panic!("the stream failed before its first event: {e:?}"));
        let items = collect(stream).await;
        for item in &items {
            if let Err(e) = item {
                self.assert_clean(e);
            }
        }
        items
    }

    /// The error of a streaming call of the documented stream request answered by
    /// `reply`, which has to fail before the stream; checked with
    /// [`Contract::assert_clean`].
    pub async fn stream_error(&self, reply: Reply) -> ProviderError {
        let up = self.upstream().await;
        up.reply(reply).await;
        let provider = self.provider(&up.base_url());
        self.failed(provider.chat_stream(&(self.stream_request)()).await)
    }
}
