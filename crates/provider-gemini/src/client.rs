//! [`GeminiProvider`]: the [`Provider`] implementation over Gemini's native API.

use std::fmt;
use std::sync::Arc;

use futures::StreamExt;

use llmpool_core::{
    ChatRequest, ChatResponse, ChatStream, Clock, ConfigError, ErrorKind, Provider, ProviderConfig,
    ProviderError,
};
use llmpool_openai_compat::transport::{Auth, Endpoint, Opened, Reply, Upstream};

use crate::stream::Decoder;
use crate::wire::{self, GenerateContentResponse};
use crate::{ID, convert, errors, limits, stream};

/// Where and how Gemini is called. The key goes in the `x-goog-api-key` header, never in
/// the URL (`?key=`), where it would end up in proxy and server logs; the path depends on
/// the model, so the endpoint is the base URL.
const ENDPOINT: Endpoint = Endpoint {
    path: "",
    auth: Auth::header("x-goog-api-key"),
    rate_limits: |headers, _now| limits::parse(headers),
};

/// A client of Gemini's `generateContent` API for one key.
pub struct GeminiProvider {
    upstream: Upstream,
    model: String,
}

impl GeminiProvider {
    /// A provider for `cfg`, dating daily-quota resets with the config's clock.
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            upstream: Upstream::new(cfg, ENDPOINT)?,
            model: cfg.model.clone(),
        })
    }

    /// A provider for `cfg` that reads the wall clock from `clock` (tests pause it); the
    /// same as `new` with [`ProviderConfig::with_clock`].
    pub fn with_clock(cfg: &ProviderConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        Self::new(&cfg.clone().with_clock(clock))
    }

    /// The model for `req`: its own, else the configured one, without a `models/` prefix
    /// (the form ListModels returns).
    fn model<'a>(&'a self, req: &'a ChatRequest) -> &'a str {
        let model = req.model.as_deref().unwrap_or(&self.model);
        model.strip_prefix("models/").unwrap_or(model)
    }

    async fn chat_inner(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let started = tokio::time::Instant::now();
        let model = self.model(req);
        let mut dropped_params = Vec::new();
        let body = convert::build_request(req, model, &mut dropped_params)?;
        let url = self
            .upstream
            .url_at(&["/models/", model, ":generateContent"], None);
        let reply = self.upstream.post_json(url, None, &body).await?;
        if !reply.head.is_success() || wire::error_status(&reply.body).is_some() {
            return Err(errors::from_reply(&reply));
        }
        let Reply { head, body } = reply;
        let parsed: GenerateContentResponse = serde_json::from_slice(&body).map_err(|e| {
            ProviderError::new(ID, ErrorKind::InvalidResponse)
                .with_status(head.status)
                .with_message(format!("unparseable response body: {e}"))
        })?;
        let answer = convert::answer(&parsed, model).map_err(|e| e.with_status(head.status))?;
        Ok(ChatResponse {
            text: answer.text,
            reasoning: answer.reasoning,
            tool_calls: answer.tool_calls,
            finish_reason: answer.finish_reason,
            usage: answer.usage,
            provider: ID,
            model: answer.model,
            latency: started.elapsed(),
            rate_limits: head.rate_limits,
            dropped_params,
            ..ChatResponse::default()
        })
    }

    async fn chat_stream_inner(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let model = self.model(req);
        let mut dropped = Vec::new();
        let body = convert::build_request(req, model, &mut dropped)?;
        let url = self.upstream.url_at(
            &["/models/", model, ":streamGenerateContent"],
            Some("alt=sse"),
        );
        // The timeout bounds the wait for the response headers (and an error body), not
        // the stream: an answer streams as long as it takes, and the router times chunks.
        let (head, body) = match self.upstream.open_stream(url, None, &body).await? {
            Opened::Streaming(head, body) => (head, body),
            Opened::Failed(reply) => return Err(errors::from_reply(&reply)),
        };
        let decoder = Decoder::new(model, head.rate_limits, Arc::clone(self.upstream.clock()))
            .with_dropped(dropped);
        let scrubber = self.upstream.scrubber();
        Ok(stream::events(body.sse_items(), decoder)
            .map(move |item| item.map_err(|e| scrubber.error(e)))
            .boxed())
    }
}

#[async_trait::async_trait]
impl Provider for GeminiProvider {
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
        self.chat_stream_inner(req)
            .await
            .map_err(|e| self.upstream.scrub(e))
    }
}

impl fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The upstream's Debug masks the key and leaves the key's header out.
        f.debug_struct("GeminiProvider")
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
    fn a_bad_extra_header_is_a_config_error_at_build() {
        let mut cfg = ProviderConfig::new(&FACTORY, TEST_KEY);
        cfg.headers.push(("bad:name".into(), "x".into()));
        let err = GeminiProvider::new(&cfg).unwrap_err();
        assert_eq!(
            (err.location.as_str(), err.key.as_str()),
            ("gemini", "headers")
        );
        assert!(err.to_string().contains("`bad:name`"), "{err}");
    }

    #[test]
    fn keys_that_cannot_be_headers_are_config_errors() {
        let cfg = ProviderConfig::new(&FACTORY, "bad\nkey");
        let err = GeminiProvider::new(&cfg).unwrap_err();
        assert_eq!(err.key, "api_key");
        assert!(!err.to_string().contains("bad\nkey"));
    }
}
