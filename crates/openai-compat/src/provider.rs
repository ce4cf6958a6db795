//! [`OpenAiCompatProvider`]: a [`Provider`] for any OpenAI-compatible chat-completions API,
//! specialised by [`CompatHooks`].

use std::fmt;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use llmpool_core::{
    ChatRequest, ChatResponse, ChatStream, ConfigError, ErrorKind, Provider, ProviderConfig,
    ProviderError, RateLimitSnapshot, StreamEnd, StreamEvent, ToolCallDelta,
};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;

use crate::hooks::{CompatHooks, ErrorContext};
use crate::transport::{self, Auth, Endpoint, Head, Opened, Reply, Scrubber, Upstream};
use crate::wire::{ChatCompletion, ChatCompletionRequest, ErrorBody, finish_reason_from_wire};

mod models;
mod stream;
mod think;

/// The chat-completions endpoint, appended to the configured base URL.
pub const CHAT_PATH: &str = "/chat/completions";

/// A client for one key of one OpenAI-compatible provider.
///
/// Sends `POST {base_url}/chat/completions` with the key as the hooks' [`Auth`] says
/// (`Authorization: Bearer <key>` by default) and the config's extra headers, through
/// the shared [`Upstream`]. One-shot calls are bounded by the config's `timeout`; a
/// stream is bounded by it only until the response headers arrive (the router times the
/// rest).
///
/// [`Auth`]: crate::transport::Auth
pub struct OpenAiCompatProvider {
    inner: Shared,
    upstream: Upstream,
    model: String,
}

/// What both the provider and its streams need to turn failures into errors.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) id: &'static str,
    pub(crate) hooks: &'static CompatHooks,
    scrubber: Scrubber,
}

impl OpenAiCompatProvider {
    /// A client for `cfg` behaving as `hooks` say. Fails when the base URL, the key or an
    /// extra header cannot be used in an HTTP request (see [`Upstream::new`]); the error
    /// names the provider and never contains the key.
    pub fn new(cfg: &ProviderConfig, hooks: &'static CompatHooks) -> Result<Self, ConfigError> {
        // A keyless lane (`CompatHooks::key_optional`) sends no key header at all:
        // `Auth::None` sees to it, a configured `Authorization` included.
        let keyless = hooks.key_optional && cfg.expose_key().trim().is_empty();
        let auth = if keyless { Auth::None } else { hooks.auth };
        let upstream = Upstream::new(
            cfg,
            Endpoint {
                path: CHAT_PATH,
                auth,
                rate_limits: hooks.rate_limits,
            },
        )?;
        Ok(Self {
            inner: Shared {
                id: cfg.id,
                hooks,
                scrubber: upstream.scrubber(),
            },
            upstream,
            model: cfg.model.clone(),
        })
    }

    /// The upstream body for `req`, and the fields left out of it (see
    /// [`RequestPolicy`](crate::wire::RequestPolicy)); a field the upstream cannot honour
    /// fails here, before any call. The provider's [`BodyRewrite`](crate::hooks::BodyRewrite)
    /// is applied last.
    fn wire_request(
        &self,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<(ChatCompletionRequest, Vec<String>), ProviderError> {
        let model = req.model.as_deref().unwrap_or(&self.model);
        let hooks = self.inner.hooks;
        let mut dropped = Vec::new();
        let mut body = ChatCompletionRequest::from_core_checked(
            req,
            model,
            hooks.max_tokens_field,
            stream,
            &hooks.request_policy,
            self.inner.id,
            &mut dropped,
        )?;
        hooks.body_rewrite.apply(&mut body);
        (hooks.body_hook)(&mut body, &mut dropped)
            .map_err(|field| ProviderError::unsupported(self.inner.id, &field))?;
        Ok((body, dropped))
    }
}

impl Shared {
    /// Masks the key wherever an upstream echoed it.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.scrubber.text(text).into_owned()
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

    /// The error of a non-2xx answer.
    fn failed(&self, reply: &Reply) -> ProviderError {
        let head = &reply.head;
        let err = ErrorBody::parse(&reply.body);
        self.classified(
            head.status,
            false,
            &err,
            &head.headers,
            head.rate_limits,
            head.now,
        )
    }
}

impl fmt::Debug for OpenAiCompatProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatProvider")
            .field("id", &self.inner.id)
            .field("model", &self.model)
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Provider for OpenAiCompatProvider {
    fn id(&self) -> &'static str {
        self.inner.id
    }

