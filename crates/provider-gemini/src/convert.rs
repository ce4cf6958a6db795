//! Core requests to Gemini's wire shape, and Gemini answers back to core terms.

use std::borrow::Cow;
use std::collections::HashMap;

use llmpool_core::{
    ChatRequest, ContentPart, ErrorKind, FinishReason, Message, ProviderError, ResponseFormat,
    Role, ToolCall, Usage,
};

use crate::wire::{
    Blob, Content, FileData, GenerateContentRequest, GenerateContentResponse, GenerationConfig,
    Part, ResponsePart, SystemInstruction, TextPart, ThinkingConfig, UsageMetadata,
};
use crate::{ID, signature, tools};

/// Gemini accepts at most this many `stopSequences`.
pub(crate) const MAX_STOP_SEQUENCES: usize = 5;

/// The optional request fields this crate maps to Gemini. Every other field a request
/// sets is left out and reported when droppable (`user`, `logprobs`,
/// `parallel_tool_calls`: Gemini has no control for it, …), else refused by name
/// (penalties, `logit_bias`, …).
const MAPPED_PARAMS: &[&str] = &[
    "temperature",
    "top_p",
    "max_completion_tokens",
    "stop",
    "seed",
    "response_format",
    "reasoning_effort",
    "tools",
    "tool_choice",
];

/// What a successful `generateContent` body says, in core terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub(crate) text: String,
    /// Thought summaries (only sent when the request set a reasoning effort).
    pub(crate) reasoning: Option<String>,
    /// The function calls of the answer, with ids that carry their signatures.
    pub(crate) tool_calls: Vec<ToolCall>,
    pub(crate) finish_reason: Option<FinishReason>,
    pub(crate) usage: Option<Usage>,
    pub(crate) model: String,
}

/// Gemma models reject `systemInstruction` ("Developer instruction is not enabled").
pub(crate) fn is_gemma(model: &str) -> bool {
    model.starts_with("gemma-")
}

/// Builds the request body for `model`.
///
/// - System messages (wherever they are) become one `systemInstruction`, their texts
///   joined by a blank line; for Gemma they are folded into the first user turn instead.
/// - `assistant` becomes `model`. Consecutive messages of one role are merged into one
///   turn (texts joined by a blank line), since `contents` are alternating turns; empty
///   messages are dropped (Gemini rejects empty text parts).
/// - A trailing assistant message stays the last `model` turn: Gemini continues it
///   (prefill) on the models the catalog marks so.
/// - More than five stop sequences is refused here as a bad request, not truncated:
///   Gemini would answer 400, and dropping some would let output run past a stop the
///   caller asked for.
///
/// Fields Gemini cannot take are refused by name before any call, or, when they do not
/// change the answer's meaning (`user`, `logprobs`, message `name`, …), left out and
/// pushed to `dropped`.
pub(crate) fn build_request(
    req: &ChatRequest,
    model: &str,
    dropped: &mut Vec<String>,
) -> Result<GenerateContentRequest, ProviderError> {
    req.check_params(ID, |f| MAPPED_PARAMS.contains(&f), dropped)?;
    req.dropped_message_fields(dropped);
    if req.stop.len() > MAX_STOP_SEQUENCES {
        return Err(
            ProviderError::new(ID, ErrorKind::BadRequest).with_message(format!(
                "gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences, the request has {}",
                req.stop.len()
            )),
        );
    }
    let (tools, tool_config) = tools::declarations(req, model)?;
    let (system, mut contents) = turns(req)?;
    tools::fill_missing_signatures(&mut contents, model);
    let system_text = (!system.is_empty()).then(|| system.join("\n\n"));
    let system_instruction = match system_text {
        Some(text) if is_gemma(model) => {
            fold_into_first_user_turn(&mut contents, text);
            None
        }
        Some(text) => Some(SystemInstruction {
            parts: vec![TextPart { text }],
        }),
        None => None,
    };
    if contents.is_empty() {
        return Err(ProviderError::new(ID, ErrorKind::BadRequest)
            .with_message("the request has no user or assistant message with text"));
    }
    let (response_mime_type, response_json_schema) = match &req.response_format {
        None | Some(ResponseFormat::Text) => (None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => (
            Some("application/json"),
            json_schema.schema.clone().map(strip_schema_keyword),
        ),
    };
    let config = GenerationConfig {
        temperature: req.temperature,
        max_output_tokens: req.max_tokens,
        top_p: req.top_p,
        stop_sequences: req.stop.clone(),
        seed: req.seed,
        response_mime_type,
        response_json_schema,
        thinking_config: req
            .reasoning_effort
            .as_deref()
            .map(|effort| thinking_config(model, effort))
            .transpose()?,
    };
    Ok(GenerateContentRequest {
        system_instruction,
        contents,
        generation_config: (!config.is_empty()).then_some(config),
        tools,
        tool_config,
    })
}

/// The system texts and the `user`/`model` turns of `req`'s messages.
///
/// Tool calls become `functionCall` parts of the `model` turn (after its text); tool
/// results become `functionResponse` parts, all results of one turn in one `user`
/// content, since Gemini wants as many of them there as the model turn had calls.
fn turns(req: &ChatRequest) -> Result<(Vec<Cow<'_, str>>, Vec<Content>), ProviderError> {
    let mut system: Vec<Cow<'_, str>> = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    // Call id -> function name, from the assistant turns seen so far.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, message) in req.messages.iter().enumerate() {
        let text = message_text(i, message)?;
        if message.content.has_image() {
            if message.role != Role::User {
                return Err(ProviderError::unsupported(
                    ID,
                    &format!("messages[{i}].content (images outside user messages)"),
                ));
            }
            let parts = image_message_parts(message.content.parts())?;
            push_parts(&mut contents, "user", parts);
            continue;
        }
        if message.role == Role::Tool {
            let part = tools::result_part(i, message, &text, &call_names)?;
            push_parts(&mut contents, "user", vec![part]);
            continue;
        }
        if !message.tool_calls.is_empty() {
            let mut parts = Vec::with_capacity(message.tool_calls.len() + 1);
            if !text.trim().is_empty() {
                parts.push(Part::text(text.into_owned()));
            }
            for (j, call) in message.tool_calls.iter().enumerate() {
                parts.push(tools::call_part(i, j, call)?);
                call_names.insert(call.id.as_str(), call.name.as_str());
            }
            push_parts(&mut contents, "model", parts);
            continue;
        }
        if text.trim().is_empty() {
            continue;
        }
        let role = match message.role {
            Role::System => {
                system.push(text);
                continue;
            }
            // Tool results were handled above.
            Role::User | Role::Tool => "user",
            Role::Assistant => "model",
        };
        match contents.last_mut() {
            Some(last) if last.role == role => append_text(last, &text),
            _ => contents.push(Content {
                role,
                parts: vec![Part::text(text.into_owned())],
            }),
        }
    }
    Ok((system, contents))
}

