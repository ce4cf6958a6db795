//! Contract tests: the Cohere provider against wiremock on loopback playing Cohere's v2 chat
//! endpoint with recorded (or documented) payloads from `tests/fixtures/`.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failed unwrap is a failed test"
)]

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use futures::StreamExt;
use insta::assert_json_snapshot;
use serde_json::{Value, json};
use wiremock::matchers::{bearer_token, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use llmpool_core::{
    ChatRequest, ChatResponse, ErrorKind, FinishReason, Message, Provider, ProviderError,
    StreamEvent, Usage,
};
use llmpool_provider_cohere::{CohereProvider, FACTORY};
use llmpool_testkit::{
    TEST_KEY, assert_error_clean, assert_no_key, config, fixture, fixture_headers, fixture_json,
    only_request, refused_base_url, request_snapshot, streamed_text,
};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

fn fx(name: &str) -> String {
    fixture(DIR, name)
}

fn provider(server: &MockServer) -> CohereProvider {
    CohereProvider::new(&config(&FACTORY, &format!("{}/v2", server.uri()))).unwrap()
}

/// The request of `chat_request.json`, in core terms.
fn request() -> ChatRequest {
    let mut req = ChatRequest::new(vec![
        Message::system("You are a terse assistant."),
        Message::user("What is the capital of France?"),
    ])
    .with_model("command-a-03-2025");
    req.temperature = Some(0.3);
    req.max_tokens = Some(256);
    req.stop = vec!["\n\n\n".to_owned()];
    req
}

/// A response with `status`, the body `body` and the headers of a `.headers` fixture
/// (minus the framing ones, which belong to the recorded body, not to ours).
fn respond(status: u16, body: &str, content_type: &str, headers: Option<&str>) -> ResponseTemplate {
    let mut template = ResponseTemplate::new(status).set_body_raw(body.to_owned(), content_type);
    if let Some(name) = headers {
        let (_, headers) = fixture_headers(DIR, name);
        for (name, value) in headers {
            if matches!(
                name.as_str(),
                "content-type" | "content-length" | "content-encoding" | "transfer-encoding"
            ) {
                continue;
            }
            template = template.insert_header(name.as_str(), value.as_str());
        }
    }
    template
}

/// Mounts the one expected call: `POST /v2/chat` with the test key as bearer token.
async fn expect_call(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/chat"))
        .and(bearer_token(TEST_KEY))
        .respond_with(template)
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// Asserts the key shows in none of the texts an error can produce.
fn assert_clean(err: &ProviderError) {
    assert_error_clean(err);
    assert_no_key(&err.kind.to_string());
}

/// One-shot call answered by `template`; the error, checked for key leaks.
async fn chat_error(template: ResponseTemplate) -> ProviderError {
    let server = expect_call(template).await;
    let err = provider(&server).chat(&request()).await.unwrap_err();
    assert_clean(&err);
    assert_eq!(err.provider, "cohere");
    err
}

/// One-shot call answered with an error fixture (flat `{"id","message"}` body).
async fn error_row(status: u16, body_fixture: &str) -> ProviderError {
    let err = chat_error(respond(status, &fx(body_fixture), "application/json", None)).await;
    assert_eq!(err.status, Some(status));
    let body = fixture_json(DIR, body_fixture);
    assert_eq!(err.message.as_deref(), body["message"].as_str());
    err
}

fn response_json(response: &ChatResponse) -> Value {
    json!({
        "response": response,
        "rate_limits": response.rate_limits,
    })
}

fn event_json(item: &Result<StreamEvent, ProviderError>) -> Value {
    match item {
        Ok(StreamEvent::Started { rate_limits, model }) => {
            json!({ "started": { "rate_limits": rate_limits, "model": model } })
        }
        Ok(StreamEvent::Delta(text)) => json!({ "delta": text }),
        Ok(StreamEvent::Reasoning(text)) => json!({ "reasoning": text }),
        Ok(StreamEvent::ToolCall(call)) => json!({ "tool_call": {
            "index": call.index, "id": call.id, "name": call.name, "arguments": call.arguments
        } }),
        Ok(StreamEvent::Dropped(names)) => json!({ "dropped": names }),
        Ok(StreamEvent::Done(end)) => json!({
            "done": { "finish_reason": end.finish_reason, "usage": end.usage, "model": end.model }
        }),
        Err(e) => {
            assert_clean(e);
            json!({ "error": { "kind": e.kind.label(), "status": e.status, "message": e.message } })
        }
    }
}

async fn stream_events(provider: &CohereProvider) -> Vec<Result<StreamEvent, ProviderError>> {
    let mut req = request();
    req.stream = true;
    provider.chat_stream(&req).await.unwrap().collect().await
}

async fn sse_call(body_fixture: &str) -> (MockServer, Vec<Result<StreamEvent, ProviderError>>) {
    let server = expect_call(respond(
        200,
        &fx(body_fixture),
        "text/event-stream",
        Some("chat_ok.headers"),
    ))
    .await;
    let events = stream_events(&provider(&server)).await;
    (server, events)
}

/// The error of a `chat_stream` call that must fail before any event.
async fn stream_error(provider: &CohereProvider, req: &ChatRequest) -> ProviderError {
    match provider.chat_stream(req).await {
        Ok(_) => panic!("expected chat_stream to fail before the stream"),
        Err(e) => {
            assert_clean(&e);
            e
        }
    }
}

fn first_of_next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    DateTime::parse_from_rfc3339(&format!("{y:04}-{m:02}-01T00:00:00Z"))
        .unwrap()
        .to_utc()
}

// ---------------------------------------------------------------------------------------
// One-shot answers

#[tokio::test]
async fn chat_sends_the_documented_request_and_parses_the_answer() {
    let server = expect_call(respond(
        200,
        &fx("chat_ok.json"),
        "application/json",
        Some("chat_ok.headers"),
    ))
    .await;
    let provider = provider(&server);
    let response = provider.chat(&request()).await.unwrap();

    let sent = only_request(&server).await;
    let expected = fixture_json(DIR, "chat_request.json");
    assert_eq!(
        serde_json::from_slice::<Value>(&sent.body).unwrap(),
        expected
    );
    assert_json_snapshot!("chat_request", request_snapshot(&sent));

    assert_eq!(response.text, "The capital of France is Paris.");
    assert_eq!(response.usage, Some(Usage::new(507, 10)));
    assert_eq!(response.rate_limits.requests_month.limit, Some(1000));
    assert_eq!(response.rate_limits.requests_minute.limit, Some(20));
    assert_eq!(response.rate_limits.requests_minute.remaining, Some(19));
    assert_json_snapshot!("chat_ok_response", response_json(&response), {
        ".response.latency" => "[latency]",
    });
    assert_no_key(&format!("{provider:?} {response:?}"));
}

#[tokio::test]
async fn reasoning_answers_carry_the_thinking_block_as_reasoning() {
    let server = expect_call(respond(
        200,
        &fx("chat_ok_reasoning.json"),
        "application/json",
        None,
    ))
    .await;
    let response = provider(&server).chat(&request()).await.unwrap();
    assert_eq!(response.text, "2 + 2 = 4");
    assert!(
        response
            .reasoning
            .as_deref()
            .is_some_and(|r| r.starts_with("Okay"))
    );
    assert!(
        response.rate_limits.is_empty(),
        "production keys get no trial headers"
    );
    assert_json_snapshot!("chat_ok_reasoning_response", response_json(&response), {
        ".response.latency" => "[latency]",
    });
}

#[tokio::test]
async fn max_tokens_answers_finish_with_length() {
    let server = expect_call(respond(
        200,
        &fx("chat_ok_max_tokens.json"),
        "application/json",
        None,
    ))
    .await;
    let response = provider(&server).chat(&request()).await.unwrap();
    assert_eq!(response.finish_reason, Some(FinishReason::Length));
    assert_eq!(response.text, "**The History of");
    assert_json_snapshot!("chat_ok_max_tokens_response", response_json(&response), {
        ".response.latency" => "[latency]",
    });
}

#[tokio::test]
async fn defaults_apply_and_out_of_range_parameters_are_clamped() {
    let server = expect_call(respond(200, &fx("chat_ok.json"), "application/json", None)).await;
    let mut req = ChatRequest::from_user("Hi");
    req.temperature = Some(1.5);
    req.top_p = Some(1.0);
    let response = provider(&server).chat(&req).await.unwrap();
    assert_eq!(response.model, FACTORY.default_model);
    let sent = only_request(&server).await;
    assert_json_snapshot!("chat_request_clamped", request_snapshot(&sent));
}

#[tokio::test]
async fn more_than_five_stop_sequences_are_refused_without_a_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let mut req = request();
    req.stop = (0..6).map(|i| format!("stop{i}")).collect();
    let err = provider(&server).chat(&req).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadRequest));
    assert_eq!(err.status, None);
    let err = stream_error(&provider(&server), &req).await;
    assert!(matches!(err.kind, ErrorKind::BadRequest));
}

