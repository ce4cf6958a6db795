//! Core requests to Cohere's wire shape and Cohere's answers back to core types.

use std::time::Duration;

use llmpool_core::{
    ChatRequest, ChatResponse, ContentPart, ErrorKind, FinishReason, Message, ProviderError,
    RateLimitSnapshot, ResponseFormat, Role, Usage,
};

use crate::ID;
use crate::errors;
use crate::wire::{
    ChatBody, ChatResponseBody, CohereFunction, CohereTool, ResponseFormatV2, Thinking,
    TokenCounts, WireMessage, WireUsage,
};
use llmpool_core::{ToolCall, ToolChoice};
use llmpool_openai_compat::wire::WireToolCall;

/// The optional request fields this crate maps to Cohere today. Every other field a
/// request sets is left out and reported when droppable (Cohere rejects unknown fields
/// with 422), else refused by name (`logit_bias`, … until they are mapped).
const MAPPED_PARAMS: &[&str] = &[
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "max_completion_tokens",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
    "reasoning_effort",
];

/// Cohere accepts at most this many stop sequences.
pub(crate) const MAX_STOP_SEQUENCES: usize = 5;
/// Cohere's `temperature` range is 0..=1 (not OpenAI's 0..=2).
const TEMPERATURE_RANGE: (f32, f32) = (0.0, 1.0);
/// Cohere's `p` range is 0.01..=0.99.
const P_RANGE: (f32, f32) = (0.01, 0.99);

/// The wire body for `req` on `model`.
///
/// Parameters Cohere would reject with a 400 (and so spend one of the trial key's 1,000
/// monthly calls on) are handled here instead:
/// - `temperature` and `top_p` are clamped into Cohere's ranges (0..=1, 0.01..=0.99), so a
///   request written for OpenAI's 0..=2 scale still gets the closest answer Cohere can give
///   rather than failing on the one provider that is stricter; non-finite values are
///   dropped (Cohere's default applies);
/// - more than five stop sequences, or no message at all, cannot be expressed without
///   changing what the caller asked for, so they are a `BadRequest` and nothing is sent.
/// - fields Cohere cannot take are refused by name, or, when they do not change the
///   answer's meaning (`user`, `logprobs`, message `name`, …), left out and pushed to
///   `dropped`.
pub(crate) fn request_body<'a>(
    req: &'a ChatRequest,
    model: &'a str,
    stream: bool,
    dropped: &mut Vec<String>,
) -> Result<ChatBody<'a>, ProviderError> {
    req.check_params(ID, |f| MAPPED_PARAMS.contains(&f), dropped)?;
    req.dropped_message_fields(dropped);
    for (i, m) in req.messages.iter().enumerate() {
        check_message(i, m)?;
    }
    if !req.tools.is_empty()
        && req
            .response_format
            .as_ref()
            .is_some_and(|f| *f != ResponseFormat::Text)
    {
        // "not supported when used in combinations with the documents or tools
        // parameters" (Cohere's OpenAPI spec).
        return Err(ProviderError::unsupported(
            ID,
            "response_format (with tools)",
        ));
    }
    let (tools, tool_choice) = tools(req)?;
    if req.messages.is_empty() {
        return Err(bad_request("the request has no messages"));
    }
    if req.stop.len() > MAX_STOP_SEQUENCES {
        return Err(bad_request(format!(
            "cohere accepts at most {MAX_STOP_SEQUENCES} stop sequences, the request has {}",
            req.stop.len()
        )));
    }
    Ok(ChatBody {
        model,
        messages: req
            .messages
            .iter()
            .map(|m| WireMessage {
                role: m.role.as_str(),
                content: (!m.content.is_empty() || m.tool_calls.is_empty()).then_some(&m.content),
                tool_calls: m.tool_calls.iter().map(WireToolCall::from).collect(),
                tool_call_id: m.tool_call_id.as_deref(),
            })
            .collect(),
        temperature: clamp(req.temperature, TEMPERATURE_RANGE),
        max_tokens: req.max_tokens,
        p: clamp(req.top_p, P_RANGE),
        stop_sequences: &req.stop,
        stream,
        seed: req.seed,
        frequency_penalty: req.frequency_penalty,
        presence_penalty: req.presence_penalty,
        response_format: match &req.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(ResponseFormatV2 {
                kind: "json_object",
                json_schema: None,
            }),
            // Cohere has no `name`/`strict`: the schema alone constrains the answer.
            Some(ResponseFormat::JsonSchema { json_schema }) => Some(ResponseFormatV2 {
                kind: "json_object",
                json_schema: json_schema.schema.as_ref(),
            }),
        },
        strict_tools: req
            .tools
            .iter()
            .any(|t| t.strict == Some(true))
            .then_some(true),
        tools,
        tool_choice,
        thinking: req.reasoning_effort.as_deref().map(thinking),
    })
}