/// Appends `parts` to the last turn when it has `role`, else starts a turn.
fn push_parts(contents: &mut Vec<Content>, role: &'static str, parts: Vec<Part>) {
    match contents.last_mut() {
        Some(last) if last.role == role => last.parts.extend(parts),
        _ => contents.push(Content { role, parts }),
    }
}

/// The text of a message, refusing by name the parts Gemini cannot take: images it
/// does not read and non-text, non-image parts.
fn message_text(i: usize, message: &Message) -> Result<Cow<'_, str>, ProviderError> {
    if !message.tool_calls.is_empty() && message.role != Role::Assistant {
        return Err(ProviderError::unsupported(
            ID,
            &format!(
                "messages[{i}].tool_calls (on a `{}` message)",
                message.role.as_str()
            ),
        ));
    }
    for (j, part) in message.content.parts().iter().enumerate() {
        if let ContentPart::Image { image_url } = part {
            image_part(image_url).map_err(|why| {
                ProviderError::unsupported(ID, &format!("messages[{i}].content[{j}] ({why})"))
            })?;
        } else if !matches!(part, ContentPart::Text { .. }) {
            return Err(ProviderError::unsupported(
                ID,
                &format!("messages[{i}].content[{j}] (type `{}`)", part.kind()),
            ));
        }
    }
    Ok(message.content.text())
}

/// A schema for `responseJsonSchema`: Gemini rejects the root `$schema` keyword.
fn strip_schema_keyword(mut schema: serde_json::Value) -> serde_json::Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
    }
    schema
}

/// The parts of a user message with images, in order; text parts are kept as they are.
fn image_message_parts(parts: &[ContentPart]) -> Result<Vec<Part>, ProviderError> {
    parts
        .iter()
        .filter_map(|part| match part {
            ContentPart::Text { text } if text.trim().is_empty() => None,
            ContentPart::Text { text } => Some(Ok(Part::text(text.clone()))),
            ContentPart::Image { image_url } => Some(
                image_part(image_url)
                    .map_err(|why| ProviderError::unsupported(ID, &format!("image ({why})"))),
            ),
            // Refused by `message_text` before this is called.
            ContentPart::Other(_) => None,
        })
        .collect()
}

