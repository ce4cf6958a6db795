//! [`Upstream`]: one provider key's HTTP endpoint, built once from its config and used by
//! every request: client, URL, auth and extra headers, timeout, clock and key scrubbing.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use llmpool_core::{
    Clock, ConfigError, ErrorKind, ProviderConfig, ProviderError, RateLimitSnapshot, mask_key,
    redact_secret,
};
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::{build_client, endpoint_url, read_body, send, sse_items};
use crate::sse::SseItem;

/// Reads a provider's rate-limit headers (of any response, success or failure) at the
/// wall-clock time `now` (for providers that send absolute reset times).
pub type RateLimitParser = fn(&HeaderMap, DateTime<Utc>) -> RateLimitSnapshot;

/// How a provider's key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// In the header `name`, as `{scheme}{key}`: `Authorization: Bearer <key>` is
    /// [`Auth::BEARER`], Gemini's `x-goog-api-key: <key>` has an empty scheme.
    Header {
        /// The header's name, lowercase.
        name: &'static str,
        /// Written before the key (`"Bearer "`), or empty.
        scheme: &'static str,
    },
    /// Not at all: a keyless provider. No auth header is sent: the key, if any, is
    /// ignored, and a configured `Authorization` header is dropped (it would be a key the
    /// user did not mean to send to an anonymous lane). The one place that ensures it.
    None,
}

impl Auth {
    /// `Authorization: Bearer <key>`, what OpenAI-compatible APIs expect.
    pub const BEARER: Auth = Auth::Header {
        name: "authorization",
        scheme: "Bearer ",
    };

    /// The key alone in the header `name` (`x-api-key`, `x-goog-api-key`).
    pub const fn header(name: &'static str) -> Auth {
        Auth::Header { name, scheme: "" }
    }

    fn header_name(self) -> Option<&'static str> {
        match self {
            Auth::Header { name, .. } => Some(name),
            Auth::None => None,
        }
    }
}

/// What a provider crate states about its endpoint, once: where, how the key goes, and
/// how its rate-limit headers read.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Appended to the config's base URL (`/chat/completions`); empty when the path
    /// depends on the request (then see [`Upstream::url_at`]).
    pub path: &'static str,
    /// How the key is sent.
    pub auth: Auth,
    /// The provider's rate-limit headers.
    pub rate_limits: RateLimitParser,
}

/// One key's upstream: the HTTP skeleton shared by every provider. Built once per key
/// (every check of the config happens here, so a bad header or URL stops start-up
/// instead of failing each request); each call then costs one clone of the URL and of
/// the header map, as a hand-written request would.
pub struct Upstream {
    id: &'static str,
    client: reqwest::Client,
    /// Parsed once: reqwest would parse a `&str` again on every request.
    url: reqwest::Url,
    /// The auth header (marked sensitive) and the configured extra headers.
    headers: HeaderMap,
    auth: Auth,
    timeout: Duration,
    key: SecretString,
    clock: Arc<dyn Clock>,
    rate_limits: RateLimitParser,
}

