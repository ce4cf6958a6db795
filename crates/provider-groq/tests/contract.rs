//! Contract tests: Groq as documented in `shared/providers/groq.md`, played by wiremock
//! on 127.0.0.1 with the payloads in `tests/fixtures/`. One test per error row that
//! `shared/providers/README.md` §3 documents for Groq, plus transport failures.

use std::time::Duration;

use chrono::Utc;
use llmpool_core::{ChatRequest, ErrorKind, FinishReason, Message, StreamEvent, Usage};
use llmpool_provider_groq::FACTORY;
use llmpool_testkit::assert_quota_until;
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/openai/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: documented_request,
    stream_request: documented_stream_request,
};

/// `chat_request.json` in core terms.
fn documented_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are a terse assistant."),
            Message::user("What is the capital of France?"),
        ],
        model: Some("openai/gpt-oss-20b".into()),
        temperature: Some(0.2),
        max_tokens: Some(256),
        top_p: None,
        stop: vec!["\n\n\n".into()],
        stream: false,
        ..ChatRequest::default()
    }
}

/// `chat_request_stream.json` in core terms.
fn documented_stream_request() -> ChatRequest {
    ChatRequest {
        max_tokens: Some(256),
        stream: true,
        ..ChatRequest::from_user("What is the capital of France?").with_model("openai/gpt-oss-20b")
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
    assert_eq!(request["body"], SUITE.fixture_json("chat_request.json"));
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    insta::assert_json_snapshot!("chat_rate_limits", resp.rate_limits);
    assert_eq!(resp.usage, Some(Usage::new(45, 607)));
    assert_eq!(resp.rate_limits.requests_day.remaining, Some(987));
    assert_eq!(resp.rate_limits.tokens_minute.limit, Some(8000));
}

#[tokio::test]
async fn reasoning_is_not_part_of_the_answer_text() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("chat_ok_reasoning.json")))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    assert!(
        resp.text
            .starts_with("The word \"strawberry\" contains **3**")
    );
    assert!(!resp.text.contains("Okay, so the user"));
    assert_eq!(resp.model, "qwen/qwen3-32b");
    assert_eq!(resp.usage.unwrap().completion_tokens, 649);
    assert_eq!(resp.finish_reason, Some(FinishReason::Stop));
}

#[tokio::test]
async fn stream_sends_the_documented_request_and_parses_the_chunks() {
    let up = SUITE.upstream().await;
    let (_, headers) = SUITE.fixture_headers("chat_ok.headers");
    up.reply(Reply::sse(SUITE.fixture("chat_stream.sse")).headers(headers))
        .await;
    let stream = SUITE
        .provider(&up.base_url())
        .chat_stream(&documented_stream_request())
        .await
        .unwrap();
    let items = collect(stream).await;

    let request = up.only_request().await;
    assert_eq!(
        request["body"],
        SUITE.fixture_json("chat_request_stream.json")
    );
    insta::assert_json_snapshot!("stream_request", request);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Introducing \"Luminaria\".");
    let Some(Ok(StreamEvent::Done(end))) = items.last() else {
        panic!("stream did not end with Done: {items:?}");
    };
    assert_eq!(end.usage, Some(Usage::new(45, 662)));
    assert!(
        matches!(items[0], Ok(StreamEvent::Started { rate_limits, .. }) if rate_limits.requests_day.limit == Some(1000))
    );
}

// ---------------------------------------------------------------- error rows (README §3)

#[tokio::test]
async fn auth_401_invalid_api_key_is_unauthorized() {
    let reply = SUITE.recorded("error_401.headers", "error_401.json");
    let err = SUITE.chat_error(reply).await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_401", error_json(&err));
}

#[tokio::test]
async fn rate_limited_429_per_minute_waits_retry_after() {
    let reply = SUITE.recorded("error_429_tpm.headers", "error_429_tpm.json");
    let err = SUITE.chat_error(reply).await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(12)),
        "{err:?}"
    );
    // The 429's headers still update the learned limits.
    assert_eq!(err.rate_limits.requests_day.remaining, Some(941));
    insta::assert_json_snapshot!("error_429_tpm", error_json(&err));
}

#[tokio::test]
async fn rate_limited_429_per_minute_without_header_waits_the_message_time() {
    let err = SUITE.fixture_error(429, "error_429_tpm.json").await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_millis(11_455)),
        "{err:?}"
    );
}

