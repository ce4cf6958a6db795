//! What a request needs from a model, worked out once per request.

use std::fmt;

use serde::Serialize;

use crate::types::{ChatRequest, ResponseFormat, Role, estimate_tokens};

/// The yes/no capabilities as bits, so that checking a route against a request is one
/// mask operation (the router precomputes each route's bits when it is built).
pub(crate) mod flag {
    /// Tool calling.
    pub(crate) const TOOLS: u8 = 1;
    /// JSON-schema answers.
    pub(crate) const JSON_SCHEMA: u8 = 1 << 1;
    /// JSON-object answers.
    pub(crate) const JSON_OBJECT: u8 = 1 << 2;
    /// Image input.
    pub(crate) const VISION: u8 = 1 << 3;
    /// Reasoning control.
    pub(crate) const REASONING: u8 = 1 << 4;
    /// Every flag set.
    pub(crate) const ALL_BITS: u8 = TOOLS | JSON_SCHEMA | JSON_OBJECT | VISION | REASONING;
}

/// The capabilities a request needs from the model that serves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one flag per catalog capability, compared field by field with a model's"
)]
pub struct Needs {
    /// It offers tools or carries tool calls / results.
    pub tools: bool,
    /// It asks for JSON matching a schema.
    pub json_schema: bool,
    /// It asks for a JSON object.
    pub json_object: bool,
    /// It carries an image.
    pub vision: bool,
    /// It sets a reasoning effort other than `none`.
    pub reasoning: bool,
    /// Estimated prompt tokens.
    pub prompt_tokens: u64,
    /// The output cap it asks for.
    pub max_output_tokens: Option<u32>,
}

impl Needs {
    /// The yes/no capabilities needed, as bits of `flag`.
    pub(crate) fn flags(&self) -> u8 {
        let mut bits = 0;
        for (needed, bit) in [
            (self.tools, flag::TOOLS),
            (self.json_schema, flag::JSON_SCHEMA),
            (self.json_object, flag::JSON_OBJECT),
            (self.vision, flag::VISION),
            (self.reasoning, flag::REASONING),
        ] {
            if needed {
                bits |= bit;
            }
        }
        bits
    }
}

/// A capability a model lacks for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "capability", rename_all = "snake_case")]
pub enum Missing {
    /// Tool calling.
    Tools,
    /// JSON-schema answers.
    JsonSchema,
    /// JSON-object answers.
    JsonObject,
    /// Image input.
    Vision,
    /// Reasoning control.
    Reasoning,
    /// The prompt does not fit the context window.
    ContextWindow {
        /// Estimated prompt tokens.
        needed: u64,
        /// The model's window.
        window: u64,
    },
    /// The output cap is above what the model can produce.
    MaxOutputTokens {
        /// Requested cap.
        requested: u32,
        /// The model's maximum.
        max: u32,
    },
}

impl Missing {
    /// The yes/no capabilities, in the order a missing one is reported.
    const FLAGGED: [Self; 5] = [
        Self::Tools,
        Self::JsonSchema,
        Self::JsonObject,
        Self::Vision,
        Self::Reasoning,
    ];

    /// The first yes/no capability whose bit is set in `bits` (none set: `None`).
    pub(crate) fn first_of(bits: u8) -> Option<Self> {
        Self::FLAGGED
            .into_iter()
            .find(|m| m.flag().is_some_and(|bit| bits & bit != 0))
    }

    /// The capability's bit of `flag`; `None` for a size (context window, output cap).
    pub(crate) fn flag(&self) -> Option<u8> {
        match self {
            Self::Tools => Some(flag::TOOLS),
            Self::JsonSchema => Some(flag::JSON_SCHEMA),
            Self::JsonObject => Some(flag::JSON_OBJECT),
            Self::Vision => Some(flag::VISION),
            Self::Reasoning => Some(flag::REASONING),
            Self::ContextWindow { .. } | Self::MaxOutputTokens { .. } => None,
        }
    }

