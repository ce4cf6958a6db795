//! The optional request fields a request sets, and which of them a route may leave out.
//!
//! Nothing in a request is dropped in silence: a provider maps a field, passes it through,
//! refuses the request naming it ([`ProviderError::unsupported`]), or, only for the fields
//! [`is_droppable`] allows (they do not change the answer's meaning), leaves it out and
//! names it in the answer's `dropped_params`.

use crate::error::{ErrorKind, ProviderError};
use crate::types::{ChatRequest, ResponseFormat};

/// Fields a route may leave out because the answer means the same without them.
const DROPPABLE: &[&str] = &[
    "user",
    "seed",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
    "service_tier",
    "store",
    "metadata",
    "prompt_cache_key",
    "safety_identifier",
    "stream_options",
];

/// Whether a route may leave `field` out (and name it in `x-llmpool-dropped-params`).
/// Tools, tool choice, response format, images, stop sequences, token limits and every
/// unknown field change the answer and are never dropped.
/// Message-level extras (`messages[].refusal`, `messages[].reasoning_details`, …) echo an
/// earlier answer and are droppable too; a message's content and tool protocol are not.
pub fn is_droppable(field: &str) -> bool {
    if let Some(key) = field.strip_prefix("messages[].") {
        return !matches!(key, "content" | "tool_calls" | "tool_call_id" | "role");
    }
    DROPPABLE.contains(&field)
}

impl ChatRequest {
    /// The optional top-level fields this request sets, by their OpenAI names (typed
    /// fields first, then the verbatim ones). `response_format: text` is the default and
    /// not listed. `messages`, `model` and `stream` are not listed.
    pub fn set_params(&self) -> impl Iterator<Item = &str> {
        let typed = [
            ("temperature", self.temperature.is_some()),
            ("top_p", self.top_p.is_some()),
            ("max_completion_tokens", self.max_tokens.is_some()),
            ("stop", !self.stop.is_empty()),
            ("tools", !self.tools.is_empty()),
            ("tool_choice", self.tool_choice.is_some()),
            ("parallel_tool_calls", self.parallel_tool_calls.is_some()),
            (
                "response_format",
                self.response_format
                    .as_ref()
                    .is_some_and(|f| *f != ResponseFormat::Text),
            ),
            ("reasoning_effort", self.reasoning_effort.is_some()),
            ("seed", self.seed.is_some()),
            ("frequency_penalty", self.frequency_penalty.is_some()),
            ("presence_penalty", self.presence_penalty.is_some()),
            ("logprobs", self.logprobs.is_some()),
            ("top_logprobs", self.top_logprobs.is_some()),
            ("user", self.user.is_some()),
        ];
        typed
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .chain(self.extra.keys().map(String::as_str))
    }

    /// Sorts the set fields a provider does not take: droppable ones go to `dropped`, the
    /// first other one is refused. `supported` says whether the provider takes a field.
    pub fn check_params(
        &self,
        provider: &'static str,
        supported: impl Fn(&str) -> bool,
        dropped: &mut Vec<String>,
    ) -> Result<(), ProviderError> {
        for name in self.set_params() {
            if supported(name) {
                continue;
            }
            if is_droppable(name) {
                dropped.push(name.to_owned());
            } else {
                return Err(ProviderError::unsupported(provider, name));
            }
        }
        Ok(())
    }
}

impl ProviderError {
    /// A [`ErrorKind::BadRequest`] naming the request field this provider cannot honour,
    /// raised before any upstream call so the router tries the next route.
    pub fn unsupported(provider: &'static str, field: &str) -> Self {
        ProviderError::new(provider, ErrorKind::BadRequest).with_message(format!(
            "`{field}` is not supported by provider `{provider}`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::types::Tool;

    #[test]
    fn set_params_lists_typed_and_verbatim_fields() {
        let mut req = ChatRequest::from_user("x").with_tool(Tool::function(
            "f",
            "f",
            json!({"type": "object"}),
        ));
        req.user = Some("u".into());
        req.extra.insert("logit_bias".into(), json!({}));
        let set: Vec<&str> = req.set_params().collect();
        assert_eq!(set, vec!["tools", "user", "logit_bias"]);
        assert_eq!(ChatRequest::from_user("x").set_params().count(), 0);
    }

    #[test]
    fn droppable_fields_are_reported_and_others_refused() {
        let mut req = ChatRequest::from_user("x");
        req.user = Some("u".into());
        req.seed = Some(1);
        let mut dropped = Vec::new();
        req.check_params("p", |_| false, &mut dropped).unwrap();
        assert_eq!(dropped, vec!["seed", "user"]);
        req.response_format = Some(ResponseFormat::JsonObject);
        let err = req
            .check_params("p", |f| f != "response_format", &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
        assert!(err.message.unwrap().contains("`response_format`"));
        assert!(!is_droppable("tools") && !is_droppable("logit_bias"));
        assert!(is_droppable("messages[].name") && is_droppable("messages[].refusal"));
        assert!(!is_droppable("messages[].tool_calls"));
    }
}
