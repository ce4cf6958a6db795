//! [`CohereProvider`]: one key's client for `POST {base}/chat`.

use std::fmt;

use async_trait::async_trait;
use futures::StreamExt;

use llmpool_core::{
    ChatRequest, ChatResponse, ChatStream, ConfigError, Provider, ProviderConfig, ProviderError,
};
use llmpool_openai_compat::transport::{Auth, Endpoint, Opened, Reply, Upstream};

use crate::wire::ChatResponseBody;
use crate::{ID, convert, errors, limits, stream};

/// Where and how Cohere is called: `POST {base}/chat`, `Authorization: Bearer <key>`.
const ENDPOINT: Endpoint = Endpoint {
    path: "/chat",
    auth: Auth::BEARER,
    rate_limits: |headers, _now| limits::parse(headers),
};

/// The Cohere Chat API v2 for one key. Build it through [`FACTORY`](crate::FACTORY)
/// (or [`CohereProvider::new`]); see the crate docs for what it maps and how.
pub struct CohereProvider {
    upstream: Upstream,
    model: String,
}

impl CohereProvider {
    /// A client for `cfg` (base URL including `/v2`, key, default model, timeouts). A bad
    /// base URL, key or extra header is a config error here, never a request error.
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
        Ok(Self {
            upstream: Upstream::new(cfg, ENDPOINT)?,
            model: cfg.model.clone(),
        })
    }

    fn model<'a>(&'a self, req: &'a ChatRequest) -> &'a str {
        req.model.as_deref().unwrap_or(&self.model)
    }

    async fn chat_inner(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let model = self.model(req);
        let mut dropped = Vec::new();
        let body = convert::request_body(req, model, false, &mut dropped)?;
        let started = tokio::time::Instant::now();
        let url = self.upstream.url().clone();
        let reply = self
            .upstream
            .post_json(url, Some("application/json"), &body)
            .await?;
        if !reply.head.is_success() {
            return Err(errors::from_reply(&reply));
        }
        let Reply { head, body } = reply;
        let rate_limits = head.rate_limits;
        let parsed: ChatResponseBody = serde_json::from_slice(&body).map_err(|e| {
            errors::invalid_response(format!("the answer is not a chat response: {e}"))
                .with_status(head.status)
                .with_rate_limits(rate_limits)
        })?;
        convert::response(parsed, model, started.elapsed(), rate_limits)
            .map(|resp| ChatResponse {
                dropped_params: dropped,
                ..resp
            })
            .map_err(|e| e.with_rate_limits(rate_limits))
    }
}

#[async_trait]
impl Provider for CohereProvider {
    fn id(&self) -> &'static str {
        ID
    }

    async fn list_models(&self) -> Result<Option<Vec<String>>, ProviderError> {
        crate::models::model_ids(&self.upstream).await.map(Some)
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        self.chat_inner(req)
            .await
            .map_err(|e| self.upstream.scrub(e))
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let mut dropped = Vec::new();
        let body = convert::request_body(req, self.model(req), true, &mut dropped)?;
        let url = self.upstream.url().clone();
        // Only the wait for the answer's head is bounded here; the router times the body.
        let (head, body) = match self
            .upstream
            .open_stream(url, Some("text/event-stream"), &body)
            .await?
        {
            Opened::Streaming(head, body) => (head, body),
            Opened::Failed(reply) => return Err(self.upstream.scrub(errors::from_reply(&reply))),
        };
        let scrubber = self.upstream.scrubber();
        Ok(stream::events(body.sse_items(), head.rate_limits, dropped)
            .map(move |item| item.map_err(|e| scrubber.error(e)))
            .boxed())
    }
}

impl fmt::Debug for CohereProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CohereProvider")
            .field("model", &self.model)
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use llmpool_core::testkit::TEST_KEY;

    use super::*;
    use crate::FACTORY;

    /// A bad header name used to fail every request as a `Network` error (which counts
    /// toward the circuit breaker); it is now refused when the provider is built.
    #[test]
    fn a_bad_extra_header_is_a_config_error_at_build() {
        let mut cfg = ProviderConfig::new(&FACTORY, TEST_KEY);
        cfg.headers.push(("X Client".into(), "app".into()));
        let err = CohereProvider::new(&cfg).unwrap_err();
        assert_eq!(
            (err.location.as_str(), err.key.as_str()),
            ("cohere", "headers")
        );
        assert!(err.to_string().contains("`X Client`"), "{err}");
        let mut cfg = ProviderConfig::new(&FACTORY, TEST_KEY);
        cfg.headers
            .push(("X-Client-Name".into(), "a\u{7f}b".into()));
        let err = CohereProvider::new(&cfg).unwrap_err();
        assert!(err.to_string().contains("`X-Client-Name`"), "{err}");
        assert!(!err.to_string().contains(TEST_KEY));
    }
}
