//! The OpenAI chat-completions wire types: request, response, stream chunk and error body.
//!
//! These types serve both directions. Provider crates serialise [`ChatCompletionRequest`]
//! and deserialise [`ChatCompletion`] / [`ChatCompletionChunk`]; the gateway does the
//! opposite for its OpenAI-compatible server. Deserialisation is tolerant: unknown fields
//! are ignored (providers add `x_groq`, `time_info`, `provider`, `cost`, …) and most fields
//! default when missing. Unknown request fields are kept in `extra` so a gateway can see
//! (and decide to ignore) what a client sent.
//!
//! Conversions to and from `llmpool-core` types live in [`convert`]; the tolerant error
//! body parser is [`ErrorBody`]. An answer's `content` may be a string or an array of
//! typed chunks; reasoning found inside it (Mistral's `thinking` chunks, a leading inline
//! `<think>` block) is moved to the reasoning fields as the answer is read.

use llmpool_core::{Content, ResponseFormat};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use self::content::{ContentIn, add_reasoning, split_leading_think};

pub(crate) mod content;
pub mod convert;
pub mod error;
pub mod policy;
pub mod tools;

pub use convert::{MaxTokensField, WireError, finish_reason_from_wire};
pub use error::{ErrorBody, ErrorCode, ErrorObject, ErrorResponse};
pub use policy::RequestPolicy;
pub use tools::{WireFunctionCall, WireFunctionDelta, WireTool, WireToolCall, WireToolCallDelta};

/// Message content on the wire: OpenAI's shape is the core [`Content`] (a string or a list
/// of typed parts).
pub type MessageContent = Content;