impl Upstream {
    /// The upstream of `cfg` at `endpoint`. Fails, naming the provider and what is wrong,
    /// when the base URL is not http(s), the key is empty or cannot be a header value, or
    /// an extra header has a bad name or value or would replace the key's header. The
    /// error never contains the key.
    pub fn new(cfg: &ProviderConfig, endpoint: Endpoint) -> Result<Self, ConfigError> {
        let url = endpoint_url(cfg, endpoint.path)?;
        let mut headers = HeaderMap::with_capacity(cfg.headers.len() + 1);
        for (name, value) in &cfg.headers {
            let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::new(
                    cfg.id,
                    "headers",
                    format!("`{name}` is not a valid header name"),
                )
            })?;
            if endpoint.auth == Auth::None && header_name == reqwest::header::AUTHORIZATION {
                continue;
            }
            if endpoint.auth.header_name() == Some(header_name.as_str()) {
                return Err(ConfigError::new(
                    cfg.id,
                    "headers",
                    format!("`{name}` carries the API key; set the key instead of this header"),
                ));
            }
            let header_value = HeaderValue::from_str(value).map_err(|_| {
                ConfigError::new(
                    cfg.id,
                    "headers",
                    format!("the value of header `{name}` is not a valid header value"),
                )
            })?;
            headers.insert(header_name, header_value);
        }
        if let Auth::Header { name, scheme } = endpoint.auth {
            headers.insert(name, auth_value(cfg, scheme)?);
        }
        Ok(Self {
            id: cfg.id,
            client: build_client(cfg)?,
            url,
            headers,
            auth: endpoint.auth,
            timeout: cfg.timeout,
            key: cfg.api_key.clone(),
            clock: Arc::clone(&cfg.clock),
            rate_limits: endpoint.rate_limits,
        })
    }

    /// The provider id.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The endpoint: base URL and [`Endpoint::path`].
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// The endpoint with the concatenation of `path` appended (it starts with `/`) and
    /// `query` set: for APIs that put the model in the path
    /// (`["/models/", model, ":generateContent"]`). Only the path is parsed again.
    pub fn url_at(&self, path: &[&str], query: Option<&str>) -> reqwest::Url {
        let mut url = self.url.clone();
        let base = url.path().trim_end_matches('/');
        let mut full =
            String::with_capacity(base.len() + path.iter().map(|p| p.len()).sum::<usize>());
        full.push_str(base);
        for part in path {
            full.push_str(part);
        }
        url.set_path(&full);
        url.set_query(query);
        url
    }

    /// The per-attempt timeout: a one-shot call as a whole, or a stream's head.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The wall clock every time of this provider comes from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The current wall-clock time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `text` with the key masked wherever an upstream echoed it.
    pub fn scrub_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        redact_secret(text, self.key.expose_secret())
    }

    /// `err` with the key masked in its message.
    pub fn scrub(&self, err: ProviderError) -> ProviderError {
        err.redact_secret(self.key.expose_secret())
    }

    /// An owned scrubber, for streams that outlive the borrow of `self`.
    pub fn scrubber(&self) -> Scrubber {
        Scrubber {
            key: self.key.clone(),
        }
    }

    fn request<B: Serialize + ?Sized>(
        &self,
        url: reqwest::Url,
        accept: Option<&'static str>,
        body: &B,
    ) -> reqwest::RequestBuilder {
        let mut request = self.client.post(url).headers(self.headers.clone());
        if let Some(accept) = accept {
            request = request.header(ACCEPT, HeaderValue::from_static(accept));
        }
        request.json(body)
    }

    fn head(&self, response: &reqwest::Response) -> Head {
        let now = self.clock.now();
        let headers = response.headers().clone();
        Head {
            status: response.status().as_u16(),
            rate_limits: (self.rate_limits)(&headers, now),
            headers,
            now,
        }
    }

    /// Posts `body` as JSON to `url` and reads the whole answer, all within the timeout
    /// (the request's own timer bounds the body too: no second timer per request).
    /// Transport failures are `Timeout`, `Network` or `InvalidResponse`; a body that fails
    /// to arrive carries the status and rate limits of the head that did.
    pub async fn post_json<B: Serialize + ?Sized>(
        &self,
        url: reqwest::Url,
        accept: Option<&'static str>,
        body: &B,
    ) -> Result<Reply, ProviderError> {
        let request = self.request(url, accept, body).timeout(self.timeout);
        let response = send(self.id, request).await?;
        let head = self.head(&response);
        let body = read_body(self.id, response).await.map_err(|e| {
            e.with_status(head.status)
                .with_rate_limits(head.rate_limits)
        })?;
        Ok(Reply { head, body })
    }

    /// Gets `url` with the key and the extra headers and reads the whole answer within
    /// the timeout: for calls that spend no quota, such as a model list.
    pub async fn get(&self, url: reqwest::Url) -> Result<Reply, ProviderError> {
        let request = self
            .client
            .get(url)
            .headers(self.headers.clone())
            .timeout(self.timeout);
        let response = send(self.id, request).await.map_err(|e| self.scrub(e))?;
        let head = self.head(&response);
        let body = read_body(self.id, response).await.map_err(|e| {
            self.scrub(e)
                .with_status(head.status)
                .with_rate_limits(head.rate_limits)
        })?;
        Ok(Reply { head, body })
    }

    /// Posts `body` as JSON to `url` for a streamed answer. Only the head is awaited under
    /// the timeout (the router times the stream itself); a non-2xx answer's body is read
    /// under the timeout too and returned as [`Opened::Failed`] for the provider to
    /// classify.
    pub async fn open_stream<B: Serialize + ?Sized>(
        &self,
        url: reqwest::Url,
        accept: Option<&'static str>,
        body: &B,
    ) -> Result<Opened, ProviderError> {
        let send = send(self.id, self.request(url, accept, body));
        let response = match tokio::time::timeout(self.timeout, send).await {
            Ok(result) => result?,
            Err(_elapsed) => return Err(ProviderError::new(self.id, ErrorKind::Timeout)),
        };
        let head = self.head(&response);
        let body = Body {
            provider: self.id,
            timeout: self.timeout,
            response,
        };
        if head.is_success() {
            return Ok(Opened::Streaming(head, body));
        }
        let bytes = body.read(&head).await?;
        Ok(Opened::Failed(Reply { head, body: bytes }))
    }
}

