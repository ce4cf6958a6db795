//! [`OpenAiCompatProvider`]: a [`Provider`] for any OpenAI-compatible chat-completions API,
//! specialised by [`CompatHooks`].

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use llmpool_core::{
    ChatRequest, ChatResponse, ChatStream, ConfigError, ErrorKind, Provider, ProviderConfig,
    ProviderError, RateLimitSnapshot, StreamEnd, StreamEvent, ToolCallDelta, mask_key,
};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::hooks::{CompatHooks, ErrorContext};
use crate::transport;
use crate::wire::{ChatCompletion, ChatCompletionRequest, ErrorBody, finish_reason_from_wire};

mod stream;

/// The chat-completions endpoint, appended to the configured base URL.
pub const CHAT_PATH: &str = "/chat/completions";

/// A client for one key of one OpenAI-compatible provider.
///
/// Sends `POST {base_url}/chat/completions` with `Authorization: Bearer <key>` and the
/// config's extra headers. One-shot calls are bounded by the config's `timeout`; a stream
/// is bounded by it only until the response headers arrive (the router times the rest).
pub struct OpenAiCompatProvider {
    inner: Shared,
    client: reqwest::Client,
    /// Parsed once: reqwest would parse a `&str` again on every request.
    url: reqwest::Url,
    model: String,
    timeout: Duration,
    headers: HeaderMap,
}

/// What both the provider and its streams need to turn failures into errors.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) id: &'static str,
    pub(crate) hooks: &'static CompatHooks,
    key: SecretString,
}

impl OpenAiCompatProvider {
    /// A client for `cfg` behaving as `hooks` say. Fails when the base URL, the key or an
    /// extra header cannot be used in an HTTP request; the error never contains the key.
    pub fn new(cfg: &ProviderConfig, hooks: &'static CompatHooks) -> Result<Self, ConfigError> {
        let url = transport::endpoint_url(cfg, CHAT_PATH)?;
        let key = cfg.expose_key();
        if key.trim().is_empty() {
            return Err(ConfigError::new(cfg.id, "api_key", "the API key is empty"));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            ConfigError::new(
                cfg.id,
                "api_key",
                "the API key contains characters not allowed in an HTTP header",
            )
        })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::new(cfg.id, "headers", format!("`{name}` is not a header name"))
            })?;
            let header_value = HeaderValue::from_str(value).map_err(|_| {
                ConfigError::new(
                    cfg.id,
                    "headers",
                    format!("the value of `{name}` is not a valid header value"),
                )
            })?;
            headers.insert(header_name, header_value);
        }
        // Inserted last so a configured header cannot replace the key.
        headers.insert(AUTHORIZATION, auth);
        Ok(Self {
            inner: Shared {
                id: cfg.id,
                hooks,
                key: cfg.api_key.clone(),
            },
            client: transport::build_client(cfg)?,
            url,
            model: cfg.model.clone(),
            timeout: cfg.timeout,
            headers,
        })
    }

    fn post(&self, body: &ChatCompletionRequest) -> reqwest::RequestBuilder {
        self.client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .json(body)
    }

    /// The upstream body for `req`, and the fields left out of it (see
    /// [`RequestPolicy`](crate::wire::RequestPolicy)); a field the upstream cannot honour
    /// fails here, before any call.
    fn wire_request(
        &self,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<(ChatCompletionRequest, Vec<String>), ProviderError> {
        let model = req.model.as_deref().unwrap_or(&self.model);
        let hooks = self.inner.hooks;
        let mut dropped = Vec::new();
        let body = ChatCompletionRequest::from_core_checked(
            req,
            model,
            hooks.max_tokens_field,
            stream,
            &hooks.request_policy,
            self.inner.id,
            &mut dropped,
        )?;
        Ok((body, dropped))
    }

    /// Reads the body of a response within the remaining time.
    async fn body_within(
        &self,
        response: reqwest::Response,
        status: u16,
        rate_limits: RateLimitSnapshot,
    ) -> Result<Bytes, ProviderError> {
        let read = transport::read_body(self.inner.id, response);
        match tokio::time::timeout(self.timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::new(self.inner.id, ErrorKind::Timeout)),
        }
        .map_err(|e| e.with_status(status).with_rate_limits(rate_limits))
    }
}

