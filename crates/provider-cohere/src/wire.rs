//! Cohere Chat v2 wire types: what goes out and what comes back, exactly as Cohere names it.
//!
//! Responses are parsed tolerantly: unknown fields are ignored, most fields are optional
//! (the crate decides what a missing field means), and token counts accept floats because
//! the OpenAPI spec types them as `number`.

use llmpool_core::Content;
use llmpool_openai_compat::wire::WireToolCall;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The body of `POST {base}/chat`.
#[derive(Debug, Serialize)]
pub(crate) struct ChatBody<'a> {
    pub(crate) model: &'a str,
    pub(crate) messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u32>,
    /// Nucleus sampling; Cohere calls `top_p` just `p`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(crate) stop_sequences: &'a [String],
    pub(crate) stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) frequency_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) response_format: Option<ResponseFormatV2<'a>>,
    /// OpenAI's tool shape without `strict` (Cohere answers 422 to unknown fields).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<CohereTool<'a>>,
    /// `REQUIRED` or `NONE`; absent means auto.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<&'static str>,
    /// Set when any tool asked for `strict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) strict_tools: Option<bool>,
    /// Reasoning on or off, from the request's reasoning effort; absent leaves the
    /// model's default (reasoning models think unless told not to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) thinking: Option<Thinking>,
}

/// Cohere's `thinking`: `{"type": "enabled"}` or `{"type": "disabled"}`. No
/// `token_budget` is set: an OpenAI reasoning effort names no number of tokens, so
/// Cohere's default budget applies.
#[derive(Debug, Serialize)]
pub(crate) struct Thinking {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
}

/// A `tools[]` entry.
#[derive(Debug, Serialize)]
pub(crate) struct CohereTool<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) function: CohereFunction<'a>,
}

/// The function of a [`CohereTool`].
#[derive(Debug, Serialize)]
pub(crate) struct CohereFunction<'a> {
    pub(crate) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parameters: Option<&'a Value>,
}

/// Cohere's `response_format`: `{"type": "json_object"}`, with `json_schema` for a schema.
#[derive(Debug, Serialize)]
pub(crate) struct ResponseFormatV2<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) json_schema: Option<&'a Value>,
}

/// One message of the request; the system prompt is an ordinary `system` message.
#[derive(Debug, Serialize)]
pub(crate) struct WireMessage<'a> {
    pub(crate) role: &'static str,
    /// Text, or OpenAI-identical `text` / `image_url` parts; omitted on an assistant turn
    /// that only calls tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<&'a Content>,
    /// The calls of an assistant turn (OpenAI's shape, arguments as a JSON string).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tool_calls: Vec<WireToolCall>,
    /// The call a `tool` message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_call_id: Option<&'a str>,
}

/// A non-streaming answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatResponseBody {
    #[serde(default)]
    pub(crate) message: Option<AssistantMessage>,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
}

/// The assistant turn of an answer.
#[derive(Debug, Deserialize)]
pub(crate) struct AssistantMessage {
    #[serde(default)]
    pub(crate) content: Vec<ContentBlock>,
    /// The calls the model made (`arguments` a JSON string, `"null"` for none).
    #[serde(default)]
    pub(crate) tool_calls: Vec<WireToolCall>,
    /// The model's plan before calling tools.
    #[serde(default)]
    pub(crate) tool_plan: Option<String>,
}

/// One content block: `text`, `thinking` (reasoning models) or a type this crate ignores.
#[derive(Debug, Deserialize)]
pub(crate) struct ContentBlock {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// The reasoning of a `thinking` block.
    #[serde(default)]
    pub(crate) thinking: Option<String>,
}

/// `usage`: what was billed and what the model processed.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub(crate) billed_units: Option<TokenCounts>,
    #[serde(default)]
    pub(crate) tokens: Option<TokenCounts>,
}

/// Input and output token counts.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct TokenCounts {
    #[serde(default, deserialize_with = "lenient_count")]
    pub(crate) input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub(crate) output_tokens: Option<u64>,
}

impl TokenCounts {
    pub(crate) fn is_empty(&self) -> bool {
        self.input_tokens.is_none() && self.output_tokens.is_none()
    }
}