/// An image as Gemini takes it: a `data:` URL's payload inline, an `https:` URL as
/// `fileData` (Gemini fetches it; llmpool never downloads a client's URL). Gemini takes
/// PNG, JPEG, WebP, HEIC and HEIF, not GIF (capabilities.md §3.1).
fn image_part(image: &llmpool_core::ImageUrl) -> Result<Part, &'static str> {
    const TYPES: &[&str] = &[
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/heic",
        "image/heif",
    ];
    if let Some((mime, data)) = image.data() {
        if !TYPES.contains(&mime) {
            return Err("gemini takes png, jpeg, webp, heic or heif images");
        }
        return Ok(Part::Inline {
            inline_data: Blob {
                mime_type: mime.to_owned(),
                data: data.to_owned(),
            },
        });
    }
    if image.is_remote() {
        let path = image.url.split(['?', '#']).next().unwrap_or_default();
        let ext = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mime = match ext.as_str() {
            "png" => "image/png",
            "webp" => "image/webp",
            "gif" => return Err("gemini takes png, jpeg, webp, heic or heif images"),
            // What Google's own clients assume for an image URL without a known suffix.
            _ => "image/jpeg",
        };
        return Ok(Part::File {
            file_data: FileData {
                mime_type: mime.to_owned(),
                file_uri: image.url.clone(),
            },
        });
    }
    Err("an image must be a base64 data: URL or an https: URL")
}

fn append_text(content: &mut Content, text: &str) {
    match content.parts.last_mut() {
        Some(Part::Text(part)) => {
            part.text.push_str("\n\n");
            part.text.push_str(text);
        }
        _ => content.parts.push(Part::text(text)),
    }
}

/// Puts the system text in front of the first turn when that is a user turn, else in a
/// user turn of its own before everything (a conversation must start with the user).
fn fold_into_first_user_turn(contents: &mut Vec<Content>, system: String) {
    match contents.first_mut() {
        Some(first) if first.role == "user" => match first.parts.first_mut() {
            Some(Part::Text(part)) => part.text = format!("{system}\n\n{}", part.text),
            _ => first.parts.insert(0, Part::text(system)),
        },
        _ => contents.insert(
            0,
            Content {
                role: "user",
                parts: vec![Part::text(system)],
            },
        ),
    }
}

/// The answer text of a response: every non-thought text part of the first candidate.
pub(crate) fn candidate_text(resp: &GenerateContentResponse) -> String {
    resp.first_candidate()
        .and_then(|c| c.content.as_ref())
        .and_then(|c| c.parts.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|p| p.thought != Some(true))
        .filter_map(|p| p.text.as_deref())
        .collect()
}

/// The thought summaries of a response: every thought text part of the first candidate.
pub(crate) fn candidate_thoughts(resp: &GenerateContentResponse) -> String {
    resp.first_candidate()
        .and_then(|c| c.content.as_ref())
        .and_then(|c| c.parts.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|p| p.thought == Some(true))
        .filter_map(|p| p.text.as_deref())
        .collect()
}

/// The function call of a response part in core terms, the `index`-th call of the answer
/// `response_id`: arguments as a JSON text (`{}` when Gemini sent none), an id that
/// carries Gemini's id and signature (see [`crate::signature`]).
pub(crate) fn tool_call(
    part: &ResponsePart,
    response_id: Option<&str>,
    index: u32,
) -> Option<Result<ToolCall, ProviderError>> {
    let call = part.function_call.as_ref()?;
    let Some(name) = call.name.as_deref().filter(|n| !n.is_empty()) else {
        return Some(Err(ProviderError::new(ID, ErrorKind::InvalidResponse)
            .with_message("a functionCall part of the answer has no name")));
    };
    let arguments = match &call.args {
        None | Some(serde_json::Value::Null) => "{}".to_owned(),
        Some(args @ serde_json::Value::Object(_)) => args.to_string(),
        Some(_) => {
            return Some(Err(ProviderError::new(ID, ErrorKind::InvalidResponse)
                .with_message(format!(
                    "the args of the functionCall `{name}` in the answer are not an object"
                ))));
        }
    };
    let id = signature::call_id(
        call.id.as_deref().filter(|id| !id.is_empty()),
        part.thought_signature.as_deref().filter(|s| !s.is_empty()),
        || signature::nonce(response_id, index),
    );
    Some(Ok(ToolCall::new(id, name, arguments)))
}

/// The parts of the first candidate.
fn candidate_parts(resp: &GenerateContentResponse) -> &[ResponsePart] {
    resp.first_candidate()
        .and_then(|c| c.content.as_ref())
        .and_then(|c| c.parts.as_deref())
        .unwrap_or_default()
}

