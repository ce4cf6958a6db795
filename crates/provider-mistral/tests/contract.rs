//! Contract tests: Mistral as documented in `shared/providers/mistral.md`, played by
//! wiremock on 127.0.0.1 with the payloads in `tests/fixtures/`. One test per row of the
//! reference's error table (§5), plus its request and response quirks.

use std::time::Duration;

use chrono::{Datelike, Timelike, Utc};
use llmpool_core::{ChatRequest, ErrorKind, Message, StreamEvent, Usage};
use llmpool_provider_mistral::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: documented_request,
    stream_request: documented_stream_request,
};

/// `chat_request.json` in core terms (core requests carry no seed: `random_seed` is the
/// one documented field they cannot express).
fn documented_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are a terse assistant."),
            Message::user("What is the capital of France?"),
        ],
        model: Some("ministral-8b-latest".into()),
        temperature: Some(0.2),
        max_tokens: Some(256),
        top_p: None,
        stop: Vec::new(),
        stream: false,
        ..ChatRequest::default()
    }
}

fn documented_stream_request() -> ChatRequest {
    ChatRequest {
        stream: true,
        ..documented_request()
    }
}

/// A 429 with Mistral's code-1300 body and these headers.
fn rate_limited_with(headers: &[(&str, &str)]) -> Reply {
    Reply::json(429, SUITE.fixture("error_429_rate_limited.json")).headers(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// Asserts a `QuotaExhausted` until the 1st of next month, 00:00 UTC.
#[expect(clippy::panic, reason = "test helper: a panic fails the test")]
fn assert_until_next_month(kind: &ErrorKind) {
    let ErrorKind::QuotaExhausted { until: Some(until) } = kind else {
        panic!("expected a monthly wall, got {kind:?}");
    };
    let now = Utc::now();
    assert_eq!((until.day(), until.hour(), until.minute()), (1, 0, 0));
    assert_eq!(until.month(), now.month() % 12 + 1, "{until}");
    assert!(*until > now);
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn chat_sends_the_strict_schema_body_and_reads_the_headers() {
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
    documented.as_object_mut().unwrap().remove("random_seed");
    assert_eq!(request["body"], documented);
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.rate_limits.requests_minute.remaining, Some(59));
    assert_eq!(resp.rate_limits.tokens_minute.limit, Some(500_000));
    assert_eq!(resp.rate_limits.tokens_month.limit, Some(1_000_000_000));
    assert_eq!(resp.rate_limits.tokens_month.remaining, Some(998_764_210));
}

/// The documented request sent to Magistral, which always reasons (mistral.md §2).
fn magistral_request(stream: bool) -> ChatRequest {
    ChatRequest {
        model: Some("magistral-medium-latest".into()),
        stream,
        ..documented_request()
    }
}

#[tokio::test]
async fn reasoning_answer_thinking_chunks_are_reasoning_text_chunks_the_answer() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("chat_ok_reasoning.json")))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&magistral_request(false))
        .await
        .unwrap();
    insta::assert_json_snapshot!("reasoning_request", up.only_request().await);
    insta::assert_json_snapshot!("reasoning_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.text, "Paris.");
    assert_eq!(
        resp.reasoning.as_deref(),
        Some("The user asks for the capital of France. It is Paris.")
    );
    assert_eq!(resp.model, "magistral-medium-latest");
    assert_eq!(resp.usage, Some(Usage::new(19, 22)));
}

#[tokio::test]
async fn stream_sends_no_stream_options_and_reads_usage_from_the_last_chunk() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("chat_stream.sse"))).await;
    let stream = SUITE
        .provider(&up.base_url())
        .chat_stream(&documented_stream_request())
        .await
        .unwrap();
    let items = collect(stream).await;
    let request = up.only_request().await;
    assert!(request["body"].get("stream_options").is_none(), "{request}");
    assert_eq!(request["body"]["stream"], true);
    insta::assert_json_snapshot!("stream_request", request);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Paris.");
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage == Some(Usage::new(19, 3))),
        "{items:?}"
    );
}

#[tokio::test]
async fn stream_thinking_chunks_are_reasoning_events_text_chunks_the_answer() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("chat_stream_reasoning.sse")))
        .await;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&magistral_request(true))
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("reasoning_stream_request", up.only_request().await);
    insta::assert_json_snapshot!("reasoning_stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Paris.");
    let reasoning: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::Reasoning(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasoning,
        "The user asks for the capital of France. It is Paris."
    );
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage == Some(Usage::new(19, 22))),
        "{items:?}"
    );
}

