//! `list_models` for [`CohereProvider`]: `GET /v1/models?endpoint=chat` (there is no
//! `/v2/models`), answered as `{"models": [{"name": …}], "next_page_token"}`.

use llmpool_core::{ErrorKind, ProviderError};
use llmpool_openai_compat::models;
use serde::Deserialize;

use crate::ID;
use crate::client::CohereProvider;

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    models: Vec<Model>,
}

#[derive(Deserialize)]
struct Model {
    name: String,
}

fn parse(body: &[u8]) -> Result<Vec<String>, ProviderError> {
    let list: ModelList = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ID, ErrorKind::InvalidResponse).with_message(format!(
            "the model list is not `{{\"models\": [{{\"name\"}}]}}`: {e}"
        ))
    })?;
    Ok(list.models.into_iter().map(|m| m.name).collect())
}

/// The list's URL: the configured base with its `/v2` replaced by `/v1`.
pub(crate) fn list_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let root = base.strip_suffix("/v2").unwrap_or(base);
    format!("{root}/v1/models?endpoint=chat&page_size=1000")
}

impl CohereProvider {
    pub(crate) async fn model_ids(&self) -> Result<Vec<String>, ProviderError> {
        let request = self.list_request();
        let body = models::fetch_list(ID, request, self.timeout())
            .await
            .map_err(|e| e.redact_secret(self.key()))?;
        parse(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_builds_the_v1_url() {
        let ids = parse(br#"{"models":[{"name":"command-a-03-2025","endpoints":["chat"]}],"next_page_token":""}"#)
            .unwrap();
        assert_eq!(ids, ["command-a-03-2025"]);
        assert_eq!(
            list_url("https://api.cohere.com/v2/"),
            "https://api.cohere.com/v1/models?endpoint=chat&page_size=1000"
        );
    }
}
