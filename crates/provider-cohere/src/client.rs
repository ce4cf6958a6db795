//! [`CohereProvider`]: one key's client for `POST {base}/chat`.

use std::fmt;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};

use llmpool_core::{
    ChatRequest, ChatResponse, ChatStream, ConfigError, ErrorKind, Provider, ProviderConfig,
    ProviderError,
};
use llmpool_openai_compat::transport;

use crate::wire::{ChatBody, ChatResponseBody};
use crate::{ID, convert, errors, limits, stream};

/// The Cohere Chat API v2 for one key. Build it through [`FACTORY`](crate::FACTORY)
/// (or [`CohereProvider::new`]); see the crate docs for what it maps and how.
pub struct CohereProvider {
    cfg: ProviderConfig,
    /// Parsed once, at construction (a bad base URL is a config error, not a request one).
    endpoint: reqwest::Url,
    http: reqwest::Client,
}

impl CohereProvider {
    /// A client for `cfg` (base URL including `/v2`, key, default model, timeouts).
    ///
    /// ```
    /// use llmpool_core::ProviderConfig;
    /// use llmpool_provider_cohere::{CohereProvider, FACTORY};
    ///
    /// let cfg = ProviderConfig::new(&FACTORY, "my-cohere-key");
    /// let provider = CohereProvider::new(&cfg)?;
    /// assert!(!format!("{provider:?}").contains("my-cohere-key"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ConfigError> {
        if cfg.expose_key().trim().is_empty() {
            return Err(ConfigError::new(
                ID,
                "api_key",
                "the API key is empty; set COHERE_API_KEY",
            ));
        }
        let endpoint = transport::endpoint_url(cfg, "/chat")?;
        Ok(Self {
            cfg: cfg.clone(),
            endpoint,
            http: transport::build_client(cfg)?,
        })
    }

    fn post(&self, body: &ChatBody<'_>, accept: &'static str) -> reqwest::RequestBuilder {
        let mut request = self.http.post(self.endpoint.clone());
        for (name, value) in &self.cfg.headers {
            // The key's header is ours alone: a configured one would be sent twice.
            if !name.eq_ignore_ascii_case(AUTHORIZATION.as_str()) {
                request = request.header(name, value);
            }
        }
        request
            .header(ACCEPT, accept)
            .bearer_auth(self.cfg.expose_key())
            .json(body)
    }

    fn model<'a>(&'a self, req: &'a ChatRequest) -> &'a str {
        req.model.as_deref().unwrap_or(&self.cfg.model)
    }
}

#[async_trait]
impl Provider for CohereProvider {
    fn id(&self) -> &'static str {
        ID
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let key = self.cfg.api_key.clone();
        let model = self.model(req);
        let mut dropped = Vec::new();
        let body = convert::request_body(req, model, false, &mut dropped)?;
        let started = tokio::time::Instant::now();
        let request = self
            .post(&body, "application/json")
            .timeout(self.cfg.timeout);
        let result = async {
            let response = transport::send(ID, request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = transport::read_body(ID, response).await?;
            if !status.is_success() {
                return Err(errors::from_response(status.as_u16(), &headers, &bytes));
            }
            let rate_limits = limits::parse(&headers);
            let parsed: ChatResponseBody = serde_json::from_slice(&bytes).map_err(|e| {
                errors::invalid_response(format!("the answer is not a chat response: {e}"))
                    .with_status(status.as_u16())
                    .with_rate_limits(rate_limits)
            })?;
            convert::response(parsed, model, started.elapsed(), rate_limits)
                .map(|resp| ChatResponse {
                    dropped_params: dropped,
                    ..resp
                })
                .map_err(|e| e.with_rate_limits(rate_limits))
        }
        .await;
        result.map_err(|e| scrub(&key, e))
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let key = self.cfg.api_key.clone();
        let mut dropped = Vec::new();
        let body = convert::request_body(req, self.model(req), true, &mut dropped)?;
        let request = self.post(&body, "text/event-stream");
        // Only the wait for the answer's head is bounded here; the router times the body.
        let head = async {
            let response = transport::send(ID, request).await?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let headers = response.headers().clone();
            let bytes = transport::read_body(ID, response).await?;
            Err(errors::from_response(status.as_u16(), &headers, &bytes))
        };
        let response = match tokio::time::timeout(self.cfg.timeout, head).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(scrub(&key, e)),
            Err(_elapsed) => return Err(ProviderError::new(ID, ErrorKind::Timeout)),
        };
        let rate_limits = limits::parse(response.headers());
        let events = stream::events(transport::sse_items(ID, response), rate_limits, dropped);
        Ok(events
            .map(move |item| item.map_err(|e| scrub(&key, e)))
            .boxed())
    }
}

impl fmt::Debug for CohereProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CohereProvider")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.cfg.model)
            .field("api_key", &self.cfg.masked_key())
            .finish_non_exhaustive()
    }
}

/// Removes the key from an upstream message, should Cohere ever echo it back.
fn scrub(key: &SecretString, err: ProviderError) -> ProviderError {
    err.redact_secret(key.expose_secret())
}
