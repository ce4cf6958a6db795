//! Conversions between the wire types and `llmpool-core`'s types, in both directions:
//! providers build requests and read answers; the gateway reads requests and builds
//! answers, chunks and error bodies.

use llmpool_core::{
    ChatRequest, ChatResponse, Content, FinishReason, Message, ProviderError, Role, ToolCall,
    ToolCallDelta, Usage,
};

use super::tools::{tool_choice_from_wire, tool_choice_to_wire};
use super::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, ChunkChoice, Delta,
    RequestMessage, RequestPolicy, ResponseMessage, Stop, StreamOptions, WireTool, WireToolCall,
    WireToolCallDelta, WireUsage,
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
    pub(crate) fn new(param: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            reason: reason.into(),
        }
    }
}

impl RequestMessage {
    /// The wire form of a core message, every field carried.
    fn from_core(m: &Message) -> Self {
        // A tool-only assistant turn has `content: null` on the wire, as OpenAI writes it.
        let content = if m.content.is_empty() && !m.tool_calls.is_empty() {
            None
        } else {
            Some(m.content.clone())
        };
        Self {
            role: m.role.as_str().to_owned(),
            content,
            name: m.name.clone(),
            tool_calls: m.tool_calls.iter().map(WireToolCall::from).collect(),
            tool_call_id: m.tool_call_id.clone(),
            reasoning_content: None,
            reasoning: m.reasoning.clone(),
            extra: m.extra.clone(),
        }
    }
}

impl ChatCompletionRequest {
    /// The upstream request for `req`, sent to `model`, every field passed through.
    /// `stream` also asks for the usage chunk (`stream_options.include_usage`).
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
            messages: req.messages.iter().map(RequestMessage::from_core).collect(),
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens,
            max_completion_tokens,
            stop: (!req.stop.is_empty()).then(|| Stop::Many(req.stop.clone())),
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            n: None,
            tools: req.tools.iter().map(WireTool::from_core).collect(),
            tool_choice: req.tool_choice.as_ref().map(tool_choice_to_wire),
            parallel_tool_calls: req.parallel_tool_calls,
            response_format: req.response_format.clone(),
            reasoning_effort: req.reasoning_effort.clone(),
            seed: req.seed,
            frequency_penalty: req.frequency_penalty,
            presence_penalty: req.presence_penalty,
            logprobs: req.logprobs,
            top_logprobs: req.top_logprobs,
            user: req.user.clone(),
            extra: req.extra.clone(),
        }
    }

    /// [`Self::from_core`] for an upstream with `policy`: fields it rejects are left out
    /// when droppable (their names are pushed to `dropped`) or refused with a
    /// `BadRequest` naming them, before any upstream call.
    pub fn from_core_checked(
        req: &ChatRequest,
        model: &str,
        max_tokens: MaxTokensField,
        stream: bool,
        policy: &RequestPolicy,
        provider: &'static str,
        dropped: &mut Vec<String>,
    ) -> Result<Self, ProviderError> {
        let mut wire = Self::from_core(req, model, max_tokens, stream);
        if !policy.unsupported.is_empty() {
            req.check_params(provider, |f| !policy.unsupported.contains(&f), dropped)?;
            for name in dropped.iter() {
                wire.drop_field(name);
            }
        }
        if !policy.message_name && wire.messages.iter().any(|m| m.name.is_some()) {
            wire.messages.iter_mut().for_each(|m| m.name = None);
            dropped.push("messages[].name".to_owned());
        }
        if !policy.reasoning_input && wire.messages.iter().any(|m| m.reasoning.is_some()) {
            wire.messages.iter_mut().for_each(|m| m.reasoning = None);
            dropped.push("messages[].reasoning_content".to_owned());
        }
        Ok(wire)
    }

    /// Leaves out one top-level field.
    fn drop_field(&mut self, name: &str) {
        match name {
            "user" => self.user = None,
            "seed" => self.seed = None,
            "logprobs" => self.logprobs = None,
            "top_logprobs" => self.top_logprobs = None,
            "parallel_tool_calls" => self.parallel_tool_calls = None,
            "stream_options" => self.stream_options = None,
            other => {
                self.extra.remove(other);
            }
        }
    }

    /// The core request a client's body asks for, every documented field carried (roles
    /// `system` and `developer` become [`Role::System`]; `max_completion_tokens` wins
    /// over `max_tokens`). `n` other than 1 is refused: llmpool answers with one choice.
    pub fn to_core(&self) -> Result<ChatRequest, WireError> {
        if self.messages.is_empty() {
            return Err(WireError::new("messages", "`messages` must not be empty"));
        }
        if let Some(n) = self.n.filter(|n| *n != 1) {
            return Err(WireError::new(
                "n",
                format!("`n` = {n} is not supported; llmpool returns one choice"),
            ));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            messages.push(message_to_core(i, m)?);
        }
        let tools = self
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| t.to_core(i))
            .collect::<Result<Vec<_>, _>>()?;
        let tool_choice = self
            .tool_choice
            .as_ref()
            .map(tool_choice_from_wire)
            .transpose()?;
        let mut extra = self.extra.clone();
        if let Some(options) = self.stream_options.filter(|_| !self.stream) {
            // Only meaningful with `stream`; kept so that nothing is lost in silence.
            if let Ok(value) = serde_json::to_value(options) {
                extra.insert("stream_options".to_owned(), value);
            }
        }
        Ok(ChatRequest {
            messages,
            model: (!self.model.trim().is_empty()).then(|| self.model.clone()),
            temperature: self.temperature,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            top_p: self.top_p,
            stop: self.stop.clone().map(Stop::into_vec).unwrap_or_default(),
            stream: self.stream,
            tools,
            tool_choice,
            parallel_tool_calls: self.parallel_tool_calls,
            response_format: self.response_format.clone(),
            reasoning_effort: self.reasoning_effort.clone(),
            seed: self.seed,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            logprobs: self.logprobs,
            top_logprobs: self.top_logprobs,
            user: self.user.clone(),
            extra,
        })
    }
}

