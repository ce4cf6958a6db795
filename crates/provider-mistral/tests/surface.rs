//! Contract tests of the chat surface for Mistral: tools (one-shot, streamed fragments,
//! the follow-up turn with results), a JSON-schema request, per
//! `shared/providers/mistral.md` §2–§4, played by wiremock on 127.0.0.1. The `tools-*`, `json-*`
//! payloads in `tests/fixtures/` are synthetic, built from the OpenAI shape per that file (no
//! recorded examples exist; each says so in its `_source`).
//! The scaffold is `llmpool_testkit::surface`.

use llmpool_core::ChatRequest;
use llmpool_provider_mistral::FACTORY;
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
    call_id: "D681PevKs",
    upstream_body: surface::as_written,
};

/// The model of the tool fixtures.
const MODEL: &str = "ministral-8b-latest";

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

/// Whether Mistral takes `id` (mistral.md §2: `[a-zA-Z0-9]{9}`).
fn mistral_id(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[tokio::test]
async fn the_follow_up_turn_gets_mistral_ids_for_foreign_ones_and_keeps_the_rest() {
    let (req, client) = SURFACE.request("tools-followup-request.json");
    let (resp, request) = SURFACE.chat("tools-followup-response.json", &req).await;
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
    let (_, again) = SURFACE.chat("tools-followup-response.json", &req).await;
    assert_eq!(again["body"], *body);
}

#[tokio::test]
async fn ids_mistral_takes_and_parallel_calls_keep_their_pairing() {
    let (mut req, _) = SURFACE.request("tools-followup-request.json");
    // A second call of the same turn, with an id another provider (Groq) made, answered first.
    let mut groq_call = req.messages[1].tool_calls[0].clone();
    groq_call.id = "ax9fskhev".into();
    groq_call.arguments = r#"{"city":"Lyon"}"#.into();
    req.messages[1].tool_calls.push(groq_call);
    let mut lyon = req.messages[2].clone();
    lyon.tool_call_id = Some("ax9fskhev".into());
    req.messages.insert(2, lyon);
    let (_, request) = SURFACE.chat("tools-followup-response.json", &req).await;
    let body = &request["body"];
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
    let (resp, request) = SURFACE
        .sent_as_written("json-request.json", "json-response.json")
        .await;
    insta::assert_json_snapshot!("surface_json_request", request);
    let answer: Value = serde_json::from_str(&resp.text).unwrap();
    assert_eq!(answer, json!({"city": "Paris"}));
}

#[tokio::test]
async fn fields_the_strict_schema_refuses_are_left_out_and_named_or_refuse_the_route() {
    let mut req = plain_request();
    req.user = Some("user-42".into());
    req.logprobs = Some(true);
    req.messages[0].name = Some("bob".into());
    let (resp, request) = SURFACE.chat("chat_ok.json", &req).await;
    assert_eq!(
        resp.dropped_params,
        vec!["logprobs", "user", "messages[].name"]
    );
    let body = &request["body"];
    for gone in ["user", "logprobs"] {
        assert!(body.get(gone).is_none(), "{gone} sent: {body}");
    }
    assert!(body["messages"][0].get("name").is_none(), "{body}");

    for field in ["logit_bias", "top_k", "min_p"] {
        let mut req = plain_request();
        req.extra.insert(field.into(), json!(1));
        let err = SURFACE.refused(&req).await;
        surface::assert_bad_request_naming(&err, &format!("`{field}`"));
    }
}

/// mistral.md §5: the 400 code `3280` a foreign id would have caused (the rewrite prevents
/// it; an id Mistral still refuses is the caller's request, not a transient failure).
#[tokio::test]
async fn tool_call_id_3280_is_a_bad_request_naming_the_id() {
    let err = SUITE
        .fixture_error(400, "error_400_tool_call_id.json")
        .await;
    surface::assert_bad_request_naming(&err, "Tool call id");
    insta::assert_json_snapshot!("surface_error_400_tool_call_id", error_json(&err));
}
