//! Gemini's native JSON shapes (`generateContent`, `google.rpc.Status` errors), private.
//!
//! Requests serialise exactly the fields we send. Responses are parsed tolerantly: every
//! field is optional, unknown fields are ignored, because Gemini omits zero counts and
//! empty objects and adds fields often.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of `models/{model}:generateContent` and `:streamGenerateContent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentRequest {
    /// System prompt; absent for Gemma, which rejects it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) system_instruction: Option<SystemInstruction>,
    /// The conversation as `user`/`model` turns.
    pub(crate) contents: Vec<Content>,
    /// Sampling parameters; absent when the caller set none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) generation_config: Option<GenerationConfig>,
    /// The functions the model may call (one `Tool` holding every declaration).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<ToolDeclarations>,
    /// How the model must use the functions; absent for the default (`AUTO`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_config: Option<ToolConfig>,
}

/// `{"functionDeclarations": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolDeclarations {
    pub(crate) function_declarations: Vec<FunctionDeclaration>,
}

/// One function the model may call. Its arguments go as JSON Schema
/// (`parametersJsonSchema`), never as the OpenAPI-subset `parameters`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionDeclaration {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Absent for a function without arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parameters_json_schema: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolConfig {
    pub(crate) function_calling_config: FunctionCallingConfig,
}

/// `functionCallingConfig`: `AUTO`, `VALIDATED`, `ANY` (optionally restricted to some
/// names) or `NONE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionCallingConfig {
    pub(crate) mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_function_names: Vec<String>,
}

/// `systemInstruction`: a content without a role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SystemInstruction {
    pub(crate) parts: Vec<TextPart>,
}

/// One turn of `contents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Content {
    /// `user` or `model`.
    pub(crate) role: &'static str,
    pub(crate) parts: Vec<Part>,
}

/// A part of a request turn: text, or an image inline or by URL.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum Part {
    Text(TextPart),
    /// `{"inlineData": {"mimeType", "data"}}`: a `data:` URL's payload.
    Inline {
        #[serde(rename = "inlineData")]
        inline_data: Blob,
    },
    /// `{"fileData": {"mimeType", "fileUri"}}`: an `https:` URL Gemini fetches itself.
    File {
        #[serde(rename = "fileData")]
        file_data: FileData,
    },
    /// A call the model made in an earlier turn, replayed with its signature.
    Call(CallPart),
    /// The result of such a call.
    Result {
        #[serde(rename = "functionResponse")]
        function_response: FunctionResponse,
    },
}

/// `{"functionCall": {...}, "thoughtSignature": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallPart {
    pub(crate) function_call: FunctionCall,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) thought_signature: Option<String>,
}

/// `functionCall` in a request: the call's id (when it has one), name and arguments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FunctionCall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    /// Always an object.
    pub(crate) args: Value,
}

/// `functionResponse`: the same id and name as the call, the result as an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FunctionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) response: Value,
}

impl Part {
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Self::Text(TextPart { text: text.into() })
    }
}

/// `inlineData`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Blob {
    pub(crate) mime_type: String,
    /// Base64, without the `data:` prefix.
    pub(crate) data: String,
}

/// `fileData`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileData {
    pub(crate) mime_type: String,
    pub(crate) file_uri: String,
}

/// A text part of a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TextPart {
    pub(crate) text: String,
}

/// `generationConfig`. Floats stay `f32` so serde_json writes them as the caller gave
/// them (`0.2`, not `0.20000000298023224`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<i64>,
    /// `application/json` for OpenAI's `json_object` and `json_schema` formats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) response_mime_type: Option<&'static str>,
    /// The JSON Schema of a `json_schema` format (JSON Schema, not the OpenAPI subset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) response_json_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) thinking_config: Option<ThinkingConfig>,
}

/// `thinkingConfig`: a level (Gemini 3) or a budget (Gemini 2.5), and whether thought
/// summaries come back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThinkingConfig {
    pub(crate) include_thoughts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) thinking_budget: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) thinking_level: Option<&'static str>,
}

impl GenerationConfig {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A `GenerateContentResponse`: the whole one-shot body, or one streamed chunk.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse {
    #[serde(default)]
    pub(crate) candidates: Option<Vec<Candidate>>,
    #[serde(default)]
    pub(crate) prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub(crate) usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub(crate) model_version: Option<String>,
    /// Unique per answer; seeds the ids of calls Gemini gave none.
    #[serde(default)]
    pub(crate) response_id: Option<String>,
}

impl GenerateContentResponse {
    /// The first candidate, the only one we ask for.
    pub(crate) fn first_candidate(&self) -> Option<&Candidate> {
        self.candidates.as_deref().and_then(<[Candidate]>::first)
    }
}

/// One candidate answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    #[serde(default)]
    pub(crate) content: Option<ResponseContent>,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
}

/// A candidate's content; may be missing or `{}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ResponseContent {
    #[serde(default)]
    pub(crate) parts: Option<Vec<ResponsePart>>,
}

/// A response part: text, possibly a thought summary, possibly only a signature; or a
/// function call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponsePart {
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) thought: Option<bool>,
    #[serde(default)]
    pub(crate) function_call: Option<ResponseCall>,
    #[serde(default)]
    pub(crate) thought_signature: Option<String>,
}

/// A `functionCall` in an answer: `args` is an object (missing for some argument-less
/// calls); `id` only from Gemini 3.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ResponseCall {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) args: Option<Value>,
}