/// `POST /chat/completions` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// Model id. Empty when a client omitted it (OpenRouter then uses the account default;
    /// the gateway lets the router choose).
    #[serde(default)]
    pub model: String,
    /// The conversation, oldest first.
    pub messages: Vec<RequestMessage>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Output cap under its classic name (OpenRouter; deprecated alias elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Output cap under its current name (Groq, Cerebras, OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Stop sequences: one string or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Whether to stream the answer as server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options (`include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Number of choices; llmpool answers with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Functions the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<WireTool>,
    /// `auto`, `none`, `required` or a named function (read by [`tools::tool_choice_from_wire`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Whether the model may make several calls in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// `text`, `json_object` or `json_schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort (`none`, `minimal`, `low`, `medium`, `high`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// Return token log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// Alternatives per token for `logprobs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Every other field, kept verbatim (`logit_bias`, `service_tier`, `metadata`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stop`: a single sequence or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// `"stop": "\n"`.
    One(String),
    /// `"stop": ["\n", "END"]`.
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Ask for a final chunk carrying `usage`.
    #[serde(default)]
    pub include_usage: bool,
}

/// One message of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool`, …
    pub role: String,
    /// Text, or content parts; `null` for assistant messages that only call tools.
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// Participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The calls of an assistant message.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_calls: Vec<WireToolCall>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// An assistant's earlier reasoning, under the name clients send back (LiteLLM, DeepSeek).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// An assistant's earlier reasoning, under the name Cerebras and OpenRouter take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Every other field (`refusal`, `reasoning_details`, …), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A non-streamed `chat.completion` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// Completion id (`chatcmpl-…`, OpenRouter `gen-…`).
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default = "chat_completion_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub created: u64,
    /// The model that answered (may differ from the requested one behind routers).
    #[serde(default)]
    pub model: String,
    /// The answers; llmpool asks for one.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Upstream that served the request (OpenRouter; the gateway sets the llmpool provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

fn chat_completion_object() -> String {
    "chat.completion".to_owned()
}

/// One answer of a [`ChatCompletion`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// The answer.
    #[serde(default)]
    pub message: ResponseMessage,
    /// `stop`, `length`, `content_filter`, `tool_calls`, `error` (OpenRouter), …
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The assistant message of a [`Choice`].
///
/// Reasoning that an upstream put inside `content` (Mistral's `thinking` chunks, a
/// leading inline `<think>…</think>` block) is moved to the reasoning fields when the
/// message is read: never left in the answer text, never dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ResponseMessageIn")]
pub struct ResponseMessage {
    /// Always `assistant`.
    pub role: String,
    /// The answer text; `None` when it was missing or `null` (a reasoning model cut off,
    /// Cerebras). An array of typed chunks is read as the concatenation of its `text`
    /// chunks; a leading inline `<think>…</think>` block is not answer text (see
    /// [`ResponseMessage::reasoning_content`]).
    pub content: Option<String>,
    /// Chain of thought, where the provider returns it separately (Groq, Cerebras, OpenRouter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Chain of thought under the name DeepSeek and LiteLLM use; the gateway answers
    /// with this one. Also where reasoning read out of `content` goes (Mistral's
    /// `thinking` chunks, Cloudflare's inline `<think>` block) when `reasoning` is unset;
    /// otherwise it is added to `reasoning`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// A refusal message (OpenAI, OpenRouter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The calls the model made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
}

/// [`ResponseMessage`] as it arrives, before reasoning is moved out of `content`.
#[derive(Deserialize)]
struct ResponseMessageIn {
    #[serde(default = "assistant_role")]
    role: String,
    #[serde(default)]
    content: Option<ContentIn>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<WireToolCall>,
}

impl From<ResponseMessageIn> for ResponseMessage {
    fn from(m: ResponseMessageIn) -> Self {
        let mut out = Self {
            role: m.role,
            content: None,
            reasoning: m.reasoning,
            reasoning_content: m.reasoning_content,
            refusal: m.refusal,
            tool_calls: m.tool_calls,
        };
        let Some(content) = m.content else {
            return out;
        };
        if let Some(thinking) = content.thinking {
            add_reasoning(
                &mut out.reasoning,
                &mut out.reasoning_content,
                thinking,
                "\n\n",
            );
        }
        out.content = content.text.map(|text| {
            let (thought, answer) = split_leading_think(text);
            if let Some(thought) = thought {
                add_reasoning(
                    &mut out.reasoning,
                    &mut out.reasoning_content,
                    thought,
                    "\n\n",
                );
            }
            answer
        });
        out
    }
}

impl Default for ResponseMessage {
    fn default() -> Self {
        Self {
            role: assistant_role(),
            content: None,
            reasoning: None,
            reasoning_content: None,
            refusal: None,
            tool_calls: Vec::new(),
        }
    }
}

fn assistant_role() -> String {
    "assistant".to_owned()
}

/// Token usage as OpenAI-compatible APIs report it. Provider extras (`queue_time`,
/// `cost`, `*_details`) are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireUsage {
    /// Prompt tokens.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub prompt_tokens: u64,
    /// Generated tokens (including reasoning).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total_tokens: u64,
}

/// A `chat.completion.chunk` of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// Same id on every chunk of one stream.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default = "chunk_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub created: u64,
    /// The model that answers.
    #[serde(default)]
    pub model: String,
    /// Deltas; empty in a usage-only final chunk.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage, on the final chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    /// Groq's extension; its final chunk carries `x_groq.usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_groq: Option<XGroq>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Upstream that serves the stream (OpenRouter; the gateway sets the llmpool provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

impl ChatCompletionChunk {
    /// Usage from `usage`, else from Groq's `x_groq.usage`.
    pub fn any_usage(&self) -> Option<WireUsage> {
        self.usage
            .or_else(|| self.x_groq.as_ref().and_then(|x| x.usage))
    }
}

/// Groq's `x_groq` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XGroq {
    /// Groq request id (`req_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Usage on the final chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    /// Why a stream stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One choice of a [`ChatCompletionChunk`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the chunk that ends the choice.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The increment of a [`ChunkChoice`].
///
/// The `thinking` chunks of an array `content` (Mistral) are reasoning, added to
/// `reasoning` when set, else to `reasoning_content`. An inline `<think>` block spans
/// deltas, so the stream reader splits it, not this type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "DeltaIn")]
pub struct Delta {
    /// `assistant` on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// New answer text (from an array of typed chunks, its `text` chunks, as for
    /// [`ResponseMessage::content`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// New reasoning text, where the provider streams it separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// New reasoning text under the name the gateway answers with (DeepSeek, LiteLLM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Pieces of tool calls.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCallDelta>,
}

/// [`Delta`] as it arrives, before thinking chunks are moved out of `content`.
#[derive(Deserialize)]
struct DeltaIn {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<ContentIn>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<WireToolCallDelta>,
}

impl From<DeltaIn> for Delta {
    fn from(d: DeltaIn) -> Self {
        let (content, thinking) = d.content.map_or((None, None), |c| (c.text, c.thinking));
        let mut out = Self {
            role: d.role,
            content,
            reasoning: d.reasoning,
            reasoning_content: d.reasoning_content,
            tool_calls: d.tool_calls,
        };
        if let Some(thinking) = thinking {
            add_reasoning(&mut out.reasoning, &mut out.reasoning_content, thinking, "");
        }
        out
    }
}

/// A list that may come as `null` (Mistral writes `"tool_calls": null`): empty.
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}

/// Accepts an integer, a float (Cerebras writes some times as floats), a numeric string or
/// `null` where a `u64` is expected; anything else is an error.
fn lenient_u64<'de, D: Deserializer<'de>>(de: D) -> Result<u64, D::Error> {
    let value = Option::<Value>::deserialize(de)?;
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => number_to_u64(&n)
            .ok_or_else(|| serde::de::Error::custom(format!("`{n}` is not a count"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a count"))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a number, found {other}"
        ))),
    }
}

