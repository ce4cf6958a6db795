//! OpenAI's wire shapes for tools, tool calls and `tool_choice`, and their core forms.

use llmpool_core::{Tool, ToolCall, ToolCallDelta, ToolChoice};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::WireError;

/// A `tools[]` entry: `{"type": "function", "function": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireTool {
    /// Always `function` for the tools llmpool carries.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function; absent for other tool types (refused by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<Tool>,
}

fn function_kind() -> String {
    "function".to_owned()
}

impl WireTool {
    /// The wire form of a core tool.
    pub fn from_core(tool: &Tool) -> Self {
        Self {
            kind: function_kind(),
            function: Some(tool.clone()),
        }
    }

    /// The core tool, refusing other tool types by their `type`.
    pub fn to_core(&self, i: usize) -> Result<Tool, WireError> {
        match (&*self.kind, &self.function) {
            ("function", Some(f)) if !f.name.is_empty() => Ok(f.clone()),
            ("function", _) => Err(WireError::new(
                format!("tools[{i}].function.name"),
                "a function tool needs `function.name`",
            )),
            (other, _) => Err(WireError::new(
                format!("tools[{i}].type"),
                format!("tool type `{other}` is not supported; use `function`"),
            )),
        }
    }
}

/// A `tool_calls[]` entry of an assistant message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireToolCall {
    /// The call id.
    #[serde(default)]
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// Name and arguments.
    pub function: WireFunctionCall,
}

/// The function of a [`WireToolCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFunctionCall {
    /// Function name.
    #[serde(default)]
    pub name: String,
    /// Arguments as a JSON text; some upstreams send `null` or nothing for no arguments.
    #[serde(default = "empty_object", deserialize_with = "arguments_text")]
    pub arguments: String,
}

fn empty_object() -> String {
    "{}".to_owned()
}

/// Arguments as a string: a string as is, `null`/missing as `{}`, and an object (some
/// upstreams send one) as its JSON text.
fn arguments_text<'de, D: serde::Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    Ok(match Option::<Value>::deserialize(de)? {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    })
}

impl From<&ToolCall> for WireToolCall {
    fn from(call: &ToolCall) -> Self {
        Self {
            id: call.id.clone(),
            kind: function_kind(),
            function: WireFunctionCall {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            },
        }
    }
}

impl From<WireToolCall> for ToolCall {
    fn from(call: WireToolCall) -> Self {
        ToolCall {
            id: call.id,
            name: call.function.name,
            // Cohere's compatibility layer and others write `"null"` for no arguments.
            arguments: if call.function.arguments == "null" {
                "{}".to_owned()
            } else {
                call.function.arguments
            },
        }
    }
}

/// A `delta.tool_calls[]` piece of a stream chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireToolCallDelta {
    /// Which call of the answer.
    #[serde(default)]
    pub index: u32,
    /// The call id, on the first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, on the first piece.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (first piece) and an arguments fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<WireFunctionDelta>,
}

/// The function of a [`WireToolCallDelta`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFunctionDelta {
    /// Function name, on the first piece.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A fragment of the arguments text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

impl From<WireToolCallDelta> for ToolCallDelta {
    fn from(d: WireToolCallDelta) -> Self {
        let (name, arguments) = match d.function {
            Some(f) => (f.name, f.arguments.unwrap_or_default()),
            None => (None, String::new()),
        };
        ToolCallDelta {
            index: d.index,
            id: d.id,
            name,
            arguments,
        }
    }
}

impl From<&ToolCallDelta> for WireToolCallDelta {
    fn from(d: &ToolCallDelta) -> Self {
        WireToolCallDelta {
            index: d.index,
            id: d.id.clone(),
            kind: d.id.as_ref().map(|_| function_kind()),
            function: Some(WireFunctionDelta {
                name: d.name.clone(),
                arguments: Some(d.arguments.clone()),
            }),
        }
    }
}

/// `tool_choice` on the wire: a mode word or `{"type": "function", "function": {"name"}}`.
pub fn tool_choice_to_wire(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
        mode => Value::from(mode.as_str()),
    }
}

/// The core `tool_choice` of a client's value.
pub fn tool_choice_from_wire(value: &Value) -> Result<ToolChoice, WireError> {
    let bad = || {
        WireError::new(
            "tool_choice",
            "`tool_choice` must be `auto`, `none`, `required` or {\"type\": \"function\", \"function\": {\"name\": …}}",
        )
    };
    match value {
        Value::String(mode) => match mode.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(bad()),
        },
        Value::Object(obj) if obj.get("type").and_then(Value::as_str) == Some("function") => obj
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Function(name.to_owned()))
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_choice_round_trips() {
        for choice in [
            ToolChoice::Auto,
            ToolChoice::None,
            ToolChoice::Required,
            ToolChoice::Function("get_weather".into()),
        ] {
            let wire = tool_choice_to_wire(&choice);
            assert_eq!(tool_choice_from_wire(&wire).unwrap(), choice);
        }
        assert_eq!(
            tool_choice_from_wire(&json!("sometimes"))
                .unwrap_err()
                .param,
            "tool_choice"
        );
        assert!(tool_choice_from_wire(&json!({"type": "allowed_tools"})).is_err());
    }

    #[test]
    fn call_arguments_are_always_text() {
        let null: WireToolCall = serde_json::from_value(
            json!({"id": "a", "type": "function", "function": {"name": "f", "arguments": "null"}}),
        )
        .unwrap();
        assert_eq!(ToolCall::from(null).arguments, "{}");
        let object: WireToolCall = serde_json::from_value(
            json!({"id": "b", "function": {"name": "f", "arguments": {"x": 1}}}),
        )
        .unwrap();
        assert_eq!(object.function.arguments, r#"{"x":1}"#);
        let missing: WireToolCall =
            serde_json::from_value(json!({"id": "c", "function": {"name": "f"}})).unwrap();
        assert_eq!(missing.function.arguments, "{}");
    }

    #[test]
    fn other_tool_types_are_refused_by_name() {
        let t: WireTool =
            serde_json::from_value(json!({"type": "custom", "custom": {"name": "x"}})).unwrap();
        assert_eq!(t.to_core(2).unwrap_err().param, "tools[2].type");
    }
}
