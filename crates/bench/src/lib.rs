//! Measurements of llmpool: the pieces behind `cargo xtask bench gateway` and
//! `cargo xtask simulate`.
//!
//! - [`upstream`]: a minimal upstream answering OpenAI, Gemini and Cohere chat calls at
//!   once with fixed realistic bodies (binary `llmpool-mock-upstream`);
//! - [`load`]: a closed-loop HTTP/1.1 load generator with HDR percentiles and the CPU
//!   time of a watched process (binary `llmpool-loadgen`);
//! - [`sim`]: a simulated day of free-tier traffic, in virtual time, through llmpool's
//!   real router and through the original handler's plain fallback (binary
//!   `llmpool-simulate`).
//!
//! Nothing here sends traffic anywhere but 127.0.0.1. The crate is not published.

pub mod load;
pub mod sim;
pub mod upstream;
