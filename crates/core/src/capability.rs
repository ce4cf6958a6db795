//! Model capabilities as the router checks them: the yes/no capabilities as bits, and
//! [`Missing`], what a model lacks for a request. Below both the request types (which
//! work out what a request needs) and the errors (whose 400 names what is missing).

use std::fmt;

use serde::Serialize;

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
