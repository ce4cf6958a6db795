//! `list_models` for [`GeminiProvider`]: `GET {base}/models?pageSize=1000` with the key
//! header, answered as `{"models": [{"name": "models/<id>"}], "nextPageToken"}`.

use llmpool_core::ProviderError;
use llmpool_openai_compat::models;
use llmpool_openai_compat::transport::Upstream;

use crate::ID;

/// The ids of a ListModels answer, without the `models/` prefix (the form requests use).
fn parse(body: &[u8]) -> Result<Vec<String>, ProviderError> {
    Ok(models::parse_named_list(ID, body)?
        .into_iter()
        .map(|name| match name.strip_prefix("models/") {
            Some(id) => id.to_owned(),
            None => name,
        })
        .collect())
}

/// One page of up to 1,000 models (far more than Gemini lists), so no paging.
pub(crate) async fn model_ids(upstream: &Upstream) -> Result<Vec<String>, ProviderError> {
    let url = upstream.url_at(&["/models"], Some("pageSize=1000"));
    parse(&models::fetch_list(upstream, url).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_models_prefix() {
        let ids = parse(
            br#"{"models":[{"name":"models/gemini-2.5-flash","displayName":"x"},{"name":"gemma-3"}],"nextPageToken":"t"}"#,
        )
        .unwrap();
        assert_eq!(ids, ["gemini-2.5-flash", "gemma-3"]);
        assert!(parse(b"\"not a list\"").is_err());
    }
}