/// One client message as a core message.
fn message_to_core(i: usize, m: &RequestMessage) -> Result<Message, WireError> {
    let role = match m.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => {
            return Err(WireError::new(
                format!("messages[{i}].role"),
                format!("role `{other}` is not supported; use system, user, assistant or tool"),
            ));
        }
    };
    if role == Role::Tool && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
        return Err(WireError::new(
            format!("messages[{i}].tool_call_id"),
            "a `tool` message needs the `tool_call_id` of the call it answers",
        ));
    }
    if !m.tool_calls.is_empty() && role != Role::Assistant {
        return Err(WireError::new(
            format!("messages[{i}].tool_calls"),
            "only assistant messages carry `tool_calls`",
        ));
    }
    if let Some(Content::Parts(parts)) = &m.content {
        for (j, part) in parts.iter().enumerate() {
            if let llmpool_core::ContentPart::Image { image_url } = part
                && image_url.data().is_none()
                && !image_url.is_remote()
            {
                return Err(WireError::new(
                    format!("messages[{i}].content[{j}].image_url.url"),
                    "an image URL must be a base64 `data:` URL or an `https:` URL",
                ));
            }
        }
    }
    Ok(Message {
        role,
        content: m.content.clone().unwrap_or_default(),
        tool_calls: m.tool_calls.iter().cloned().map(ToolCall::from).collect(),
        tool_call_id: m.tool_call_id.clone(),
        name: m.name.clone(),
        reasoning: m.reasoning_content.clone().or_else(|| m.reasoning.clone()),
        extra: m.extra.clone(),
    })
}

