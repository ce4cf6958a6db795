//! Contract tests: OpenRouter as documented in `shared/providers/openrouter.md`, played by
//! wiremock on 127.0.0.1 with the payloads in `tests/fixtures/`. One test per error row
//! that `shared/providers/README.md` §3 documents for OpenRouter, plus transport failures.
#![expect(
    clippy::unwrap_used,
    reason = "the helpers outside #[test] functions fail the test by panicking, like the tests"
)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use llmpool_core::{ChatRequest, ErrorKind, FinishReason, Message, StreamEvent, Usage};
use llmpool_provider_openrouter::{FACTORY, attribution_headers};
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};
use llmpool_testkit::{self as testkit, assert_no_key};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/api/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: documented_request,
    stream_request,
};

/// `chat_request.json` in core terms.
fn documented_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are a terse assistant."),
            Message::user("What is the capital of France?"),
        ],
        model: Some("openai/gpt-oss-20b:free".into()),
        temperature: Some(0.2),
        max_tokens: Some(256),
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

fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

/// `X-RateLimit-Reset` of the recorded free-daily 429 (2026-09-08T00:00:00Z).
const RECORDED_RESET_MS: &str = "1788825600000";

const COMPLETE_TEXT: &str = "The capital of France is Paris. Paris is located in the north-central part of the country on the Seine River and is one of the world's major cultural, financial, and political centers.";

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn chat_sends_the_documented_request_with_attribution_and_parses_the_answer() {
    let up = SUITE.upstream().await;
    up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
        .await;
    let mut cfg = testkit::config(&FACTORY, &up.base_url());
    cfg.headers = attribution_headers(Some("https://example.com/my-app"), Some("My App"));
    let p = (FACTORY.build)(&cfg).unwrap();
    assert_no_key(&format!("{p:?}"));
    let resp = p.chat(&documented_request()).await.unwrap();

    let request = up.only_request().await;
    assert_eq!(request["body"], SUITE.fixture_json("chat_request.json"));
    // The documented request headers (`chat_request.headers`) carry the same referer.
    let (_, documented_headers) = SUITE.fixture_headers("chat_request.headers");
    assert!(
        documented_headers.contains(&("http-referer".into(), "https://example.com/my-app".into()))
    );
    assert_eq!(
        request["headers"]["http-referer"],
        "https://example.com/my-app"
    );
    assert_eq!(request["headers"]["x-title"], "My App");
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.usage, Some(Usage::new(21, 144)));
    assert_eq!(resp.model, "anthropic/claude-sonnet-4");
    // Successful responses carry no rate-limit headers.
    assert!(resp.rate_limits.is_empty());
}

#[tokio::test]
async fn keep_alive_whitespace_before_the_body_is_skipped() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("chat_ok_raw_body.txt")))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    assert!(
        resp.text
            .starts_with("I'll work through this step by step.")
    );
    assert!(resp.text.ends_with("**Answer:** 2 + 2 = 4"));
    assert_eq!(resp.finish_reason, Some(FinishReason::Stop));
}

#[tokio::test]
async fn stream_skips_keep_alive_comments_and_reads_usage_after_the_finish() {
    let up = SUITE.upstream().await;
    let (_, headers) = SUITE.fixture_headers("chat_stream.headers");
    up.reply(Reply::sse(SUITE.fixture("chat_stream.sse")).headers(headers))
        .await;
    let stream = SUITE
        .provider(&up.base_url())
        .chat_stream(&stream_request())
        .await
        .unwrap();
    let items = collect(stream).await;

    let request = up.only_request().await;
    insta::assert_json_snapshot!("stream_request", request);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), COMPLETE_TEXT);
    let Some(Ok(StreamEvent::Done(end))) = items.last() else {
        panic!("stream did not end with Done: {items:?}");
    };
    assert_eq!(end.usage, Some(Usage::new(43, 134)));
    assert_eq!(end.finish_reason, Some(FinishReason::Stop));
}

// ---------------------------------------------------------------- error rows (README §3)

#[tokio::test]
async fn auth_401_user_not_found_is_unauthorized() {
    let err = SUITE.fixture_error(401, "error_401_bad_key.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_401_bad_key", error_json(&err));
}

