//! Error bodies: the OpenAI shape for writing, and a tolerant reader for what providers
//! actually send.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::transport::body_excerpt;

/// `{"error": {...}}`, the OpenAI error response. The gateway writes it; providers send
/// variations of it that [`ErrorBody::parse`] reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorObject,
}

impl ErrorResponse {
    /// An error response with this message and OpenAI `type`.
    pub fn new(message: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            error: ErrorObject {
                message: message.into(),
                kind: Some(kind.into()),
                param: None,
                code: None,
                metadata: None,
            },
        }
    }

    /// The same response with a `code`.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.error.code = Some(ErrorCode::Text(code.into()));
        self
    }

    /// The same response with a `param`.
    #[must_use]
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.error.param = Some(param.into());
        self
    }
}

/// The inner object of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// OpenAI `type` (`invalid_request_error`, `rate_limit_error`, Groq's `tokens`, …).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The offending parameter, when named.
    #[serde(default)]
    pub param: Option<String>,
    /// Machine-readable code: a string (OpenAI, Groq, Cerebras) or the HTTP status as a
    /// number (OpenRouter).
    #[serde(default)]
    pub code: Option<ErrorCode>,
    /// Provider details (OpenRouter `metadata`: `raw`, `limit_source`, `headers`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// An error `code`, textual or numeric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorCode {
    /// `"code": 429`.
    Number(i64),
    /// `"code": "rate_limit_exceeded"`.
    Text(String),
}

impl ErrorCode {
    /// The code as text (`"429"`, `"rate_limit_exceeded"`).
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Self::Number(n) => Cow::Owned(n.to_string()),
            Self::Text(s) => Cow::Borrowed(s),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

/// What a provider said when it failed, read tolerantly from any of the shapes seen in
/// the wild: `{"error": {...}}` (OpenAI, Groq, OpenRouter), `{"error": "text"}`, a flat
/// object (Cerebras `{"message","type","param","code"}`, FastAPI `{"detail": ...}`), a
/// JSON array of those (Gemini's compat endpoint), or not JSON at all (Cloudflare HTML,
/// plain text). Every field is optional; `raw` always holds a short excerpt for logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorBody {
    /// `message` (or `detail`, `msg`, problem JSON's `title`).
    pub message: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `code`, with numbers written as text.
    pub code: Option<String>,
    /// `param`.
    pub param: Option<String>,
    /// `metadata` (OpenRouter).
    pub metadata: Option<Value>,
    /// Excerpt of the raw body (HTML reduced to a note), at most 500 characters.
    pub raw: String,
    /// The body was JSON.
    pub is_json: bool,
    /// The body was an HTML page (a CDN or proxy answered, not the API).
    pub is_html: bool,
}