impl ResponseMessage {
    /// Answer text, reasoning and tool calls of an upstream's message (`reasoning`, else
    /// `reasoning_content`; tool calls with `"null"` arguments read as `{}`).
    pub fn into_core(self) -> (String, Option<String>, Vec<ToolCall>) {
        (
            self.content.unwrap_or_default(),
            self.reasoning.or(self.reasoning_content),
            self.tool_calls.into_iter().map(ToolCall::from).collect(),
        )
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
            u.prompt_tokens.saturating_add(u.completion_tokens)
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
                    // A tool-only answer has `content: null`, as OpenAI writes it.
                    content: (!resp.text.is_empty() || resp.tool_calls.is_empty())
                        .then(|| resp.text.clone()),
                    reasoning_content: resp.reasoning.clone(),
                    tool_calls: resp.tool_calls.iter().map(WireToolCall::from).collect(),
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
            ..Delta::default()
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

    /// A chunk carrying reasoning text, as `delta.reasoning_content`.
    pub fn reasoning(id: &str, created: u64, model: &str, text: impl Into<String>) -> Self {
        let delta = Delta {
            reasoning_content: Some(text.into()),
            ..Delta::default()
        };
        Self::single(id, created, model, delta, None)
    }

    /// A chunk carrying a piece of a tool call, as `delta.tool_calls[0]`: the first piece
    /// of a call has its index, id, `type` and name; later ones add arguments.
    pub fn tool_call(id: &str, created: u64, model: &str, call: &ToolCallDelta) -> Self {
        let delta = Delta {
            tool_calls: vec![WireToolCallDelta::from(call)],
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

    use llmpool_core::{ContentPart, RateLimitSnapshot, ResponseFormat, Tool, ToolChoice};
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
        assert_eq!(
            core.messages[1],
            Message::user(vec![ContentPart::text("a"), ContentPart::text("b")])
        );
        assert_eq!(core.max_tokens, Some(5));
        assert_eq!(core.stop, vec!["z".to_owned()]);

        let bad: ChatCompletionRequest =
            serde_json::from_value(json!({"model":"m","messages":[{"role":"tool","content":"x"}]}))
                .unwrap();
        assert_eq!(bad.to_core().unwrap_err().param, "messages[0].tool_call_id");
        let bad: ChatCompletionRequest = serde_json::from_value(
            json!({"model":"m","messages":[{"role":"function","content":"x"}]}),
        )
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
            ..ChatResponse::default()
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

    /// Every field of OpenAI's chat-completions request, as a client sends it.
    fn full_request() -> serde_json::Value {
        json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief", "name": "sys"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this and the weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                ]},
                {"role": "assistant", "content": null, "reasoning": "need weather", "refusal": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\":17}"}
            ],
            "temperature": 0.5,
            "top_p": 0.25,
            "max_completion_tokens": 100,
            "stop": ["END"],
            "stream": false,
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "description": "d", "schema": {"type": "object"}, "strict": true}},
            "reasoning_effort": "low",
            "seed": 42,
            "frequency_penalty": 0.5,
            "presence_penalty": -0.5,
            "logprobs": true,
            "top_logprobs": 3,
            "user": "u-1",
            "logit_bias": {"50256": -100},
            "service_tier": "auto",
            "store": false,
            "metadata": {"k": "v"},
            "modalities": ["text"],
            "prediction": {"type": "content", "content": "x"},
            "verbosity": "low",
            "web_search_options": {},
            "prompt_cache_key": "p",
            "safety_identifier": "s"
        })
    }

    #[test]
    fn every_documented_request_field_survives_core_both_ways() {
        let sent = full_request();
        let wire: ChatCompletionRequest = serde_json::from_value(sent.clone()).unwrap();
        let core = wire.to_core().unwrap();
        assert_eq!(core.tools.len(), 1);
        assert_eq!(
            core.tool_choice,
            Some(ToolChoice::Function("get_weather".into()))
        );
        assert!(matches!(
            core.response_format,
            Some(ResponseFormat::JsonSchema { .. })
        ));
        assert_eq!(core.messages[2].tool_calls[0].name, "get_weather");
        assert_eq!(core.messages[2].reasoning.as_deref(), Some("need weather"));
        assert_eq!(core.messages[3].role, Role::Tool);
        assert!(core.has_images());
        assert_eq!(
            core.tools[0],
            Tool::function(
                "get_weather",
                "weather",
                json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
            )
            .strict(true)
        );
        let back = serde_json::to_value(ChatCompletionRequest::from_core(
            &core,
            "m",
            MaxTokensField::MaxCompletionTokens,
            false,
        ))
        .unwrap();
        assert_eq!(back, sent);
    }

    #[test]
    fn a_policy_drops_neutral_fields_and_refuses_the_rest() {
        let mut core: ChatRequest = serde_json::from_value::<ChatCompletionRequest>(json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi", "name": "bob"}],
            "logprobs": true, "top_logprobs": 2, "user": "u"
        }))
        .unwrap()
        .to_core()
        .unwrap();
        let policy = RequestPolicy {
            unsupported: &["logprobs", "top_logprobs", "logit_bias"],
            message_name: false,
            reasoning_input: false,
        };
        let mut dropped = Vec::new();
        let wire = ChatCompletionRequest::from_core_checked(
            &core,
            "m",
            MaxTokensField::MaxTokens,
            false,
            &policy,
            "p",
            &mut dropped,
        )
        .unwrap();
        assert_eq!(dropped, vec!["logprobs", "top_logprobs", "messages[].name"]);
        let body = serde_json::to_value(&wire).unwrap();
        assert_eq!(
            body,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": false, "user": "u"})
        );
        core.extra.insert("logit_bias".into(), json!({"1": 1}));
        let err = ChatCompletionRequest::from_core_checked(
            &core,
            "m",
            MaxTokensField::MaxTokens,
            false,
            &policy,
            "p",
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.message.unwrap().contains("`logit_bias`"));
    }

    #[test]
    fn answers_carry_tool_calls_and_reasoning() {
        let upstream: ChatCompletion = serde_json::from_value(json!({
            "choices": [{"message": {"role": "assistant", "reasoning": "think",
                "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "null"}}]},
                "finish_reason": "tool_calls"}]
        }))
        .unwrap();
        let (text, reasoning, calls) = upstream.choices[0].message.clone().into_core();
        assert_eq!((text.as_str(), reasoning.as_deref()), ("", Some("think")));
        assert_eq!(calls, vec![ToolCall::new("a", "f", "{}")]);
        let resp = ChatResponse {
            reasoning,
            tool_calls: calls,
            finish_reason: Some(FinishReason::ToolCalls),
            provider: "groq",
            ..ChatResponse::default()
        };
        let c = serde_json::to_value(ChatCompletion::from_core(&resp, "x", 1)).unwrap();
        assert_eq!(
            c["choices"][0]["message"],
            json!({"role": "assistant", "content": null, "reasoning_content": "think",
                   "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
        );
        let first = ToolCallDelta {
            index: 0,
            id: Some("a".into()),
            name: Some("f".into()),
            arguments: String::new(),
        };
        let chunk =
            serde_json::to_value(ChatCompletionChunk::tool_call("i", 1, "m", &first)).unwrap();
        assert_eq!(
            chunk["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]})
        );
        let piece = ToolCallDelta {
            index: 0,
            arguments: "{\"x\"".into(),
            ..ToolCallDelta::default()
        };
        let chunk =
            serde_json::to_value(ChatCompletionChunk::tool_call("i", 1, "m", &piece)).unwrap();
        assert_eq!(
            chunk["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\""}}]})
        );
        let r = serde_json::to_value(ChatCompletionChunk::reasoning("i", 1, "m", "hmm")).unwrap();
        assert_eq!(
            r["choices"][0]["delta"],
            json!({"reasoning_content": "hmm"})
        );
    }

    #[test]
    fn n_above_one_and_bad_images_are_refused() {
        let n: ChatCompletionRequest = serde_json::from_value(
            json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}),
        )
        .unwrap();
        assert_eq!(n.to_core().unwrap_err().param, "n");
        let img: ChatCompletionRequest = serde_json::from_value(json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]}))
        .unwrap();
        assert_eq!(
            img.to_core().unwrap_err().param,
            "messages[0].content[0].image_url.url"
        );
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
