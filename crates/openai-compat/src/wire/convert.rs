//! Conversions between the wire types and `llmpool-core`'s types, in both directions:
//! providers build requests and read answers; the gateway reads requests and builds
//! answers, chunks and error bodies.

use llmpool_core::{ChatRequest, ChatResponse, FinishReason, Message, Role, Usage};
use serde_json::Map;

use super::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, ChunkChoice, Delta,
    MessageContent, RequestMessage, ResponseMessage, Stop, StreamOptions, WireUsage,
};

/// Which request field carries the output cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_tokens` (OpenRouter, and the alias everyone still accepts).
    MaxTokens,
    /// `max_completion_tokens` (Groq, Cerebras, current OpenAI).
    MaxCompletionTokens,
}

/// A request the gateway cannot express in `llmpool-core` terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct WireError {
    /// The request field at fault (`messages[2].role`), for the OpenAI `param`.
    pub param: String,
    /// What is wrong, in a sentence a client developer understands.
    pub reason: String,
}

impl WireError {
    fn new(param: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            reason: reason.into(),
        }
    }
}

impl ChatCompletionRequest {
    /// The upstream request for `req`, sent to `model`. `stream` also asks for the usage
    /// chunk (`stream_options.include_usage`).
    pub fn from_core(
        req: &ChatRequest,
        model: &str,
        max_tokens: MaxTokensField,
        stream: bool,
    ) -> Self {
        let (max_tokens, max_completion_tokens) = match max_tokens {
            MaxTokensField::MaxTokens => (req.max_tokens, None),
            MaxTokensField::MaxCompletionTokens => (None, req.max_tokens),
        };
        Self {
            model: model.to_owned(),
            messages: req
                .messages
                .iter()
                .map(|m| RequestMessage {
                    role: m.role.as_str().to_owned(),
                    content: Some(MessageContent::Text(m.content.clone())),
                    extra: Map::new(),
                })
                .collect(),
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens,
            max_completion_tokens,
            stop: (!req.stop.is_empty()).then(|| Stop::Many(req.stop.clone())),
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            extra: Map::new(),
        }
    }

    /// The core request a client's body asks for. Roles `system` and `developer` become
    /// [`Role::System`]; tool messages and non-text parts are refused, since llmpool
    /// routes plain chat only. Fields in `extra` are not carried over.
    pub fn to_core(&self) -> Result<ChatRequest, WireError> {
        if self.messages.is_empty() {
            return Err(WireError::new("messages", "`messages` must not be empty"));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(WireError::new(
                        format!("messages[{i}].role"),
                        format!("role `{other}` is not supported; use system, user or assistant"),
                    ));
                }
            };
            let content = match &m.content {
                None => String::new(),
                Some(MessageContent::Text(text)) => text.clone(),
                Some(MessageContent::Parts(parts)) => {
                    let mut text = String::new();
                    for (j, part) in parts.iter().enumerate() {
                        match (part.kind.as_str(), &part.text) {
                            ("text", Some(t)) => text.push_str(t),
                            (kind, _) => {
                                return Err(WireError::new(
                                    format!("messages[{i}].content[{j}]"),
                                    format!(
                                        "content part type `{kind}` is not supported; send text"
                                    ),
                                ));
                            }
                        }
                    }
                    text
                }
            };
            messages.push(Message::new(role, content));
        }
        Ok(ChatRequest {
            messages,
            model: (!self.model.trim().is_empty()).then(|| self.model.clone()),
            temperature: self.temperature,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            top_p: self.top_p,
            stop: self.stop.clone().map(Stop::into_vec).unwrap_or_default(),
            stream: self.stream,
        })
    }
}

/// A wire `finish_reason` as the core enum (`error` stays [`FinishReason::Other`]).
pub fn finish_reason_from_wire(reason: &str) -> FinishReason {
    match reason {
        "stop" | "end_turn" | "stop_sequence" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_owned()),
    }
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        let total = if u.total_tokens == 0 {
            u.prompt_tokens + u.completion_tokens
        } else {
            u.total_tokens
        };
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: total,
        }
    }
}

impl From<Usage> for WireUsage {
    fn from(u: Usage) -> Self {
        WireUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
        }
    }
}

impl ChatCompletion {
    /// The OpenAI answer for a core response; `provider` names the llmpool provider that
    /// answered.
    pub fn from_core(resp: &ChatResponse, id: impl Into<String>, created: u64) -> Self {
        Self {
            id: id.into(),
            object: "chat.completion".to_owned(),
            created,
            model: resp.model.clone(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    content: Some(resp.text.clone()),
                    ..ResponseMessage::default()
                },
                finish_reason: Some(
                    resp.finish_reason
                        .as_ref()
                        .map_or("stop", FinishReason::as_openai_str)
                        .to_owned(),
                ),
            }],
            usage: resp.usage.map(WireUsage::from),
            system_fingerprint: None,
            provider: Some(resp.provider.to_owned()),
        }
    }
}