/// A JSON number as a non-negative integer (floats are truncated).
pub(crate) fn number_to_u64(n: &serde_json::Number) -> Option<u64> {
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    let f = n.as_f64()?;
    if f.is_finite() && (0.0..1.8e19).contains(&f) {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked finite, non-negative and below u64::MAX"
        )]
        let u = f as u64;
        Some(u)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_tool_calls_read_as_none() {
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","tool_calls":null,"content":"Paris."},"finish_reason":"stop"}]}"#;
        let parsed: ChatCompletion = serde_json::from_slice(body).unwrap();
        assert!(parsed.choices[0].message.tool_calls.is_empty());
        let chunk = br#"{"choices":[{"index":0,"delta":{"content":"x","tool_calls":null}}]}"#;
        let parsed: ChatCompletionChunk = serde_json::from_slice(chunk).unwrap();
        assert!(parsed.choices[0].delta.tool_calls.is_empty());
    }

    #[test]
    fn request_accepts_string_or_parts_and_keeps_extras() {
        let req: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}],"name":"bob"}],
                "stop":"\n","n":1,"seed":7}"#,
        )
        .unwrap();
        assert_eq!(req.stop.clone().unwrap().into_vec(), vec!["\n".to_owned()]);
        assert_eq!(req.seed, Some(7));
        assert_eq!(req.n, Some(1));
        assert_eq!(req.messages[0].name.as_deref(), Some("bob"));
        assert!(matches!(
            req.messages[0].content,
            Some(MessageContent::Parts(_))
        ));
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["seed"], 7);
        assert_eq!(back["stream"], false);
        assert!(back.get("stream_options").is_none());
    }

    #[test]
    fn response_tolerates_missing_fields_and_floats() {
        let c: ChatCompletion = serde_json::from_str(
            r#"{"created":1723733419.5,"choices":[{"message":{},"finish_reason":"length"}],
                "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"cost":0.1},
                "time_info":{"created":1.5}}"#,
        )
        .unwrap();
        assert_eq!(c.created, 1_723_733_419);
        assert_eq!(c.choices[0].message.content, None);
        assert_eq!(c.usage.unwrap().total_tokens, 7);
        assert_eq!(c.object, "chat.completion");
    }

    #[test]
    fn array_content_text_is_the_answer_and_thinking_the_reasoning() {
        let c: ChatCompletion = serde_json::from_str(
            r#"{"choices":[{"message":{"role":"assistant","content":[
                {"type":"thinking","thinking":[{"type":"text","text":"The user asks"}]},
                {"type":"text","text":"Par"},{"type":"text","text":"is."}]}}]}"#,
        )
        .unwrap();
        let m = &c.choices[0].message;
        assert_eq!(m.content.as_deref(), Some("Paris."));
        assert_eq!(m.reasoning_content.as_deref(), Some("The user asks"));
        assert_eq!(m.reasoning, None);
        let d: ChatCompletionChunk = serde_json::from_str(
            r#"{"choices":[{"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hm"}]}]}}]}"#,
        )
        .unwrap();
        assert_eq!(d.choices[0].delta.content, None);
        assert_eq!(d.choices[0].delta.reasoning_content.as_deref(), Some("hm"));
        // A provider that also names the reasoning keeps it; the chunk's is added.
        let both: ChatCompletionChunk = serde_json::from_str(
            r#"{"choices":[{"delta":{"reasoning":"a","content":[{"type":"thinking","thinking":"b"},{"type":"text","text":"c"}]}}]}"#,
        )
        .unwrap();
        let delta = &both.choices[0].delta;
        assert_eq!(
            (delta.reasoning.as_deref(), delta.content.as_deref()),
            (Some("ab"), Some("c"))
        );
        let bad =
            serde_json::from_str::<ChatCompletion>(r#"{"choices":[{"message":{"content":7}}]}"#);
        assert!(bad.is_err());
        let plain: ChatCompletionChunk =
            serde_json::from_str(r#"{"choices":[{"delta":{"content":"x","reasoning":null}}]}"#)
                .unwrap();
        assert_eq!(plain.choices[0].delta.content.as_deref(), Some("x"));
        assert_eq!(plain.choices[0].delta.reasoning_content, None);
    }

    #[test]
    fn a_leading_inline_think_block_is_reasoning_not_answer_text() {
        let c: ChatCompletion = serde_json::from_str(
            r#"{"choices":[{"message":{"content":"<think>\nParis, surely.\n</think>\n\nParis."}}]}"#,
        )
        .unwrap();
        let m = &c.choices[0].message;
        assert_eq!(m.content.as_deref(), Some("Paris."));
        assert_eq!(m.reasoning_content.as_deref(), Some("Paris, surely."));
        // Cut off while thinking: all of it is reasoning, none of it answer.
        let cut: ChatCompletion =
            serde_json::from_str(r#"{"choices":[{"message":{"content":"<think>still going"}}]}"#)
                .unwrap();
        let m = &cut.choices[0].message;
        assert_eq!(
            (m.content.as_deref(), m.reasoning_content.as_deref()),
            (Some(""), Some("still going"))
        );
        let inner: ChatCompletion =
            serde_json::from_str(r#"{"choices":[{"message":{"content":"Use <think> tags."}}]}"#)
                .unwrap();
        let m = &inner.choices[0].message;
        assert_eq!(
            (m.content.as_deref(), m.reasoning_content.as_deref()),
            (Some("Use <think> tags."), None)
        );
        // Reasoning the provider also sent apart is kept, the inline block added once.
        let twice: ChatCompletion = serde_json::from_str(
            r#"{"choices":[{"message":{"reasoning_content":"x","content":"<think>x</think>y"}}]}"#,
        )
        .unwrap();
        let m = &twice.choices[0].message;
        assert_eq!(
            (m.content.as_deref(), m.reasoning_content.as_deref()),
            (Some("y"), Some("x"))
        );
    }

    #[test]
    fn a_message_written_by_the_gateway_reads_back_the_same() {
        let m = ResponseMessage {
            content: Some("hi".into()),
            reasoning_content: Some("r".into()),
            ..ResponseMessage::default()
        };
        let back: ResponseMessage =
            serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn chunk_usage_falls_back_to_x_groq() {
        let c: ChatCompletionChunk = serde_json::from_str(
            r#"{"choices":[],"x_groq":{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}}"#,
        )
        .unwrap();
        assert_eq!(c.any_usage().unwrap().completion_tokens, 2);
    }
}
