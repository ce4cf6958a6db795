//! Contract tests of the chat surface for Ollama Cloud: tools (one-shot, streamed fragments,
//! the follow-up turn with results), a JSON-schema request, an image, reasoning out, per
//! `shared/providers/ollama-cloud.md` §2–§4, played by wiremock on 127.0.0.1. The `tools-*`, `json-*`, `vision-*`, `reasoning-*`
//! payloads in `tests/fixtures/` are synthetic, built from the OpenAI shape per that file (no
//! recorded examples exist; each says so in its `_source`).
//! The scaffold is `llmpool_testkit::surface`.

use llmpool_core::{ChatRequest, ContentPart, ErrorKind, ToolChoice};
use llmpool_provider_ollama_cloud::FACTORY;
use llmpool_testkit::compat::{Contract, error_json, events_json};
use llmpool_testkit::surface::{self, Surface};
use serde_json::{Value, json};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: plain_request,
    stream_request: plain_stream_request,
};

/// The tool fixtures' call id; the provider takes the OpenAI shape of tools, tool results
/// and `response_format` as it is.
const SURFACE: Surface = Surface {
    contract: SUITE,
    call_id: "call_5yfm7d2k",
    upstream_body: surface::as_written,
};

/// The model of the tool fixtures.
const MODEL: &str = "gpt-oss:120b";

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
async fn an_image_data_url_reaches_the_vision_model() {
    let (_, request) = SURFACE
        .sent_as_written("vision-request.json", "json-response.json")
        .await;
    insta::assert_json_snapshot!("surface_vision_request", request);
}

#[tokio::test]
async fn reasoning_effort_passes_through() {
    let mut req = plain_request();
    req.reasoning_effort = Some("low".into());
    let (_, request) = SURFACE.chat("reasoning-response.json", &req).await;
    assert_eq!(request["body"]["reasoning_effort"], json!("low"));
}

/// ollama-cloud.md §2: the layer reads no `tool_choice` and takes base64 data URLs only,
/// ignoring the rest in silence: both fail the route by name before any call.
#[tokio::test]
async fn a_forced_tool_choice_or_an_https_image_fails_by_name_before_any_call() {
    let (mut req, _) = SURFACE.request("tools-request.json");
    req.tool_choice = Some(ToolChoice::Required);
    let err = SURFACE.refused(&req).await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    insta::assert_json_snapshot!("surface_tool_choice_refused", error_json(&err));
    surface::assert_message_contains(&err, "`tool_choice`");

    let (mut req, _) = SURFACE.request("vision-request.json");
    req.messages[0].content = vec![
        ContentPart::text("What is in this image?"),
        ContentPart::image_url("https://example.com/cat.png"),
    ]
    .into();
    let err = SURFACE.refused(&req).await;
    surface::assert_bad_request_naming(&err, "`messages[0].content[1].image_url`");
}

#[tokio::test]
async fn ignored_fields_are_left_out_and_named_logit_bias_refused() {
    let mut req = plain_request();
    req.user = Some("user-42".into());
    req.logprobs = Some(true);
    let (resp, request) = SURFACE.chat("chat_ok.json", &req).await;
    assert_eq!(resp.dropped_params, vec!["logprobs", "user"]);
    let body = &request["body"];
    assert!(
        body.get("user").is_none() && body.get("logprobs").is_none(),
        "{body}"
    );

    let mut req = plain_request();
    req.extra.insert("logit_bias".into(), json!({"1": 5}));
    let err = SURFACE.refused(&req).await;
    surface::assert_message_contains(&err, "`logit_bias`");
}
