//! Requests, responses and stream events shared by every provider and by the router.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ErrorKindLabel;
use crate::ratelimit::RateLimitSnapshot;

mod content;
mod needs;
mod params;
mod tools;

pub use crate::capability::Missing;
pub(crate) use crate::capability::flag;
pub use content::{Content, ContentPart, ImageUrl};
pub use needs::Needs;
pub use params::is_droppable;
pub use tools::{JsonSchema, ResponseFormat, Tool, ToolCall, ToolCallDelta, ToolChoice};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model; providers without a system role get it their own way.
    System,
    /// The person (or program) talking to the model.
    #[default]
    User,
    /// The model's own earlier turns.
    Assistant,
    /// The result of a tool call, answering an assistant's [`ToolCall`] by its id.
    Tool,
}

impl Role {
    /// The lowercase wire name (`system`, `user`, `assistant`, `tool`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

/// One turn of a conversation.
///
/// The fields beyond `role` and `content` are empty for plain chat, so a plain message
/// costs no more than its text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Text, or parts (text and images).
    #[serde(default)]
    pub content: Content,
    /// The calls an assistant turn made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a [`Role::Tool`] message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The participant's name (OpenAI `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The reasoning text of an earlier assistant turn, as the client sent it back
    /// (`reasoning_content` or `reasoning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Other message fields (`refusal`, `reasoning_details`, …), kept verbatim for
    /// OpenAI-compatible upstreams.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with the given role and content.
    pub fn new(role: Role, content: impl Into<Content>) -> Self {
        Self {
            role,
            content: content.into(),
            ..Self::default()
        }
    }

    /// An assistant turn that calls tools (and may say something too).
    pub fn assistant_tool_calls(content: impl Into<Content>, calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::new(Role::Assistant, content)
        }
    }

    /// The result of the tool call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<Content>) -> Self {
        Self {
            tool_call_id: Some(call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }

    /// A system message.
    pub fn system(content: impl Into<Content>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<Content>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// A chat request in provider-neutral form.
///
/// `model` is `None` when the caller lets the router pick; the router always sets it
/// before it hands the request to a provider, and a provider falls back to its
/// configured model when it is still `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Upstream model id for this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Whether the caller wants a stream; the router then calls `chat_stream`.
    #[serde(default)]
    pub stream: bool,
    /// Functions the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may make several calls in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The form the answer must take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// How hard a reasoning model thinks (`none`, `minimal`, `low`, `medium`, `high`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Seed for reproducible sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Penalty on tokens by how often they appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Penalty on tokens that appeared at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// Return log probabilities of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many alternatives per token `logprobs` lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    /// An id of the end user, for the provider's abuse monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Every other request field the client sent (`logit_bias`, `service_tier`,
    /// `metadata`, …), verbatim: passed through to OpenAI-compatible upstreams; any other
    /// provider refuses or names it as dropped.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// The message-level fields a provider without OpenAI's message shape cannot carry
    /// (`name`, earlier `reasoning`, verbatim extras), as `messages[].<field>` names for
    /// its dropped params. Tool calls and results are not listed: they are never dropped.
    pub fn dropped_message_fields(&self, dropped: &mut Vec<String>) {
        let mut push = |name: &str| {
            let name = format!("messages[].{name}");
            if !dropped.contains(&name) {
                dropped.push(name);
            }
        };
        for m in &self.messages {
            if m.name.is_some() {
                push("name");
            }
            if m.reasoning.is_some() {
                push("reasoning_content");
            }
            for key in m.extra.keys() {
                push(key);
            }
        }
    }

    /// A request with these messages and default parameters.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    /// A request holding a single user message.
    pub fn from_user(text: impl Into<String>) -> Self {
        Self::new(vec![Message::user(text.into())])
    }

    /// The same request pinned to `model`.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The same request offering `tool` to the model.
    #[must_use]
    pub fn with_tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// The same request with `tool_choice` set.
    #[must_use]
    pub fn with_tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// The same request asking for an answer in `format`.
    #[must_use]
    pub fn with_response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// The same request asking for JSON matching `schema` (strict), named `name`.
    #[must_use]
    pub fn with_json_schema(self, name: impl Into<String>, schema: Value) -> Self {
        self.with_response_format(ResponseFormat::json_schema(name, schema))
    }

    /// Whether any message carries an image part.
    pub fn has_images(&self) -> bool {
        self.messages.iter().any(|m| m.content.has_image())
    }

    /// Whether the conversation holds tool calls or tool results.
    pub fn has_tool_messages(&self) -> bool {
        self.messages
            .iter()
            .any(|m| m.role == Role::Tool || !m.tool_calls.is_empty())
    }

    /// A rough token estimate of the prompt ([`estimate_tokens`] of its text, plus a few
    /// tokens of framing per message); the ledger reconciles it with reported usage.
    pub fn estimated_prompt_tokens(&self) -> u64 {
        let chars: usize = self
            .messages
            .iter()
            .map(|m| {
                m.content.text_chars()
                    + m.tool_calls
                        .iter()
                        .map(|c| c.name.len() + c.arguments.len())
                        .sum::<usize>()
            })
            .sum();
        let per_message = 4 * self.messages.len();
        estimate_tokens(u64::try_from(chars).unwrap_or(u64::MAX))
            .saturating_add(u64::try_from(per_message).unwrap_or(u64::MAX))
    }
}

/// Tokens in a text of `chars` characters, estimated at about four characters a token:
/// the one rule for every estimate where a provider reports no usage.
pub fn estimate_tokens(chars: u64) -> u64 {
    chars.div_ceil(4)
}

/// Token counts reported by the upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated (including reasoning tokens where the provider counts them).
    pub completion_tokens: u64,
    /// Sum as reported by the provider.
    pub total_tokens: u64,
}