// ---------------------------------------------------------------------------------------
// One-shot failures that are not error bodies

#[tokio::test]
async fn timeout_is_timeout() {
    let err = chat_error(
        respond(200, &fx("chat_ok.json"), "application/json", None)
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
}

#[tokio::test]
async fn connection_refused_is_network() {
    let base = refused_base_url("/v2").await;
    let provider = CohereProvider::new(&config(&FACTORY, &base)).unwrap();
    let err = provider.chat(&request()).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
    assert_clean(&err);
    let err = stream_error(&provider, &request()).await;
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
}

#[test]
fn a_bad_base_url_is_a_config_error_naming_it() {
    for base in ["not a url", "ftp://127.0.0.1/v2"] {
        let err = CohereProvider::new(&config(&FACTORY, base)).unwrap_err();
        assert_eq!(err.key, "base_url", "{base}: {err}");
        assert!(err.to_string().contains(base), "{err}");
        assert!(!err.to_string().contains(TEST_KEY), "{err}");
    }
}

#[tokio::test]
async fn malformed_json_is_invalid_response() {
    let err = chat_error(respond(
        200,
        r#"{"id":"x","message":{"role":"assistant","content":[{"type":"text","#,
        "application/json",
        None,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
    assert_eq!(err.status, Some(200));
}

#[tokio::test]
async fn empty_content_is_invalid_response() {
    let err = chat_error(respond(
        200,
        &fx("chat_empty_content.json"),
        "application/json",
        Some("chat_ok.headers"),
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
    assert_eq!(err.rate_limits.requests_minute.remaining, Some(19));
}

#[tokio::test]
async fn finish_reason_error_on_a_200_is_transient() {
    let err = chat_error(respond(
        200,
        &fx("chat_error_finish.json"),
        "application/json",
        None,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: None }),
        "{err:?}"
    );
    assert_eq!(err.status, Some(200));
    assert!(err.message.as_deref().unwrap().contains("ERROR"));
}

#[tokio::test]
async fn finish_reason_timeout_on_a_200_is_transient() {
    let body = fx("chat_error_finish.json").replace("\"ERROR\"", "\"TIMEOUT\"");
    let err = chat_error(respond(200, &body, "application/json", None)).await;
    assert!(matches!(err.kind, ErrorKind::Transient { .. }), "{err:?}");
    assert!(err.message.as_deref().unwrap().contains("TIMEOUT"));
}

// ---------------------------------------------------------------------------------------
// Error rows (shared/providers/README.md §3, cohere.md §5): status and message together

#[tokio::test]
async fn error_401_invalid_token_is_unauthorized() {
    let err = error_row(401, "error_401.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn error_401_no_key_is_unauthorized() {
    let err = error_row(401, "error_401_no_key.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn error_401_expired_key_is_unauthorized() {
    let err = error_row(401, "error_401_expired.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn error_402_billing_limit_is_payment_required() {
    let err = error_row(402, "error_402_billing.json").await;
    assert!(matches!(err.kind, ErrorKind::PaymentRequired), "{err:?}");
}

#[tokio::test]
async fn error_402_no_payment_method_is_payment_required() {
    let err = error_row(402, "error_402_payment_method.json").await;
    assert!(matches!(err.kind, ErrorKind::PaymentRequired), "{err:?}");
}

#[tokio::test]
async fn error_404_unknown_model_is_model_not_found() {
    let err = error_row(404, "error_404_model.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn error_400_wrong_api_version_is_model_not_found_with_trial_headers() {
    let err = chat_error(respond(
        400,
        &fx("error_400.json"),
        "application/json",
        Some("error_400.headers"),
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    assert_eq!(err.status, Some(400));
    assert_eq!(err.rate_limits.requests_month.limit, Some(1000));
    assert_eq!(err.rate_limits.requests_minute.limit, Some(20));
    assert_eq!(err.rate_limits.requests_minute.remaining, Some(19));
    assert_json_snapshot!(
        "error_400_wrong_api_version",
        json!({
            "kind": err.kind.label(),
            "status": err.status,
            "message": err.message,
            "rate_limits": err.rate_limits,
        })
    );
}

#[tokio::test]
async fn error_400_too_many_tokens_is_context_too_long() {
    let err = error_row(400, "error_400_too_many_tokens.json").await;
    assert!(matches!(err.kind, ErrorKind::ContextTooLong), "{err:?}");
}

#[tokio::test]
async fn error_400_invalid_request_is_bad_request() {
    let err = error_row(400, "error_400_invalid_request.json").await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn error_422_is_bad_request() {
    let err = chat_error(respond(
        422,
        r#"{"id":"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","message":"invalid request: messages must not be empty"}"#,
        "application/json",
        None,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    assert_eq!(err.status, Some(422));
}

#[tokio::test]
async fn error_429_per_minute_is_rate_limited_for_a_minute() {
    let err = chat_error(respond(
        429,
        &fx("error_429_rpm.json"),
        "application/json",
        Some("error_429.headers"),
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
    assert!(err.rate_limits.is_empty(), "429s carry no trial headers");
}

#[tokio::test]
async fn error_429_trial_per_minute_is_rate_limited() {
    let err = error_row(429, "error_429_trial_rpm.json").await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_429_trial_tokens_per_minute_is_rate_limited() {
    let err = error_row(429, "error_429_trial_tpm.json").await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_429_wait_and_try_again_is_rate_limited() {
    let err = chat_error(respond(
        429,
        r#"{"id":"5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0e","message":"Please wait and try again later"}"#,
        "application/json",
        None,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_429_trial_monthly_is_quota_exhausted_until_next_month() {
    let before = Utc::now();
    let err = error_row(429, "error_429_trial_monthly.json").await;
    let after = Utc::now();
    let ErrorKind::QuotaExhausted { until: Some(until) } = err.kind else {
        panic!("expected QuotaExhausted with a reset time, got {err:?}");
    };
    // Hyper stamps the mock's answer with the current Date; the reset is the first
    // instant of the month after it (either side of a month boundary during the test).
    assert!(
        until == first_of_next_month(before) || until == first_of_next_month(after),
        "{until}"
    );
    assert_eq!((until.day(), until.hour(), until.minute()), (1, 0, 0));
}

#[tokio::test]
async fn error_429_monthly_in_other_words_is_quota_exhausted_by_the_upstream_clock() {
    let err = chat_error(
        respond(
            429,
            &fx("error_429_trial_monthly_alt.json"),
            "application/json",
            Some("error_429.headers"),
        )
        .insert_header("date", "Thu, 31 Dec 2026 23:59:30 GMT"),
    )
    .await;
    let expected = DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    assert!(
        matches!(err.kind, ErrorKind::QuotaExhausted { until: Some(u) } if u == expected),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_499_cancelled_is_transient() {
    let err = error_row(499, "error_499.json").await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(499) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_500_is_transient() {
    let err = chat_error(respond(
        500,
        r#"{"id":"6e7f8091-a2b3-4c4d-9e5f-6a7b8c9d0e1f","message":"internal server error"}"#,
        "application/json",
        None,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(500) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_503_html_page_is_transient() {
    let err = chat_error(respond(
        503,
        "<html><body><h1>503 Service Unavailable</h1></body></html>",
        "text/html",
        None,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
    assert_eq!(err.message.as_deref(), Some("non-JSON (HTML) error page"));
}

#[tokio::test]
async fn error_504_is_transient() {
    let err = chat_error(respond(504, "", "application/json", None)).await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(504) }),
        "{err:?}"
    );
    assert_eq!(err.message.as_deref(), Some("empty error body"));
}

#[tokio::test]
async fn an_echoed_key_is_scrubbed_from_the_message() {
    let body = format!(r#"{{"id":"x","message":"invalid api token {TEST_KEY}"}}"#);
    let err = chat_error(respond(401, &body, "application/json", None)).await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized));
    assert_eq!(err.message.as_deref(), Some("invalid api token [REDACTED]"));
}

// ---------------------------------------------------------------------------------------
// Streaming

#[tokio::test]
async fn stream_sends_the_documented_request_and_yields_deltas_then_done() {
    let (server, events) = sse_call("chat_stream.sse").await;
    let sent = only_request(&server).await;
    let mut expected = fixture_json(DIR, "chat_request.json");
    expected["stream"] = json!(true);
    assert_eq!(
        serde_json::from_slice::<Value>(&sent.body).unwrap(),
        expected
    );
    assert_json_snapshot!("chat_stream_request", request_snapshot(&sent));

    assert_eq!(streamed_text(&events), "The capital of France is Paris.");
    assert!(matches!(events.last(), Some(Ok(StreamEvent::Done(_)))));
    let events: Vec<Value> = events.iter().map(event_json).collect();
    assert_json_snapshot!("chat_stream_events", events);
}

#[tokio::test]
async fn stream_error_mid_stream_ends_with_err_not_done() {
    let (_server, events) = sse_call("chat_stream_error.sse").await;
    assert_eq!(streamed_text(&events), "The capital of");
    assert!(!events.iter().any(|e| matches!(e, Ok(StreamEvent::Done(_)))));
    let err = events.last().unwrap().as_ref().unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Transient { .. }), "{err:?}");
    let events: Vec<Value> = events.iter().map(event_json).collect();
    assert_json_snapshot!("chat_stream_error_events", events);
}

#[tokio::test]
async fn cut_stream_ends_with_err_not_done() {
    let (_server, events) = sse_call("chat_stream_cut.sse").await;
    assert_eq!(streamed_text(&events), "The capital of");
    assert!(!events.iter().any(|e| matches!(e, Ok(StreamEvent::Done(_)))));
    let err = events.last().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: None }),
        "{err:?}"
    );
    assert!(
        err.message
            .as_deref()
            .unwrap()
            .contains("before message-end")
    );
}

#[tokio::test]
async fn done_without_message_end_is_a_cut_stream() {
    let body = format!("{}data: [DONE]\n\n", fx("chat_stream_cut.sse"));
    let server = expect_call(respond(200, &body, "text/event-stream", None)).await;
    let events = stream_events(&provider(&server)).await;
    assert!(!events.iter().any(|e| matches!(e, Ok(StreamEvent::Done(_)))));
    let err = events.last().unwrap().as_ref().unwrap_err();
    assert!(
        err.message.as_deref().unwrap().contains("[DONE]"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_malformed_event_is_skipped() {
    let (_server, events) = sse_call("chat_stream_malformed.sse").await;
    assert_eq!(streamed_text(&events), "The capital of France Paris.");
    match events.last() {
        Some(Ok(StreamEvent::Done(end))) => {
            assert_eq!(end.finish_reason, Some(FinishReason::Stop));
            assert_eq!(end.usage, Some(Usage::new(507, 10)));
        }
        other => panic!("expected Done, got {other:?}"),
    }
}

#[tokio::test]
async fn stream_http_errors_fail_before_the_stream() {
    let server = expect_call(respond(
        429,
        &fx("error_429_trial_monthly.json"),
        "application/json",
        Some("error_429.headers"),
    ))
    .await;
    let err = stream_error(&provider(&server), &request()).await;
    assert_clean(&err);
    assert!(
        matches!(err.kind, ErrorKind::QuotaExhausted { until: Some(_) }),
        "{err:?}"
    );
    assert_eq!(err.status, Some(429));
}

#[tokio::test]
async fn stream_head_timeout_is_timeout() {
    let server = expect_call(
        respond(200, &fx("chat_stream.sse"), "text/event-stream", None)
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let err = stream_error(&provider(&server), &request()).await;
    assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
}

#[tokio::test]
async fn a_reasoning_stream_sends_thinking_as_reasoning_then_the_answer() {
    let server = expect_call(respond(
        200,
        &fx("reasoning-stream.txt"),
        "text/event-stream",
        None,
    ))
    .await;
    let items = stream_events(&provider(&server)).await;
    let reasoning: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::Reasoning(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let text: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::Delta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(!reasoning.is_empty(), "{items:?}");
    assert!(!text.is_empty(), "{items:?}");
    assert!(!text.contains(&reasoning));
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(_)))),
        "{items:?}"
    );
    assert_json_snapshot!(
        "reasoning_stream_events",
        items.iter().map(event_json).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------- tools (capabilities.md §1)

/// A weather tool conversation: the first turn, or the follow-up with the call's result.
fn tools_request(follow_up: bool) -> ChatRequest {
    let mut messages = vec![Message::user("What's the weather in San Francisco?")];
    if follow_up {
        messages.push(Message::assistant_tool_calls(
            "",
            vec![llmpool_core::ToolCall::new(
                "weather_dqgshstja6p9",
                "weather",
                r#"{"location":"San Francisco"}"#,
            )],
        ));
        messages.push(Message::tool_result(
            "weather_dqgshstja6p9",
            r#"{"temperature":"17C","sky":"fog"}"#,
        ));
    }
    ChatRequest::new(messages)
        .with_model("command-a-03-2025")
        .with_tool(llmpool_core::Tool::function(
            "weather",
            "gets the weather of a given location",
            serde_json::json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
        ))
}

#[tokio::test]
async fn tools_go_out_in_cohere_shape_and_the_calls_come_back() {
    let server = expect_call(respond(
        200,
        &fx("tools-response.json"),
        "application/json",
        None,
    ))
    .await;
    let resp = provider(&server).chat(&tools_request(false)).await.unwrap();
    let sent = llmpool_testkit::only_request(&server).await;
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_json_snapshot!("tools_request_body", body);
    assert_json_snapshot!("tools_response", response_json(&resp), {
        ".response.latency" => "[latency]",
    });
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(resp.tool_calls.len(), 2);
    assert_eq!(resp.tool_calls[0].id, "weather_dqgshstja6p9");
    assert!(
        resp.reasoning
            .unwrap()
            .starts_with("I will use the weather tool")
    );
}

#[tokio::test]
async fn a_tool_without_arguments_gets_an_empty_object() {
    let server = expect_call(respond(
        200,
        &fx("tools-response-null-args.json"),
        "application/json",
        None,
    ))
    .await;
    let resp = provider(&server).chat(&tools_request(false)).await.unwrap();
    assert!(resp.tool_calls.iter().all(|c| c.arguments != "null"));
    assert!(
        resp.tool_calls.iter().any(|c| c.arguments == "{}"),
        "{resp:?}"
    );
}

#[tokio::test]
async fn the_follow_up_turn_sends_the_calls_and_the_result() {
    let server = expect_call(respond(200, &fx("chat_ok.json"), "application/json", None)).await;
    provider(&server).chat(&tools_request(true)).await.unwrap();
    let sent = llmpool_testkit::only_request(&server).await;
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "tool_calls": [{"id": "weather_dqgshstja6p9", "type": "function",
            "function": {"name": "weather", "arguments": "{\"location\":\"San Francisco\"}"}}]})
    );
    assert_eq!(
        body["messages"][2],
        json!({"role": "tool", "tool_call_id": "weather_dqgshstja6p9", "content": "{\"temperature\":\"17C\",\"sky\":\"fog\"}"})
    );
}

#[tokio::test]
async fn streamed_tool_calls_become_openai_pieces() {
    for (name, empty_args) in [
        ("tools-stream.txt", false),
        ("tools-stream-empty-args.txt", true),
    ] {
        let server = expect_call(respond(200, &fx(name), "text/event-stream", None)).await;
        let mut req = tools_request(false);
        req.stream = true;
        let items: Vec<Result<StreamEvent, ProviderError>> = provider(&server)
            .chat_stream(&req)
            .await
            .unwrap()
            .collect()
            .await;
        let views: Vec<Value> = items.iter().map(event_json).collect();
        assert_json_snapshot!(name.trim_end_matches(".txt").replace('-', "_"), views);
        let Some(Ok(StreamEvent::Done(end))) = items.last() else {
            panic!("{name}: no Done: {items:?}");
        };
        assert_eq!(end.finish_reason, Some(FinishReason::ToolCalls));
        let first = items.iter().find_map(|i| match i {
            Ok(StreamEvent::ToolCall(c)) => Some(c.clone()),
            _ => None,
        });
        assert!(
            first
                .as_ref()
                .is_some_and(|c| c.id.is_some() && c.name.is_some()),
            "{name}"
        );
        if empty_args {
            assert!(
                items
                    .iter()
                    .any(|i| matches!(i, Ok(StreamEvent::ToolCall(c)) if c.arguments == "{}"))
            );
        }
    }
}

#[tokio::test]
async fn unknown_field_422_is_a_bad_request() {
    let server = expect_call(respond(
        422,
        &fx("tools-error-422-unknown-field.json"),
        "application/json",
        None,
    ))
    .await;
    let err = provider(&server)
        .chat(&tools_request(false))
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    assert_eq!(err.status, Some(422));
    assert!(
        err.message
            .as_deref()
            .is_some_and(|m| m.contains("parameter 'strict' is not a valid field")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- documented requests (capabilities.md §1–§4)

/// The core request for a client's OpenAI-shaped body `client`, as the gateway reads it.
fn client_request(client: &Value) -> ChatRequest {
    let wire: llmpool_openai_compat::ChatCompletionRequest =
        serde_json::from_value(client.clone()).unwrap();
    wire.to_core().unwrap()
}

/// A documented Cohere body (`name`, its `_source` note removed) with the `stream` flag
/// llmpool always states.
fn documented(name: &str) -> Value {
    let mut body = fixture_json(DIR, name);
    let obj = body.as_object_mut().unwrap();
    obj.remove("_source");
    obj.insert("stream".into(), json!(false));
    body
}

/// Sends `req` once (answered by `answer`) and returns the body Cohere received and the
/// fields reported as dropped.
async fn sent_body(req: &ChatRequest, answer: &str) -> (Value, Vec<String>) {
    let server = expect_call(respond(200, &fx(answer), "application/json", None)).await;
    let resp = provider(&server).chat(req).await.unwrap();
    let sent = only_request(&server).await;
    (
        serde_json::from_slice(&sent.body).unwrap(),
        resp.dropped_params,
    )
}

/// `tools-request.json`: an OpenAI client's strict tool and `tool_choice: "required"`
/// become Cohere's tool without `strict`, `strict_tools: true` and `REQUIRED`.
#[tokio::test]
async fn the_documented_tools_request_is_what_an_openai_tools_request_becomes() {
    let expected = documented("tools-request.json");
    let mut tool = expected["tools"][0].clone();
    tool["function"]["strict"] = json!(true);
    let client = json!({
        "model": expected["model"],
        "messages": expected["messages"],
        "tools": [tool],
        "tool_choice": "required",
    });
    let (body, dropped) = sent_body(&client_request(&client), "tools-response.json").await;
    assert_eq!(body, expected);
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_json_snapshot!("documented_tools_request_body", body);
}

/// `tools-followup-request.json`: the follow-up turn as an OpenAI client sends it back —
/// the assistant message it received (`content: null`, the tool plan as
/// `reasoning_content`, the calls) and one `tool` message per call. Cohere gets the
/// documented body but for two fields no OpenAI client can send: `tool_plan` (llmpool
/// hands the plan to the client as reasoning; Cohere's input `tool_plan` is optional, and
/// the earlier reasoning is left out and reported as dropped) and the `document` block
/// of the first tool result (Cohere's citation form; an OpenAI tool result is a string,
/// here the document's data).
#[tokio::test]
async fn the_documented_follow_up_is_what_an_openai_follow_up_becomes() {
    let documented_body = documented("tools-followup-request.json");
    let messages = &documented_body["messages"];
    let plan = messages[1]["tool_plan"].clone();
    let weather = messages[2]["content"][0]["document"]["data"].clone();
    let client = json!({
        "model": documented_body["model"],
        "messages": [
            messages[0],
            {"role": "assistant", "content": null, "reasoning_content": plan,
             "tool_calls": messages[1]["tool_calls"]},
            {"role": "tool", "tool_call_id": messages[2]["tool_call_id"], "content": weather},
            messages[3],
        ],
        "tools": documented_body["tools"],
    });
    let (body, dropped) = sent_body(&client_request(&client), "chat_ok.json").await;
    let mut expected = documented_body.clone();
    expected["messages"][1]
        .as_object_mut()
        .unwrap()
        .remove("tool_plan");
    expected["messages"][2]["content"] = weather;
    assert_eq!(body, expected);
    assert_eq!(dropped, ["messages[].reasoning_content"]);
    assert_json_snapshot!("documented_tools_followup_request_body", body);
}

/// `json-request.json`: an OpenAI `json_schema` format becomes Cohere's `json_object`
/// with the schema directly under `json_schema` (Cohere has no `name` or `strict`).
#[tokio::test]
async fn the_documented_json_request_is_what_an_openai_json_schema_request_becomes() {
    let expected = documented("json-request.json");
    let client = json!({
        "model": expected["model"],
        "messages": expected["messages"],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "book",
            "strict": true,
            "schema": expected["response_format"]["json_schema"],
        }},
    });
    let (body, dropped) = sent_body(&client_request(&client), "chat_ok.json").await;
    assert_eq!(body, expected);
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_json_snapshot!("documented_json_request_body", body);
}

/// `vision-request.json`: Cohere takes OpenAI's image part as it is, an https URL (Cohere
/// fetches it; llmpool never downloads it) and `detail` included.
#[tokio::test]
async fn the_documented_vision_request_is_the_openai_one() {
    let expected = documented("vision-request.json");
    let mut client = expected.clone();
    client.as_object_mut().unwrap().remove("stream");
    let (body, dropped) = sent_body(&client_request(&client), "chat_ok.json").await;
    assert_eq!(body, expected);
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_json_snapshot!("documented_vision_request_body", body);
}

/// `reasoning-request.json`: a reasoning effort turns Cohere's `thinking` on. The
/// documented body also sets `token_budget`, a number no OpenAI effort names: llmpool
/// sends none (Cohere's default budget applies), so it is compared without it. Effort
/// `none` turns thinking off.
#[tokio::test]
async fn the_documented_reasoning_request_is_what_a_reasoning_effort_becomes() {
    let mut expected = documented("reasoning-request.json");
    assert_eq!(expected["thinking"]["token_budget"], 2000);
    expected["thinking"]
        .as_object_mut()
        .unwrap()
        .remove("token_budget");
    let client = json!({
        "model": expected["model"],
        "messages": expected["messages"],
        "reasoning_effort": "high",
    });
    let (body, dropped) = sent_body(&client_request(&client), "chat_ok_reasoning.json").await;
    assert_eq!(body, expected);
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_json_snapshot!("documented_reasoning_request_body", body);

    let mut off = client_request(&client);
    off.reasoning_effort = Some("none".into());
    let (body, _) = sent_body(&off, "chat_ok.json").await;
    assert_eq!(body["thinking"], json!({"type": "disabled"}));
}
