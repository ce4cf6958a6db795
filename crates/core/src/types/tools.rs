//! Tools the model may call, the calls it makes, and the answer formats it can be held to.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// Function name (`a-z A-Z 0-9 _ -`, at most 64 characters for OpenAI).
    pub name: String,
    /// What the function does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments object; `None` for a function without arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Ask for arguments that match the schema exactly, where the provider can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl Tool {
    /// A function tool named `name`, described by `description`, with arguments `parameters`
    /// (a JSON Schema object).
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        Self {
            name: name.into(),
            description: Some(description.into()),
            parameters: Some(parameters),
            strict: None,
        }
    }

    /// The same tool with `strict` set.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides (the default when tools are given).
    Auto,
    /// The model must not call a tool.
    None,
    /// The model must call at least one tool.
    Required,
    /// The model must call this function.
    Function(String),
}

impl ToolChoice {
    /// OpenAI's word for the mode (`auto`, `none`, `required`, or `function`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Auto => "auto",
            Self::None => "none",
            Self::Required => "required",
            Self::Function(_) => "function",
        }
    }
}

/// A call the model made, as an assistant message carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The id the tool result must quote in `tool_call_id`.
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as a JSON text (an object; `{}` when there are none).
    pub arguments: String,
}

impl ToolCall {
    /// A call of `name` with `arguments` (a JSON text), known by `id`.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

/// A piece of a streamed tool call: the first piece of a call has its `id` and `name`,
/// later pieces of the same `index` add to `arguments`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// Which call of the answer this piece belongs to (0, 1, …).
    pub index: u32,
    /// The call's id, on its first piece.
    pub id: Option<String>,
    /// The function name, on its first piece.
    pub name: Option<String>,
    /// A piece of the arguments text (may be empty).
    pub arguments: String,
}

/// The form the answer must take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchema,
    },
}

impl ResponseFormat {
    /// A JSON-schema format named `name` with `schema`, strict.
    pub fn json_schema(name: impl Into<String>, schema: Value) -> Self {
        Self::JsonSchema {
            json_schema: JsonSchema {
                name: name.into(),
                description: None,
                schema: Some(schema),
                strict: Some(true),
            },
        }
    }

    /// OpenAI's word for the format (`text`, `json_object`, `json_schema`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::JsonObject => "json_object",
            Self::JsonSchema { .. } => "json_schema",
        }
    }
}

/// A named JSON schema for [`ResponseFormat::JsonSchema`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSchema {
    /// Name of the format (`[a-zA-Z0-9_-]{1,64}`).
    pub name: String,
    /// What the format is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Ask for exact schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn response_format_has_the_openai_shape() {
        let f = ResponseFormat::json_schema("city", json!({"type": "object"}));
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            json!({"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object"}, "strict": true}})
        );
        let back: ResponseFormat = serde_json::from_value(json!({"type": "json_object"})).unwrap();
        assert_eq!(back, ResponseFormat::JsonObject);
        assert_eq!(f.as_str(), "json_schema");
    }

    #[test]
    fn tool_builder_sets_fields() {
        let t = Tool::function("f", "does f", json!({"type": "object"})).strict(true);
        assert_eq!(t.strict, Some(true));
        assert_eq!(t.description.as_deref(), Some("does f"));
        assert_eq!(ToolChoice::Function("f".into()).as_str(), "function");
    }
}
