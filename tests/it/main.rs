//! End-to-end tests: the real `llmpool` binary on a free loopback port, with wiremock
//! servers on 127.0.0.1 playing all five upstreams from their recorded fixtures.
//!
//! The binary is built once per run (`$CARGO build -p llmpool-cli --bin llmpool`, or the
//! path in `LLMPOOL_BIN`). Nothing here reaches the internet: every provider's
//! `<PROVIDER>_BASE_URL` points at a mock, and the child's environment is cleared first.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failed step is a failed test"
)]

mod harness;

mod auth;
mod bounded;
mod browser;
mod capabilities;
mod cli;
mod conduct;
mod dashboard;
mod errors;
mod external;
mod lifecycle;
mod messages;
mod openai_sdk;
mod operator;
mod pacing;
mod providers2;
mod routing;
mod store_faults;
mod streaming;
mod surface_sdk;
