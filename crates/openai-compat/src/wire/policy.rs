//! What an OpenAI-compatible upstream takes of a request beyond OpenAI's own surface.

/// The request fields an OpenAI-compatible upstream rejects, so that llmpool leaves them
/// out (and names them as dropped) or refuses the route before calling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPolicy {
    /// Top-level fields the upstream answers with an error: the droppable ones
    /// ([`llmpool_core::is_droppable`]) are left out and reported, any other set field
    /// fails the route with a `BadRequest` naming it.
    pub unsupported: &'static [&'static str],
    /// Whether messages may carry `name` (Groq rejects it).
    pub message_name: bool,
    /// Whether assistant messages may carry their earlier reasoning, sent as `reasoning`
    /// (Cerebras and OpenRouter take it; Groq rejects it).
    pub reasoning_input: bool,
}

impl RequestPolicy {
    /// Everything passes through.
    pub const PASS_THROUGH: RequestPolicy = RequestPolicy {
        unsupported: &[],
        message_name: true,
        reasoning_input: true,
    };
}

impl Default for RequestPolicy {
    fn default() -> Self {
        Self::PASS_THROUGH
    }
}
