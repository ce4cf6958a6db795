//! Contract tests: Cerebras as documented in `shared/providers/cerebras.md`, played by
//! wiremock on 127.0.0.1 with the payloads in `tests/fixtures/`. One test per error row
//! that `shared/providers/README.md` §3 documents for Cerebras, plus transport failures.

use std::time::Duration;

use chrono::Utc;
use llmpool_core::{ChatRequest, ErrorKind, FinishReason, Message, StreamEvent, Usage};
use llmpool_provider_cerebras::FACTORY;
use llmpool_testkit::assert_quota_until;
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: documented_request,
    stream_request,
};

/// `chat_request.json` in core terms (core has no `reasoning_effort`).
fn documented_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are a terse assistant."),
            Message::user("What is the capital of France?"),
        ],
        model: Some("gpt-oss-120b".into()),
        temperature: Some(0.2),
        max_tokens: Some(512),
        top_p: None,
        stop: vec!["\n\n\n".into()],
        stream: false,
        ..ChatRequest::default()
    }
}

fn stream_request() -> ChatRequest {
    ChatRequest {
        stream: true,
        ..documented_request()
    }
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn chat_sends_the_documented_request_and_parses_the_answer() {
    let up = SUITE.upstream().await;
    up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();

    let request = up.only_request().await;
    let mut documented = SUITE.fixture_json("chat_request.json");
    documented
        .as_object_mut()
        .unwrap()
        .remove("reasoning_effort");
    assert_eq!(request["body"], documented);
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    insta::assert_json_snapshot!("chat_rate_limits", resp.rate_limits);
    assert_eq!(resp.text, "Paris.");
    assert_eq!(resp.usage, Some(Usage::new(84, 22)));
    assert_eq!(resp.rate_limits.requests_day.limit, Some(14_400));
    assert_eq!(resp.rate_limits.tokens_minute.remaining, Some(59_894));
}

#[tokio::test]
async fn reasoning_cut_by_the_token_limit_is_an_empty_answer_of_length() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(
        200,
        SUITE.fixture("chat_ok_truncated_reasoning.json"),
    ))
    .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    assert_eq!(resp.text, "");
    assert_eq!(resp.finish_reason, Some(FinishReason::Length));
}

#[tokio::test]
async fn stream_asks_for_usage_and_parses_the_chunks() {
    let up = SUITE.upstream().await;
    let (_, headers) = SUITE.fixture_headers("chat_ok.headers");
    up.reply(Reply::sse(SUITE.fixture("chat_stream.sse")).headers(headers))
        .await;
    let stream = SUITE
        .provider(&up.base_url())
        .chat_stream(&stream_request())
        .await
        .unwrap();
    let items = collect(stream).await;

    let request = up.only_request().await;
    assert_eq!(request["body"]["stream"], true);
    assert_eq!(request["body"]["stream_options"]["include_usage"], true);
    insta::assert_json_snapshot!("stream_request", request);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    // Reasoning deltas are not answer text.
    assert_eq!(streamed_text(&items), "Paris.");
    let Some(Ok(StreamEvent::Done(end))) = items.last() else {
        panic!("stream did not end with Done: {items:?}");
    };
    assert_eq!(end.usage, Some(Usage::new(84, 22)));
}

// ---------------------------------------------------------------- error rows (README §3)

#[tokio::test]
async fn auth_401_wrong_api_key_is_unauthorized() {
    let err = SUITE.fixture_error(401, "error_401.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_401", error_json(&err));
}