    async fn list_models(&self) -> Result<Option<Vec<String>>, ProviderError> {
        self.model_ids().await.map(Some)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let started = tokio::time::Instant::now();
        let (wire, dropped_params) = self.wire_request(req, false)?;
        let reply = self
            .upstream
            .post_json(self.upstream.url().clone(), None, &wire)
            .await?;
        if !reply.head.is_success() {
            return Err(self.inner.failed(&reply));
        }
        let Reply { head, body } = reply;
        let status = head.status;
        let rate_limits = head.rate_limits;
        let completion = parse_completion(&self.inner, &head, &body)?;
        let Some(choice) = completion.choices.into_iter().next() else {
            return Err(self
                .inner
                .invalid(status, "the response has no choices", rate_limits));
        };
        let (text, reasoning, tool_calls) = choice.message.into_core();
        if self.inner.hooks.empty_answer_is_invalid
            && text.trim().is_empty()
            && tool_calls.is_empty()
        {
            return Err(self.inner.invalid(
                status,
                "the answer is empty (the model may have spent its output budget reasoning)",
                rate_limits,
            ));
        }
        Ok(ChatResponse {
            text,
            reasoning,
            tool_calls,
            dropped_params,
            finish_reason: choice.finish_reason.as_deref().map(finish_reason_from_wire),
            usage: completion.usage.map(Into::into),
            provider: self.inner.id,
            model: if completion.model.is_empty() {
                wire.model
            } else {
                completion.model
            },
            latency: started.elapsed(),
            rate_limits,
            ..ChatResponse::default()
        })
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let (wire, dropped) = self.wire_request(req, true)?;
        let (head, body) = match self
            .upstream
            .open_stream(self.upstream.url().clone(), None, &wire)
            .await?
        {
            Opened::Streaming(head, body) => (head, body),
            Opened::Failed(reply) => return Err(self.inner.failed(&reply)),
        };
        let content_type = transport::header(&head.headers, CONTENT_TYPE.as_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.contains("json") && !content_type.contains("event-stream") {
            // The upstream ignored `stream: true` (or failed before streaming): read it as
            // a one-shot answer and replay it as events.
            let bytes = body.read(&head).await?;
            let completion = parse_completion(&self.inner, &head, &bytes)?;
            return replay(
                &self.inner,
                head.status,
                completion,
                head.rate_limits,
                dropped,
            );
        }
        Ok(stream::events(
            self.inner.clone(),
            body.sse_items(),
            head.status,
            head.headers,
            head.rate_limits,
            head.now,
            dropped,
        ))
    }
}

/// Parses a 2xx body: JSON (leading keep-alive whitespace is fine), not an embedded error,
/// in the chat-completion shape.
fn parse_completion(
    shared: &Shared,
    head: &Head,
    bytes: &[u8],
) -> Result<ChatCompletion, ProviderError> {
    let (status, rate_limits) = (head.status, head.rate_limits);
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
        return Err(shared.classified(status, true, &err, &head.headers, rate_limits, head.now));
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
    use std::time::Duration;

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

    /// A keyless provider (issue 12's opt-in free endpoints) sends no auth header at all,
    /// and a custom header scheme sends the key where the hooks say.
    #[tokio::test]
    async fn auth_follows_the_hooks() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        static KEYLESS: CompatHooks = CompatHooks {
            auth: transport::Auth::None,
            ..CompatHooks::DEFAULT
        };
        static API_KEY: CompatHooks = CompatHooks {
            auth: transport::Auth::header("x-api-key"),
            ..CompatHooks::DEFAULT
        };
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                r#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
                "application/json",
            ))
            .expect(2)
            .mount(&server)
            .await;
        let base = format!("{}/v1", server.uri());
        let req = ChatRequest::new(vec![llmpool_core::Message::user("hi")]);
        let keyless = ProviderConfig::new(&F, "").with_base_url(&base);
        let answer = OpenAiCompatProvider::new(&keyless, &KEYLESS)
            .unwrap()
            .chat(&req)
            .await
            .unwrap();
        assert_eq!(answer.text, "hi");
        let keyed = ProviderConfig::new(&F, "sk-test-0123456789").with_base_url(&base);
        OpenAiCompatProvider::new(&keyed, &API_KEY)
            .unwrap()
            .chat(&req)
            .await
            .unwrap();
        let sent = server.received_requests().await.unwrap();
        assert!(!sent[0].headers.contains_key("authorization"));
        assert!(!sent[0].headers.contains_key("x-api-key"));
        assert_eq!(sent[1].headers["x-api-key"], "sk-test-0123456789");
        assert!(!sent[1].headers.contains_key("authorization"));
    }

    /// `body_hook`: runs after the body rewrite, may change the body and report what it
    /// left out, and its `Err` fails the call by the field's name before any request.
    #[tokio::test]
    async fn the_body_hook_shapes_the_body_or_refuses_by_name() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        fn hook(body: &mut ChatCompletionRequest, dropped: &mut Vec<String>) -> Result<(), String> {
            if body.user.is_some() {
                return Err("user".to_owned());
            }
            if body.temperature.take().is_some() {
                dropped.push("temperature".to_owned());
            }
            body.parallel_tool_calls = Some(false);
            Ok(())
        }
        static HOOKED: CompatHooks = CompatHooks {
            body_hook: hook,
            ..CompatHooks::DEFAULT
        };
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                r#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
                "application/json",
            ))
            .expect(1)
            .mount(&server)
            .await;
        let cfg = ProviderConfig::new(&F, "sk-test-0123456789")
            .with_base_url(format!("{}/v1", server.uri()));
        let provider = OpenAiCompatProvider::new(&cfg, &HOOKED).unwrap();
        let mut req = ChatRequest::new(vec![llmpool_core::Message::user("hi")]);
        req.temperature = Some(0.5);
        let answer = provider.chat(&req).await.unwrap();
        assert_eq!(answer.dropped_params, vec!["temperature"]);
        let sent: serde_json::Value =
            serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
        assert_eq!(sent["parallel_tool_calls"], false);
        assert!(sent.get("temperature").is_none(), "{sent}");
        req.user = Some("u".into());
        let err = provider.chat(&req).await.unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
        assert!(err.message.unwrap().contains("`user`"));
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

    /// `key_optional`: an empty key builds a client that sends no `Authorization` (not
    /// even a configured one); a key is still sent. The request policy shapes the body.
    #[tokio::test]
    async fn keyless_lane_sends_no_authorization_and_the_policy_shapes_the_body() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        static KEYLESS: CompatHooks = CompatHooks {
            key_optional: true,
            body_rewrite: crate::hooks::BodyRewrite {
                rename: &[],
                drop: &["stream_options"],
                default_max_tokens: Some(77),
                add: &[],
            },
            ..CompatHooks::DEFAULT
        };
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                r#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
                "application/json",
            ))
            .expect(2)
            .mount(&server)
            .await;
        let base = format!("{}/v1", server.uri());
        let mut empty = ProviderConfig::new(&F, "").with_base_url(&base);
        empty
            .headers
            .push(("Authorization".into(), "Bearer smuggled".into()));
        assert!(OpenAiCompatProvider::new(&empty, &HOOKS).is_err());
        let req = ChatRequest::new(vec![llmpool_core::Message::user("hi")]);
        let keyless = OpenAiCompatProvider::new(&empty, &KEYLESS).unwrap();
        assert_eq!(keyless.chat(&req).await.unwrap().text, "hi");
        let keyed = ProviderConfig::new(&F, "sk-test-0123456789").with_base_url(&base);
        OpenAiCompatProvider::new(&keyed, &KEYLESS)
            .unwrap()
            .chat(&req)
            .await
            .unwrap();
        let sent = server.received_requests().await.unwrap();
        assert!(!sent[0].headers.contains_key("authorization"));
        assert_eq!(
            sent[1].headers.get("authorization").unwrap(),
            "Bearer sk-test-0123456789"
        );
        let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(body["max_tokens"], 77);
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
