//! [`GeminiProvider`]: the [`Provider`] implementation over Gemini's native API.

use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use llmpool_core::{
    ChatRequest, ChatResponse, ChatStream, Clock, ConfigError, ErrorKind, Provider, ProviderConfig,
    ProviderError, SystemClock,
};
use llmpool_openai_compat::transport;

use crate::stream::Decoder;
use crate::wire::{self, GenerateContentResponse};
use crate::{ID, convert, errors, limits, stream};

/// The header carrying the key. The key never goes into the URL (`?key=`), where it
/// would end up in proxy and server logs.
const KEY_HEADER: &str = "x-goog-api-key";

/// A client of Gemini's `generateContent` API for one key.
pub struct GeminiProvider {
    cfg: ProviderConfig,
    http: reqwest::Client,
    /// The key header and the configured extra headers; the key value is marked
    /// sensitive so that no `Debug` of it shows the key.
    headers: HeaderMap,
    clock: Arc<dyn Clock>,
}

impl GeminiProvider {
    /// A provider for `cfg`, dating daily-quota resets with the system clock.
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ConfigError> {
        Self::with_clock(cfg, Arc::new(SystemClock))
    }

    /// A provider for `cfg` that reads the wall clock from `clock` (tests pause it).
    pub fn with_clock(cfg: &ProviderConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let mut key = HeaderValue::from_str(cfg.expose_key()).map_err(|_| {
            ConfigError::new(
                ID,
                "api_key",
                "the key contains characters that an HTTP header cannot carry",
            )
        })?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::new(ID, "headers", format!("`{name}` is not a header name"))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                ConfigError::new(ID, "headers", format!("the value of `{name}` is invalid"))
            })?;
            headers.insert(name, value);
        }
        headers.insert(KEY_HEADER, key);
        Ok(Self {
            cfg: cfg.clone(),
            http: transport::build_client(cfg)?,
            headers,
            clock,
        })
    }

    /// The model for `req`: its own, else the configured one, without a `models/` prefix
    /// (the form ListModels returns).
    fn model<'a>(&'a self, req: &'a ChatRequest) -> &'a str {
        let model = req.model.as_deref().unwrap_or(&self.cfg.model);
        model.strip_prefix("models/").unwrap_or(model)
    }

    fn post(&self, path: &str, body: &wire::GenerateContentRequest) -> reqwest::RequestBuilder {
        self.http
            .post(self.cfg.endpoint(path))
            .headers(self.headers.clone())
            .json(body)
    }

    async fn within_timeout<T>(
        &self,
        step: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        match tokio::time::timeout(self.cfg.timeout, step).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ProviderError::new(ID, ErrorKind::Timeout)),
        }
    }

    fn redact(&self, err: ProviderError) -> ProviderError {
        errors::redact(err, self.cfg.expose_key())
    }

    async fn chat_inner(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let started = tokio::time::Instant::now();
        let model = self.model(req);
        let mut dropped_params = Vec::new();
        let body = convert::build_request(req, model, &mut dropped_params)?;
        let request = self
            .post(&format!("/models/{model}:generateContent"), &body)
            .timeout(self.cfg.timeout);
        let response = transport::send(ID, request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = transport::read_body(ID, response).await?;
        if !status.is_success() {
            return Err(errors::classify(
                status.as_u16(),
                &headers,
                &bytes,
                self.clock.now(),
            ));
        }
        if wire::error_status(&bytes).is_some() {
            return Err(errors::classify(
                status.as_u16(),
                &headers,
                &bytes,
                self.clock.now(),
            ));
        }
        let parsed: GenerateContentResponse = serde_json::from_slice(&bytes).map_err(|e| {
            ProviderError::new(ID, ErrorKind::InvalidResponse)
                .with_status(status.as_u16())
                .with_message(format!("unparseable response body: {e}"))
        })?;
        let answer = convert::answer(&parsed, model).map_err(|e| e.with_status(status.as_u16()))?;
        Ok(ChatResponse {
            text: answer.text,
            reasoning: answer.reasoning,
            finish_reason: answer.finish_reason,
            usage: answer.usage,
            provider: ID,
            model: answer.model,
            latency: started.elapsed(),
            rate_limits: limits::parse(&headers),
            dropped_params,
            ..ChatResponse::default()
        })
    }

    async fn chat_stream_inner(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let model = self.model(req);
        let mut dropped = Vec::new();
        let body = convert::build_request(req, model, &mut dropped)?;
        // The timeout bounds the wait for the response headers (and an error body), not
        // the stream: an answer streams as long as it takes, and the router times chunks.
        let request = self.post(
            &format!("/models/{model}:streamGenerateContent?alt=sse"),
            &body,
        );
        let response = self.within_timeout(transport::send(ID, request)).await?;
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            let bytes = self
                .within_timeout(transport::read_body(ID, response))
                .await
                .map_err(|e| e.with_status(status.as_u16()))?;
            return Err(errors::classify(
                status.as_u16(),
                &headers,
                &bytes,
                self.clock.now(),
            ));
        }
        let decoder = Decoder::new(model, limits::parse(&headers), Arc::clone(&self.clock))
            .with_dropped(dropped);
        let key = self.cfg.api_key.clone();
        let events = stream::events(transport::sse_items(ID, response), decoder);
        Ok(events
            .map(move |item| {
                item.map_err(|e| errors::redact(e, secrecy::ExposeSecret::expose_secret(&key)))
            })
            .boxed())
    }
}

#[async_trait::async_trait]
impl Provider for GeminiProvider {
    fn id(&self) -> &'static str {
        ID
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        self.chat_inner(req).await.map_err(|e| self.redact(e))
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        self.chat_stream_inner(req)
            .await
            .map_err(|e| self.redact(e))
    }
}

impl fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `ProviderConfig`'s Debug masks the key; the header map is left out entirely.
        f.debug_struct("GeminiProvider")
            .field("config", &self.cfg)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use llmpool_core::testkit::TEST_KEY;

    use super::*;
    use crate::FACTORY;

    #[test]
    fn debug_never_shows_the_key() {
        let cfg = ProviderConfig::new(&FACTORY, TEST_KEY);
        let provider = GeminiProvider::new(&cfg).unwrap();
        let shown = format!("{provider:?}");
        assert!(!shown.contains(TEST_KEY), "{shown}");
        assert!(shown.contains("GeminiProvider"));
    }

    #[test]
    fn models_prefix_is_stripped() {
        let cfg = ProviderConfig::new(&FACTORY, "k");
        let provider = GeminiProvider::new(&cfg).unwrap();
        let req = ChatRequest::from_user("x").with_model("models/gemini-2.5-flash");
        assert_eq!(provider.model(&req), "gemini-2.5-flash");
        assert_eq!(
            provider.model(&ChatRequest::from_user("x")),
            FACTORY.default_model
        );
    }

    #[test]
    fn keys_that_cannot_be_headers_are_config_errors() {
        let cfg = ProviderConfig::new(&FACTORY, "bad\nkey");
        let err = GeminiProvider::new(&cfg).unwrap_err();
        assert_eq!(err.key, "api_key");
        assert!(!err.to_string().contains("bad\nkey"));
    }
}
