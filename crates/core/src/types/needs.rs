//! What a request needs from a model, worked out once per request.

use crate::capability::flag;
use crate::types::{ChatRequest, ResponseFormat, Role, estimate_tokens};

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
    use crate::capability::Missing;
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