/// The function calls of a response (numbered from `first_index`), in order.
pub(crate) fn candidate_calls(
    resp: &GenerateContentResponse,
    first_index: u32,
) -> Result<Vec<ToolCall>, ProviderError> {
    (first_index..)
        .zip(
            candidate_parts(resp)
                .iter()
                .filter(|p| p.function_call.is_some()),
        )
        .filter_map(|(index, part)| tool_call(part, resp.response_id.as_deref(), index))
        .collect()
}

/// Finish reasons Gemini gives when the model botched function calling: errors, not
/// answers (capabilities.md §6.4).
pub(crate) fn is_tool_failure(raw: &str) -> bool {
    matches!(
        raw,
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" | "TOO_MANY_TOOL_CALLS"
    )
}

/// The error for such a finish reason.
pub(crate) fn tool_failure(raw: &str) -> ProviderError {
    ProviderError::new(ID, ErrorKind::InvalidResponse)
        .with_message(format!("gemini stopped without an answer: {raw}"))
}

/// `thinkingConfig` for an OpenAI `reasoning_effort` (capabilities.md §6.1): Gemini 3
/// takes a level (it cannot turn thinking off, and 3.7 rejects `MINIMAL`, so `none` and
/// `minimal` ask for `LOW`), Gemini 2.5 a token budget (0 = off, 24,576 the flash
/// maximum); thought summaries are asked for so they come back as reasoning. Other
/// models (Gemma) refuse the field by name.
fn thinking_config(model: &str, effort: &str) -> Result<ThinkingConfig, ProviderError> {
    let effort = effort.to_ascii_lowercase();
    if model.starts_with("gemini-2.5") {
        let budget = match effort.as_str() {
            "none" => 0,
            "minimal" | "low" => 1024,
            "medium" => 8192,
            _ => 24576,
        };
        return Ok(ThinkingConfig {
            include_thoughts: budget > 0,
            thinking_budget: Some(budget),
            thinking_level: None,
        });
    }
    if model.starts_with("gemini-3") || model.starts_with("gemini-flash") {
        let level = match effort.as_str() {
            "none" | "minimal" | "low" => "LOW",
            "medium" => "MEDIUM",
            _ => "HIGH",
        };
        return Ok(ThinkingConfig {
            include_thoughts: true,
            thinking_budget: None,
            thinking_level: Some(level),
        });
    }
    Err(ProviderError::unsupported(ID, "reasoning_effort"))
}

/// Gemini's `finishReason` in core terms. Every block reason maps to `ContentFilter`;
/// anything unknown keeps Gemini's own word.
pub(crate) fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Usage in core terms: completion = candidates + thoughts (what Google bills as output);
/// total as reported.
pub(crate) fn usage(meta: &UsageMetadata) -> Usage {
    let prompt = meta.prompt_token_count.unwrap_or(0);
    // Saturating: the counts are whatever the upstream sent.
    let completion = meta
        .candidates_token_count
        .unwrap_or(0)
        .saturating_add(meta.thoughts_token_count.unwrap_or(0));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: meta
            .total_token_count
            .unwrap_or(prompt.saturating_add(completion)),
    }
}

/// The prompt's block reason, when Gemini refused the prompt itself.
pub(crate) fn block_reason(resp: &GenerateContentResponse) -> Option<&str> {
    resp.prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_deref())
}

/// A refusal: the prompt (or the answer) was blocked and no text came back.
pub(crate) fn content_filtered(what: &str, reason: &str) -> ProviderError {
    ProviderError::new(ID, ErrorKind::ContentFiltered)
        .with_message(format!("gemini blocked the {what}: {reason}"))
}