impl ChatCompletionChunk {
    fn base(id: &str, created: u64, model: &str, choices: Vec<ChunkChoice>) -> Self {
        Self {
            id: id.to_owned(),
            object: "chat.completion.chunk".to_owned(),
            created,
            model: model.to_owned(),
            choices,
            ..Self::default()
        }
    }

    /// A chunk of the one choice llmpool streams.
    fn single(
        id: &str,
        created: u64,
        model: &str,
        delta: Delta,
        finish_reason: Option<String>,
    ) -> Self {
        Self::base(
            id,
            created,
            model,
            vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
            }],
        )
    }

    /// The first chunk of a stream: `delta: {"role": "assistant", "content": ""}`.
    pub fn role(id: &str, created: u64, model: &str) -> Self {
        let delta = Delta {
            role: Some("assistant".to_owned()),
            content: Some(String::new()),
            reasoning: None,
        };
        Self::single(id, created, model, delta, None)
    }

    /// A chunk carrying answer text.
    pub fn text(id: &str, created: u64, model: &str, text: impl Into<String>) -> Self {
        let delta = Delta {
            content: Some(text.into()),
            ..Delta::default()
        };
        Self::single(id, created, model, delta, None)
    }

    /// The chunk that ends the choice, with an empty delta.
    pub fn finish(id: &str, created: u64, model: &str, reason: Option<&FinishReason>) -> Self {
        let reason = reason
            .map_or("stop", FinishReason::as_openai_str)
            .to_owned();
        Self::single(id, created, model, Delta::default(), Some(reason))
    }

    /// The usage-only final chunk (`choices: []`) sent when a client asked for
    /// `stream_options.include_usage`.
    pub fn usage_only(id: &str, created: u64, model: &str, usage: Usage) -> Self {
        Self {
            usage: Some(usage.into()),
            ..Self::base(id, created, model, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmpool_core::RateLimitSnapshot;
    use serde_json::json;

    use super::*;

    #[test]
    fn builds_upstream_request() {
        let mut req = ChatRequest::new(vec![Message::system("s"), Message::user("u")]);
        req.max_tokens = Some(9);
        req.stop = vec!["x".into()];
        let wire =
            ChatCompletionRequest::from_core(&req, "m", MaxTokensField::MaxCompletionTokens, true);
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            json!({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],
                   "max_completion_tokens":9,"stop":["x"],"stream":true,"stream_options":{"include_usage":true}})
        );
    }

    #[test]
    fn client_request_to_core() {
        let wire: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "",
            "messages": [{"role":"developer","content":"d"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
            "max_tokens": 5, "stop": "z"
        }))
        .unwrap();
        let core = wire.to_core().unwrap();
        assert_eq!(core.model, None);
        assert_eq!(core.messages[0], Message::system("d"));
        assert_eq!(core.messages[1], Message::user("ab"));
        assert_eq!(core.max_tokens, Some(5));
        assert_eq!(core.stop, vec!["z".to_owned()]);

        let bad: ChatCompletionRequest =
            serde_json::from_value(json!({"model":"m","messages":[{"role":"tool","content":"x"}]}))
                .unwrap();
        assert_eq!(bad.to_core().unwrap_err().param, "messages[0].role");
        let empty: ChatCompletionRequest =
            serde_json::from_value(json!({"model":"m","messages":[]})).unwrap();
        assert!(empty.to_core().is_err());
    }

    #[test]
    fn builds_gateway_answers() {
        let resp = ChatResponse {
            text: "hi".into(),
            finish_reason: Some(FinishReason::Length),
            usage: Some(Usage::new(1, 2)),
            provider: "groq",
            model: "m".into(),
            latency: Duration::from_millis(5),
            rate_limits: RateLimitSnapshot::default(),
            attempts: vec![],
        };
        let c = serde_json::to_value(ChatCompletion::from_core(&resp, "chatcmpl-1", 7)).unwrap();
        assert_eq!(
            c["choices"][0]["message"],
            json!({"role":"assistant","content":"hi"})
        );
        assert_eq!(c["choices"][0]["finish_reason"], "length");
        assert_eq!(c["usage"]["total_tokens"], 3);
        assert_eq!(c["provider"], "groq");

        let first = serde_json::to_value(ChatCompletionChunk::role("i", 1, "m")).unwrap();
        assert_eq!(
            first["choices"][0]["delta"],
            json!({"role":"assistant","content":""})
        );
        assert_eq!(first["choices"][0]["finish_reason"], json!(null));
        let end = serde_json::to_value(ChatCompletionChunk::finish("i", 1, "m", None)).unwrap();
        assert_eq!(end["choices"][0]["finish_reason"], "stop");
        let usage = serde_json::to_value(ChatCompletionChunk::usage_only(
            "i",
            1,
            "m",
            Usage::new(1, 1),
        ))
        .unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 2);
    }

    #[test]
    fn finish_reasons_map() {
        assert_eq!(finish_reason_from_wire("stop"), FinishReason::Stop);
        assert_eq!(finish_reason_from_wire("length"), FinishReason::Length);
        assert_eq!(
            finish_reason_from_wire("error"),
            FinishReason::Other("error".into())
        );
    }
}