/// Cohere's `thinking` for an OpenAI reasoning effort (capabilities.md §6.1): `none`
/// turns reasoning off, any other effort turns it on (Cohere has no levels). Capability
/// routing sends an effort other than `none` only to models whose catalog entry says
/// `reasoning`; how a model without reasoning answers `thinking` is not documented.
fn thinking(effort: &str) -> Thinking {
    Thinking {
        kind: if effort == "none" {
            "disabled"
        } else {
            "enabled"
        },
    }
}

fn cohere_tool(t: &llmpool_core::Tool) -> CohereTool<'_> {
    CohereTool {
        kind: "function",
        function: CohereFunction {
            name: &t.name,
            description: t.description.as_deref(),
            parameters: t.parameters.as_ref(),
        },
    }
}

/// Cohere's `tools` and `tool_choice`: no `auto` word (absent means auto), and no named
/// choice, which is sent as that one tool, required (as Vercel's provider does).
fn tools(req: &ChatRequest) -> Result<(Vec<CohereTool<'_>>, Option<&'static str>), ProviderError> {
    let wire = cohere_tool;
    Ok(match &req.tool_choice {
        None | Some(ToolChoice::Auto) => (req.tools.iter().map(wire).collect(), None),
        Some(ToolChoice::None) => (req.tools.iter().map(wire).collect(), Some("NONE")),
        Some(ToolChoice::Required) => (req.tools.iter().map(wire).collect(), Some("REQUIRED")),
        Some(ToolChoice::Function(name)) => {
            let Some(tool) = req.tools.iter().find(|t| t.name == *name) else {
                return Err(
                    ProviderError::new(ID, ErrorKind::BadRequest).with_message(format!(
                        "`tool_choice` names `{name}`, which is not among `tools`"
                    )),
                );
            };
            (vec![wire(tool)], Some("REQUIRED"))
        }
    })
}

/// Refuses by name parts other than text and images (Cohere takes OpenAI's `image_url`
/// parts as they are, `https:` URLs included: Cohere fetches them itself) and images
/// outside user messages.
fn check_message(i: usize, m: &Message) -> Result<(), ProviderError> {
    if m.role != Role::User && m.content.has_image() {
        return Err(ProviderError::unsupported(
            ID,
            &format!("messages[{i}].content (images outside user messages)"),
        ));
    }
    for (j, part) in m.content.parts().iter().enumerate() {
        if let ContentPart::Other(_) = part {
            return Err(ProviderError::unsupported(
                ID,
                &format!("messages[{i}].content[{j}] (type `{}`)", part.kind()),
            ));
        }
    }
    Ok(())
}

/// A parsed one-shot answer as a [`ChatResponse`]: the text of every `text` block
/// (`thinking` blocks become the reasoning), the finish reason, and the usage.
pub(crate) fn response(
    body: ChatResponseBody,
    model: &str,
    latency: Duration,
    rate_limits: RateLimitSnapshot,
) -> Result<ChatResponse, ProviderError> {
    let ChatResponseBody {
        message,
        finish_reason: raw_finish,
        usage: wire_usage,
    } = body;
    let finish = match raw_finish.as_deref() {
        Some(raw) => Some(finish_reason(raw, None)?),
        None => None,
    };
    let mut text = String::new();
    let mut reasoning: Option<String> = None;
    let mut tool_calls: Vec<ToolCall> = Vec::new();
    if let Some(m) = message {
        // The plan before the calls has no OpenAI slot; it is the model's reasoning.
        if let Some(plan) = m.tool_plan.filter(|p| !p.is_empty()) {
            reasoning.get_or_insert_with(String::new).push_str(&plan);
        }
        tool_calls.extend(m.tool_calls.into_iter().map(ToolCall::from));
        for block in m.content {
            match (block.kind.as_str(), block.text, block.thinking) {
                ("text", Some(t), _) => text.push_str(&t),
                ("thinking", _, Some(t)) => reasoning.get_or_insert_with(String::new).push_str(&t),
                _ => {}
            }
        }
    }
    if text.is_empty() && tool_calls.is_empty() {
        return Err(errors::invalid_response(format!(
            "the answer has no text content (finish_reason {})",
            raw_finish.as_deref().unwrap_or("absent")
        )));
    }
    Ok(ChatResponse {
        text,
        reasoning,
        tool_calls,
        finish_reason: finish,
        usage: wire_usage.as_ref().and_then(usage),
        provider: ID,
        model: model.to_owned(),
        latency,
        rate_limits,
        ..ChatResponse::default()
    })
}

