//! Contract tests: what the Gemini provider sends and how it reads every documented
//! answer, against wiremock on loopback playing `generativelanguage.googleapis.com`.
//!
//! Payloads are in `tests/fixtures/` (provenance in its README); snapshots in
//! `tests/snapshots/`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use llmpool_core::{
    ChatRequest, ChatResponse, Clock, ErrorKind, ErrorKindLabel, FinishReason, Message, Provider,
    ProviderError, RateLimitSnapshot, Role, StreamEvent, Tool, ToolCall, ToolChoice,
};
use llmpool_provider_gemini::{FACTORY, GeminiProvider};
use llmpool_testkit::{
    TEST_KEY, assert_error_clean, assert_no_key, config, fixture, fixture_headers, fixture_json,
    refused_base_url, request_snapshot,
};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");
/// The API's version prefix, part of every base URL.
const PREFIX: &str = "/v1beta";
const JSON: &str = "application/json; charset=UTF-8";
const SSE: &str = "text/event-stream";

/// A wall clock stopped at [`now`], so daily resets are exact in snapshots.
#[derive(Debug)]
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// 11:00 in Los Angeles (PDT): the next Pacific midnight is 2026-10-06T07:00:00Z.
#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed setup fails the test"
)]
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-10-05T18:00:00Z")
        .unwrap()
        .to_utc()
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed setup fails the test"
)]
fn provider(server: &MockServer) -> GeminiProvider {
    let cfg = config(&FACTORY, &format!("{}{PREFIX}", server.uri()));
    GeminiProvider::with_clock(&cfg, Arc::new(FixedClock(now()))).unwrap()
}

fn endpoint(model: &str, stream: bool) -> String {
    let method = if stream {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    format!("{PREFIX}/models/{model}:{method}")
}

/// A mock answering exactly one request on `model`'s endpoint that carries the key in
/// the `x-goog-api-key` header.
fn mock(model: &str, stream: bool) -> wiremock::MockBuilder {
    let builder = Mock::given(method("POST"))
        .and(path(endpoint(model, stream)))
        .and(header("x-goog-api-key", TEST_KEY));
    if stream {
        builder.and(query_param("alt", "sse"))
    } else {
        builder
    }
}

fn respond(status: u16, body: &str, mime: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), mime)
}

/// The documented example conversation (`generate_request.json`).
fn example_request(model: &str) -> ChatRequest {
    let mut req = ChatRequest::new(vec![
        Message::system("You are a terse assistant."),
        Message::user("What is the capital of France?"),
        Message::assistant("Paris."),
        Message::user("And of Italy?"),
    ])
    .with_model(model);
    req.temperature = Some(0.2);
    req.max_tokens = Some(256);
    req.stop = vec!["\n\n\n".into()];
    req
}

/// The one request the server received, with the key checked to be nowhere but in
/// its header.
async fn only_request(server: &MockServer) -> Value {
    let req = llmpool_testkit::only_request(server).await;
    assert_no_key(req.url.as_str());
    assert_no_key(&String::from_utf8_lossy(&req.body));
    request_snapshot(&req)
}

/// Rate limits as a snapshot: `"none"` when nothing is known (Gemini sends no headers),
/// so that the windows a 429 body filled in stand out.
fn limits_view(limits: &RateLimitSnapshot) -> Value {
    if limits.is_empty() {
        json!("none")
    } else {
        json!(limits)
    }
}

fn response_view(resp: &ChatResponse) -> Value {
    json!({
        "response": resp,
        "rate_limits": limits_view(&resp.rate_limits),
    })
}

/// An error as a snapshot: kind, its payload, status, message, rate limits. Also
/// asserts that no rendering of the error shows the key.
fn error_view(err: &ProviderError) -> Value {
    assert_error_clean(err);
    assert_eq!(err.provider, "gemini");
    let detail = match &err.kind {
        ErrorKind::RateLimited { retry_after } => {
            json!({ "retry_after_ms": retry_after.map(|d| d.as_millis()) })
        }
        ErrorKind::QuotaExhausted { until } => {
            json!({ "until": until.map(|u| u.to_rfc3339()) })
        }
        ErrorKind::Transient { status } => json!({ "status": status }),
        _ => Value::Null,
    };
    json!({
        "kind": err.kind.label(),
        "detail": detail,
        "status": err.status,
        "message": err.message,
        "rate_limits": limits_view(&err.rate_limits),
    })
}