#[tokio::test]
async fn auth_401_no_credentials_is_unauthorized() {
    let err = SUITE.fixture_error(401, "error_401_no_auth.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn payment_402_credits_is_payment_required() {
    let err = SUITE.fixture_error(402, "error_402_credits.json").await;
    assert!(matches!(err.kind, ErrorKind::PaymentRequired), "{err:?}");
}

#[tokio::test]
async fn payment_402_in_flight_budget_is_a_short_wait_for_retry_after() {
    let reply = SUITE
        .json_error(402, "error_402_in_flight_budget.json")
        .headers(vec![("Retry-After".into(), "4".into())]);
    let err = SUITE.chat_error(reply).await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(4)),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_402_in_flight_budget", error_json(&err));
}

#[tokio::test]
async fn rate_limited_429_upstream_pool_waits_retry_after() {
    let reply = SUITE.recorded("error_429_upstream.headers", "error_429_upstream.json");
    let err = SUITE.chat_error(reply).await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(23)),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_429_upstream", error_json(&err));
}

#[tokio::test]
async fn rate_limited_mid_stream_error_code_429_ends_the_stream() {
    let items = SUITE.stream_items("chat_stream_midstream_error.sse").await;
    insta::assert_json_snapshot!("stream_midstream_error", events_json(&items));
    assert!(!items.iter().any(|i| matches!(i, Ok(StreamEvent::Done(_)))));
    let Some(Err(err)) = items.last() else {
        panic!("no error at the end: {items:?}");
    };
    assert!(matches!(err.kind, ErrorKind::RateLimited { .. }), "{err:?}");
    assert_eq!(err.status, Some(429));
    assert_eq!(streamed_text(&items), "Hello");
}

#[tokio::test]
async fn quota_429_free_daily_cap_waits_for_x_ratelimit_reset() {
    // The recorded reset (2026-09-08) is in the past by now; the same response with the
    // next UTC midnight as reset, in epoch milliseconds in the header and the body copy.
    let reset = next_utc_midnight(Utc::now());
    let reset_ms = reset.timestamp_millis().to_string();
    let (status, headers) = SUITE.fixture_headers("error_429_free_daily.headers");
    let headers = headers
        .into_iter()
        .map(|(name, value)| (name, value.replace(RECORDED_RESET_MS, &reset_ms)))
        .collect();
    let body = SUITE
        .fixture("error_429_free_daily.json")
        .replace(RECORDED_RESET_MS, &reset_ms);
    let err = SUITE
        .chat_error(Reply::json(status, body).headers(headers))
        .await;
    let ErrorKind::QuotaExhausted { until } = err.kind else {
        panic!("{err:?}");
    };
    assert_eq!(until, Some(reset));
    assert_eq!(err.rate_limits.requests_day.limit, Some(50));
    assert_eq!(err.rate_limits.requests_day.remaining, Some(0));
    assert!(err.rate_limits.requests_day.reset_after.is_some());
}

#[tokio::test]
async fn quota_429_free_daily_cap_with_a_past_reset_waits_until_utc_midnight() {
    let reply = SUITE.recorded("error_429_free_daily.headers", "error_429_free_daily.json");
    let before = Utc::now();
    let err = SUITE.chat_error(reply).await;
    let after = Utc::now();
    let ErrorKind::QuotaExhausted { until: Some(until) } = err.kind else {
        panic!("{err:?}");
    };
    assert!(until == next_utc_midnight(before) || until == next_utc_midnight(after));
    insta::assert_json_snapshot!("error_429_free_daily", error_json(&err));
}

#[tokio::test]
async fn quota_429_free_daily_cap_without_headers_waits_until_utc_midnight() {
    let body = r#"{"error":{"message":"Rate limit exceeded: free-models-per-day-high-balance.","code":429,"metadata":{"limit_source":"openrouter_free_tier_daily"}}}"#;
    let before = Utc::now();
    let err = SUITE.chat_error(Reply::json(429, body)).await;
    let after = Utc::now();
    let ErrorKind::QuotaExhausted { until: Some(until) } = err.kind else {
        panic!("{err:?}");
    };
    assert!(until == next_utc_midnight(before) || until == next_utc_midnight(after));
}

#[tokio::test]
async fn model_400_not_a_valid_model_id_is_model_not_found() {
    let err = SUITE
        .fixture_error(400, "error_400_invalid_model.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_400_invalid_model", error_json(&err));
}