// ---------------------------------------------------------------- error rows (mistral.md §5)

#[tokio::test]
async fn auth_401_detail_unauthorized_is_unauthorized() {
    let err = SUITE.fixture_error(401, "error_401.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_401", error_json(&err));
}

#[tokio::test]
async fn auth_401_older_message_shape_is_unauthorized() {
    let err = SUITE
        .chat_error(Reply::json(
            401,
            r#"{"message":"Unauthorized","request_id":"7f6e5d4c3b2a19080706050403020100"}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn model_400_invalid_model_is_model_not_found() {
    let err = SUITE
        .fixture_error(400, "error_400_invalid_model.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_400_invalid_model", error_json(&err));
}

#[tokio::test]
async fn bad_request_422_extra_forbidden_is_bad_request() {
    let err = SUITE
        .fixture_error(422, "error_422_extra_forbidden.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    // The object `message` is kept as text, naming the field at fault.
    assert!(err.message.as_deref().unwrap().contains("stream_options"));
}

#[tokio::test]
async fn bad_request_422_integer_code_3001_is_bad_request() {
    let err = SUITE
        .fixture_error(422, "error_422_extra_forbidden_3001.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_tool_call_id_3280_is_bad_request() {
    let err = SUITE
        .fixture_error(400, "error_400_tool_call_id.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn rate_limited_429_code_1300_without_room_waits_a_minute() {
    let err = SUITE
        .chat_error(rate_limited_with(&[
            ("x-ratelimit-limit-req-minute", "60"),
            ("x-ratelimit-remaining-req-minute", "0"),
        ]))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_429_rate_limited", error_json(&err));
}

#[tokio::test]
async fn rate_limited_429_per_second_burst_waits_a_second() {
    let err = SUITE
        .chat_error(rate_limited_with(&[
            ("x-ratelimit-limit-req-minute", "60"),
            ("x-ratelimit-remaining-req-minute", "58"),
        ]))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1)),
        "{err:?}"
    );
}

#[tokio::test]
async fn rate_limited_429_legacy_body_honours_retry_after() {
    let err = SUITE
        .chat_error(
            SUITE
                .json_error(429, "error_429_legacy.json")
                .headers(vec![("retry-after".into(), "2".into())]),
        )
        .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(2)),
        "{err:?}"
    );
}

#[tokio::test]
async fn quota_429_with_month_tokens_at_zero_is_the_monthly_wall() {
    let err = SUITE
        .chat_error(SUITE.recorded("error_429_monthly.headers", "error_429_rate_limited.json"))
        .await;
    assert_until_next_month(&err.kind);
    insta::assert_json_snapshot!("error_429_monthly", error_json(&err));
}

#[tokio::test]
async fn model_429_with_a_zero_limit_header_is_not_on_the_free_tier() {
    let err = SUITE
        .chat_error(rate_limited_with(&[
            ("x-ratelimit-limit-req-minute", "0"),
            ("x-ratelimit-remaining-req-minute", "0"),
            ("x-ratelimit-limit-tokens-minute", "0"),
        ]))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn transient_429_service_tier_capacity_is_transient() {
    let err = SUITE.fixture_error(429, "error_429_capacity.json").await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(429) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn quota_402_credits_spent_is_the_monthly_wall() {
    let err = SUITE
        .chat_error(Reply::json(
            402,
            r#"{"object":"error","message":"Payment required","type":"payment_required","param":null,"code":null}"#,
        ))
        .await;
    assert_until_next_month(&err.kind);
}

#[tokio::test]
async fn transient_5xx_is_transient() {
    for status in [500, 502, 503] {
        let err = SUITE
            .chat_error(Reply::json(
                status,
                r#"{"object":"error","message":"Internal server error","type":"internal_server_error","param":null,"code":null}"#,
            ))
            .await;
        assert!(
            matches!(err.kind, ErrorKind::Transient { status: Some(s) } if s == status),
            "{err:?}"
        );
    }
}

// ---------------------------------------------------------------- transport

#[tokio::test]
async fn stream_error_before_the_first_chunk_is_returned_directly() {
    let err = SUITE
        .stream_error(SUITE.json_error(400, "error_400_invalid_model.json"))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

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
