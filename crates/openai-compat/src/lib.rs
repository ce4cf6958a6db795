//! The OpenAI chat-completions wire protocol, once, plus the HTTP/SSE transport that every
//! llmpool provider crate shares.
//!
//! - [`sse`]: a tolerant server-sent-events decoder;
//! - [`transport`]: client construction, transport-error mapping, header helpers.

pub mod sse;
pub mod transport;