/// One `data:` payload of a v2 stream, dispatched on its `type` field. Only the events
/// that carry answer text or the end of the answer are modelled; everything else
/// (`message-start`, `content-start`, `content-end`, tool, citation and debug events) is
/// accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum StreamEventBody {
    #[serde(rename = "content-delta")]
    ContentDelta { delta: ContentDelta },
    #[serde(rename = "message-end")]
    MessageEnd { delta: MessageEndDelta },
    /// The first piece of call `index`: id, name and (usually empty) arguments.
    #[serde(rename = "tool-call-start")]
    ToolCallStart {
        index: u32,
        delta: ToolCallEventDelta,
    },
    /// An arguments fragment of call `index`.
    #[serde(rename = "tool-call-delta")]
    ToolCallDelta {
        index: u32,
        delta: ToolCallEventDelta,
    },
    #[serde(rename = "tool-call-end")]
    ToolCallEnd { index: u32 },
    /// A piece of the plan written before the calls.
    #[serde(rename = "tool-plan-delta")]
    ToolPlanDelta { delta: ToolPlanDeltaBody },
    #[serde(other)]
    Ignored,
}

/// `delta.message.tool_calls` of a tool-call event: one object, not a list.
#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallEventDelta {
    pub(crate) message: ToolCallEventMessage,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallEventMessage {
    pub(crate) tool_calls: ToolCallPiece,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallPiece {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) function: Option<FunctionPiece>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FunctionPiece {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) arguments: Option<String>,
}

/// `tool-plan-delta`: `delta.message.tool_plan`.
#[derive(Debug, Deserialize)]
pub(crate) struct ToolPlanDeltaBody {
    pub(crate) message: ToolPlanMessage,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolPlanMessage {
    #[serde(default)]
    pub(crate) tool_plan: Option<String>,
}

/// `content-delta`: `delta.message.content.text` (or `.thinking` on reasoning models).
#[derive(Debug, Deserialize)]
pub(crate) struct ContentDelta {
    pub(crate) message: ContentDeltaMessage,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContentDeltaMessage {
    pub(crate) content: ContentDeltaContent,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContentDeltaContent {
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// Reasoning text, on a `thinking` block of a reasoning model.
    #[serde(default)]
    pub(crate) thinking: Option<String>,
}

/// `message-end`: why the answer ended, the usage, and an error text on `ERROR`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageEndDelta {
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// The flat error body of every non-2xx answer: `{"id": "...", "message": "..."}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// A token count written as an integer or as a float (`12` or `12.0`); negative or
/// absurdly large values count as absent rather than failing the whole answer.
fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let number = Option::<serde_json::Number>::deserialize(d)?;
    Ok(number.and_then(|n| {
        n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < 9.0e15)
                .map(|f| {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "checked finite, non-negative and below 2^53"
                    )]
                    let count = f.round() as u64;
                    count
                })
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accept_integers_and_floats() {
        let c: TokenCounts =
            serde_json::from_str(r#"{"input_tokens": 12.0, "output_tokens": 7}"#).unwrap();
        assert_eq!(c.input_tokens, Some(12));
        assert_eq!(c.output_tokens, Some(7));
        let c: TokenCounts = serde_json::from_str(r#"{"input_tokens": -1}"#).unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn stream_events_dispatch_on_type() {
        let e: StreamEventBody = serde_json::from_str(
            r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hi"}}}}"#,
        )
        .unwrap();
        assert!(
            matches!(e, StreamEventBody::ContentDelta { delta } if delta.message.content.text.as_deref() == Some("Hi"))
        );
        let e: StreamEventBody = serde_json::from_str(
            r#"{"id":"x","type":"message-start","delta":{"message":{"role":"assistant","content":[]}}}"#,
        )
        .unwrap();
        assert!(matches!(e, StreamEventBody::Ignored));
        assert!(serde_json::from_str::<StreamEventBody>(r#"{"index":0}"#).is_err());
    }

    #[test]
    fn request_omits_unset_fields() {
        let hi = Content::from("hi");
        let body = ChatBody {
            model: "m",
            messages: vec![WireMessage {
                role: "user",
                content: Some(&hi),
                tool_calls: Vec::new(),
                tool_call_id: None,
            }],
            temperature: None,
            max_tokens: None,
            p: None,
            stop_sequences: &[],
            stream: false,
            seed: None,
            frequency_penalty: None,
            presence_penalty: None,
            response_format: None,
            tools: Vec::new(),
            tool_choice: None,
            strict_tools: None,
            thinking: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}"#
        );
    }
}
