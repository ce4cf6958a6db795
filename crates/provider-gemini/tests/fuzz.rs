//! Fuzz targets: Gemini's answers, one-shot and streamed, from a loopback upstream that
//! sends its recorded fixtures mutated (a JSON node of the wrong type, huge or missing; a
//! truncated or damaged body; a garbled SSE event), arbitrary JSON or arbitrary bytes,
//! under any status and rate-limit headers. This drives the crate's wire types, error
//! classification, rate-limit header parsing and stream decoding through its public
//! provider. Every answer must give a classified result and never a panic (the promises
//! are listed at `llmpool_testkit::fuzz::ProviderHarness::check`).
//!
//! The fixtures include answers with function calls (`tools-response*.json`,
//! `tools-stream.sse`), so mutated `functionCall` parts (args of the wrong type, no name,
//! no id, a signature that is not a string) are among the inputs; every tool call that
//! comes out must then have an id, a name and arguments that are a JSON object.
//!
//! Short bounded runs here; `cargo xtask fuzz --secs N` runs them longer.

use llmpool_core::StreamEvent;
use llmpool_provider_gemini::FACTORY;
use llmpool_testkit::fuzz;

/// The API's version prefix, part of every base URL.
const PREFIX: &str = "/v1beta";
const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Whether `arguments` is a JSON object, as every tool call's arguments must be.
fn is_json_object(arguments: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(arguments).is_ok_and(|v| v.is_object())
}

#[test]
fn fuzz_one_shot_answers() {
    fuzz::provider_one_shot(&FACTORY, PREFIX, DIR, 64, |_, result| {
        if let Ok(resp) = result {
            for call in &resp.tool_calls {
                assert!(!call.id.is_empty() && !call.name.is_empty(), "{call:?}");
                assert!(is_json_object(&call.arguments), "{call:?}");
            }
        }
    });
}

#[test]
fn fuzz_stream_answers() {
    fuzz::provider_stream(&FACTORY, PREFIX, DIR, 64, |_, result| {
        let Ok(events) = result else { return };
        let mut next_index = 0;
        for event in events {
            if let Ok(StreamEvent::ToolCall(call)) = event {
                // Gemini sends calls whole: one delta each, numbered in order.
                assert_eq!(call.index, next_index, "{call:?}");
                next_index += 1;
                assert!(
                    call.id.as_deref().is_some_and(|id| !id.is_empty())
                        && call.name.as_deref().is_some_and(|n| !n.is_empty()),
                    "{call:?}"
                );
                assert!(is_json_object(&call.arguments), "{call:?}");
            }
        }
    });
}