impl Shared {
    /// Masks the key wherever an upstream echoed it.
    pub(crate) fn scrub(&self, text: &str) -> String {
        llmpool_core::redact_secret(text, self.key.expose_secret()).into_owned()
    }

    /// A failure of kind `kind` with a message from the upstream.
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        status: Option<u16>,
        message: &str,
        rate_limits: RateLimitSnapshot,
    ) -> ProviderError {
        let mut e = ProviderError::new(self.id, kind)
            .with_message(self.scrub(message))
            .with_rate_limits(rate_limits);
        if let Some(status) = status {
            e = e.with_status(status);
        }
        e
    }

    /// An answer we cannot use.
    pub(crate) fn invalid(
        &self,
        status: u16,
        message: &str,
        rate_limits: RateLimitSnapshot,
    ) -> ProviderError {
        self.error(
            ErrorKind::InvalidResponse,
            Some(status),
            message,
            rate_limits,
        )
    }

    /// Classifies an error body through the hooks. `embedded` errors came inside a 2xx
    /// response; they are classified by their own numeric code when they carry one.
    pub(crate) fn classified(
        &self,
        http_status: u16,
        embedded: bool,
        body: &ErrorBody,
        headers: &HeaderMap,
        rate_limits: RateLimitSnapshot,
        now: DateTime<Utc>,
    ) -> ProviderError {
        let code = body.status_code().filter(|c| *c >= 400);
        let status = if embedded {
            code.unwrap_or(http_status)
        } else {
            http_status
        };
        let kind = (self.hooks.classify)(&ErrorContext {
            status,
            http_status,
            embedded,
            body,
            headers,
            rate_limits: &rate_limits,
            now,
        });
        let shown_status = if embedded { code } else { Some(http_status) };
        self.error(kind, shown_status, &body.summary(), rate_limits)
    }
}