fn event_view(item: &Result<StreamEvent, ProviderError>) -> Value {
    match item {
        Ok(StreamEvent::Started { rate_limits, model }) => {
            json!({ "started": { "rate_limits": limits_view(rate_limits), "model": model } })
        }
        Ok(StreamEvent::Delta(text)) => json!({ "delta": text }),
        Ok(StreamEvent::Reasoning(text)) => json!({ "reasoning": text }),
        Ok(StreamEvent::ToolCall(call)) => json!({ "tool_call": {
            "index": call.index, "id": call.id, "name": call.name, "arguments": call.arguments
        } }),
        Ok(StreamEvent::Dropped(names)) => json!({ "dropped": names }),
        Ok(StreamEvent::Done(end)) => json!({
            "done": {
                "finish_reason": end.finish_reason,
                "usage": end.usage,
                "model": end.model,
            }
        }),
        Err(err) => json!({ "error": error_view(err) }),
    }
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failed setup fails the test"
)]
async fn collect(provider: &GeminiProvider, req: &ChatRequest) -> Vec<Value> {
    let stream = provider.chat_stream(req).await.unwrap();
    stream.map(|item| event_view(&item)).collect().await
}

// ---------------------------------------------------------------------------------------
// Requests and successful answers

#[tokio::test]
async fn generate_content_request_and_response() {
    let server = MockServer::start().await;
    let documented = fixture_json(MANIFEST, "generate_request.json");
    mock("gemini-2.5-flash", false)
        .and(body_json(&documented))
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;

    let resp = provider(&server)
        .chat(&example_request("gemini-2.5-flash"))
        .await
        .unwrap();

    insta::assert_json_snapshot!("generate_request", only_request(&server).await);
    insta::assert_json_snapshot!("generate_response", response_view(&resp), {
        ".response.latency" => "[latency]",
    });
    assert_eq!(resp.text, "Hello!");
}

#[tokio::test]
async fn the_configured_model_is_used_when_the_request_names_none() {
    let server = MockServer::start().await;
    mock(FACTORY.default_model, false)
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    let resp = provider(&server)
        .chat(&ChatRequest::from_user("Hi"))
        .await
        .unwrap();
    // The answer names the model that served it (modelVersion), not the one asked for.
    assert_eq!(resp.model, "gemini-2.5-flash");
    assert_eq!(
        only_request(&server).await["body"],
        json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
    );
}

#[tokio::test]
async fn gemma_gets_the_system_prompt_in_the_first_user_turn() {
    let server = MockServer::start().await;
    mock("gemma-3-27b-it", false)
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    provider(&server)
        .chat(&example_request("gemma-3-27b-it"))
        .await
        .unwrap();
    let sent = only_request(&server).await;
    assert!(sent["body"].get("systemInstruction").is_none());
    insta::assert_json_snapshot!("gemma_request", sent);
}

#[tokio::test]
async fn a_trailing_assistant_message_is_sent_as_a_model_turn_to_continue() {
    let server = MockServer::start().await;
    mock("gemini-3.1-flash-lite", false)
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    let req = ChatRequest::new(vec![
        Message::user("Count to three."),
        Message::assistant("1, 2,"),
    ])
    .with_model("gemini-3.1-flash-lite");
    provider(&server).chat(&req).await.unwrap();
    assert_eq!(
        only_request(&server).await["body"]["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Count to three."}]},
            {"role": "model", "parts": [{"text": "1, 2,"}]}
        ])
    );
}

#[tokio::test]
async fn stream_request_and_events() {
    let server = MockServer::start().await;
    let documented = fixture_json(MANIFEST, "generate_request.json");
    mock("gemini-3-pro-preview", true)
        .and(body_json(&documented))
        .respond_with(respond(200, &fixture(MANIFEST, "stream.sse"), SSE))
        .expect(1)
        .mount(&server)
        .await;

    let events = collect(&provider(&server), &example_request("gemini-3-pro-preview")).await;

    insta::assert_json_snapshot!("stream_request", only_request(&server).await);
    insta::assert_json_snapshot!("stream_events", events);
}