#[tokio::test]
async fn model_404_no_endpoints_is_model_not_found() {
    let err = SUITE
        .fixture_error(404, "error_404_no_endpoints.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_from_openrouter_is_bad_request() {
    let err = SUITE.fixture_error(400, "error_400_openrouter.json").await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_provider_returned_error_keeps_the_upstream_text() {
    let err = SUITE.fixture_error(400, "error_400_provider.json").await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    insta::assert_json_snapshot!("error_400_provider", error_json(&err));
}

#[tokio::test]
async fn content_403_moderation_flag_is_content_filtered() {
    let err = SUITE.fixture_error(403, "error_403_moderation.json").await;
    assert!(matches!(err.kind, ErrorKind::ContentFiltered), "{err:?}");
}

#[tokio::test]
async fn content_403_guardrail_is_content_filtered() {
    let err = SUITE.fixture_error(403, "error_403_guardrail.json").await;
    assert!(matches!(err.kind, ErrorKind::ContentFiltered), "{err:?}");
}

#[tokio::test]
async fn transient_408_is_transient() {
    let err = SUITE
        .chat_error(Reply::json(
            408,
            r#"{"error":{"message":"Request timed out","code":408}}"#,
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(408) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_502_is_transient() {
    let err = SUITE.chat_error(Reply::json(
        502,
        r#"{"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"Bad gateway","provider_name":"Chutes"}}}"#,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(502) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_503_is_transient() {
    let err = SUITE.chat_error(
        Reply::json(
            503,
            r#"{"error":{"message":"No instances available that meet your routing requirements","code":503}}"#,
        )
        .headers(vec![("Retry-After".into(), "7".into())]),
    )
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
    assert_eq!(err.rate_limits.retry_after, Some(Duration::from_secs(7)));
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
        .chat_error(Reply::json(
            200,
            "\n         \n{\"id\":\"gen-1\",\"choices\":[",
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
}

#[tokio::test]
async fn empty_choices_is_invalid_response() {
    let err = SUITE.chat_error(Reply::json(
        200,
        r#"{"id":"gen-1","provider":"OpenAI","model":"openai/gpt-oss-20b:free","object":"chat.completion","created":1,"choices":[]}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
}

#[tokio::test]
async fn ok_status_with_an_error_body_after_keep_alives_is_classified_by_its_code() {
    let err = SUITE.fixture_error(200, "chat_ok_200_error.txt").await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(502) }),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_in_200_body", error_json(&err));
}

#[tokio::test]
async fn ok_status_with_an_error_in_the_choice_is_classified_by_its_code() {
    let err = SUITE.fixture_error(200, "chat_ok_choice_error.json").await;
    assert!(matches!(err.kind, ErrorKind::RateLimited { .. }), "{err:?}");
    assert_eq!(err.status, Some(429));
}

#[tokio::test]
async fn stream_error_before_the_first_chunk_is_returned_directly() {
    let reply = SUITE.recorded("error_429_free_daily.headers", "error_429_free_daily.json");
    let err = SUITE.stream_error(reply).await;
    assert!(
        matches!(err.kind, ErrorKind::QuotaExhausted { until: Some(_) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn stream_cut_without_finish_or_done_is_an_error_not_done() {
    let items = SUITE.stream_items("chat_stream_cut.sse").await;
    assert!(!items.iter().any(|i| matches!(i, Ok(StreamEvent::Done(_)))));
    assert!(
        matches!(items.last(), Some(Err(e)) if matches!(e.kind, ErrorKind::Transient { status: None }))
    );
    assert_eq!(
        streamed_text(&items),
        "The capital of France is Paris. Paris is locate"
    );
}

// ---------------------------------------------------------------- the chat surface (capabilities.md)

#[tokio::test]
async fn tool_calls_and_reasoning_come_back_one_shot() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("tools-response.json")))
        .await;
    let req = documented_request().with_tool(llmpool_core::Tool::function(
        "search_recipes",
        "Search recipes",
        serde_json::json!({"type": "object", "properties": {"query": {"type": "string"}}}),
    ));
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    let request = up.only_request().await;
    assert_eq!(
        request["body"]["tools"][0]["function"]["name"],
        "search_recipes"
    );
    insta::assert_json_snapshot!("tools_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(resp.tool_calls[0].id, "call_7b205c4c32234f3e91624804");
    assert_eq!(resp.tool_calls[0].arguments, r#"{"query": "pad thai"}"#);
    assert!(resp.reasoning.unwrap().starts_with("The user is asking"));
}

#[tokio::test]
async fn a_streamed_call_whose_argument_fragments_are_all_empty_gets_an_empty_object() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("tools-stream-empty-args.txt")))
        .await;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&stream_request())
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("tools_stream_empty_args_events", events_json(&items));
    let args: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::ToolCall(c)) => Some(c.arguments.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(args, "{}");
    let Some(Ok(StreamEvent::Done(end))) = items.last() else {
        panic!("stream did not end with Done: {items:?}");
    };
    assert_eq!(end.finish_reason, Some(FinishReason::ToolCalls));
}

#[tokio::test]
async fn reasoning_streams_apart_from_the_answer() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("reasoning-stream.txt")))
        .await;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&stream_request())
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("reasoning_stream_events", events_json(&items));
    assert!(
        items
            .iter()
            .any(|i| matches!(i, Ok(StreamEvent::Reasoning(t)) if !t.is_empty()))
    );
}

/// A model without an endpoint for what the request asks (tools, images, a format) is a
/// bad request for this route, not a missing model: the route stays usable for others.
#[tokio::test]
async fn no_endpoint_for_the_requested_feature_is_a_bad_request() {
    for name in [
        "tools-error-404-no-tool-endpoints.json",
        "json-error-404-no-endpoints-for-parameters.json",
        "vision-error-404-no-image-endpoints.json",
    ] {
        let err = SUITE.fixture_error(404, name).await;
        assert!(matches!(err.kind, ErrorKind::BadRequest), "{name}: {err:?}");
        insta::assert_json_snapshot!(
            name.trim_end_matches(".json").replace('-', "_"),
            error_json(&err)
        );
    }
}

/// A client's OpenAI request fixture (its `_source` note removed) in core terms, and the
/// body OpenRouter must receive for it: the same, plus the `stream` flag llmpool always
/// states.
fn surface_request(name: &str) -> (ChatRequest, serde_json::Value) {
    let mut body = SUITE.fixture_json(name);
    body.as_object_mut().unwrap().remove("_source");
    let wire: llmpool_openai_compat::ChatCompletionRequest =
        serde_json::from_value(body.clone()).unwrap();
    body["stream"] = serde_json::json!(false);
    (wire.to_core().unwrap(), body)
}

/// The documented requests reach OpenRouter exactly as the client wrote them: a strict
/// JSON schema with `provider.require_parameters` (`json-request.json`), the unified
/// `reasoning` object (`reasoning-request.json`) and an https image part
/// (`vision-request.json`, OpenRouter fetches the URL itself). OpenRouter-only fields
/// pass through untouched, so nothing is reported as dropped.
#[tokio::test]
async fn json_schema_reasoning_and_images_pass_through() {
    for (name, snapshot) in [
        ("json-request.json", "json_request"),
        ("reasoning-request.json", "reasoning_request"),
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

/// A Gemini 3 tool call through OpenRouter (`tools-response-gemini-reasoning-details.json`):
/// `finish_reason` `tool_calls` (Gemini's native `STOP` is not what counts), the call
/// with its id and `{}` arguments, an empty answer and no reasoning text. The
/// `reasoning.encrypted` entry of `reasoning_details` (Gemini's thought signature) has no
/// place in the core response, so it does not reach the client.
#[tokio::test]
async fn a_gemini_tool_call_through_openrouter_is_read() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(
        200,
        SUITE.fixture("tools-response-gemini-reasoning-details.json"),
    ))
    .await;
    let req = documented_request()
        .with_model("google/gemini-3-flash-preview")
        .with_tool(llmpool_core::Tool::function(
            "test",
            "A test tool",
            serde_json::json!({"type": "object", "properties": {}}),
        ));
    let resp = SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    insta::assert_json_snapshot!("tools_response_gemini_reasoning_details", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        resp.tool_calls,
        [llmpool_core::ToolCall::new("tool_123", "test", "{}")]
    );
    assert_eq!(resp.text, "");
    assert_eq!(resp.reasoning, None);
    assert_eq!(resp.model, "google/gemini-3-flash-preview");
    assert_eq!(resp.usage, Some(Usage::new(100, 10)));
}