#[tokio::test]
async fn auth_403_not_authenticated_is_unauthorized() {
    let err = SUITE
        .fixture_error(403, "error_403_no_auth_header.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    assert_eq!(err.message.as_deref(), Some("Not authenticated"));
}

#[tokio::test]
async fn payment_402_trial_spent_is_payment_required() {
    let err = SUITE
        .fixture_error(402, "error_402_payment_required.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::PaymentRequired), "{err:?}");
    insta::assert_json_snapshot!("error_402", error_json(&err));
}

#[tokio::test]
async fn rate_limited_429_requests_per_minute_is_rate_limited() {
    let err = SUITE.fixture_error(429, "error_429_rpm.json").await;
    assert!(matches!(err.kind, ErrorKind::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn rate_limited_429_tokens_per_minute_waits_the_minute_reset() {
    let reply = SUITE.recorded("error_429_tpm.headers", "error_429_tpm.json");
    let err = SUITE.chat_error(reply).await;
    let ErrorKind::RateLimited {
        retry_after: Some(wait),
    } = err.kind
    else {
        panic!("{err:?}");
    };
    assert_eq!(wait.as_millis(), 11_382);
    assert_eq!(err.rate_limits.tokens_minute.remaining, Some(0));
    insta::assert_json_snapshot!("error_429_tpm", error_json(&err));
}

#[tokio::test]
async fn quota_429_tokens_per_day_is_exhausted_until_retry_after() {
    let reply = SUITE.recorded("error_429_tpd.headers", "error_429_tpd.json");
    let before = Utc::now();
    let err = SUITE.chat_error(reply).await;
    assert_quota_until(&err, before, Utc::now(), 86_399_000);
    insta::assert_json_snapshot!("error_429_tpd", error_json(&err));
}

#[tokio::test]
async fn quota_429_tokens_per_day_without_retry_after_uses_the_day_reset() {
    let (status, mut headers) = SUITE.fixture_headers("error_429_tpd.headers");
    headers.retain(|(name, _)| name != "retry-after");
    headers.retain(|(name, _)| name != "x-ratelimit-reset-requests-day");
    headers.push(("x-ratelimit-reset-requests-day".into(), "5000.25".into()));
    let before = Utc::now();
    let reply = SUITE
        .json_error(status, "error_429_tpd.json")
        .headers(headers);
    let err = SUITE.chat_error(reply).await;
    assert_quota_until(&err, before, Utc::now(), 5_000_250);
}

#[tokio::test]
async fn model_404_not_found_is_model_not_found() {
    let err = SUITE.fixture_error(404, "error_404_model.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_is_bad_request() {
    let err = SUITE.chat_error(Reply::json(
        400,
        r#"{"message":"Please reduce the number of stop sequences to 4 or fewer.","type":"invalid_request_error","param":"stop","code":"wrong_api_format"}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn bad_request_422_is_bad_request() {
    let err = SUITE.chat_error(Reply::json(
        422,
        r#"{"message":"temperature: Input should be less than or equal to 1.5","type":"invalid_request_error","param":"temperature","code":"wrong_api_format"}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn transient_429_queue_exceeded_is_capacity_not_quota() {
    let err = SUITE.fixture_error(429, "error_429_queue.json").await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(429) }),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_429_queue", error_json(&err));
}

#[tokio::test]
async fn transient_500_is_transient() {
    let err = SUITE.chat_error(Reply::json(
        500,
        r#"{"message":"Internal server error","type":"internal_server_error","param":"","code":"internal_server_error"}"#,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(500) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_503_is_transient() {
    let err = SUITE
        .chat_error(
            Reply::json(
                503,
                "upstream connect error or disconnect/reset before headers",
            )
            .content_type("text/plain"),
        )
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- broken answers and transport

#[tokio::test]
async fn timeout_is_timeout() {
    let err = SUITE
        .chat_error(Reply::json(200, SUITE.fixture("chat_ok.json")).delayed(Duration::from_secs(3)))
        .await;
    assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let err = SUITE.refused_chat_error().await;
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
}

#[tokio::test]
async fn malformed_json_is_invalid_response() {
    let err = SUITE
        .chat_error(Reply::json(200, r#"{"id":"chatcmpl-1","choices":"#))
        .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
}

#[tokio::test]
async fn empty_choices_is_invalid_response() {
    let err = SUITE.chat_error(Reply::json(
        200,
        r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-oss-120b","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":0,"total_tokens":1}}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
}

#[tokio::test]
async fn ok_status_with_a_flat_error_body_is_classified() {
    let err = SUITE.fixture_error(200, "error_429_queue.json").await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: None }),
        "{err:?}"
    );
    let before = Utc::now();
    let reply = SUITE
        .json_error(200, "error_429_tpd.json")
        .headers(vec![("retry-after".into(), "60".into())]);
    let err = SUITE.chat_error(reply).await;
    assert_quota_until(&err, before, Utc::now(), 60_000);
}

#[tokio::test]
async fn stream_error_before_the_first_chunk_is_returned_directly() {
    let reply = SUITE.json_error(402, "error_402_payment_required.json");
    let err = SUITE.stream_error(reply).await;
    assert!(matches!(err.kind, ErrorKind::PaymentRequired), "{err:?}");
}

#[tokio::test]
async fn stream_flat_error_mid_stream_ends_with_an_error() {
    let items = SUITE.stream_items("chat_stream_midstream_error.sse").await;
    insta::assert_json_snapshot!("stream_midstream_error", events_json(&items));
    assert!(!items.iter().any(|i| matches!(i, Ok(StreamEvent::Done(_)))));
    assert!(matches!(items.last(), Some(Err(e)) if matches!(e.kind, ErrorKind::Transient { .. })));
    assert_eq!(streamed_text(&items), "Paris");
}

#[tokio::test]
async fn stream_error_event_mid_stream_ends_with_an_error() {
    let items = SUITE.stream_items("chat_stream_event_error.sse").await;
    assert!(!items.iter().any(|i| matches!(i, Ok(StreamEvent::Done(_)))));
    let Some(Err(err)) = items.last() else {
        panic!("no error at the end: {items:?}");
    };
    assert!(matches!(err.kind, ErrorKind::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn stream_cut_without_finish_or_done_is_an_error_not_done() {
    let items = SUITE.stream_items("chat_stream_cut.sse").await;
    assert!(!items.iter().any(|i| matches!(i, Ok(StreamEvent::Done(_)))));
    assert!(
        matches!(items.last(), Some(Err(e)) if matches!(e.kind, ErrorKind::Transient { status: None }))
    );
}

// ---------------------------------------------------------------- the chat surface (capabilities.md)

#[tokio::test]
async fn tool_calls_come_back_with_their_reasoning() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("tools-response.json")))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    insta::assert_json_snapshot!("tools_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(resp.tool_calls[0].id, "85e4fd267");
    assert!(resp.reasoning.is_some());
    assert!(resp.text.is_empty());
}

#[tokio::test]
async fn a_streamed_tool_call_arrives_whole() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("tools-stream.txt")))
        .await;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&stream_request())
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("tools_stream_events", events_json(&items));
    assert!(items.iter().any(|i| matches!(
        i,
        Ok(StreamEvent::ToolCall(c)) if c.id.as_deref() == Some("bbd2b9d98") && c.arguments == "{}"
    )));
    let Some(Ok(StreamEvent::Done(end))) = items.last() else {
        panic!("stream did not end with Done: {items:?}");
    };
    assert_eq!(end.finish_reason, Some(FinishReason::ToolCalls));
}

/// The follow-up turn keeps the assistant's reasoning (Cerebras takes `reasoning` on
/// assistant input), its calls, and the tool result, exactly as the client sent them.
#[tokio::test]
async fn the_follow_up_turn_passes_through_with_reasoning() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("tools-response.json")))
        .await;
    let mut body = SUITE.fixture_json("tools-followup-request.json");
    if let Some(obj) = body.as_object_mut() {
        obj.remove("_source");
    }
    let wire: llmpool_openai_compat::ChatCompletionRequest =
        serde_json::from_value(body.clone()).unwrap();
    SUITE
        .provider(&up.base_url())
        .chat(&wire.to_core().unwrap())
        .await
        .unwrap();
    body["stream"] = serde_json::json!(false);
    let request = up.only_request().await;
    assert_eq!(request["body"], body);
    insta::assert_json_snapshot!("tools_followup_request", request);
}

/// GLM in JSON mode with tools answers with both JSON content and a repeated call: both
/// reach the caller, under the upstream's `tool_calls` finish.
#[tokio::test]
async fn json_content_and_a_tool_call_together_both_reach_the_caller() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(
        200,
        SUITE.fixture("json-tools-mixed-response.json"),
    ))
    .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    assert!(!resp.text.is_empty());
    assert!(!resp.tool_calls.is_empty());
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
}

/// A client's OpenAI request fixture (its `_source` note removed) in core terms, and the
/// body Cerebras must receive for it: the same, plus the `stream` flag llmpool always
/// states.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed setup fails the test"
)]
fn surface_request(name: &str) -> (ChatRequest, serde_json::Value) {
    let mut body = SUITE.fixture_json(name);
    body.as_object_mut().unwrap().remove("_source");
    let wire: llmpool_openai_compat::ChatCompletionRequest =
        serde_json::from_value(body.clone()).unwrap();
    body["stream"] = serde_json::json!(false);
    (wire.to_core().unwrap(), body)
}

/// A strict JSON schema (`json-request.json`) and a data-URL image for the vision model
/// (`vision-request.json`) reach Cerebras exactly as the client wrote them, output cap
/// under `max_completion_tokens` included.
#[tokio::test]
async fn json_schema_and_images_pass_through() {
    for (name, snapshot) in [
        ("json-request.json", "json_request"),
        ("vision-request.json", "vision_request"),
    ] {
        let up = SUITE.upstream().await;
        up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
            .await;
        let (req, expected) = surface_request(name);
        let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
        assert!(resp.dropped_params.is_empty(), "{name}: {resp:?}");
        let request = up.only_request().await;
        assert_eq!(request["body"], expected, "{name}");
        insta::assert_json_snapshot!(snapshot, request);
    }
}

/// `chat_request.json` as a client sends it, `reasoning_effort` included (the first
/// test builds its request without it), reaches Cerebras exactly.
#[tokio::test]
async fn the_documented_request_with_its_reasoning_effort_passes_through() {
    let up = SUITE.upstream().await;
    up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
        .await;
    let (req, expected) = surface_request("chat_request.json");
    assert_eq!(req.reasoning_effort.as_deref(), Some("low"));
    SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    assert_eq!(up.only_request().await["body"], expected);
}
