//! `list_models` for [`OpenAiCompatProvider`]: `GET {base}/models` with the key.

use llmpool_core::ProviderError;

use super::{CHAT_PATH, OpenAiCompatProvider};
use crate::models;

impl OpenAiCompatProvider {
    /// The ids the key may use, from `GET {base}/models` (the chat URL's base).
    pub(crate) async fn model_ids(&self) -> Result<Vec<String>, ProviderError> {
        let mut url = self.upstream.url().clone();
        let base = url
            .path()
            .strip_suffix(CHAT_PATH)
            .unwrap_or(url.path())
            .to_owned();
        url.set_path(&format!("{base}/models"));
        let body = models::fetch_list(&self.upstream, url).await?;
        models::parse_openai_list(self.inner.id, &body)
    }
}
