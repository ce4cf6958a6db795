//! Contract tests of the chat surface for NVIDIA NIM: tools (one-shot, streamed fragments,
//! the follow-up turn with results), a JSON-schema request, reasoning out, per
//! `shared/providers/nvidia.md` §2–§4, played by wiremock on 127.0.0.1. The `tools-*`, `json-*`, `reasoning-*`
//! payloads in `tests/fixtures/` are synthetic, built from the OpenAI shape per that file (no
//! recorded examples exist; each says so in its `_source`).
//! The scaffold is `llmpool_testkit::surface`.

use llmpool_core::ChatRequest;
use llmpool_provider_nvidia::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, error_json, events_json};
use llmpool_testkit::surface::{self, Surface};
use serde_json::{Value, json};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: plain_request,
    stream_request: plain_stream_request,
};

/// The tool fixtures' call id, and what NIM receives for a client body.
const SURFACE: Surface = Surface {
    contract: SUITE,
    call_id: "chatcmpl-tool-3f9a2c1b7e6d4a58",
    upstream_body,
};

/// The model of the tool fixtures.
const MODEL: &str = "openai/gpt-oss-20b";

fn plain_request() -> ChatRequest {
    ChatRequest::from_user("What is the capital of France?").with_model(MODEL)
}

fn plain_stream_request() -> ChatRequest {
    ChatRequest {
        stream: true,
        ..plain_request()
    }
}

/// What NIM receives for a client body: the same, plus `parallel_tool_calls: false` when
/// tools are declared and the client did not choose (nvidia.md §2: several models take one
/// call at a time).
fn upstream_body(mut body: Value) -> Value {
    if body.get("tools").is_some() && body.get("parallel_tool_calls").is_none() {
        body["parallel_tool_calls"] = json!(false);
    }
    body
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

#[tokio::test]
async fn a_json_schema_request_is_sent_and_the_answer_is_the_json() {
    let (resp, request) = SURFACE
        .sent_as_written("json-request.json", "json-response.json")
        .await;
    insta::assert_json_snapshot!("surface_json_request", request);
    let answer: Value = serde_json::from_str(&resp.text).unwrap();
    assert_eq!(answer, json!({"city": "Paris"}));
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

#[tokio::test]
async fn a_client_choice_of_parallel_tool_calls_is_sent_as_it_is() {
    let (mut req, _) = SURFACE.request("tools-request.json");
    req.parallel_tool_calls = Some(true);
    let (_, request) = SURFACE.chat("tools-response.json", &req).await;
    assert_eq!(request["body"]["parallel_tool_calls"], json!(true));
}

/// nvidia.md §5: parallel calls on a single-call model (envelope not captured; NIM's
/// problem-JSON shape assumed).
#[tokio::test]
async fn parallel_tool_calls_on_a_single_call_model_is_a_bad_request() {
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"status":400,"title":"Bad Request","detail":"This model only supports single tool-calls at once!"}"#,
        ))
        .await;
    surface::assert_bad_request_naming(&err, "single tool-calls");
    insta::assert_json_snapshot!("surface_error_400_single_tool_call", error_json(&err));
}
