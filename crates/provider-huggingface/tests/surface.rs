//! Contract tests of the chat surface for Hugging Face Inference Providers: tools (one-shot, streamed fragments,
//! the follow-up turn with results), a JSON-schema request, reasoning out, per
//! `shared/providers/huggingface.md` §2–§4, played by wiremock on 127.0.0.1. The `tools-*`, `json-*`, `reasoning-*`
//! payloads in `tests/fixtures/` are synthetic, built from the OpenAI shape per that file (no
//! recorded examples exist; each says so in its `_source`).

use llmpool_core::{ChatRequest, FinishReason, ProviderError, StreamEvent, ToolCallDelta};
use llmpool_openai_compat::ChatCompletionRequest;
use llmpool_provider_huggingface::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, collect, events_json, streamed_text};
use serde_json::{Value, json};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: plain_request,
    stream_request: plain_stream_request,
};

/// The model of the tool fixtures, and the call id its answers carry.
const MODEL: &str = "openai/gpt-oss-20b:cheapest";
const CALL_ID: &str = "call_6a1f0c3e9b2d47";

fn plain_request() -> ChatRequest {
    ChatRequest::from_user("What is the capital of France?").with_model(MODEL)
}

fn plain_stream_request() -> ChatRequest {
    ChatRequest {
        stream: true,
        ..plain_request()
    }
}

/// A client's OpenAI request fixture (its `_source` note removed) in core terms, and the
/// body as the client wrote it.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed setup fails the test"
)]
fn surface_request(name: &str) -> (ChatRequest, Value) {
    let mut body = SUITE.fixture_json(name);
    body.as_object_mut().unwrap().remove("_source");
    let wire: ChatCompletionRequest = serde_json::from_value(body.clone()).unwrap();
    (wire.to_core().unwrap(), body)
}

/// What the upstream receives for a client body: the same body (the provider takes the
/// OpenAI shape of tools, tool results and `response_format` as it is).
fn upstream_body(body: Value) -> Value {
    body
}

/// The tool-call pieces of a stream, in order.
fn streamed_calls(items: &[Result<StreamEvent, ProviderError>]) -> Vec<ToolCallDelta> {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::ToolCall(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

/// The reasoning text of a stream.
fn streamed_reasoning(items: &[Result<StreamEvent, ProviderError>]) -> String {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::Reasoning(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn tools_are_sent_and_the_calls_come_back() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("tools-response.json")))
        .await;
    let (req, client) = surface_request("tools-request.json");
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let request = up.only_request().await;
    assert_eq!(request["body"], upstream_body(client));
    insta::assert_json_snapshot!("surface_tools_request", request);
    insta::assert_json_snapshot!("surface_tools_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(resp.tool_calls.len(), 1);
    assert_eq!(resp.tool_calls[0].id, CALL_ID);
    assert_eq!(resp.tool_calls[0].name, "get_weather");
    assert_eq!(resp.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    assert!(resp.text.is_empty());
}

#[tokio::test]
async fn streamed_tool_call_fragments_become_tool_call_events() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("tools-stream.sse")))
        .await;
    let (mut req, _) = surface_request("tools-request.json");
    req.stream = true;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&req)
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("surface_tools_stream_request", up.only_request().await);
    insta::assert_json_snapshot!("surface_tools_stream_events", events_json(&items));
    let calls = streamed_calls(&items);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0].id.as_deref(), Some(CALL_ID));
    assert_eq!(calls[0].name.as_deref(), Some("get_weather"));
    assert!(calls.iter().all(|c| c.index == 0));
    let arguments: String = calls.iter().map(|c| c.arguments.as_str()).collect();
    assert_eq!(arguments, r#"{"city":"Paris"}"#);
    assert_eq!(streamed_text(&items), "");
    let Some(Ok(StreamEvent::Done(end))) = items.last() else {
        panic!("stream did not end with Done: {items:?}");
    };
    assert_eq!(end.finish_reason, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn the_follow_up_turn_carries_the_call_and_its_result() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(
        200,
        SUITE.fixture("tools-followup-response.json"),
    ))
    .await;
    let (req, client) = surface_request("tools-followup-request.json");
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let request = up.only_request().await;
    assert_eq!(request["body"], upstream_body(client));
    insta::assert_json_snapshot!("surface_tools_followup_request", request);
    assert_eq!(resp.text, "It is 18 °C and clear in Paris.");
    assert_eq!(resp.finish_reason, Some(FinishReason::Stop));
    assert!(resp.dropped_params.is_empty(), "{:?}", resp.dropped_params);
}

#[tokio::test]
async fn a_json_schema_request_is_sent_and_the_answer_is_the_json() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("json-response.json")))
        .await;
    let (req, client) = surface_request("json-request.json");
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let request = up.only_request().await;
    assert_eq!(request["body"], upstream_body(client));
    insta::assert_json_snapshot!("surface_json_request", request);
    let answer: Value = serde_json::from_str(&resp.text).unwrap();
    assert_eq!(answer, json!({"city": "Paris"}));
}

#[tokio::test]
async fn reasoning_comes_back_apart_from_the_answer() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("reasoning-response.json")))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&plain_request())
        .await
        .unwrap();
    assert_eq!(resp.text, "Paris.");
    assert_eq!(
        resp.reasoning.as_deref(),
        Some("The user asks for the capital of France. It is Paris.")
    );
}

#[tokio::test]
async fn streamed_reasoning_comes_apart_from_the_answer() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("reasoning-stream.sse")))
        .await;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&plain_stream_request())
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("surface_reasoning_stream_events", events_json(&items));
    assert_eq!(
        streamed_reasoning(&items),
        "The user asks for the capital of France."
    );
    assert_eq!(streamed_text(&items), "Paris.");
}