/// Cohere's finish reason in core terms; `ERROR` and `TIMEOUT` (sent with HTTP 200) are
/// failures, with `detail` as the upstream's explanation when it gave one.
pub(crate) fn finish_reason(
    raw: &str,
    detail: Option<&str>,
) -> Result<FinishReason, ProviderError> {
    match raw {
        "COMPLETE" | "STOP_SEQUENCE" => Ok(FinishReason::Stop),
        "MAX_TOKENS" => Ok(FinishReason::Length),
        "TOOL_CALL" => Ok(FinishReason::ToolCalls),
        "ERROR" | "TIMEOUT" => Err(errors::failed_generation(raw, detail)),
        other => Ok(FinishReason::Other(other.to_owned())),
    }
}

/// Usage from `usage.tokens` (what the model processed, which is what context windows and
/// token-per-minute limits count), falling back to `usage.billed_units`.
pub(crate) fn usage(u: &WireUsage) -> Option<Usage> {
    let counts: &TokenCounts = u
        .tokens
        .as_ref()
        .filter(|t| !t.is_empty())
        .or(u.billed_units.as_ref().filter(|b| !b.is_empty()))?;
    Some(Usage::new(
        counts.input_tokens.unwrap_or(0),
        counts.output_tokens.unwrap_or(0),
    ))
}

fn clamp(value: Option<f32>, (low, high): (f32, f32)) -> Option<f32> {
    value.filter(|v| v.is_finite()).map(|v| v.clamp(low, high))
}

fn bad_request(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ID, ErrorKind::BadRequest).with_message(message)
}

#[cfg(test)]
mod tests {
    use llmpool_core::Message;

    use super::*;

    fn parse(json: &str) -> ChatResponseBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parameters_are_clamped_into_cohere_ranges() {
        let mut req = ChatRequest::from_user("hi");
        req.temperature = Some(1.7);
        req.top_p = Some(1.0);
        let body = request_body(&req, "m", false, &mut Vec::new()).unwrap();
        assert_eq!(body.temperature, Some(1.0));
        assert_eq!(body.p, Some(0.99));
        req.temperature = Some(-0.5);
        req.top_p = Some(0.0);
        let body = request_body(&req, "m", false, &mut Vec::new()).unwrap();
        assert_eq!(body.temperature, Some(0.0));
        assert_eq!(body.p, Some(0.01));
        req.temperature = Some(0.3);
        req.top_p = Some(f32::NAN);
        let body = request_body(&req, "m", true, &mut Vec::new()).unwrap();
        assert_eq!(body.temperature, Some(0.3));
        assert_eq!(body.p, None);
        assert!(body.stream);
    }

