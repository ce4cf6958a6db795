//! Model lists: `GET {base}/models`, the one call that tells whether a key is accepted
//! without spending quota (`llmpool keys check`). Shared by this crate's provider and
//! the native providers (each parses its own list shape).

use bytes::Bytes;
use llmpool_core::{ErrorKind, ProviderError};
use serde::Deserialize;

use crate::transport::{self, Reply, Upstream};

/// Gets the model list at `url` through `upstream` and returns its body; a refused key
/// is `Unauthorized` (401, 403), 402 `PaymentRequired`, 429 `RateLimited`, any other
/// failure `Transient`. The error never carries the URL or the key.
pub async fn fetch_list(upstream: &Upstream, url: reqwest::Url) -> Result<Bytes, ProviderError> {
    let Reply { head, body } = upstream.get(url).await?;
    let kind = match head.status {
        200..=299 => return Ok(body),
        401 | 403 => ErrorKind::Unauthorized,
        402 => ErrorKind::PaymentRequired,
        429 => ErrorKind::RateLimited {
            retry_after: transport::retry_after(&head.headers),
        },
        status => ErrorKind::Transient {
            status: Some(status),
        },
    };
    let message = transport::body_excerpt(&body);
    Err(upstream.scrub(
        ProviderError::new(upstream.id(), kind)
            .with_status(head.status)
            .with_message(message),
    ))
}

#[derive(Deserialize)]
struct OpenAiList {
    data: Vec<OpenAiModel>,
}

#[derive(Deserialize)]
struct OpenAiModel {
    id: String,
}

/// The ids of an OpenAI-shaped list, `{"data": [{"id": …}, …]}`.
pub fn parse_openai_list(
    provider: &'static str,
    body: &[u8],
) -> Result<Vec<String>, ProviderError> {
    serde_json::from_slice::<OpenAiList>(body)
        .map(|list| list.data.into_iter().map(|m| m.id).collect())
        .map_err(|e| {
            ProviderError::new(provider, ErrorKind::InvalidResponse).with_message(format!(
                "the model list is not `{{\"data\": [{{\"id\"}}]}}`: {e}"
            ))
        })
}

#[derive(Deserialize)]
struct NamedList {
    #[serde(default)]
    models: Vec<NamedModel>,
}

#[derive(Deserialize)]
struct NamedModel {
    name: String,
}

/// The names of a `{"models": [{"name": …}, …]}` list (Gemini's ListModels, Cohere's
/// `/v1/models`), as the upstream spells them.
pub fn parse_named_list(provider: &'static str, body: &[u8]) -> Result<Vec<String>, ProviderError> {
    serde_json::from_slice::<NamedList>(body)
        .map(|list| list.models.into_iter().map(|m| m.name).collect())
        .map_err(|e| {
            ProviderError::new(provider, ErrorKind::InvalidResponse).with_message(format!(
                "the model list is not `{{\"models\": [{{\"name\"}}]}}`: {e}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_of_an_openai_list() {
        let ids = parse_openai_list(
            "groq",
            br#"{"object":"list","data":[{"id":"a","object":"model"},{"id":"b/c:free"}]}"#,
        )
        .unwrap();
        assert_eq!(ids, ["a", "b/c:free"]);
        let e = parse_openai_list("groq", b"{}").unwrap_err();
        assert_eq!(e.kind.label().as_str(), "invalid_response");
    }
}