    /// The capability's name as catalogs spell it (`tools`, `json_schema`, …).
    pub fn capability(&self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::JsonSchema => "json_schema",
            Self::JsonObject => "json_object",
            Self::Vision => "vision",
            Self::Reasoning => "reasoning",
            Self::ContextWindow { .. } => "context_window",
            Self::MaxOutputTokens { .. } => "max_output_tokens",
        }
    }

    /// The request field that needs the capability.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::JsonSchema | Self::JsonObject => "response_format",
            Self::Vision | Self::ContextWindow { .. } => "messages",
            Self::Reasoning => "reasoning_effort",
            Self::MaxOutputTokens { .. } => "max_completion_tokens",
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tools => f.write_str("tool calling (`tools`)"),
            Self::JsonSchema => f.write_str("JSON-schema answers (`response_format: json_schema`)"),
            Self::JsonObject => f.write_str("JSON answers (`response_format: json_object`)"),
            Self::Vision => f.write_str("image input (`image_url` parts)"),
            Self::Reasoning => f.write_str("reasoning control (`reasoning_effort`)"),
            Self::ContextWindow { needed, window } => write!(
                f,
                "a context window of about {needed} tokens (the model has {window})"
            ),
            Self::MaxOutputTokens { requested, max } => write!(
                f,
                "{requested} output tokens (the model produces at most {max})"
            ),
        }
    }
}

impl ChatRequest {
    /// What this request needs from a model. Cheap: one pass over the messages, no
    /// allocation (the router calls it once per request).
    pub fn needs(&self) -> Needs {
        let (json_object, json_schema) = match &self.response_format {
            Some(ResponseFormat::JsonObject) => (true, false),
            Some(ResponseFormat::JsonSchema { .. }) => (false, true),
            Some(ResponseFormat::Text) | None => (false, false),
        };
        let mut tools = !self.tools.is_empty();
        let mut vision = false;
        let mut chars = 0_usize;
        for m in &self.messages {
            tools |= m.role == Role::Tool || !m.tool_calls.is_empty();
            vision |= m.content.has_image();
            // The same count as `estimated_prompt_tokens`, in the same pass.
            chars += m.content.text_chars()
                + m.tool_calls
                    .iter()
                    .map(|c| c.name.len() + c.arguments.len())
                    .sum::<usize>();
        }
        let per_message = 4 * self.messages.len();
        Needs {
            tools,
            json_schema,
            json_object,
            vision,
            reasoning: self
                .reasoning_effort
                .as_deref()
                .is_some_and(|e| e != "none"),
            prompt_tokens: estimate_tokens(u64::try_from(chars).unwrap_or(u64::MAX))
                .saturating_add(u64::try_from(per_message).unwrap_or(u64::MAX)),
            max_output_tokens: self.max_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::types::{ContentPart, Message, Tool};

    #[test]
    fn plain_chat_needs_nothing_special() {
        let n = ChatRequest::from_user("hi").needs();
        assert_eq!(
            n,
            Needs {
                prompt_tokens: n.prompt_tokens,
                ..Needs::default()
            }
        );
    }

    #[test]
    fn features_show_in_needs() {
        let req = ChatRequest::new(vec![Message::user(vec![
            ContentPart::text("what is it"),
            ContentPart::image_url("data:image/png;base64,AA"),
        ])])
        .with_tool(Tool::function("f", "f", json!({"type": "object"})))
        .with_json_schema("x", json!({"type": "object"}));
        let n = req.needs();
        assert!(n.tools && n.vision && n.json_schema && !n.json_object && !n.reasoning);
        assert_eq!(n.prompt_tokens, req.estimated_prompt_tokens());
        assert_eq!(n.flags(), flag::TOOLS | flag::VISION | flag::JSON_SCHEMA);
        assert_eq!(Missing::first_of(n.flags()), Some(Missing::Tools));
        assert_eq!(Missing::first_of(flag::VISION), Some(Missing::Vision));
        assert_eq!(Missing::first_of(0), None);
        assert_eq!(Missing::Vision.field(), "messages");
        assert_eq!(Missing::JsonSchema.capability(), "json_schema");
    }
}