impl ErrorBody {
    /// Reads an error body of any shape. Never fails; leading whitespace is fine.
    pub fn parse(body: &[u8]) -> Self {
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            let mut parsed = Self::from_value(&value);
            parsed.raw = body_excerpt(body);
            return parsed;
        }
        let text = String::from_utf8_lossy(body);
        let is_html = text.trim_start().starts_with('<');
        let raw = body_excerpt(body);
        Self {
            message: (!is_html && !raw.is_empty()).then(|| raw.clone()),
            raw,
            is_html,
            ..Self::default()
        }
    }

    /// Reads an error from an already parsed JSON value (a stream payload, a 200 body).
    pub fn from_value(value: &Value) -> Self {
        let mut out = Self {
            is_json: true,
            raw: excerpt_value(value),
            ..Self::default()
        };
        match value {
            Value::Array(items) => {
                if let Some(first) = items.first() {
                    let inner = Self::from_value(first);
                    out = Self {
                        raw: out.raw,
                        ..inner
                    };
                }
            }
            Value::Object(obj) => match obj.get("error") {
                Some(Value::Object(inner)) => {
                    out.fill_from(inner);
                    // Fields the inner object lacks may sit beside it.
                    out.fill_missing_from(obj);
                }
                Some(Value::String(message)) => {
                    out.message = Some(message.clone());
                    out.fill_missing_from(obj);
                }
                _ => {
                    out.fill_from(obj);
                    // Cloudflare's v4 envelope: `{"success":false,"errors":[{"code","message"}]}`.
                    if out.message.is_none()
                        && out.code.is_none()
                        && let Some(Value::Object(first)) = obj
                            .get("errors")
                            .and_then(Value::as_array)
                            .and_then(|e| e.first())
                    {
                        out.fill_from(first);
                    }
                }
            },
            Value::String(s) => out.message = Some(s.clone()),
            _ => {}
        }
        out
    }

    fn fill_from(&mut self, obj: &Map<String, Value>) {
        self.message = obj
            .get("message")
            .and_then(text_of)
            .or_else(|| obj.get("detail").and_then(text_of))
            .or_else(|| obj.get("msg").and_then(text_of))
            // RFC 7807 problem JSON without a `detail` (NVIDIA's bare 429).
            .or_else(|| obj.get("title").and_then(text_of));
        self.kind = obj.get("type").and_then(text_of);
        self.code = obj.get("code").and_then(text_of);
        self.param = obj.get("param").and_then(text_of);
        self.metadata = obj.get("metadata").filter(|m| !m.is_null()).cloned();
    }

    fn fill_missing_from(&mut self, obj: &Map<String, Value>) {
        if self.kind.is_none() {
            // Kilo's gateway names the type `error_type`, beside a string or object `error`.
            self.kind = obj
                .get("type")
                .or_else(|| obj.get("error_type"))
                .and_then(text_of);
        }
        if self.code.is_none() {
            self.code = obj.get("code").and_then(text_of);
        }
    }

    /// `code` as an HTTP status, when it is one (OpenRouter writes the status there).
    pub fn status_code(&self) -> Option<u16> {
        self.code
            .as_deref()
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..=599).contains(c))
    }

    /// A string field of `metadata` (`limit_source`, `raw`, `error_type`, …).
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }

    /// Whether `code` or `type` equals one of `names`.
    pub fn code_is(&self, names: &[&str]) -> bool {
        [self.code.as_deref(), self.kind.as_deref()]
            .into_iter()
            .flatten()
            .any(|v| names.iter().any(|n| v.eq_ignore_ascii_case(n)))
    }

    /// Whether the message, the upstream's raw message (`metadata.raw`), `metadata.error_type`
    /// or the raw body contain `needle`, ignoring ASCII case.
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        [
            self.message.as_deref(),
            self.metadata_str("raw"),
            self.metadata_str("error_type"),
            (!self.is_json).then_some(self.raw.as_str()),
        ]
        .into_iter()
        .flatten()
        .any(|hay| hay.to_ascii_lowercase().contains(&needle))
    }

    /// Whether any of `needles` is mentioned (see [`mentions`](Self::mentions)).
    pub fn mentions_any(&self, needles: &[&str]) -> bool {
        needles.iter().any(|n| self.mentions(n))
    }

    /// One line for [`ProviderError::message`](llmpool_core::ProviderError): the message,
    /// followed by the upstream's own text when a gateway wrapped it.
    pub fn summary(&self) -> String {
        let base = self.message.clone().unwrap_or_else(|| self.raw.clone());
        match self.metadata_str("raw") {
            Some(raw) if !raw.is_empty() && !base.contains(raw) => format!("{base}: {raw}"),
            _ => base,
        }
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn excerpt_value(value: &Value) -> String {
    value.to_string().chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_shape() {
        let wrapped = ErrorBody::parse(
            br#"{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        );
        assert_eq!(wrapped.message.as_deref(), Some("Invalid API Key"));
        assert!(wrapped.code_is(&["invalid_api_key"]));

        let flat = ErrorBody::parse(
            br#"{"message":"Wrong API Key","type":"invalid_request_error","param":"api_key","code":"wrong_api_key"}"#,
        );
        assert_eq!(flat.code.as_deref(), Some("wrong_api_key"));
        assert_eq!(flat.param.as_deref(), Some("api_key"));

        let detail = ErrorBody::parse(br#"{"detail":"Not authenticated"}"#);
        assert_eq!(detail.message.as_deref(), Some("Not authenticated"));

        let array = ErrorBody::parse(
            br#"[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]"#,
        );
        assert_eq!(array.status_code(), Some(429));
        assert_eq!(array.message.as_deref(), Some("quota"));

        let html =
            ErrorBody::parse(b"\n<html><title>Attention Required! | Cloudflare</title></html>");
        assert!(html.is_html);
        assert_eq!(html.message, None);

        let text = ErrorBody::parse(b"upstream connect error");
        assert_eq!(text.message.as_deref(), Some("upstream connect error"));
        assert!(text.mentions("CONNECT"));

        let string = ErrorBody::parse(br#"{"error":"bad thing","code":"x"}"#);
        assert_eq!(string.message.as_deref(), Some("bad thing"));
        assert_eq!(string.code.as_deref(), Some("x"));
    }

    #[test]
    fn reads_kilo_error_type_beside_the_error() {
        let b = ErrorBody::parse(
            br#"{"error":"Rate limit exceeded","error_type":"rate_limit_exceeded","message":"Free model usage limit reached."}"#,
        );
        assert!(b.code_is(&["rate_limit_exceeded"]));
        assert_eq!(b.message.as_deref(), Some("Rate limit exceeded"));
        let obj = ErrorBody::parse(
            br#"{"error":{"code":"PAID_MODEL_AUTH_REQUIRED","message":"sign in"},"error_type":"paid_model_auth_required"}"#,
        );
        assert_eq!(obj.code.as_deref(), Some("PAID_MODEL_AUTH_REQUIRED"));
        assert!(obj.code_is(&["paid_model_auth_required"]));
    }

    #[test]
    fn reads_the_cloudflare_v4_envelope() {
        let b = ErrorBody::parse(
            br#"{"result":null,"success":false,"errors":[{"code":3036,"message":"Account limited"}],"messages":[]}"#,
        );
        assert_eq!(b.code.as_deref(), Some("3036"));
        assert_eq!(b.message.as_deref(), Some("Account limited"));
        let empty = ErrorBody::parse(br#"{"success":false,"errors":[]}"#);
        assert_eq!((empty.code, empty.message), (None, None));
    }

    #[test]
    fn metadata_and_summary() {
        let body = ErrorBody::parse(
            br#"  {"error":{"message":"Provider returned error","code":429,"metadata":{"raw":"x is rate-limited upstream","limit_source":"upstream_provider_shared_pool"}}}"#,
        );
        assert_eq!(body.status_code(), Some(429));
        assert_eq!(
            body.metadata_str("limit_source"),
            Some("upstream_provider_shared_pool")
        );
        assert!(body.mentions("RATE-LIMITED UPSTREAM"));
        assert_eq!(
            body.summary(),
            "Provider returned error: x is rate-limited upstream"
        );
    }

    #[test]
    fn response_serializes_openai_shape() {
        let r = ErrorResponse::new("no", "invalid_request_error").with_code("model_not_found");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"error":{"message":"no","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#
        );
    }
}
