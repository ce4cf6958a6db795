//! Contract tests of the chat surface for Mistral: tools (one-shot, streamed fragments,
//! the follow-up turn with results), a JSON-schema request, per
//! `shared/providers/mistral.md` §2–§4, played by wiremock on 127.0.0.1. The `tools-*`, `json-*`
//! payloads in `tests/fixtures/` are synthetic, built from the OpenAI shape per that file (no
//! recorded examples exist; each says so in its `_source`).

use llmpool_core::{
    ChatRequest, ErrorKind, FinishReason, ProviderError, StreamEvent, ToolCallDelta,
};
use llmpool_openai_compat::ChatCompletionRequest;
use llmpool_provider_mistral::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};
use serde_json::{Value, json};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: plain_request,
    stream_request: plain_stream_request,
};

/// The model of the tool fixtures, and the call id its answers carry.
const MODEL: &str = "ministral-8b-latest";
const CALL_ID: &str = "D681PevKs";

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

/// The error of a call of `req` that must fail before reaching the upstream.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed setup fails the test"
)]
async fn refused(req: &ChatRequest) -> ProviderError {
    let up = SUITE.upstream().await;
    let err = SUITE.provider(&up.base_url()).chat(req).await.unwrap_err();
    assert!(
        up.server.received_requests().await.unwrap().is_empty(),
        "a refused request reached the upstream"
    );
    err
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

/// Whether Mistral takes `id` (mistral.md §2: `[a-zA-Z0-9]{9}`).
fn mistral_id(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[tokio::test]
async fn the_follow_up_turn_gets_mistral_ids_for_foreign_ones_and_keeps_the_rest() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(
        200,
        SUITE.fixture("tools-followup-response.json"),
    ))
    .await;
    let (req, client) = surface_request("tools-followup-request.json");
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let request = up.only_request().await;
    insta::assert_json_snapshot!("surface_tools_followup_request", request);
    let body = &request["body"];
    let call_id = body["messages"][1]["tool_calls"][0]["id"].as_str().unwrap();
    assert!(mistral_id(call_id), "{call_id}");
    assert_ne!(call_id, "call_9f8e7d6c5b4a3f21");
    assert_eq!(body["messages"][2]["tool_call_id"], json!(call_id));
    // Nothing else changes.
    let mut expected = client;
    expected["messages"][1]["tool_calls"][0]["id"] = json!(call_id);
    expected["messages"][2]["tool_call_id"] = json!(call_id);
    assert_eq!(*body, expected);
    assert_eq!(resp.text, "It is 18 °C and clear in Paris.");
    assert!(resp.dropped_params.is_empty(), "{:?}", resp.dropped_params);

    // The same conversation again: the same ids.
    let again = SUITE.upstream().await;
    again
        .reply(Reply::json(
            200,
            SUITE.fixture("tools-followup-response.json"),
        ))
        .await;
    SUITE.provider(&again.base_url()).chat(&req).await.unwrap();
    assert_eq!(again.only_request().await["body"], *body);
}

#[tokio::test]
async fn ids_mistral_takes_and_parallel_calls_keep_their_pairing() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(
        200,
        SUITE.fixture("tools-followup-response.json"),
    ))
    .await;
    let (mut req, _) = surface_request("tools-followup-request.json");
    // A second call of the same turn, with an id another provider (Groq) made, answered first.
    let mut groq_call = req.messages[1].tool_calls[0].clone();
    groq_call.id = "ax9fskhev".into();
    groq_call.arguments = r#"{"city":"Lyon"}"#.into();
    req.messages[1].tool_calls.push(groq_call);
    let mut lyon = req.messages[2].clone();
    lyon.tool_call_id = Some("ax9fskhev".into());
    req.messages.insert(2, lyon);
    SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let body = up.only_request().await["body"].clone();
    let calls = body["messages"][1]["tool_calls"].as_array().unwrap();
    assert_eq!(calls[1]["id"], json!("ax9fskhev"));
    assert_eq!(
        calls[1]["function"]["arguments"],
        json!(r#"{"city":"Lyon"}"#)
    );
    assert!(mistral_id(calls[0]["id"].as_str().unwrap()));
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    assert_eq!(body["messages"][2]["tool_call_id"], json!("ax9fskhev"));
    assert_eq!(body["messages"][3]["tool_call_id"], calls[0]["id"]);
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
async fn fields_the_strict_schema_refuses_are_left_out_and_named_or_refuse_the_route() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("chat_ok.json")))
        .await;
    let mut req = plain_request();
    req.user = Some("user-42".into());
    req.logprobs = Some(true);
    req.messages[0].name = Some("bob".into());
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    assert_eq!(
        resp.dropped_params,
        vec!["logprobs", "user", "messages[].name"]
    );
    let body = up.only_request().await["body"].clone();
    for gone in ["user", "logprobs"] {
        assert!(body.get(gone).is_none(), "{gone} sent: {body}");
    }
    assert!(body["messages"][0].get("name").is_none(), "{body}");

    for field in ["logit_bias", "top_k", "min_p"] {
        let mut req = plain_request();
        req.extra.insert(field.into(), json!(1));
        let err = refused(&req).await;
        assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
        assert!(
            err.message
                .as_deref()
                .is_some_and(|m| m.contains(&format!("`{field}`"))),
            "{err:?}"
        );
    }
}

/// mistral.md §5: the 400 code `3280` a foreign id would have caused (the rewrite prevents
/// it; an id Mistral still refuses is the caller's request, not a transient failure).
#[tokio::test]
async fn tool_call_id_3280_is_a_bad_request_naming_the_id() {
    let err = SUITE
        .fixture_error(400, "error_400_tool_call_id.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    assert!(
        err.message
            .as_deref()
            .is_some_and(|m| m.contains("Tool call id")),
        "{err:?}"
    );
    insta::assert_json_snapshot!("surface_error_400_tool_call_id", error_json(&err));
}
