//! Contract tests of the chat surface for Cloudflare Workers AI: tools (one-shot, streamed fragments,
//! the follow-up turn with results), a JSON-schema request, per
//! `shared/providers/cloudflare.md` §2–§4, played by wiremock on 127.0.0.1. The `tools-*`, `json-*`
//! payloads in `tests/fixtures/` are synthetic, built from the OpenAI shape per that file (no
//! recorded examples exist; each says so in its `_source`).
//! The scaffold is `llmpool_testkit::surface`.

use llmpool_core::{ChatRequest, ContentPart, ErrorKind};
use llmpool_provider_cloudflare::FACTORY;
use llmpool_testkit::compat::{Contract, error_json, events_json};
use llmpool_testkit::surface::{self, Surface};
use serde_json::{Value, json};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/client/v4/accounts/0123456789abcdef0123456789abcdef/ai/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: plain_request,
    stream_request: plain_stream_request,
};

/// The tool fixtures' call id, and what Workers AI receives for a client body.
const SURFACE: Surface = Surface {
    contract: SUITE,
    call_id: "chatcmpl-tool-8d2e4f6a0b1c",
    upstream_body,
};

/// The model of the tool fixtures.
const MODEL: &str = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

fn plain_request() -> ChatRequest {
    ChatRequest::from_user("What is the capital of France?").with_model(MODEL)
}

fn plain_stream_request() -> ChatRequest {
    ChatRequest {
        stream: true,
        ..plain_request()
    }
}

/// What Workers AI receives for a client body (cloudflare.md §2): `options.rejectIfBusy`
/// added, and a tool-only assistant turn with `""` for its `null` content.
fn upstream_body(mut body: Value) -> Value {
    body["options"] = json!({"rejectIfBusy": true});
    if let Some(messages) = body["messages"].as_array_mut() {
        for m in messages {
            if m["content"].is_null() && m.get("tool_calls").is_some() {
                m["content"] = json!("");
            }
        }
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
async fn text_parts_are_sent_as_one_string() {
    let mut req = plain_request();
    req.messages[0].content = vec![
        ContentPart::text("What is the capital "),
        ContentPart::text("of France?"),
    ]
    .into();
    let (_, request) = SURFACE.chat("chat_ok.json", &req).await;
    assert_eq!(
        request["body"]["messages"][0]["content"],
        json!("What is the capital of France?")
    );
}

/// `content` must be a string (cloudflare.md §2, §9.4): an image cannot reach the model,
/// so the route fails by the image's place before any call instead of the 400 code 5006.
#[tokio::test]
async fn an_image_fails_the_route_by_name_before_any_call() {
    let mut req = plain_request();
    req.messages[0].content = vec![
        ContentPart::text("What is in this image?"),
        ContentPart::image_url("data:image/png;base64,iVBORw0KGgo="),
    ]
    .into();
    let err = SURFACE.refused(&req).await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    insta::assert_json_snapshot!("surface_image_refused", error_json(&err));
    surface::assert_message_contains(&err, "`messages[0].content[1].image_url`");
}

/// The 5006 "Type mismatch … 'array' not in 'string'" row (cloudflare.md §5): a bad request.
#[tokio::test]
async fn content_array_5006_is_a_bad_request() {
    let err = SUITE
        .fixture_error(400, "error_400_bad_input_5006.json")
        .await;
    surface::assert_bad_request_naming(&err, "'array' not in 'string'");
}

#[tokio::test]
async fn logprobs_are_left_out_and_named_reasoning_effort_and_logit_bias_refused() {
    let mut req = plain_request();
    req.logprobs = Some(true);
    req.top_logprobs = Some(2);
    let (resp, request) = SURFACE.chat("chat_ok.json", &req).await;
    assert_eq!(resp.dropped_params, vec!["logprobs", "top_logprobs"]);
    let body = &request["body"];
    assert!(
        body.get("logprobs").is_none() && body.get("top_logprobs").is_none(),
        "{body}"
    );

    let mut req = plain_request();
    req.reasoning_effort = Some("high".into());
    let err = SURFACE.refused(&req).await;
    surface::assert_message_contains(&err, "`reasoning_effort`");
    let mut req = plain_request();
    req.extra.insert("logit_bias".into(), json!({"1": 5}));
    let err = SURFACE.refused(&req).await;
    surface::assert_message_contains(&err, "`logit_bias`");
}