    #[test]
    fn unsendable_requests_are_refused_locally() {
        let mut req = ChatRequest::from_user("hi");
        req.stop = (0..6).map(|i| i.to_string()).collect();
        let err = request_body(&req, "m", false, &mut Vec::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
        assert!(err.message.unwrap().contains("at most 5"));
        req.stop.truncate(5);
        assert!(request_body(&req, "m", false, &mut Vec::new()).is_ok());
        let err = request_body(&ChatRequest::default(), "m", false, &mut Vec::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
    }

    #[test]
    fn reasoning_effort_turns_thinking_on_or_off() {
        let thinking = |effort: Option<&str>| {
            let mut req = ChatRequest::from_user("hi");
            req.reasoning_effort = effort.map(str::to_owned);
            let mut dropped = Vec::new();
            let body = serde_json::to_value(request_body(&req, "m", false, &mut dropped).unwrap())
                .unwrap();
            assert!(dropped.is_empty(), "{dropped:?}");
            body.get("thinking").cloned()
        };
        assert_eq!(thinking(None), None);
        assert_eq!(
            thinking(Some("none")),
            Some(serde_json::json!({"type": "disabled"}))
        );
        for effort in ["minimal", "low", "medium", "high"] {
            assert_eq!(
                thinking(Some(effort)),
                Some(serde_json::json!({"type": "enabled"})),
                "{effort}"
            );
        }
    }

    #[test]
    fn roles_keep_their_order() {
        let req = ChatRequest::new(vec![
            Message::system("s"),
            Message::user("u"),
            Message::assistant("a"),
        ]);
        let body = request_body(&req, "m", false, &mut Vec::new()).unwrap();
        let roles: Vec<_> = body.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
    }

    #[test]
    fn finish_reasons_map_and_errors_fail() {
        assert_eq!(finish_reason("COMPLETE", None).unwrap(), FinishReason::Stop);
        assert_eq!(
            finish_reason("STOP_SEQUENCE", None).unwrap(),
            FinishReason::Stop
        );
        assert_eq!(
            finish_reason("MAX_TOKENS", None).unwrap(),
            FinishReason::Length
        );
        assert_eq!(
            finish_reason("TOOL_CALL", None).unwrap(),
            FinishReason::ToolCalls
        );
        assert_eq!(
            finish_reason("NEW_REASON", None).unwrap(),
            FinishReason::Other("NEW_REASON".into())
        );
        for raw in ["ERROR", "TIMEOUT"] {
            let err = finish_reason(raw, Some("boom")).unwrap_err();
            assert!(matches!(err.kind, ErrorKind::Transient { status: None }));
            assert_eq!(err.status, Some(200));
            assert!(err.message.unwrap().ends_with(&format!("{raw}: boom")));
        }
    }

    #[test]
    fn usage_prefers_processed_tokens_then_billed_units() {
        let both = parse(
            r#"{"usage":{"billed_units":{"input_tokens":12,"output_tokens":7},"tokens":{"input_tokens":507,"output_tokens":10}}}"#,
        );
        assert_eq!(usage(&both.usage.unwrap()), Some(Usage::new(507, 10)));
        let billed = parse(r#"{"usage":{"billed_units":{"input_tokens":12,"output_tokens":7}}}"#);
        assert_eq!(usage(&billed.usage.unwrap()), Some(Usage::new(12, 7)));
        let empty = parse(r#"{"usage":{"tokens":{},"cached_tokens":3}}"#);
        assert_eq!(usage(&empty.usage.unwrap()), None);
    }

    #[test]
    fn thinking_blocks_are_reasoning_and_empty_answers_fail() {
        let body = parse(
            r#"{"message":{"content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"4"}]},"finish_reason":"COMPLETE"}"#,
        );
        let r = response(body, "m", Duration::ZERO, RateLimitSnapshot::default()).unwrap();
        assert_eq!(r.text, "4");
        assert_eq!(r.reasoning.as_deref(), Some("hmm"));
        assert_eq!(r.usage, None);
        let body = parse(
            r#"{"message":{"content":[{"type":"thinking","thinking":"hmm"}]},"finish_reason":"MAX_TOKENS"}"#,
        );
        let err = response(body, "m", Duration::ZERO, RateLimitSnapshot::default()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::InvalidResponse));
        assert!(err.message.unwrap().contains("MAX_TOKENS"));
    }

    #[test]
    fn formats_images_and_tools_map_and_what_cohere_cannot_is_refused_by_name() {
        use llmpool_core::{ContentPart, Message, Tool};
        use serde_json::json;

        let mut req = ChatRequest::new(vec![Message::user(vec![
            ContentPart::text("what is it?"),
            ContentPart::image_url("https://cohere.com/favicon-32x32.png"),
        ])])
        .with_json_schema("thing", json!({"type": "object", "required": ["name"]}));
        req.user = Some("u".into());
        req.parallel_tool_calls = Some(true);
        let mut dropped = Vec::new();
        let body =
            serde_json::to_value(request_body(&req, "m", false, &mut dropped).unwrap()).unwrap();
        assert_eq!(
            body["response_format"],
            json!({"type": "json_object", "json_schema": {"type": "object", "required": ["name"]}})
        );
        assert_eq!(
            body["messages"][0]["content"][1],
            json!({"type": "image_url", "image_url": {"url": "https://cohere.com/favicon-32x32.png"}})
        );
        assert_eq!(dropped, vec!["parallel_tool_calls", "user"]);

        let tools = ChatRequest::from_user("x")
            .with_tool(Tool::function("f", "f", json!({"type": "object"})).strict(true))
            .with_tool(Tool::function("g", "g", json!({"type": "object"})))
            .with_tool_choice(llmpool_core::ToolChoice::Function("g".into()));
        let body = serde_json::to_value(request_body(&tools, "m", false, &mut Vec::new()).unwrap())
            .unwrap();
        assert_eq!(
            (&body["tools"], &body["tool_choice"], &body["strict_tools"]),
            (
                &json!([{"type": "function", "function": {"name": "g", "description": "g", "parameters": {"type": "object"}}}]),
                &json!("REQUIRED"),
                &json!(true)
            )
        );
        let both = tools.with_json_schema("x", json!({"type": "object"}));
        let err = request_body(&both, "m", false, &mut Vec::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
        assert!(
            err.message
                .unwrap()
                .contains("`response_format (with tools)`")
        );
        let mut bias = ChatRequest::from_user("x");
        bias.extra.insert("logit_bias".into(), json!({"1": 2}));
        let err = request_body(&bias, "m", false, &mut Vec::new()).unwrap_err();
        assert!(err.message.unwrap().contains("`logit_bias`"));
    }
}