#[tokio::test]
async fn quota_429_tokens_per_day_is_exhausted_for_the_message_wait() {
    let before = Utc::now();
    let err = SUITE.fixture_error(429, "error_429_tpd.json").await;
    assert_quota_until(&err, before, Utc::now(), 578_016);
    insta::assert_json_snapshot!("error_429_tpd", error_json(&err));
}

#[tokio::test]
async fn quota_429_requests_per_day_is_exhausted_for_the_message_wait() {
    let before = Utc::now();
    let err = SUITE.fixture_error(429, "error_429_rpd.json").await;
    assert_quota_until(&err, before, Utc::now(), 86_400);
}

#[tokio::test]
async fn model_404_not_found_is_model_not_found() {
    let err = SUITE.fixture_error(404, "error_404_model.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_404_model", error_json(&err));
}

#[tokio::test]
async fn model_400_decommissioned_is_model_not_found() {
    let err = SUITE
        .fixture_error(400, "error_400_decommissioned.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_is_bad_request() {
    let err = SUITE.chat_error(Reply::json(
        400,
        r#"{"error":{"message":"'n' : number must be at most 1","type":"invalid_request_error"}}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn bad_request_422_is_bad_request() {
    let err = SUITE.chat_error(Reply::json(
        422,
        r#"{"error":{"message":"messages.0.content: field required","type":"invalid_request_error"}}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn bad_request_413_request_larger_than_tpm_is_not_a_rate_limit() {
    let err = SUITE
        .fixture_error(413, "error_413_request_too_large.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    insta::assert_json_snapshot!("error_413", error_json(&err));
}

#[tokio::test]
async fn transient_498_flex_capacity_is_transient() {
    let err = SUITE.chat_error(Reply::json(
        498,
        r#"{"error":{"message":"Flex tier capacity exceeded. This is a temporary error, please try again later.","type":"service_unavailable"}}"#,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(498) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_500_is_transient() {
    let err = SUITE
        .chat_error(Reply::json(
            500,
            r#"{"error":{"message":"Internal Server Error","type":"internal_server_error"}}"#,
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(500) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_502_html_is_transient() {
    let err = SUITE
        .chat_error(
            Reply::json(502, "<html><body>502 Bad Gateway</body></html>").content_type("text/html"),
        )
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(502) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_503_is_transient() {
    let err = SUITE
        .chat_error(Reply::json(
            503,
            r#"{"error":{"message":"Service Unavailable","type":"internal_server_error"}}"#,
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn cloudflare_403_html_block_is_not_transient() {
    let err = SUITE
        .chat_error(
            Reply::json(403, SUITE.fixture("error_403_cloudflare.html")).content_type("text/html"),
        )
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    assert_eq!(err.message.as_deref(), Some("non-JSON (HTML) error page"));
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
async fn stream_headers_timeout_is_timeout() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("chat_stream.sse")).delayed(Duration::from_secs(3)))
        .await;
    let err = SUITE
        .provider(&up.base_url())
        .chat_stream(&documented_stream_request())
        .await
        .err()
        .unwrap();
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
        .chat_error(Reply::json(200, r#"{"id":"chatcmpl-1","choices":[{"#))
        .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
}

#[tokio::test]
async fn empty_choices_is_invalid_response() {
    let err = SUITE.chat_error(Reply::json(
        200,
        r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"openai/gpt-oss-20b","choices":[]}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
}

#[tokio::test]
async fn ok_status_with_an_error_body_is_classified() {
    let before = Utc::now();
    let err = SUITE
        .chat_error(Reply::json(200, SUITE.fixture("error_429_tpd.json")))
        .await;
    // The body says "per day" even though the status says 200.
    assert_quota_until(&err, before, Utc::now(), 578_016);
    let err = SUITE.chat_error(Reply::json(
        200,
        r#"{"error":{"message":"The server had an error while processing your request","type":"internal_server_error"}}"#,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: None }),
        "{err:?}"
    );
    let err = SUITE
        .chat_error(Reply::json(200, SUITE.fixture("error_401.json")))
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn stream_error_before_the_first_chunk_is_returned_directly() {
    let reply = SUITE.recorded("error_429_tpm.headers", "error_429_tpm.json");
    let err = SUITE.stream_error(reply).await;
    assert!(
        matches!(
            err.kind,
            ErrorKind::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn stream_error_object_mid_stream_ends_with_an_error() {
    let items = SUITE.stream_items("chat_stream_midstream_error.sse").await;
    insta::assert_json_snapshot!("stream_midstream_error", events_json(&items));
    assert!(!items.iter().any(|i| matches!(i, Ok(StreamEvent::Done(_)))));
    let Some(Err(err)) = items.last() else {
        panic!("no error at the end: {items:?}");
    };
    assert!(matches!(err.kind, ErrorKind::Transient { .. }), "{err:?}");
    assert_eq!(streamed_text(&items), "Int");
}

#[tokio::test]
async fn stream_x_groq_error_ends_with_an_error() {
    let items = SUITE.stream_items("chat_stream_x_groq_error.sse").await;
    let Some(Err(err)) = items.last() else {
        panic!("no error at the end: {items:?}");
    };
    assert!(matches!(err.kind, ErrorKind::Transient { .. }), "{err:?}");
    assert!(
        err.message
            .as_deref()
            .unwrap()
            .contains("ran out of capacity")
    );
}

#[tokio::test]
async fn stream_cut_without_finish_or_done_is_an_error_not_done() {
    let items = SUITE.stream_items("chat_stream_cut.sse").await;
    assert!(!items.iter().any(|i| matches!(i, Ok(StreamEvent::Done(_)))));
    assert!(
        matches!(items.last(), Some(Err(e)) if matches!(e.kind, ErrorKind::Transient { status: None }))
    );
    assert_eq!(streamed_text(&items), "Introducing");
}

#[tokio::test]
async fn stream_malformed_event_is_skipped() {
    let items = SUITE.stream_items("chat_stream_malformed_event.sse").await;
    assert_eq!(streamed_text(&items), "Int");
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage == Some(Usage::new(45, 662)))
    );
}

// ---------------------------------------------------------------- the chat surface (capabilities.md)

/// A client's OpenAI request fixture (its `_source` note removed) in core terms, and the
/// body Groq must receive for it.
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

#[tokio::test]
async fn tools_pass_through_and_the_calls_come_back() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("tools-response.json")))
        .await;
    let (req, expected) = surface_request("tools-request.json");
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let request = up.only_request().await;
    assert_eq!(request["body"], expected);
    insta::assert_json_snapshot!("tools_request", request);
    insta::assert_json_snapshot!("tools_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(resp.tool_calls.len(), 1);
    assert_eq!(resp.tool_calls[0].id, "ax9fskhev");
    assert_eq!(resp.tool_calls[0].arguments, "{}");
    assert!(resp.text.is_empty());
}

#[tokio::test]
async fn streamed_tool_calls_become_tool_call_events() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("tools-stream.txt")))
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
    insta::assert_json_snapshot!("tools_stream_events", events_json(&items));
    let calls: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::ToolCall(c)) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id.as_deref(), Some("tk85n1k4m"));
    assert_eq!(calls[0].name.as_deref(), Some("weather"));
    let Some(Ok(StreamEvent::Done(end))) = items.last() else {
        panic!("stream did not end with Done: {items:?}");
    };
    assert_eq!(end.finish_reason, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn the_follow_up_turn_with_tool_results_passes_through() {
    let up = SUITE.upstream().await;
    up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
        .await;
    let (req, expected) = surface_request("tools-followup-request.json");
    SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let request = up.only_request().await;
    assert_eq!(request["body"], expected);
    insta::assert_json_snapshot!("tools_followup_request", request);
}

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
        SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
        let request = up.only_request().await;
        assert_eq!(request["body"], expected, "{name}");
        insta::assert_json_snapshot!(snapshot, request);
    }
}

#[tokio::test]
async fn reasoning_streams_apart_from_the_answer() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("reasoning-stream.txt")))
        .await;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&documented_stream_request())
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("reasoning_stream_events", events_json(&items));
    let reasoning: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::Reasoning(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(!reasoning.is_empty());
    assert!(!streamed_text(&items).contains(&reasoning));
}

#[tokio::test]
async fn logprobs_and_message_names_are_left_out_and_reported_logit_bias_refused() {
    let up = SUITE.upstream().await;
    up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
        .await;
    let mut req = documented_request();
    req.logprobs = Some(true);
    req.messages[1].name = Some("bob".into());
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    assert_eq!(resp.dropped_params, vec!["logprobs", "messages[].name"]);
    assert_eq!(
        up.only_request().await["body"],
        SUITE.fixture_json("chat_request.json")
    );

    req.extra
        .insert("logit_bias".into(), serde_json::json!({"1": 5}));
    let err = SUITE.provider(&up.base_url()).chat(&req).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    assert!(err.message.unwrap().contains("`logit_bias`"));
}

#[tokio::test]
async fn unsupported_combinations_are_bad_requests() {
    for name in [
        "json-error-400-json-mode-with-tools.json",
        "json-error-400-json-schema-unsupported.json",
        "tools-error-400-tool-use-failed.json",
    ] {
        let err = SUITE.fixture_error(400, name).await;
        assert!(matches!(err.kind, ErrorKind::BadRequest), "{name}: {err:?}");
        insta::assert_json_snapshot!(
            name.trim_end_matches(".json").replace('-', "_"),
            error_json(&err)
        );
    }
}

/// The recorded qwen answers (`reasoning-qwen-*.json`, a 64-token cap): with reasoning on,
/// the cap cut the model while it was still thinking, so the answer is empty, the
/// reasoning is kept apart from it and the finish is `length`; with `reasoning_effort`
/// `none` the answer is text only, with no reasoning at all.
#[tokio::test]
async fn qwen_reasoning_on_and_off_is_read_apart_from_the_answer() {
    let question = "What is 17 times 19? Explain your calculation, then answer.";
    let mut req = ChatRequest::from_user(question).with_model("qwen/qwen3.6-27b");
    req.max_tokens = Some(64);
    // The recorded requests asked for `reasoning_format: parsed`, a Groq field that
    // reaches Groq as the client sent it.
    req.extra
        .insert("reasoning_format".into(), serde_json::json!("parsed"));

    let up = SUITE.upstream().await;
    up.reply(Reply::json(
        200,
        SUITE.fixture("reasoning-qwen-enabled.json"),
    ))
    .await;
    let on = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let sent = up.only_request().await;
    assert_eq!(sent["body"]["reasoning_format"], "parsed");
    insta::assert_json_snapshot!("reasoning_qwen_enabled_response", on, { ".latency" => "[latency]" });
    assert_eq!(on.text, "");
    assert!(
        on.reasoning
            .as_deref()
            .is_some_and(|r| r.starts_with("Here's a thinking process")),
        "{on:?}"
    );
    assert_eq!(on.finish_reason, Some(FinishReason::Length));
    assert_eq!(on.usage, Some(Usage::new(27, 64)));
    assert_eq!(on.model, "qwen/qwen3.6-27b");

    req.reasoning_effort = Some("none".into());
    let up = SUITE.upstream().await;
    up.reply(Reply::json(
        200,
        SUITE.fixture("reasoning-qwen-disabled.json"),
    ))
    .await;
    let off = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    assert_eq!(up.only_request().await["body"]["reasoning_effort"], "none");
    insta::assert_json_snapshot!("reasoning_qwen_disabled_response", off, { ".latency" => "[latency]" });
    assert_eq!(off.reasoning, None);
    assert!(
        off.text.starts_with("To calculate $17 \\times 19$"),
        "{off:?}"
    );
    assert_eq!(off.finish_reason, Some(FinishReason::Length));
    assert_eq!(off.usage, Some(Usage::new(29, 64)));
}

/// Groq's 400 for an assistant message that carries `reasoning_content`
/// (`reasoning-error-400-unsupported-message-property.json`) is a bad request naming the
/// property; llmpool never causes it: an earlier turn's reasoning is left out of what
/// Groq receives and reported as dropped.
#[tokio::test]
async fn reasoning_sent_back_is_left_out_and_groqs_400_for_it_names_the_property() {
    let err = SUITE
        .fixture_error(400, "reasoning-error-400-unsupported-message-property.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    assert_eq!(err.status, Some(400));
    assert!(
        err.message
            .as_deref()
            .is_some_and(|m| m.contains("property 'reasoning_content' is unsupported")),
        "{err:?}"
    );
    insta::assert_json_snapshot!(
        "reasoning_error_400_unsupported_message_property",
        error_json(&err)
    );

    let up = SUITE.upstream().await;
    up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
        .await;
    let mut earlier = Message::assistant("Paris.");
    earlier.reasoning = Some("The user asks for the capital of France.".into());
    let mut req = documented_request();
    req.messages.push(earlier);
    req.messages.push(Message::user("And of Italy?"));
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    assert_eq!(resp.dropped_params, vec!["messages[].reasoning_content"]);
    let sent = up.only_request().await;
    assert_eq!(
        sent["body"]["messages"][2],
        serde_json::json!({"role": "assistant", "content": "Paris."})
    );
}
