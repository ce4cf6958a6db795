//! `list_models` for [`CohereProvider`]: `GET /v1/models?endpoint=chat` (there is no
//! `/v2/models`), answered as `{"models": [{"name": …}], "next_page_token"}`.

use llmpool_core::ProviderError;
use llmpool_openai_compat::models;
use llmpool_openai_compat::transport::Upstream;

use crate::ID;

fn parse(body: &[u8]) -> Result<Vec<String>, ProviderError> {
    models::parse_named_list(ID, body)
}

/// The list's path: the chat endpoint's `/v2/chat` replaced by `/v1/models`.
fn list_path(chat_path: &str) -> String {
    let base = chat_path.trim_end_matches('/');
    let base = base.strip_suffix("/chat").unwrap_or(base);
    let root = base.strip_suffix("/v2").unwrap_or(base);
    format!("{root}/v1/models")
}

/// The key's chat models, from `GET /v1/models?endpoint=chat` beside the `/v2` base.
pub(crate) async fn model_ids(upstream: &Upstream) -> Result<Vec<String>, ProviderError> {
    let mut url = upstream.url().clone();
    let path = list_path(url.path());
    url.set_path(&path);
    url.set_query(Some("endpoint=chat&page_size=1000"));
    parse(&models::fetch_list(upstream, url).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_builds_the_v1_url() {
        let ids = parse(br#"{"models":[{"name":"command-a-03-2025","endpoints":["chat"]}],"next_page_token":""}"#)
            .unwrap();
        assert_eq!(ids, ["command-a-03-2025"]);
        assert_eq!(list_path("/v2/chat"), "/v1/models");
        assert_eq!(list_path("/proxy/v2/chat"), "/proxy/v1/models");
    }
}
