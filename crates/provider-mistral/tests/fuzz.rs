//! Fuzz targets: Mistral's answers, one-shot and streamed, from a loopback upstream that
//! sends this crate's fixtures mutated (a JSON node of the wrong type, huge or missing; a
//! truncated or damaged body; a garbled SSE event), arbitrary JSON or arbitrary bytes,
//! under any status and headers. This drives the crate's error classification and stream
//! decoding through its public provider. Every answer must give a classified result and
//! never a panic (the promises are listed at `llmpool_testkit::fuzz::ProviderHarness::check`).
//!
//! Short bounded runs here; `cargo xtask fuzz --secs N` runs them longer.

use llmpool_provider_mistral::FACTORY;
use llmpool_testkit::fuzz;

/// The API's path prefix, part of every base URL.
const PREFIX: &str = "/v1";
const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn fuzz_one_shot_answers() {
    fuzz::provider_one_shot(&FACTORY, PREFIX, DIR, 64, |_, _| {});
}

#[test]
fn fuzz_stream_answers() {
    fuzz::provider_stream(&FACTORY, PREFIX, DIR, 64, |_, _| {});
}
