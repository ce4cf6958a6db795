//! Model lists: `GET {base}/models`, the one call that tells whether a key is accepted
//! without spending quota (`llmpool keys check`). Shared by this crate's provider and
//! the native providers (each parses its own list shape).

use std::time::Duration;

use llmpool_core::{ErrorKind, ProviderError};
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::transport;

/// Sends `request` (a GET of a model list) and returns its body; a refused key is
/// `Unauthorized` (401, 403), 402 `PaymentRequired`, 429 `RateLimited`, any other failure
/// `Transient`. The error never carries the URL (some providers put keys in it).
pub async fn fetch_list(
    provider: &'static str,
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<bytes::Bytes, ProviderError> {
    let response = transport::send(provider, request.timeout(timeout)).await?;
    let status = response.status().as_u16();
    let headers: HeaderMap = response.headers().clone();
    let body = transport::read_body(provider, response).await?;
    let kind = match status {
        200..=299 => return Ok(body),
        401 | 403 => ErrorKind::Unauthorized,
        402 => ErrorKind::PaymentRequired,
        429 => ErrorKind::RateLimited {
            retry_after: transport::retry_after(&headers),
        },
        _ => ErrorKind::Transient {
            status: Some(status),
        },
    };
    Err(ProviderError::new(provider, kind)
        .with_status(status)
        .with_message(transport::body_excerpt(&body)))
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
