//! Contract tests of the chat surface for Z.ai: tools (one-shot, streamed fragments,
//! the follow-up turn with results), a JSON-schema request, an image, reasoning out, per
//! `shared/providers/zai.md` §2–§4, played by wiremock on 127.0.0.1. The `tools-*`, `json-*`, `vision-*`, `reasoning-*`
//! payloads in `tests/fixtures/` are synthetic, built from the OpenAI shape per that file (no
//! recorded examples exist; each says so in its `_source`).
//! The scaffold is `llmpool_testkit::surface`.

use llmpool_core::{ChatRequest, ErrorKind};
use llmpool_provider_zai::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, error_json, events_json};
use llmpool_testkit::surface::{self, Surface};
use serde_json::{Value, json};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/api/paas/v4",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: plain_request,
    stream_request: plain_stream_request,
};

/// The tool fixtures' call id, and what Z.ai receives for a client body.
const SURFACE: Surface = Surface {
    contract: SUITE,
    call_id: "call_-8165402957431520473",
    upstream_body,
};

/// The model of the tool fixtures.
const MODEL: &str = "glm-4.7-flash";

fn plain_request() -> ChatRequest {
    ChatRequest::from_user("What is the capital of France?").with_model(MODEL)
}

fn plain_stream_request() -> ChatRequest {
    ChatRequest {
        stream: true,
        ..plain_request()
    }
}

/// What Z.ai receives for a client body (zai.md §2): the same, plus `thinking` disabled
/// when the client asked for no reasoning.
fn upstream_body(mut body: Value) -> Value {
    if body.get("thinking").is_none() {
        body["thinking"] = json!({"type": "disabled"});
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

/// zai.md §2: `response_format` is `{"type":"json_object"}`; a schema is not documented, so
/// it fails the route by name rather than being answered as loose JSON.
#[tokio::test]
async fn a_json_schema_request_fails_by_name_and_json_object_passes() {
    let (req, mut client) = SURFACE.request("json-request.json");
    let err = SURFACE.refused(&req).await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    insta::assert_json_snapshot!("surface_json_schema_refused", error_json(&err));
    surface::assert_message_contains(&err, "`response_format.json_schema`");

    client["response_format"] = json!({"type": "json_object"});
    let req = Surface::to_core(&client, "the json_object request");
    let (resp, request) = SURFACE.chat("json-response.json", &req).await;
    assert_eq!(request["body"], upstream_body(client));
    insta::assert_json_snapshot!("surface_json_object_request", request);
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
async fn an_image_data_url_reaches_the_vision_model() {
    let (_, request) = SURFACE
        .sent_as_written("vision-request.json", "json-response.json")
        .await;
    insta::assert_json_snapshot!("surface_vision_request", request);
}

#[tokio::test]
async fn reasoning_effort_turns_thinking_on_or_off() {
    for (effort, thinking) in [
        ("high", "enabled"),
        ("low", "enabled"),
        ("none", "disabled"),
    ] {
        let mut req = plain_request();
        req.reasoning_effort = Some(effort.into());
        let (resp, request) = SURFACE.chat("reasoning-response.json", &req).await;
        let body = &request["body"];
        assert_eq!(body["thinking"], json!({"type": thinking}), "{effort}");
        assert!(body.get("reasoning_effort").is_none(), "{body}");
        assert!(resp.dropped_params.is_empty(), "{:?}", resp.dropped_params);
    }
}

#[tokio::test]
async fn undocumented_fields_are_left_out_and_named_logit_bias_refused() {
    let (mut req, _) = SURFACE.request("tools-request.json");
    req.user = Some("user-42".into());
    req.parallel_tool_calls = Some(false);
    let (resp, request) = SURFACE.chat("chat_ok.json", &req).await;
    assert_eq!(resp.dropped_params, vec!["parallel_tool_calls", "user"]);
    let body = &request["body"];
    assert!(
        body.get("user").is_none() && body.get("parallel_tool_calls").is_none(),
        "{body}"
    );
    assert!(body.get("tools").is_some(), "{body}");

    let mut req = plain_request();
    req.extra.insert("logit_bias".into(), json!({"1": 5}));
    let err = SURFACE.refused(&req).await;
    surface::assert_message_contains(&err, "`logit_bias`");
}

/// zai.md §5: codes 1210 and 1213–1215 (invalid, missing or conflicting parameter) are the
/// caller's request (body synthetic, in Z.ai's envelope).
#[tokio::test]
async fn parameter_error_1214_is_a_bad_request() {
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"error":{"code":"1214","message":"tools 参数非法 (invalid tools parameter)"}}"#,
        ))
        .await;
    surface::assert_bad_request_naming(&err, "tools");
}