#[tokio::test]
async fn stream_of_a_single_chunk() {
    let server = MockServer::start().await;
    mock("gemini-2.5-flash", true)
        .respond_with(respond(
            200,
            &fixture(MANIFEST, "stream_single_chunk.sse"),
            SSE,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let events = collect(
        &provider(&server),
        &ChatRequest::from_user("Count to 3").with_model("gemini-2.5-flash"),
    )
    .await;
    insta::assert_json_snapshot!("stream_single_chunk_events", events);
}

#[tokio::test]
async fn stream_skips_one_malformed_event() {
    let server = MockServer::start().await;
    let text = fixture(MANIFEST, "stream.sse");
    let (first, rest) = text.split_once("\r\n\r\n").unwrap();
    let body = format!("{first}\r\n\r\ndata: {{\"candidates\": [{{\"content\r\n\r\n{rest}");
    mock("gemini-3-pro-preview", true)
        .respond_with(respond(200, &body, SSE))
        .expect(1)
        .mount(&server)
        .await;
    let events = collect(
        &provider(&server),
        &ChatRequest::from_user("x").with_model("gemini-3-pro-preview"),
    )
    .await;
    let clean = {
        let server = MockServer::start().await;
        mock("gemini-3-pro-preview", true)
            .respond_with(respond(200, &text, SSE))
            .expect(1)
            .mount(&server)
            .await;
        collect(
            &provider(&server),
            &ChatRequest::from_user("x").with_model("gemini-3-pro-preview"),
        )
        .await
    };
    assert_eq!(events, clean);
}

// ---------------------------------------------------------------------------------------
// Stream failures

#[tokio::test]
async fn stream_with_a_raw_json_error_after_valid_events() {
    let server = MockServer::start().await;
    mock("gemini-2.0-flash", true)
        .respond_with(respond(
            200,
            &fixture(MANIFEST, "stream_midstream_error.txt"),
            SSE,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let events = collect(
        &provider(&server),
        &ChatRequest::from_user("x").with_model("gemini-2.0-flash"),
    )
    .await;
    // The error follows a chunk with finishReason STOP: it must still win over Done.
    assert!(events.iter().all(|e| e.get("done").is_none()));
    assert_eq!(
        events.last().unwrap()["error"]["kind"],
        json!(ErrorKindLabel::Transient)
    );
    insta::assert_json_snapshot!("stream_midstream_error_events", events);
}

#[tokio::test]
async fn stream_cut_without_finish_reason_ends_in_an_error() {
    let server = MockServer::start().await;
    mock("gemini-3-pro-preview", true)
        .respond_with(respond(200, &fixture(MANIFEST, "stream_cut.sse"), SSE))
        .expect(1)
        .mount(&server)
        .await;
    let events = collect(
        &provider(&server),
        &ChatRequest::from_user("x").with_model("gemini-3-pro-preview"),
    )
    .await;
    assert!(events.iter().all(|e| e.get("done").is_none()));
    insta::assert_json_snapshot!("stream_cut_events", events);
}

#[tokio::test]
async fn stream_refused_before_the_first_byte() {
    let server = MockServer::start().await;
    let (status, headers) = fixture_headers(MANIFEST, "error_429.headers");
    let mut response = respond(status, &fixture(MANIFEST, "error_429_rpm.json"), JSON);
    for (name, value) in headers {
        response = response.insert_header(name.as_str(), value.as_str());
    }
    mock("gemini-2.5-flash", true)
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    let err = provider(&server)
        .chat_stream(&ChatRequest::from_user("x").with_model("gemini-2.5-flash"))
        .await
        .err()
        .unwrap();
    assert!(matches!(
        err.kind,
        ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(34)
    ));
    error_view(&err);
}

// ---------------------------------------------------------------------------------------
// Error rows (providers/README.md §3, gemini.md §5)

/// Answers one `generateContent` call with `status` and the fixture `body`, and returns
/// the error the provider made of it.
#[expect(
    clippy::panic,
    reason = "test helper: a success where an error is due fails the test"
)]
async fn error_for(status: u16, body: &str, extra_headers: &[(&str, &str)]) -> ProviderError {
    let server = MockServer::start().await;
    let mut response = respond(status, body, JSON);
    for (name, value) in extra_headers {
        response = response.insert_header(*name, *value);
    }
    mock("gemini-2.5-flash", false)
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    let result = provider(&server)
        .chat(&ChatRequest::from_user("x").with_model("gemini-2.5-flash"))
        .await;
    only_request(&server).await;
    match result {
        Ok(resp) => panic!("expected an error, got {resp:?}"),
        Err(err) => err,
    }
}

async fn error_from_fixture(status: u16, name: &str) -> ProviderError {
    error_for(status, &fixture(MANIFEST, name), &[]).await
}

/// A 429 with the recorded header block (status line and content type only: Gemini
/// sends no rate-limit headers).
async fn error_429(name: &str) -> ProviderError {
    let (status, headers) = fixture_headers(MANIFEST, "error_429.headers");
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    error_for(status, &fixture(MANIFEST, name), &headers).await
}

#[tokio::test]
async fn error_400_api_key_invalid_is_unauthorized() {
    let err = error_from_fixture(400, "error_400_api_key_invalid.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_400_api_key_expired_is_unauthorized() {
    let err = error_from_fixture(400, "error_400_api_key_expired.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_403_permission_denied_is_unauthorized() {
    let err = error_from_fixture(403, "error_403_no_key.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_402_is_payment_required_not_a_rate_limit() {
    let err = error_from_fixture(402, "error_402_prepaid_credit.json").await;
    assert!(matches!(err.kind, ErrorKind::PaymentRequired));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_404_not_found_is_model_not_found() {
    let err = error_from_fixture(404, "error_404_model.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_400_input_too_long_is_context_too_long() {
    let err = error_from_fixture(400, "error_400_context_too_long.json").await;
    assert!(matches!(err.kind, ErrorKind::ContextTooLong));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_400_failed_precondition_is_bad_request() {
    let err = error_from_fixture(400, "error_400_failed_precondition.json").await;
    assert!(matches!(err.kind, ErrorKind::BadRequest));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_400_gemma_system_instruction_is_bad_request() {
    let err = error_from_fixture(400, "error_400_gemma_system_instruction.json").await;
    assert!(matches!(err.kind, ErrorKind::BadRequest));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_429_per_minute_is_rate_limited_for_retry_delay() {
    let err = error_429("error_429_rpm.json").await;
    assert!(matches!(
        err.kind,
        ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(34)
    ));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_429_per_day_is_quota_exhausted_until_pacific_midnight() {
    let err = error_429("error_429_rpd.json").await;
    let until = DateTime::parse_from_rfc3339("2026-10-06T07:00:00Z")
        .unwrap()
        .to_utc();
    assert!(matches!(
        err.kind,
        ErrorKind::QuotaExhausted { until: Some(u) } if u == until
    ));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_429_limit_zero_is_model_not_found() {
    let err = error_429("error_429_limit0_no_free_tier.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_429_without_details_is_rate_limited() {
    let err = error_429("error_429_no_details.json").await;
    assert!(matches!(
        err.kind,
        ErrorKind::RateLimited { retry_after: None }
    ));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_429_honours_a_retry_after_header() {
    let err = error_for(
        429,
        &fixture(MANIFEST, "error_429_no_details.json"),
        &[("retry-after", "7")],
    )
    .await;
    assert!(matches!(
        err.kind,
        ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(7)
    ));
    assert_eq!(err.rate_limits.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn error_429_as_a_json_array_is_rate_limited() {
    let err = error_429("openai_compat_error_429.json").await;
    assert!(matches!(err.kind, ErrorKind::RateLimited { .. }));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_500_internal_is_transient() {
    let err = error_from_fixture(500, "error_500.json").await;
    assert!(matches!(
        err.kind,
        ErrorKind::Transient { status: Some(500) }
    ));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_503_unavailable_is_transient() {
    let err = error_from_fixture(503, "error_503.json").await;
    assert!(matches!(
        err.kind,
        ErrorKind::Transient { status: Some(503) }
    ));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_504_deadline_exceeded_is_transient() {
    let err = error_from_fixture(504, "error_504.json").await;
    assert!(matches!(
        err.kind,
        ErrorKind::Transient { status: Some(504) }
    ));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn error_502_html_from_a_proxy_is_transient() {
    let err = error_for(502, "<html><body>502 Bad Gateway</body></html>", &[]).await;
    assert!(matches!(
        err.kind,
        ErrorKind::Transient { status: Some(502) }
    ));
    assert_eq!(err.message.as_deref(), Some("non-JSON (HTML) error page"));
}

#[tokio::test]
async fn a_200_whose_body_is_an_error_is_classified() {
    let err = error_from_fixture(200, "error_503.json").await;
    assert!(matches!(
        err.kind,
        ErrorKind::Transient { status: Some(503) }
    ));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn a_key_echoed_by_the_upstream_is_redacted() {
    let body = format!(
        r#"{{"error":{{"code":400,"message":"Bad header value {TEST_KEY}","status":"INVALID_ARGUMENT"}}}}"#
    );
    let err = error_for(400, &body, &[]).await;
    assert!(matches!(err.kind, ErrorKind::BadRequest));
    assert_eq!(err.message.as_deref(), Some("Bad header value [REDACTED]"));
    error_view(&err);
}

// ---------------------------------------------------------------------------------------
// Unusable answers and transport failures

#[tokio::test]
async fn malformed_json_is_an_invalid_response() {
    let err = error_for(200, r#"{"candidates": [{"content": {"#, &[]).await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn empty_candidates_are_an_invalid_response() {
    let err = error_from_fixture(200, "generate_empty_candidates.json").await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn a_blocked_prompt_is_content_filtered() {
    let err = error_from_fixture(200, "generate_blocked_prompt.json").await;
    assert!(matches!(err.kind, ErrorKind::ContentFiltered));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn an_answer_stopped_for_safety_without_text_is_content_filtered() {
    let err = error_from_fixture(200, "generate_safety_no_text.json").await;
    assert!(matches!(err.kind, ErrorKind::ContentFiltered));
    insta::assert_json_snapshot!(error_view(&err));
}

#[tokio::test]
async fn a_slow_upstream_times_out() {
    let server = MockServer::start().await;
    mock("gemini-2.5-flash", false)
        .respond_with(
            respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON)
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = provider(&server)
        .chat(&ChatRequest::from_user("x").with_model("gemini-2.5-flash"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
    error_view(&err);
}

#[tokio::test]
async fn a_stream_without_response_headers_times_out() {
    let server = MockServer::start().await;
    mock("gemini-2.5-flash", true)
        .respond_with(
            respond(200, &fixture(MANIFEST, "stream.sse"), SSE).set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = provider(&server)
        .chat_stream(&ChatRequest::from_user("x").with_model("gemini-2.5-flash"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
    error_view(&err);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let cfg = config(&FACTORY, &refused_base_url(PREFIX).await);
    let provider = GeminiProvider::new(&cfg).unwrap();
    let err = provider
        .chat(&ChatRequest::from_user("x"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
    error_view(&err);
    let err = provider
        .chat_stream(&ChatRequest::from_user("x"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
}

#[tokio::test]
async fn more_than_five_stop_sequences_are_refused_without_a_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(0)
        .mount(&server)
        .await;
    let mut req = ChatRequest::from_user("x");
    req.stop = (1..=6).map(|i| format!("stop{i}")).collect();
    let err = provider(&server).chat(&req).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadRequest));
    insta::assert_json_snapshot!(error_view(&err));
}

// ---------------------------------------------------------------------------------------
// Registration and secrets

#[test]
fn the_factory_builds_a_gemini_provider() {
    assert_eq!(FACTORY.id, "gemini");
    assert_eq!(FACTORY.key_env, "GEMINI_API_KEY");
    assert_eq!(FACTORY.base_url_env, "GEMINI_BASE_URL");
    assert_eq!(
        FACTORY.default_base_url,
        "https://generativelanguage.googleapis.com/v1beta"
    );
    assert_eq!(FACTORY.default_priority, 30);
    let cfg = config(&FACTORY, "http://127.0.0.1:9/v1beta");
    let provider = (FACTORY.build)(&cfg).unwrap();
    assert_eq!(provider.id(), "gemini");
    assert_no_key(&format!("{provider:?}"));
    assert_no_key(&format!("{cfg:?}"));
    let catalog = FACTORY.model_catalog().unwrap();
    assert_eq!(catalog.day_reset_tz, "America/Los_Angeles");
    assert_eq!(catalog.models[0].id, FACTORY.default_model);
}

// ---------------------------------------------------------------- the chat surface (capabilities.md)

/// A fixture body without its `_source` note.
fn surface_fixture(name: &str) -> Value {
    let mut body = fixture_json(MANIFEST, name);
    if let Some(obj) = body.as_object_mut() {
        obj.remove("_source");
    }
    body
}

#[tokio::test]
async fn a_data_url_image_is_sent_inline() {
    let server = MockServer::start().await;
    let expected = surface_fixture("vision-request-inline.json");
    mock("gemini-2.5-flash", false)
        .and(body_json(&expected))
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    let data = expected["contents"][0]["parts"][1]["inlineData"]["data"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    let mut req = ChatRequest::new(vec![Message::user(vec![
        llmpool_core::ContentPart::text("What is in this image?"),
        llmpool_core::ContentPart::image_url(format!("data:image/jpeg;base64,{data}")),
    ])])
    .with_model("gemini-2.5-flash");
    req.max_tokens = Some(50);
    let resp = provider(&server).chat(&req).await;
    assert!(resp.is_ok(), "{resp:?}");
}

#[tokio::test]
async fn a_json_schema_is_sent_as_response_json_schema() {
    let server = MockServer::start().await;
    let expected = surface_fixture("json-request.json");
    mock("gemini-2.5-flash", false)
        .and(body_json(&expected))
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    let schema = expected["generationConfig"]["responseJsonSchema"].clone();
    let text = expected["contents"][0]["parts"][0]["text"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    let req = ChatRequest::from_user(text)
        .with_model("gemini-2.5-flash")
        .with_json_schema("place", schema);
    let resp = provider(&server).chat(&req).await;
    assert!(resp.is_ok(), "{resp:?}");
    insta::assert_json_snapshot!("json_schema_request", only_request(&server).await);
}

// ---------------------------------------------------------------- tools (capabilities.md §1, §6)

/// The request of `tools-request.json`: one argument-less function, forced by name.
fn catalog_request(model: &str, description: &str) -> ChatRequest {
    let mut req = ChatRequest::from_user(
        "Call catalogSearch once, then say whether metadata was returned. Do not inspect the PDF.",
    )
    .with_model(model)
    .with_tool(Tool {
        name: "catalogSearch".into(),
        description: Some(description.into()),
        parameters: None,
        strict: None,
    });
    req.tool_choice = Some(ToolChoice::Function("catalogSearch".into()));
    req.max_tokens = Some(64);
    req
}

/// The follow-up turn of `req`: the assistant's `call` and the tool's `result`.
fn followup(mut req: ChatRequest, call: ToolCall, result: &str) -> ChatRequest {
    let id = call.id.clone();
    req.messages
        .push(Message::assistant_tool_calls("", vec![call]));
    let mut tool = Message::new(Role::Tool, result);
    tool.tool_call_id = Some(id);
    req.messages.push(tool);
    req
}

#[tokio::test]
async fn tools_one_shot_then_the_follow_up_turn_carries_id_and_signature_back() {
    let model = "gemini-flash-lite-latest";
    let description = "Returns catalog metadata and a PDF page.";
    // Turn 1: declarations and a forced call (recorded request), a signed call back.
    let server = MockServer::start().await;
    mock(model, false)
        .and(body_json(surface_fixture("tools-request.json")))
        .respond_with(respond(
            200,
            &fixture(MANIFEST, "tools-response.json"),
            JSON,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let req = catalog_request(model, description);
    let resp = provider(&server).chat(&req).await.unwrap();
    insta::assert_json_snapshot!("tools_request", only_request(&server).await);
    insta::assert_json_snapshot!("tools_response", response_view(&resp), {
        ".response.latency" => "[latency]",
    });
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(resp.text, "");
    let [call] = resp.tool_calls.as_slice() else {
        panic!("{resp:?}")
    };
    assert_eq!(
        (call.name.as_str(), call.arguments.as_str()),
        ("catalogSearch", "{}")
    );

    // Turn 2: the client sends the call back unchanged with its result; Gemini must get
    // its own id and the signature on the replayed call (recorded follow-up request).
    let server = MockServer::start().await;
    mock(model, false)
        .and(body_json(surface_fixture("tools-followup-request.json")))
        .respond_with(respond(
            200,
            &fixture(MANIFEST, "tools-followup-response.json"),
            JSON,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut next = followup(req, call.clone(), "metadata");
    next.tool_choice = Some(ToolChoice::None);
    let resp = provider(&server).chat(&next).await.unwrap();
    insta::assert_json_snapshot!("tools_followup_request", only_request(&server).await);
    assert_eq!(resp.text, "Metadata was returned.");
    assert_eq!(resp.finish_reason, Some(FinishReason::Stop));
    assert!(resp.tool_calls.is_empty());
}

#[tokio::test]
async fn a_follow_up_with_a_client_made_id_and_an_answer_without_ids() {
    // Gemini 2.5 gives no ids; a client-made id (or one from another provider) is sent
    // as it is, without a signature (recorded request, answered 200).
    let model = "gemini-2.5-flash-lite";
    let server = MockServer::start().await;
    mock(model, false)
        .and(body_json(surface_fixture(
            "tools-followup-request-synthesized-id.json",
        )))
        .respond_with(respond(
            200,
            &fixture(MANIFEST, "tools-response-no-id.json"),
            JSON,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut req = catalog_request(model, "Return catalog PDF metadata and document data.");
    req.messages[0] =
        Message::user("Call the catalogSearch tool, then answer briefly based on the tool result.");
    let req = followup(
        req,
        ToolCall::new("5fDycx9iBBu5hB0y", "catalogSearch", "{}"),
        "metadata",
    );
    let resp = provider(&server).chat(&req).await.unwrap();
    insta::assert_json_snapshot!("tools_response_no_id", response_view(&resp), {
        ".response.latency" => "[latency]",
    });
    // Mode ANY forced another call; its id is made from the answer's responseId.
    assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        resp.tool_calls,
        [ToolCall::new(
            "call_kpNPapqwA76LkdUP0vGIOA_0",
            "catalogSearch",
            "{}"
        )]
    );
}

#[tokio::test]
async fn tools_stream_gives_one_tool_call_delta_per_call() {
    let model = "gemini-3.1-pro-preview";
    let server = MockServer::start().await;
    mock(model, true)
        .respond_with(respond(200, &fixture(MANIFEST, "tools-stream.sse"), SSE))
        .expect(1)
        .mount(&server)
        .await;
    let mut req = ChatRequest::from_user("What is the weather in San Francisco?")
        .with_model(model)
        .with_tool(Tool::function(
            "get_weather",
            "Get the current weather for a city.",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        ));
    req.tool_choice = Some(ToolChoice::Auto);
    let events = collect(&provider(&server), &req).await;
    insta::assert_json_snapshot!("tools_stream_request", only_request(&server).await);
    insta::assert_json_snapshot!("tools_stream_events", events);
    let calls: Vec<&Value> = events.iter().filter_map(|e| e.get("tool_call")).collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["index"], 0);
    assert_eq!(calls[0]["name"], "get_weather");
    assert_eq!(calls[0]["arguments"], r#"{"city":"San Francisco"}"#);
    assert_eq!(
        events.last().map(|e| e["done"]["finish_reason"].clone()),
        Some(json!("tool_calls"))
    );
}

#[tokio::test]
async fn tool_schemas_are_sent_as_parameters_json_schema() {
    let server = MockServer::start().await;
    mock("gemini-2.5-flash", false)
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    let documented = surface_fixture("tools-request-schemas.json");
    let declared = documented["tools"][0]["functionDeclarations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let tools: Vec<Tool> = declared
        .iter()
        .map(|d| Tool {
            name: d["name"].as_str().unwrap_or_default().to_owned(),
            description: d["description"].as_str().map(str::to_owned),
            parameters: d
                .get("parameters")
                .or_else(|| d.get("parametersJsonSchema"))
                .cloned(),
            strict: None,
        })
        .collect();
    assert_eq!(tools.len(), 2);
    let mut req = ChatRequest::from_user(
        documented["contents"][0]["parts"][0]["text"]
            .as_str()
            .unwrap_or_default(),
    )
    .with_model("gemini-2.5-flash");
    req.tools = tools;
    req.tool_choice = Some(ToolChoice::Auto);
    provider(&server).chat(&req).await.unwrap();
    let sent = only_request(&server).await;
    // The documented body, with every schema as JSON Schema (the OpenAPI-subset
    // `parameters` rejects whole requests for one keyword it does not know).
    let mut expected = documented.clone();
    if let Some(first) = expected["tools"][0]["functionDeclarations"][0].as_object_mut()
        && let Some(schema) = first.remove("parameters")
    {
        first.insert("parametersJsonSchema".into(), schema);
    }
    assert_eq!(sent["body"], expected);
    insta::assert_json_snapshot!("tools_schemas_request", sent);
}

#[tokio::test]
async fn json_with_tools_on_gemini_2_5_and_json_with_forced_calls_are_refused_without_a_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(0)
        .mount(&server)
        .await;
    let mut req = catalog_request("gemini-2.5-flash", "d");
    req.tool_choice = None;
    req.response_format = Some(llmpool_core::ResponseFormat::JsonObject);
    let err = provider(&server).chat(&req).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadRequest));
    insta::assert_json_snapshot!("json_with_tools_refused", error_view(&err));
    let mut forced = catalog_request("gemini-3.1-flash-lite", "d");
    forced.response_format = Some(llmpool_core::ResponseFormat::JsonObject);
    let err = provider(&server).chat_stream(&forced).await.err().unwrap();
    assert!(matches!(err.kind, ErrorKind::BadRequest));
    insta::assert_json_snapshot!("json_with_forced_call_refused", error_view(&err));
}

/// Gemini's 400s for combinations it does not take (capabilities.md §1.3, §1.5, §2.3,
/// §4.1): each a `BadRequest` (the router moves on) whose message names the problem.
#[tokio::test]
async fn unsupported_combination_errors_are_bad_requests_naming_the_problem() {
    let cases = [
        (
            "tools-error-400-unknown-schema-field.json",
            "additionalProperties",
        ),
        (
            "tools-error-400-function-response-count.json",
            "number of function response parts",
        ),
        (
            "tools-error-400-missing-thought-signature.json",
            "thought_signature",
        ),
        (
            "json-error-400-function-calling-with-json.json",
            "Function calling with a response mime type",
        ),
        (
            "json-error-400-forced-any-with-json.json",
            "Forced function calling",
        ),
        (
            "json-error-400-gemma-json-mode.json",
            "JSON mode is not enabled",
        ),
        (
            "reasoning-error-400-thinking-level.json",
            "Thinking level MINIMAL",
        ),
    ];
    let mut views = serde_json::Map::new();
    for (name, needle) in cases {
        let err = error_from_fixture(400, name).await;
        assert!(matches!(err.kind, ErrorKind::BadRequest), "{name}: {err:?}");
        assert_eq!(err.status, Some(400), "{name}");
        let message = err.message.clone().unwrap_or_default();
        assert!(message.contains(needle), "{name}: {message}");
        views.insert(name.to_owned(), error_view(&err));
    }
    insta::assert_json_snapshot!("unsupported_combination_errors", views);
}

// ---------------------------------------------------------------- images and reasoning (capabilities.md §3, §4)

#[tokio::test]
async fn an_https_image_is_sent_as_file_data() {
    let server = MockServer::start().await;
    let expected = surface_fixture("vision-request-file-uri.json");
    mock("gemini-2.5-flash", false)
        .and(body_json(&expected))
        .respond_with(respond(200, &fixture(MANIFEST, "generate_ok.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    let parts = &expected["contents"][0]["parts"];
    let req = ChatRequest::new(vec![Message::user(vec![
        llmpool_core::ContentPart::text(parts[0]["text"].as_str().unwrap_or_default()),
        llmpool_core::ContentPart::image_url(
            parts[1]["fileData"]["fileUri"].as_str().unwrap_or_default(),
        ),
    ])])
    .with_model("gemini-2.5-flash");
    let resp = provider(&server).chat(&req).await;
    assert!(resp.is_ok(), "{resp:?}");
}

#[tokio::test]
async fn reasoning_effort_is_a_thinking_level_and_thoughts_stay_out_of_the_text() {
    let server = MockServer::start().await;
    mock("gemini-3-pro-preview", false)
        .respond_with(respond(
            200,
            &fixture(MANIFEST, "reasoning-response-signature.json"),
            JSON,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let documented = surface_fixture("reasoning-request.json");
    let mut req = ChatRequest::from_user(
        documented["contents"][0]["parts"][0]["text"]
            .as_str()
            .unwrap_or_default(),
    )
    .with_model("gemini-3-pro-preview");
    req.max_tokens = Some(1024);
    req.reasoning_effort = Some("low".into());
    let resp = provider(&server).chat(&req).await.unwrap();
    let sent = only_request(&server).await;
    // The documented body, but for the level's case (Gemini's enum takes either).
    let mut expected = documented.clone();
    expected["generationConfig"]["thinkingConfig"]["thinkingLevel"] = json!("LOW");
    assert_eq!(sent["body"], expected);
    insta::assert_json_snapshot!("reasoning_request", sent);
    // Without includeThoughts honoured (none came back) the answer is text only; the
    // thinking tokens count as completion tokens.
    insta::assert_json_snapshot!("reasoning_response_signature", response_view(&resp), {
        ".response.latency" => "[latency]",
    });
    assert_eq!(resp.reasoning, None);
    assert!(resp.text.starts_with("There are **3**"));
    assert_eq!(
        resp.usage.map(|u| (u.completion_tokens, u.total_tokens)),
        Some((287, 296))
    );
}

#[tokio::test]
async fn streamed_thought_parts_are_reasoning_events_before_the_text() {
    let model = "gemma-4-26b-a4b-it";
    let server = MockServer::start().await;
    mock(model, true)
        .respond_with(respond(
            200,
            &fixture(MANIFEST, "reasoning-stream-thought-parts.sse"),
            SSE,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let req = ChatRequest::from_user("Reply with exactly: hello").with_model(model);
    let events = collect(&provider(&server), &req).await;
    insta::assert_json_snapshot!("reasoning_stream_events", events);
    let reasoning: String = events
        .iter()
        .filter_map(|e| e["reasoning"].as_str())
        .collect();
    let text: String = events.iter().filter_map(|e| e["delta"].as_str()).collect();
    assert!(reasoning.starts_with("*   User input:"), "{reasoning}");
    assert_eq!(text, "hello");
}

/// `json-request-response-schema.json` documents the older `responseSchema` form (the
/// OpenAPI subset: `nullable`, `propertyOrdering`). llmpool sends every client schema as
/// `responseJsonSchema` instead, by design: the subset rejects a whole request for one
/// JSON-Schema keyword it does not know (capabilities.md §6.6), while a client writes
/// JSON Schema. So the body must be the documented one with `responseSchema` replaced by
/// the client's JSON Schema for the same shape (`nullable` is `type: [T, "null"]`;
/// `propertyOrdering` has no JSON-Schema equivalent), everything else exact.
#[tokio::test]
async fn an_openapi_schema_request_is_sent_as_the_equivalent_json_schema() {
    let server = MockServer::start().await;
    mock("gemini-2.5-flash", false)
        .respond_with(respond(200, &fixture(MANIFEST, "json-response.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    let documented = surface_fixture("json-request-response-schema.json");
    let openapi = &documented["generationConfig"]["responseSchema"];
    assert_eq!(openapi["properties"]["floor"]["nullable"], true);
    let schema = json!({
        "type": "object",
        "properties": {
            "location": openapi["properties"]["location"].clone(),
            "floor": {"type": ["integer", "null"]},
        },
        "required": openapi["required"].clone(),
    });
    let req = ChatRequest::from_user(
        documented["contents"][0]["parts"][0]["text"]
            .as_str()
            .unwrap_or_default(),
    )
    .with_model("gemini-2.5-flash")
    .with_json_schema("place", schema.clone());
    provider(&server).chat(&req).await.unwrap();
    let sent = only_request(&server).await;
    let mut expected = documented.clone();
    if let Some(config) = expected["generationConfig"].as_object_mut() {
        config.remove("responseSchema");
        config.insert("responseJsonSchema".into(), schema);
    }
    assert_eq!(sent["body"], expected);
    insta::assert_json_snapshot!("json_response_schema_request", sent);
}

/// The recorded JSON answer (`json-response.json`, gemini-2.5-flash): the JSON arrives
/// as the text of the one part and is the answer text unchanged; `STOP` without a call
/// is `stop`; the thinking tokens count as completion tokens.
#[tokio::test]
async fn a_json_answer_is_the_answer_text() {
    let server = MockServer::start().await;
    mock("gemini-2.5-flash", false)
        .respond_with(respond(200, &fixture(MANIFEST, "json-response.json"), JSON))
        .expect(1)
        .mount(&server)
        .await;
    let expected = surface_fixture("json-request.json");
    let req = ChatRequest::from_user(
        expected["contents"][0]["parts"][0]["text"]
            .as_str()
            .unwrap_or_default(),
    )
    .with_model("gemini-2.5-flash")
    .with_json_schema(
        "place",
        expected["generationConfig"]["responseJsonSchema"].clone(),
    );
    let resp = provider(&server).chat(&req).await.unwrap();
    assert_eq!(only_request(&server).await["body"], expected);
    insta::assert_json_snapshot!("json_response", response_view(&resp), {
        ".response.latency" => "[latency]",
    });
    assert_eq!(resp.text, r#"{"location":"Paris"}"#);
    let parsed: Value = serde_json::from_str(&resp.text).unwrap();
    assert_eq!(parsed["location"], "Paris");
    assert_eq!(resp.reasoning, None);
    assert!(resp.tool_calls.is_empty());
    assert_eq!(resp.finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        resp.usage
            .map(|u| (u.prompt_tokens, u.completion_tokens, u.total_tokens)),
        Some((6, 45, 51))
    );
    assert_eq!(resp.model, "gemini-2.5-flash");
}