impl fmt::Debug for OpenAiCompatProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatProvider")
            .field("id", &self.inner.id)
            .field("url", &self.url.as_str())
            .field("model", &self.model)
            .field("api_key", &mask_key(self.inner.key.expose_secret()))
            .field("timeout", &self.timeout)
            .field(
                "headers",
                &self
                    .headers
                    .keys()
                    .filter(|k| *k != AUTHORIZATION)
                    .map(HeaderName::as_str)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Provider for OpenAiCompatProvider {
    fn id(&self) -> &'static str {
        self.inner.id
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let started = tokio::time::Instant::now();
        let (body, dropped_params) = self.wire_request(req, false)?;
        let response =
            transport::send(self.inner.id, self.post(&body).timeout(self.timeout)).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let now = Utc::now();
        let rate_limits = (self.inner.hooks.rate_limits)(&headers, now);
        // The request's own timeout (set above) also bounds reading the body: no second
        // timer (each one registered per request wakes the runtime's I/O driver).
        let bytes = transport::read_body(self.inner.id, response)
            .await
            .map_err(|e| e.with_status(status).with_rate_limits(rate_limits))?;
        if !(200..300).contains(&status) {
            let err = ErrorBody::parse(&bytes);
            return Err(self
                .inner
                .classified(status, false, &err, &headers, rate_limits, now));
        }
        let completion = parse_completion(&self.inner, status, &bytes, &headers, rate_limits, now)?;
        let Some(choice) = completion.choices.into_iter().next() else {
            return Err(self
                .inner
                .invalid(status, "the response has no choices", rate_limits));
        };
        let (text, reasoning, tool_calls) = choice.message.into_core();
        Ok(ChatResponse {
            text,
            reasoning,
            tool_calls,
            dropped_params,
            finish_reason: choice.finish_reason.as_deref().map(finish_reason_from_wire),
            usage: completion.usage.map(Into::into),
            provider: self.inner.id,
            model: if completion.model.is_empty() {
                body.model
            } else {
                completion.model
            },
            latency: started.elapsed(),
            rate_limits,
            attempts: Vec::new(),
        })
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let (body, dropped) = self.wire_request(req, true)?;
        let send = transport::send(self.inner.id, self.post(&body));
        let response = match tokio::time::timeout(self.timeout, send).await {
            Ok(result) => result?,
            Err(_) => return Err(ProviderError::new(self.inner.id, ErrorKind::Timeout)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let now = Utc::now();
        let rate_limits = (self.inner.hooks.rate_limits)(&headers, now);
        if !(200..300).contains(&status) {
            let bytes = self.body_within(response, status, rate_limits).await?;
            let err = ErrorBody::parse(&bytes);
            return Err(self
                .inner
                .classified(status, false, &err, &headers, rate_limits, now));
        }
        let content_type = transport::header(&headers, CONTENT_TYPE.as_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.contains("json") && !content_type.contains("event-stream") {
            // The upstream ignored `stream: true` (or failed before streaming): read it as
            // a one-shot answer and replay it as events.
            let bytes = self.body_within(response, status, rate_limits).await?;
            let completion =
                parse_completion(&self.inner, status, &bytes, &headers, rate_limits, now)?;
            return replay(&self.inner, status, completion, rate_limits, dropped);
        }
        let items = transport::sse_items(self.inner.id, response);
        Ok(stream::events(
            self.inner.clone(),
            items,
            status,
            headers,
            rate_limits,
            now,
            dropped,
        ))
    }
}

/// Parses a 2xx body: JSON (leading keep-alive whitespace is fine), not an embedded error,
/// in the chat-completion shape.
fn parse_completion(
    shared: &Shared,
    status: u16,
    bytes: &[u8],
    headers: &HeaderMap,
    rate_limits: RateLimitSnapshot,
    now: DateTime<Utc>,
) -> Result<ChatCompletion, ProviderError> {
    if let Some(completion) = typed_unless_error(bytes) {
        return Ok(completion);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        shared.invalid(
            status,
            &format!(
                "the body is not JSON ({e}): {}",
                transport::body_excerpt(bytes)
            ),
            rate_limits,
        )
    })?;
    if let Some(err) = (shared.hooks.embedded_error)(&value) {
        return Err(shared.classified(status, true, &err, headers, rate_limits, now));
    }
    serde_json::from_value(value).map_err(|e| {
        shared.invalid(
            status,
            &format!("the body is not a chat completion: {e}"),
            rate_limits,
        )
    })
}

/// The fast path of a body: straight into `T` when the text `error` appears nowhere in it,
/// so that no embedded error object can be there for the hooks to find. Otherwise (and
/// when the typed parse fails, to get the precise message) the caller parses a `Value`,
/// asks the hooks, then converts: twice the work, only for bodies that may carry an error.
/// (A key spelled with escapes, `"\u0065rror"`, would slip past; no provider writes that.)
pub(crate) fn typed_unless_error<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if memchr::memmem::find(bytes, b"error").is_some() {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// A one-shot answer as stream events.
fn replay(
    shared: &Shared,
    status: u16,
    completion: ChatCompletion,
    rate_limits: RateLimitSnapshot,
    dropped: Vec<String>,
) -> Result<ChatStream, ProviderError> {
    let model = (!completion.model.is_empty()).then_some(completion.model);
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(shared.invalid(status, "the response has no choices", rate_limits));
    };
    let mut events = vec![Ok(StreamEvent::Started {
        rate_limits,
        model: model.clone(),
    })];
    if !dropped.is_empty() {
        events.push(Ok(StreamEvent::Dropped(dropped)));
    }
    let (text, reasoning, tool_calls) = choice.message.into_core();
    if let Some(reasoning) = reasoning.filter(|r| !r.is_empty()) {
        events.push(Ok(StreamEvent::Reasoning(reasoning)));
    }
    if !text.is_empty() {
        events.push(Ok(StreamEvent::Delta(text)));
    }
    for (index, call) in (0_u32..).zip(tool_calls) {
        events.push(Ok(StreamEvent::ToolCall(ToolCallDelta {
            index,
            id: Some(call.id),
            name: Some(call.name),
            arguments: call.arguments,
        })));
    }
    events.push(Ok(StreamEvent::Done(StreamEnd {
        finish_reason: choice.finish_reason.as_deref().map(finish_reason_from_wire),
        usage: completion.usage.map(Into::into),
        model,
    })));
    Ok(futures::stream::iter(events).boxed())
}

#[cfg(test)]
mod tests {
    use llmpool_core::ProviderFactory;

    use super::*;

    fn no_build(_: &ProviderConfig) -> Result<std::sync::Arc<dyn Provider>, ConfigError> {
        Err(ConfigError::new("t", "t", "t"))
    }

    static F: ProviderFactory = ProviderFactory {
        id: "compat",
        display_name: "Compat",
        key_env: "COMPAT_API_KEY",
        base_url_env: "COMPAT_BASE_URL",
        default_base_url: "http://127.0.0.1:9/v1",
        default_model: "m",
        catalog: "[[models]]\nid = \"m\"\n",
        default_priority: 1,
        docs_url: "",
        build: no_build,
    };
    static HOOKS: CompatHooks = CompatHooks::DEFAULT;

    /// A redirect is answered to the router as what it is, never followed with the key.
    #[tokio::test]
    async fn redirects_are_not_followed() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(307).insert_header("location", "/elsewhere"))
            .mount(&server)
            .await;
        Mock::given(path("/elsewhere"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let cfg = ProviderConfig::new(&F, "sk-test-0123456789").with_base_url(server.uri());
        let client = transport::build_client(&cfg).unwrap();
        let response = client
            .post(format!("{}/v1/chat/completions", server.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 307);
    }

    /// Headers at once, then a body that never finishes: the request's timeout covers the
    /// body too, so the call ends as a timeout, not a hang.
    #[tokio::test]
    async fn a_body_that_stalls_times_out() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0_u8; 64 * 1024];
            let _ = socket.read(&mut buf).await;
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"id\":")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let mut cfg = ProviderConfig::new(&F, "sk-test-0123456789")
            .with_base_url(format!("http://{addr}/v1"));
        cfg.timeout = Duration::from_millis(300);
        let provider = OpenAiCompatProvider::new(&cfg, &HOOKS).unwrap();
        let req = ChatRequest::new(vec![llmpool_core::Message::user("hi")]);
        let err = provider.chat(&req).await.unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
        assert_eq!(err.status, Some(200));
        server.abort();
    }

    #[test]
    fn only_bodies_that_cannot_hold_an_error_take_the_typed_path() {
        let clean = br#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;
        let parsed: ChatCompletion = typed_unless_error(clean).unwrap();
        assert_eq!(parsed.choices.len(), 1);
        // Anything mentioning `error` goes the slow way, where the hooks see the Value.
        let embedded = br#"{"id":"x","choices":[],"x_groq":{"error":"over capacity"}}"#;
        assert!(typed_unless_error::<ChatCompletion>(embedded).is_none());
        let in_text = br#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"no error here"},"finish_reason":"stop"}]}"#;
        assert!(typed_unless_error::<ChatCompletion>(in_text).is_none());
        assert!(typed_unless_error::<ChatCompletion>(b"not json").is_none());
    }

    #[test]
    fn rejects_bad_config_without_echoing_the_key() {
        let bad_url = ProviderConfig::new(&F, "sk-secret-0123456789").with_base_url("not a url");
        let err = OpenAiCompatProvider::new(&bad_url, &HOOKS).unwrap_err();
        assert_eq!(err.key, "base_url");
        let bad_key = ProviderConfig::new(&F, "sk-secret\n0123456789");
        let err = OpenAiCompatProvider::new(&bad_key, &HOOKS).unwrap_err();
        assert_eq!(err.key, "api_key");
        assert!(!err.to_string().contains("secret"));
        let empty = ProviderConfig::new(&F, " ");
        assert!(OpenAiCompatProvider::new(&empty, &HOOKS).is_err());
        let mut bad_header = ProviderConfig::new(&F, "sk-secret-0123456789");
        bad_header.headers.push(("bad name".into(), "x".into()));
        assert_eq!(
            OpenAiCompatProvider::new(&bad_header, &HOOKS)
                .unwrap_err()
                .key,
            "headers"
        );
    }

    #[test]
    fn debug_and_scrub_hide_the_key() {
        let mut cfg = ProviderConfig::new(&F, "sk-secret-0123456789");
        cfg.headers.push(("X-Title".into(), "App".into()));
        let p = OpenAiCompatProvider::new(&cfg, &HOOKS).unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("x-title"), "{shown}");
        assert!(!shown.contains("authorization"), "{shown}");
        assert_eq!(
            p.inner
                .scrub("Incorrect API key provided: sk-secret-0123456789."),
            "Incorrect API key provided: [REDACTED]."
        );
    }
}