impl Usage {
    /// Usage from prompt and completion counts, with their sum as total (saturating: an
    /// upstream may report any number).
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }
    }
}

/// Why generation stopped, normalised across providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end or a stop sequence.
    Stop,
    /// The token limit was reached.
    Length,
    /// The provider's safety system stopped the output.
    ContentFilter,
    /// The model asked for a tool call.
    ToolCalls,
    /// Anything else, with the provider's own word.
    Other(String),
}

impl FinishReason {
    /// The OpenAI wire name (`stop`, `length`, `content_filter`, `tool_calls`, or the raw word).
    pub fn as_openai_str(&self) -> &str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ContentFilter => "content_filter",
            Self::ToolCalls => "tool_calls",
            Self::Other(s) => s,
        }
    }
}

/// A completed chat answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatResponse {
    /// The answer text (empty when the model only called tools).
    pub text: String,
    /// The model's reasoning, where the provider returns it apart from the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The tool calls the model made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Request fields the answering route could not honour and left out because they do
    /// not change the answer's meaning (`user`, `logprobs`, …); the gateway names them in
    /// `x-llmpool-dropped-params`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped_params: Vec<String>,
    /// Why it stopped.
    pub finish_reason: Option<FinishReason>,
    /// Token usage, when the upstream reported it.
    pub usage: Option<Usage>,
    /// Id of the provider that answered.
    pub provider: &'static str,
    /// The model the upstream reported (falls back to the requested model).
    pub model: String,
    /// Time the answering attempt took.
    #[serde(with = "duration_ms")]
    pub latency: Duration,
    /// Rate-limit state the upstream reported with this answer.
    #[serde(skip)]
    pub rate_limits: RateLimitSnapshot,
    /// Every attempt the router made for this request, the answering one last.
    pub attempts: Vec<Attempt>,
    /// Routes passed over without a call because their model cannot serve the request
    /// (a capability it lacks, a context window too small), in the order met.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRoute>,
}

/// A route the router passed over without calling it, because its model cannot serve the
/// request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRoute {
    /// Provider id.
    pub provider: &'static str,
    /// The route's model.
    pub model: String,
    /// What the model lacks.
    pub missing: Missing,
}

/// One try of one route within a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Provider id.
    pub provider: &'static str,
    /// Model tried.
    pub model: String,
    /// `None` for the successful attempt, else the kind of failure.
    pub error: Option<ErrorKindLabel>,
    /// Upstream's own message for a failure (never contains a key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long the attempt took.
    #[serde(with = "duration_ms")]
    pub latency: Duration,
}

/// One item of a chat stream.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "`Started` comes once per stream: boxing its `Copy` snapshot would cost an allocation per stream to save bytes on a few events"
)]
pub enum StreamEvent {
    /// Upstream accepted the request; sent at most once, before any delta, carrying the
    /// rate-limit headers and the model when the provider reports them up front.
    Started {
        /// Parsed rate-limit headers of the streaming response.
        rate_limits: RateLimitSnapshot,
        /// Model named by the upstream, if it said so before the first delta.
        model: Option<String>,
    },
    /// A piece of answer text.
    Delta(String),
    /// A piece of reasoning text (never part of the answer).
    Reasoning(String),
    /// A piece of a tool call.
    ToolCall(ToolCallDelta),
    /// Request fields this route left out because they do not change the answer's meaning;
    /// sent at most once, before the first delta.
    Dropped(Vec<String>),
    /// The stream finished cleanly; always the last event of a complete stream.
    Done(StreamEnd),
}

/// The closing facts of a complete stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamEnd {
    /// Why generation stopped.
    pub finish_reason: Option<FinishReason>,
    /// Usage, when the upstream sent it.
    pub usage: Option<Usage>,
    /// Model the upstream reported.
    pub model: Option<String>,
}

/// Serialises a [`Duration`] as whole milliseconds.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_sums_saturate_instead_of_overflowing() {
        // Found by `cargo xtask fuzz`: a Cohere answer reporting huge billed units.
        let u = Usage::new(u64::MAX - 1, 5);
        assert_eq!(u.total_tokens, u64::MAX);
        assert_eq!(Usage::new(3, 4).total_tokens, 7);
    }

    #[test]
    fn estimate_grows_with_text() {
        let short = ChatRequest::from_user("hi");
        let long = ChatRequest::from_user("hello ".repeat(100));
        assert!(short.estimated_prompt_tokens() < long.estimated_prompt_tokens());
        assert_eq!(long.estimated_prompt_tokens(), 150 + 4);
    }

    #[test]
    fn roles_serialize_lowercase() {
        let json = serde_json::to_string(&Message::assistant("x")).unwrap();
        assert_eq!(json, r#"{"role":"assistant","content":"x"}"#);
    }
}