/// The key's header value, marked sensitive so that no `Debug` of a request shows it.
fn auth_value(cfg: &ProviderConfig, scheme: &str) -> Result<HeaderValue, ConfigError> {
    let key = cfg.expose_key();
    if key.trim().is_empty() {
        return Err(ConfigError::new(cfg.id, "api_key", "the API key is empty"));
    }
    let mut text = String::with_capacity(scheme.len() + key.len());
    text.push_str(scheme);
    text.push_str(key);
    let mut value = HeaderValue::from_str(&text).map_err(|_| {
        ConfigError::new(
            cfg.id,
            "api_key",
            "the API key contains characters not allowed in an HTTP header",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = self.auth.header_name();
        f.debug_struct("Upstream")
            .field("id", &self.id)
            .field("url", &self.url.as_str())
            .field("api_key", &mask_key(self.key.expose_secret()))
            .field("timeout", &self.timeout)
            .field(
                "headers",
                &self
                    .headers
                    .keys()
                    .map(HeaderName::as_str)
                    .filter(|k| Some(*k) != auth)
                    .collect::<Vec<_>>(),
            )
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Masks one key in errors; owned, for streams.
#[derive(Clone)]
pub struct Scrubber {
    key: SecretString,
}

impl Scrubber {
    /// A scrubber of `key` (keys shorter than 8 characters are left alone: masking them
    /// would garble ordinary words).
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    /// `text` with the key masked.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        redact_secret(text, self.key.expose_secret())
    }

    /// `err` with the key masked in its message.
    pub fn error(&self, err: ProviderError) -> ProviderError {
        err.redact_secret(self.key.expose_secret())
    }
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("key", &mask_key(self.key.expose_secret()))
            .finish()
    }
}

/// What arrived before the body: status, headers, and what was read from them.
#[derive(Debug, Clone)]
pub struct Head {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The provider's rate-limit headers, parsed by [`Endpoint::rate_limits`].
    pub rate_limits: RateLimitSnapshot,
    /// The wall-clock time the head arrived, from the config's clock.
    pub now: DateTime<Utc>,
}

impl Head {
    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status, headers and rate limits.
    pub head: Head,
    /// The body.
    pub body: Bytes,
}

/// The outcome of [`Upstream::open_stream`].
#[derive(Debug)]
pub enum Opened {
    /// A 2xx head; the body is still to read.
    Streaming(Head, Body),
    /// A non-2xx answer, read whole.
    Failed(Reply),
}

/// A body still to read.
pub struct Body {
    provider: &'static str,
    timeout: Duration,
    response: reqwest::Response,
}

impl Body {
    /// The body as decoded SSE items; transport failures mid-body become an `Err` item.
    pub fn sse_items(self) -> BoxStream<'static, Result<SseItem, ProviderError>> {
        sse_items(self.provider, self.response)
    }

    /// The whole body, within the timeout (for a stream the upstream answered in one
    /// piece). Failures carry the status and rate limits of `head`, the one this body
    /// came with.
    pub async fn read(self, head: &Head) -> Result<Bytes, ProviderError> {
        let read = read_body(self.provider, self.response);
        match tokio::time::timeout(self.timeout, read).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ProviderError::new(self.provider, ErrorKind::Timeout)),
        }
        .map_err(|e| {
            e.with_status(head.status)
                .with_rate_limits(head.rate_limits)
        })
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("provider", &self.provider)
            .field("status", &self.response.status())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use llmpool_core::ProviderFactory;

    use super::*;

    fn no_build(_: &ProviderConfig) -> Result<Arc<dyn llmpool_core::Provider>, ConfigError> {
        Err(ConfigError::new("t", "t", "t"))
    }

    static F: ProviderFactory = ProviderFactory {
        id: "acme",
        display_name: "Acme",
        key_env: "ACME_API_KEY",
        base_url_env: "ACME_BASE_URL",
        default_base_url: "http://127.0.0.1:9/v1",
        default_model: "m",
        catalog: "[[models]]\nid = \"m\"\n",
        default_priority: 1,
        docs_url: "",
        build: no_build,
    };

    const KEY: &str = "sk-secret-0123456789";

    fn endpoint(auth: Auth) -> Endpoint {
        Endpoint {
            path: "/chat",
            auth,
            rate_limits: |_, _| RateLimitSnapshot::default(),
        }
    }

    fn with_header(name: &str, value: &str) -> ProviderConfig {
        let mut cfg = ProviderConfig::new(&F, KEY);
        cfg.headers.push((name.into(), value.into()));
        cfg
    }

    #[test]
    fn a_bad_header_name_stops_the_build_naming_provider_and_header() {
        let err = Upstream::new(&with_header("bad name", "x"), endpoint(Auth::BEARER)).unwrap_err();
        let shown = err.to_string();
        assert_eq!(err.location, "acme");
        assert_eq!(err.key, "headers");
        assert!(
            shown.contains("acme") && shown.contains("`bad name`"),
            "{shown}"
        );
        assert!(shown.contains("header name"), "{shown}");
    }

    #[test]
    fn a_bad_header_value_stops_the_build_naming_provider_and_header() {
        let err = Upstream::new(
            &with_header("X-Title", "line\nbreak"),
            endpoint(Auth::BEARER),
        )
        .unwrap_err();
        let shown = err.to_string();
        assert_eq!(err.location, "acme");
        assert!(
            shown.contains("`X-Title`") && shown.contains("value"),
            "{shown}"
        );
    }

    #[test]
    fn a_header_that_would_replace_the_key_is_refused() {
        let err = Upstream::new(
            &with_header("Authorization", "Bearer other"),
            endpoint(Auth::BEARER),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`Authorization`"), "{err}");
        let err = Upstream::new(
            &with_header("X-Api-Key", "other"),
            endpoint(Auth::header("x-api-key")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`X-Api-Key`"), "{err}");
        // A keyless provider sends no authorization at all, not even a configured one;
        // its other headers still go.
        let mut cfg = with_header("Authorization", "Basic eA==");
        cfg.headers.push(("X-Title".into(), "bot".into()));
        let keyless = Upstream::new(&cfg, endpoint(Auth::None)).unwrap();
        assert!(!keyless.headers.contains_key("authorization"));
        assert_eq!(keyless.headers["x-title"], "bot");
    }

    #[test]
    fn the_auth_header_is_sensitive_and_follows_the_scheme() {
        let bearer = Upstream::new(&ProviderConfig::new(&F, KEY), endpoint(Auth::BEARER)).unwrap();
        let value = &bearer.headers["authorization"];
        assert!(value.is_sensitive());
        assert_eq!(value, &format!("Bearer {KEY}"));
        let raw = Upstream::new(
            &ProviderConfig::new(&F, KEY),
            endpoint(Auth::header("x-api-key")),
        )
        .unwrap();
        assert!(raw.headers["x-api-key"].is_sensitive());
        assert_eq!(raw.headers["x-api-key"], KEY);
        assert!(!raw.headers.contains_key("authorization"));
        let none = Upstream::new(&ProviderConfig::new(&F, ""), endpoint(Auth::None)).unwrap();
        assert!(none.headers.is_empty());
    }

    #[test]
    fn bad_keys_and_urls_are_config_errors_without_the_key() {
        let err = Upstream::new(&ProviderConfig::new(&F, " "), endpoint(Auth::BEARER)).unwrap_err();
        assert_eq!(err.key, "api_key");
        let err = Upstream::new(
            &ProviderConfig::new(&F, "sk-secret\n0123456789"),
            endpoint(Auth::BEARER),
        )
        .unwrap_err();
        assert_eq!(err.key, "api_key");
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = Upstream::new(
            &ProviderConfig::new(&F, KEY).with_base_url("ftp://x"),
            endpoint(Auth::BEARER),
        )
        .unwrap_err();
        assert_eq!(err.key, "base_url");
    }

    #[test]
    fn echoed_keys_are_scrubbed_and_debug_masks_the_key() {
        let cfg = with_header("X-Title", "App");
        let upstream = Upstream::new(&cfg, endpoint(Auth::BEARER)).unwrap();
        assert_eq!(
            upstream.scrub_text(&format!("Incorrect API key provided: {KEY}.")),
            "Incorrect API key provided: [REDACTED]."
        );
        let err = ProviderError::new("acme", ErrorKind::BadRequest)
            .with_message(format!("bad key {KEY} here"));
        assert_eq!(
            upstream.scrubber().error(err).message.as_deref(),
            Some("bad key [REDACTED] here")
        );
        let shown = format!("{upstream:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("x-title"), "{shown}");
    }

    #[test]
    fn paths_are_appended_to_the_parsed_base() {
        let cfg = ProviderConfig::new(&F, KEY).with_base_url("http://127.0.0.1:9/v1beta");
        let upstream = Upstream::new(
            &cfg,
            Endpoint {
                path: "",
                ..endpoint(Auth::header("x-goog-api-key"))
            },
        )
        .unwrap();
        assert_eq!(
            upstream
                .url_at(
                    &["/models/", "g-2", ":streamGenerateContent"],
                    Some("alt=sse")
                )
                .as_str(),
            "http://127.0.0.1:9/v1beta/models/g-2:streamGenerateContent?alt=sse"
        );
        assert_eq!(upstream.url().as_str(), "http://127.0.0.1:9/v1beta");
    }

    #[derive(Debug)]
    struct FixedClock(DateTime<Utc>);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    /// A non-2xx stream head comes back whole (body read, rate limits parsed by the
    /// provider's parser) and dated by the config's clock, the only clock.
    #[tokio::test]
    async fn a_failed_stream_comes_back_whole_and_dated_by_the_config_clock() {
        use wiremock::matchers::{header, method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat"))
            .and(header("authorization", format!("Bearer {KEY}")))
            .and(header("accept", "text/event-stream"))
            .respond_with(
                ResponseTemplate::new(503)
                    .insert_header("retry-after", "4")
                    .set_body_string("busy"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let at = DateTime::parse_from_rfc3339("2026-03-08T09:59:00Z")
            .unwrap()
            .to_utc();
        let cfg = ProviderConfig::new(&F, KEY)
            .with_base_url(format!("{}/v1", server.uri()))
            .with_clock(Arc::new(FixedClock(at)));
        let upstream = Upstream::new(
            &cfg,
            Endpoint {
                rate_limits: |headers, _now| RateLimitSnapshot {
                    retry_after: crate::transport::retry_after(headers),
                    ..RateLimitSnapshot::default()
                },
                ..endpoint(Auth::BEARER)
            },
        )
        .unwrap();
        let opened = upstream
            .open_stream(
                upstream.url().clone(),
                Some("text/event-stream"),
                &serde_json::json!({"stream": true}),
            )
            .await
            .unwrap();
        let Opened::Failed(reply) = opened else {
            panic!("a 503 is not a stream: {opened:?}");
        };
        assert_eq!(reply.head.status, 503);
        assert_eq!(&reply.body[..], b"busy");
        assert_eq!(reply.head.now, at);
        assert_eq!(
            reply.head.rate_limits.retry_after,
            Some(Duration::from_secs(4))
        );
    }

    /// `Auth::None` on the wire: a keyless upstream's request carries no `Authorization`
    /// (neither a key given by mistake nor a configured header), only the other headers.
    #[tokio::test]
    async fn a_keyless_upstream_sends_no_authorization_on_the_wire() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
            .expect(1)
            .mount(&server)
            .await;
        let mut cfg = with_header("Authorization", "Bearer smuggled")
            .with_base_url(format!("{}/v1", server.uri()));
        cfg.headers.push(("X-Title".into(), "bot".into()));
        let upstream = Upstream::new(&cfg, endpoint(Auth::None)).unwrap();
        let reply = upstream
            .post_json(upstream.url().clone(), None, &serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(reply.head.status, 200);
        let sent = server.received_requests().await.unwrap();
        assert!(
            !sent[0].headers.contains_key("authorization"),
            "{:?}",
            sent[0].headers
        );
        assert_eq!(sent[0].headers["x-title"], "bot");
    }
}