/// Why a prompt was refused before any candidate was generated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    #[serde(default)]
    pub(crate) block_reason: Option<String>,
}

/// Token counts. `candidatesTokenCount` excludes thinking tokens; `totalTokenCount`
/// includes them.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[expect(
    clippy::struct_field_names,
    reason = "the fields mirror Gemini's JSON names"
)]
pub(crate) struct UsageMetadata {
    #[serde(default)]
    pub(crate) prompt_token_count: Option<u64>,
    #[serde(default)]
    pub(crate) candidates_token_count: Option<u64>,
    #[serde(default)]
    pub(crate) thoughts_token_count: Option<u64>,
    #[serde(default)]
    pub(crate) total_token_count: Option<u64>,
}

/// `google.rpc.Status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[expect(
    clippy::struct_field_names,
    reason = "the fields mirror Gemini's JSON names"
)]
pub(crate) struct Status {
    /// The HTTP status, repeated (an int; tolerated as anything).
    #[serde(default)]
    pub(crate) code: Option<Value>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    /// Canonical code name: `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, …
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) details: Option<Vec<Detail>>,
}

impl Status {
    /// `code` as an HTTP status, when it is one.
    pub(crate) fn http_code(&self) -> Option<u16> {
        match self.code.as_ref()? {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Every entry of `details`.
    pub(crate) fn details(&self) -> &[Detail] {
        self.details.as_deref().unwrap_or_default()
    }
}

/// One `details[]` entry. Entries are typed by `@type`; their fields do not overlap, so
/// one struct with every field we read covers `ErrorInfo`, `QuotaFailure` and `RetryInfo`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Detail {
    /// `ErrorInfo.reason`, e.g. `API_KEY_INVALID`.
    #[serde(default)]
    pub(crate) reason: Option<String>,
    /// `QuotaFailure.violations`.
    #[serde(default)]
    pub(crate) violations: Option<Vec<Violation>>,
    /// `RetryInfo.retryDelay`, a protobuf duration string (`"43s"`).
    #[serde(default)]
    pub(crate) retry_delay: Option<Value>,
}

/// One `QuotaFailure` violation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[expect(
    clippy::struct_field_names,
    reason = "the fields mirror Gemini's JSON names"
)]
pub(crate) struct Violation {
    /// Names the window: `GenerateRequestsPerDayPerProjectPerModel-FreeTier`, …
    #[serde(default)]
    pub(crate) quota_id: Option<String>,
    #[serde(default)]
    pub(crate) quota_metric: Option<String>,
    /// The limit, a decimal string (sometimes absent).
    #[serde(default)]
    pub(crate) quota_value: Option<Value>,
}

impl Violation {
    /// `quotaValue` as a number.
    pub(crate) fn limit(&self) -> Option<u64> {
        match self.quota_value.as_ref()? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn quota_id(&self) -> &str {
        self.quota_id.as_deref().unwrap_or_default()
    }

    /// Whether the quota counts tokens rather than requests.
    pub(crate) fn counts_tokens(&self) -> bool {
        self.quota_id().contains("Token")
            || self
                .quota_metric
                .as_deref()
                .is_some_and(|m| m.contains("token"))
    }
}

/// The error status in `body`, when the body is a Gemini error: `{"error": Status}`, or
/// (OpenAI-compatible endpoint, some proxies) a JSON array of such objects. A success
/// body gives `None`, so this also detects a 200 carrying an error.
pub(crate) fn error_status(body: &[u8]) -> Option<Status> {
    // Through `Value`: serde would happily read an array as a struct's fields in order.
    let error = match serde_json::from_slice::<Value>(body).ok()? {
        Value::Object(mut object) => object.remove("error")?,
        Value::Array(items) => items.into_iter().find_map(|item| match item {
            Value::Object(mut object) => object.remove("error"),
            _ => None,
        })?,
        _ => return None,
    };
    if !error.is_object() {
        return None;
    }
    serde_json::from_value(error).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_serialises_camel_case_and_skips_empty() {
        let req = GenerateContentRequest {
            system_instruction: None,
            contents: vec![Content {
                role: "user",
                parts: vec![Part::text("hi")],
            }],
            generation_config: Some(GenerationConfig {
                temperature: Some(0.2),
                top_p: Some(0.9),
                ..GenerationConfig::default()
            }),
            tools: Vec::new(),
            tool_config: None,
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0.2,"topP":0.9}}"#
        );
    }

    #[test]
    fn error_bodies_in_both_shapes() {
        let one = br#"{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED"}}"#;
        let many = br#"[{"error":{"code":"503","status":"UNAVAILABLE"}}]"#;
        assert_eq!(error_status(one).unwrap().http_code(), Some(429));
        assert_eq!(error_status(many).unwrap().http_code(), Some(503));
        assert!(error_status(br#"{"candidates":[]}"#).is_none());
        assert!(error_status(b"not json").is_none());
    }

    #[test]
    fn violation_limits_as_string_or_number() {
        let v: Violation =
            serde_json::from_str(r#"{"quotaId":"X-FreeTier","quotaValue":"20"}"#).unwrap();
        assert_eq!(v.limit(), Some(20));
        let v: Violation = serde_json::from_str(r#"{"quotaValue":0}"#).unwrap();
        assert_eq!(v.limit(), Some(0));
        assert!(!v.counts_tokens());
    }
}
