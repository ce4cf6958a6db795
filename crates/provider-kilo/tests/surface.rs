//! Contract tests of the chat surface for the Kilo AI Gateway: tools (one-shot, streamed fragments,
//! the follow-up turn with results), a JSON-schema request, reasoning out, per
//! `shared/providers/kilo.md` §2–§4, played by wiremock on 127.0.0.1. The `tools-*`, `json-*`, `reasoning-*`
//! payloads in `tests/fixtures/` are synthetic, built from the OpenAI shape per that file (no
//! recorded examples exist; each says so in its `_source`).
//! The scaffold is `llmpool_testkit::surface`.

use llmpool_core::{ChatRequest, ErrorKind};
use llmpool_provider_kilo::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, error_json, events_json};
use llmpool_testkit::surface::{self, Surface};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/api/gateway",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: plain_request,
    stream_request: plain_stream_request,
};

/// The tool fixtures' call id; the provider takes the OpenAI shape of tools, tool results
/// and `response_format` as it is.
const SURFACE: Surface = Surface {
    contract: SUITE,
    call_id: "call_3c8d1e7f2a9b4c05",
    upstream_body: surface::as_written,
};

/// The model of the tool fixtures.
const MODEL: &str = "nvidia/nemotron-3-super-120b-a12b:free";

fn plain_request() -> ChatRequest {
    ChatRequest::from_user("What is the capital of France?").with_model(MODEL)
}

fn plain_stream_request() -> ChatRequest {
    ChatRequest {
        stream: true,
        ..plain_request()
    }
}

#[tokio::test]
async fn tools_are_sent_and_the_calls_come_back() {
    let (resp, request) = SURFACE
        .sent_as_written("tools-request.json", "tools-response.json")
        .await;
    insta::assert_json_snapshot!("surface_tools_request", request);
    insta::assert_json_snapshot!("surface_tools_response", resp, { ".latency" => "[latency]" });
    SURFACE.assert_tool_call(&resp);
}

#[tokio::test]
async fn streamed_tool_call_fragments_become_tool_call_events() {
    let (items, request) = SURFACE.tool_stream().await;
    insta::assert_json_snapshot!("surface_tools_stream_request", request);
    insta::assert_json_snapshot!("surface_tools_stream_events", events_json(&items));
    SURFACE.assert_tool_stream(&items);
}

#[tokio::test]
async fn the_follow_up_turn_carries_the_call_and_its_result() {
    let request = SURFACE.follow_up().await;
    insta::assert_json_snapshot!("surface_tools_followup_request", request);
}

/// kilo.md §2, §5: `response_format` breaks free routes (400 "Provider returned error"): a
/// JSON-schema request fails this route by name before any call, and the upstream's 400,
/// should one come, is a bad request.
#[tokio::test]
async fn a_json_schema_request_fails_by_name_before_any_call() {
    let (req, _) = SURFACE.request("json-request.json");
    let err = SURFACE.refused(&req).await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    insta::assert_json_snapshot!("surface_json_schema_refused", error_json(&err));
    surface::assert_message_contains(&err, "`response_format`");
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"error":{"message":"Provider returned error","code":400,"metadata":{"raw":"response_format is not supported","provider_name":"Nvidia"}}}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn reasoning_comes_back_apart_from_the_answer() {
    SURFACE.assert_reasoning_apart().await;
}

#[tokio::test]
async fn streamed_reasoning_comes_apart_from_the_answer() {
    let items = SURFACE.reasoning_stream().await;
    insta::assert_json_snapshot!("surface_reasoning_stream_events", events_json(&items));
    Surface::assert_reasoning_stream(&items);
}