/// A complete `generateContent` answer, or the reason it cannot be used.
pub(crate) fn answer(
    resp: &GenerateContentResponse,
    requested_model: &str,
) -> Result<Answer, ProviderError> {
    let text = candidate_text(resp);
    if text.is_empty()
        && let Some(reason) = block_reason(resp)
    {
        return Err(content_filtered("prompt", reason));
    }
    let Some(candidate) = resp.first_candidate() else {
        return Err(ProviderError::new(ID, ErrorKind::InvalidResponse)
            .with_message("the response has no candidates"));
    };
    let tool_calls = candidate_calls(resp, 0)?;
    let raw_finish = candidate.finish_reason.as_deref();
    let mut finish = raw_finish.map(finish_reason);
    if !tool_calls.is_empty() && matches!(finish, None | Some(FinishReason::Stop)) {
        // Gemini says STOP for an answer that calls functions.
        finish = Some(FinishReason::ToolCalls);
    }
    if text.is_empty() && tool_calls.is_empty() {
        if let Some(raw) = raw_finish.filter(|r| is_tool_failure(r)) {
            return Err(tool_failure(raw));
        }
        match (&finish, raw_finish) {
            (Some(FinishReason::ContentFilter), Some(raw)) => {
                return Err(content_filtered("answer", raw));
            }
            (None, _) => {
                return Err(ProviderError::new(ID, ErrorKind::InvalidResponse)
                    .with_message("the candidate has neither text nor a finishReason"));
            }
            _ => {}
        }
    }
    Ok(Answer {
        text,
        reasoning: Some(candidate_thoughts(resp)).filter(|t| !t.is_empty()),
        tool_calls,
        finish_reason: finish,
        usage: resp.usage_metadata.as_ref().map(usage),
        model: resp
            .model_version
            .clone()
            .unwrap_or_else(|| requested_model.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use llmpool_core::Message;
    use serde_json::{Value, json};

    use super::*;

    fn body(req: &ChatRequest, model: &str) -> Value {
        let wire = build_request(req, model, &mut Vec::new()).unwrap();
        serde_json::from_str(&serde_json::to_string(&wire).unwrap()).unwrap()
    }

    fn parse(text: &str) -> GenerateContentResponse {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn usage_sums_saturate() {
        // Found by `cargo xtask fuzz`: counts near u64::MAX overflowed the sums.
        let meta = UsageMetadata {
            prompt_token_count: Some(u64::MAX),
            candidates_token_count: Some(u64::MAX),
            thoughts_token_count: Some(2),
            total_token_count: None,
        };
        let u = usage(&meta);
        assert_eq!((u.completion_tokens, u.total_tokens), (u64::MAX, u64::MAX));
    }

    #[test]
    fn system_roles_merging_and_empty_messages() {
        let req = ChatRequest::new(vec![
            Message::system("Be terse."),
            Message::user("a"),
            Message::user("b"),
            Message::assistant(""),
            Message::system("Answer in French."),
            Message::assistant("c"),
        ]);
        assert_eq!(
            body(&req, "gemini-2.5-flash"),
            json!({
                "systemInstruction": {"parts": [{"text": "Be terse.\n\nAnswer in French."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "a\n\nb"}]},
                    {"role": "model", "parts": [{"text": "c"}]}
                ]
            })
        );
    }

    #[test]
    fn gemma_folds_the_system_prompt() {
        let req = ChatRequest::new(vec![Message::system("S"), Message::user("U")]);
        assert_eq!(
            body(&req, "gemma-3-27b-it"),
            json!({"contents": [{"role": "user", "parts": [{"text": "S\n\nU"}]}]})
        );
        let req = ChatRequest::new(vec![Message::system("S"), Message::assistant("A")]);
        assert_eq!(
            body(&req, "gemma-3-4b-it")["contents"],
            json!([
                {"role": "user", "parts": [{"text": "S"}]},
                {"role": "model", "parts": [{"text": "A"}]}
            ])
        );
    }

    #[test]
    fn stop_sequences_are_limited_to_five() {
        let mut req = ChatRequest::from_user("x");
        req.stop = (0..5).map(|i| i.to_string()).collect();
        assert_eq!(
            body(&req, "m")["generationConfig"]["stopSequences"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        req.stop.push("5".into());
        let err = build_request(&req, "m", &mut Vec::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
        assert!(err.message.unwrap().contains("at most 5"));
    }

    #[test]
    fn a_request_without_text_is_refused() {
        let req = ChatRequest::new(vec![Message::user("  ")]);
        assert!(matches!(
            build_request(&req, "m", &mut Vec::new()).unwrap_err().kind,
            ErrorKind::BadRequest
        ));
    }

    #[test]
    fn thoughts_are_reasoning_not_text_and_usage_adds_them() {
        let resp = parse(
            r#"{"candidates":[{"content":{"parts":[{"text":"think","thought":true},{"text":"Hel"},{"text":"lo","thoughtSignature":"x"}]},"finishReason":"MAX_TOKENS"}],
               "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"thoughtsTokenCount":17,"totalTokenCount":22}}"#,
        );
        let a = answer(&resp, "asked").unwrap();
        assert_eq!(a.text, "Hello");
        assert_eq!(a.reasoning.as_deref(), Some("think"));
        assert_eq!(a.finish_reason, Some(FinishReason::Length));
        assert_eq!(
            a.usage,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 19,
                total_tokens: 22
            })
        );
        assert_eq!(a.model, "asked");
    }

    #[test]
    fn blocked_prompts_and_answers_are_refusals() {
        let blocked = parse(r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}"#);
        let err = answer(&blocked, "m").unwrap_err();
        assert!(matches!(err.kind, ErrorKind::ContentFiltered));
        assert_eq!(
            err.message.as_deref(),
            Some("gemini blocked the prompt: PROHIBITED_CONTENT")
        );
        let safety = parse(r#"{"candidates":[{"finishReason":"SAFETY"}]}"#);
        assert!(matches!(
            answer(&safety, "m").unwrap_err().kind,
            ErrorKind::ContentFiltered
        ));
        let partial = parse(
            r#"{"candidates":[{"content":{"parts":[{"text":"par"}]},"finishReason":"SAFETY"}]}"#,
        );
        assert_eq!(
            answer(&partial, "m").unwrap().finish_reason,
            Some(FinishReason::ContentFilter)
        );
    }

    #[test]
    fn empty_answers_are_invalid() {
        for text in [
            r#"{"candidates":[]}"#,
            r"{}",
            r#"{"candidates":[{"content":{}}]}"#,
        ] {
            assert!(
                matches!(
                    answer(&parse(text), "m").unwrap_err().kind,
                    ErrorKind::InvalidResponse
                ),
                "{text}"
            );
        }
        // Thinking models can spend the whole budget on thoughts: a real, empty answer.
        let spent = parse(r#"{"candidates":[{"content":{},"finishReason":"MAX_TOKENS"}]}"#);
        assert_eq!(answer(&spent, "m").unwrap().text, "");
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason("STOP"), FinishReason::Stop);
        assert_eq!(finish_reason("RECITATION"), FinishReason::ContentFilter);
        assert_eq!(
            finish_reason("MALFORMED_FUNCTION_CALL"),
            FinishReason::Other("MALFORMED_FUNCTION_CALL".into())
        );
    }

    #[test]
    fn json_formats_map_and_unmapped_features_are_refused_by_name() {
        use llmpool_core::{ContentPart, Message, Tool};
        use serde_json::json;

        let mut req = ChatRequest::from_user("where?")
            .with_json_schema("place", json!({"$schema": "x", "type": "object"}));
        req.seed = Some(7);
        req.user = Some("u".into());
        req.logprobs = Some(true);
        let mut dropped = Vec::new();
        let wire = build_request(&req, "gemini-2.5-flash", &mut dropped).unwrap();
        let body = serde_json::to_value(&wire).unwrap();
        assert_eq!(
            body["generationConfig"],
            json!({"seed": 7, "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}})
        );
        assert_eq!(dropped, vec!["logprobs", "user"]);

        // Tools are mapped; Gemma 3 has no function calling and refuses them by name.
        let tools = ChatRequest::from_user("x").with_tool(Tool::function("f", "f", json!({})));
        assert!(build_request(&tools, "gemini-2.5-flash", &mut Vec::new()).is_ok());
        assert!(build_request(&tools, "gemma-4-26b-a4b-it", &mut Vec::new()).is_ok());
        let err = build_request(&tools, "gemma-3-27b-it", &mut Vec::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
        assert!(err.message.unwrap().contains("`tools`"));

        let image = ChatRequest::new(vec![Message::user(vec![
            ContentPart::text("what is it?"),
            ContentPart::image_url("data:image/png;base64,AA"),
            ContentPart::image_url("https://example.com/cat.webp?x=1"),
        ])]);
        let body =
            serde_json::to_value(build_request(&image, "m", &mut Vec::new()).unwrap()).unwrap();
        assert_eq!(
            body["contents"][0]["parts"],
            json!([{"text": "what is it?"},
                   {"inlineData": {"mimeType": "image/png", "data": "AA"}},
                   {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?x=1"}}])
        );
        let gif = ChatRequest::new(vec![Message::user(vec![ContentPart::image_url(
            "data:image/gif;base64,AA",
        )])]);
        let err = build_request(&gif, "m", &mut Vec::new()).unwrap_err();
        assert!(err.message.unwrap().contains("messages[0].content[0]"));

        let mut penalty = ChatRequest::from_user("x");
        penalty.frequency_penalty = Some(0.5);
        let err = build_request(&penalty, "m", &mut Vec::new()).unwrap_err();
        assert!(err.message.unwrap().contains("`frequency_penalty`"));
    }

    #[test]
    fn reasoning_effort_becomes_a_level_or_a_budget() {
        let mut req = ChatRequest::from_user("x");
        req.reasoning_effort = Some("high".into());
        let config = |model: &str| {
            serde_json::to_value(build_request(&req, model, &mut Vec::new()).unwrap()).unwrap()
                ["generationConfig"]["thinkingConfig"]
                .clone()
        };
        assert_eq!(
            config("gemini-2.5-flash"),
            serde_json::json!({"includeThoughts": true, "thinkingBudget": 24576})
        );
        assert_eq!(
            config("gemini-3.1-flash-lite"),
            serde_json::json!({"includeThoughts": true, "thinkingLevel": "HIGH"})
        );
        let err = build_request(&req, "gemma-3-27b-it", &mut Vec::new()).unwrap_err();
        assert!(err.message.unwrap().contains("`reasoning_effort`"));
    }

    fn tool_request(choice: Option<llmpool_core::ToolChoice>) -> ChatRequest {
        let mut req = ChatRequest::from_user("weather?").with_tool(llmpool_core::Tool::function(
            "get_weather",
            "Get the weather.",
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                   "properties": {"city": {"type": "string"}}, "additionalProperties": false}),
        ));
        req.tool_choice = choice;
        req
    }

    #[test]
    fn tool_choice_maps_to_function_calling_modes() {
        use llmpool_core::ToolChoice;
        let mode = |choice| body(&tool_request(choice), "gemini-2.5-flash")["toolConfig"].clone();
        assert_eq!(mode(None), Value::Null);
        assert_eq!(
            mode(Some(ToolChoice::Auto)),
            json!({"functionCallingConfig": {"mode": "AUTO"}})
        );
        assert_eq!(
            mode(Some(ToolChoice::None)),
            json!({"functionCallingConfig": {"mode": "NONE"}})
        );
        assert_eq!(
            mode(Some(ToolChoice::Required)),
            json!({"functionCallingConfig": {"mode": "ANY"}})
        );
        assert_eq!(
            mode(Some(ToolChoice::Function("get_weather".into()))),
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        );
        let mut strict = tool_request(None);
        strict.tools[0].strict = Some(true);
        assert_eq!(
            body(&strict, "gemini-2.5-flash")["toolConfig"],
            json!({"functionCallingConfig": {"mode": "VALIDATED"}})
        );
        // The schema goes as JSON Schema, only the root `$schema` removed.
        assert_eq!(
            body(&tool_request(None), "m")["tools"],
            json!([{"functionDeclarations": [{"name": "get_weather", "description": "Get the weather.",
                "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}}]}])
        );
        let err = build_request(
            &tool_request(Some(ToolChoice::Function("other".into()))),
            "m",
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.message.unwrap().contains("`other`"));
        let mut no_tools = ChatRequest::from_user("x");
        no_tools.tool_choice = Some(ToolChoice::Required);
        let err = build_request(&no_tools, "m", &mut Vec::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
        assert!(err.message.unwrap().contains("`tool_choice`"));
        let mut bad_name = tool_request(None);
        bad_name.tools[0].name = "1st".into();
        let err = build_request(&bad_name, "m", &mut Vec::new()).unwrap_err();
        assert!(err.message.unwrap().contains("tools[0].function.name"));
    }

    #[test]
    fn parallel_tool_calls_is_dropped_and_reported() {
        let mut req = tool_request(None);
        req.parallel_tool_calls = Some(false);
        let mut dropped = Vec::new();
        build_request(&req, "m", &mut dropped).unwrap();
        assert_eq!(dropped, ["parallel_tool_calls"]);
    }

    #[test]
    fn json_with_tools_is_refused_where_gemini_refuses_it() {
        use llmpool_core::ToolChoice;
        let mut req = tool_request(None);
        req.response_format = Some(ResponseFormat::JsonObject);
        let err = build_request(&req, "gemini-2.5-flash", &mut Vec::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
        let message = err.message.unwrap();
        assert!(
            message.contains("`tools`") && message.contains("`response_format`"),
            "{message}"
        );
        assert!(build_request(&req, "gemini-3.1-flash-lite", &mut Vec::new()).is_ok());
        req.tool_choice = Some(ToolChoice::Required);
        let err = build_request(&req, "gemini-3.1-flash-lite", &mut Vec::new()).unwrap_err();
        let message = err.message.unwrap();
        assert!(
            message.contains("`tool_choice`") && message.contains("`response_format`"),
            "{message}"
        );
    }

    fn history(calls: Vec<ToolCall>, results: &[(&str, &str)]) -> ChatRequest {
        let mut messages = vec![
            Message::user("weather in SF and Tokyo?"),
            Message::assistant_tool_calls("", calls),
        ];
        for (id, content) in results {
            let mut m = Message::new(Role::Tool, *content);
            m.tool_call_id = Some((*id).to_owned());
            messages.push(m);
        }
        messages.push(Message::user("thanks"));
        ChatRequest::new(messages)
    }

    #[test]
    fn tool_results_of_one_turn_become_one_user_content() {
        let signed = signature::call_id(Some("g1"), Some("sig"), || unreachable!());
        let req = history(
            vec![
                ToolCall::new(&signed, "get_weather", r#"{"city":"SF"}"#),
                ToolCall::new("toolu_x", "get_weather", ""),
            ],
            &[(&signed, r#"{"temp_c":17}"#), ("toolu_x", "sunny")],
        );
        let contents = body(&req, "gemini-3.1-flash-lite")["contents"].clone();
        assert_eq!(
            contents,
            json!([
                {"role": "user", "parts": [{"text": "weather in SF and Tokyo?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"id": "g1", "name": "get_weather", "args": {"city": "SF"}}, "thoughtSignature": "sig"},
                    {"functionCall": {"id": "toolu_x", "name": "get_weather", "args": {}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"id": "g1", "name": "get_weather", "response": {"name": "get_weather", "content": {"temp_c": 17}}}},
                    {"functionResponse": {"id": "toolu_x", "name": "get_weather", "response": {"name": "get_weather", "content": "sunny"}}},
                    {"text": "thanks"}
                ]}
            ])
        );
    }

    #[test]
    fn calls_from_another_provider_get_the_placeholder_signature_on_gemini_3() {
        let req = history(
            vec![ToolCall::new("call_abc", "f", "{}")],
            &[("call_abc", "ok")],
        );
        let on = |model| body(&req, model)["contents"][1]["parts"][0].clone();
        assert_eq!(
            on("gemini-3.1-flash-lite"),
            json!({"functionCall": {"id": "call_abc", "name": "f", "args": {}}, "thoughtSignature": "skip_thought_signature_validator"})
        );
        assert_eq!(
            on("gemini-2.5-flash"),
            json!({"functionCall": {"id": "call_abc", "name": "f", "args": {}}})
        );
    }

    #[test]
    fn broken_tool_history_is_a_bad_request_naming_the_message() {
        let bad_args = history(vec![ToolCall::new("c1", "f", "{nope")], &[("c1", "x")]);
        let err = build_request(&bad_args, "m", &mut Vec::new()).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::BadRequest));
        let message = err.message.unwrap();
        assert!(
            message.contains("messages[1].tool_calls[0]") && message.contains("`c1`"),
            "{message}"
        );
        let not_object = history(vec![ToolCall::new("c1", "f", "[1]")], &[("c1", "x")]);
        let err = build_request(&not_object, "m", &mut Vec::new()).unwrap_err();
        assert!(err.message.unwrap().contains("not a JSON object"));
        let orphan = history(vec![ToolCall::new("c1", "f", "{}")], &[("c2", "x")]);
        let err = build_request(&orphan, "m", &mut Vec::new()).unwrap_err();
        let message = err.message.unwrap();
        assert!(
            message.contains("messages[2].tool_call_id `c2`"),
            "{message}"
        );
        let mut no_id = history(vec![ToolCall::new("c1", "f", "{}")], &[("c1", "x")]);
        no_id.messages[2].tool_call_id = None;
        let err = build_request(&no_id, "m", &mut Vec::new()).unwrap_err();
        assert!(
            err.message
                .unwrap()
                .contains("messages[2] (role `tool`) has no `tool_call_id`")
        );
    }

    #[test]
    fn answers_with_function_calls() {
        let resp = parse(
            r#"{"candidates":[{"content":{"parts":[{"text":"Checking."},
                {"functionCall":{"name":"f","args":{"a":[1]},"id":"g1"},"thoughtSignature":"sig"},
                {"functionCall":{"name":"g"}}]},"finishReason":"STOP"}],"responseId":"resp"}"#,
        );
        let a = answer(&resp, "m").unwrap();
        assert_eq!(a.text, "Checking.");
        assert_eq!(a.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(a.tool_calls.len(), 2);
        assert_eq!(
            signature::replay(&a.tool_calls[0].id),
            signature::Replay {
                id: Some("g1".into()),
                signature: Some("sig".into())
            }
        );
        assert_eq!(a.tool_calls[0].arguments, r#"{"a":[1]}"#);
        assert_eq!(a.tool_calls[1], ToolCall::new("call_resp_1", "g", "{}"));
        let not_object = parse(
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[1]}}]},"finishReason":"STOP"}]}"#,
        );
        let err = answer(&not_object, "m").unwrap_err();
        assert!(matches!(err.kind, ErrorKind::InvalidResponse));
        assert!(err.message.unwrap().contains("`f`"));
        let malformed = parse(r#"{"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL"}]}"#);
        let err = answer(&malformed, "m").unwrap_err();
        assert!(matches!(err.kind, ErrorKind::InvalidResponse));
        assert!(err.message.unwrap().contains("MALFORMED_FUNCTION_CALL"));
    }
}
