//! Contract tests: the Hugging Face router as documented in
//! `shared/providers/huggingface.md`, played by wiremock on 127.0.0.1 with the payloads in
//! `tests/fixtures/`. One test per row of the reference's error table (§5), plus its quirks.

use std::time::Duration;

use chrono::{Datelike, Timelike, Utc};
use llmpool_core::{ChatRequest, ErrorKind, Message, StreamEvent, Usage};
use llmpool_provider_huggingface::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/v1",
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
        model: Some("openai/gpt-oss-20b:cheapest".into()),
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

/// A backend's OpenAI-shaped answer (the router passes it through; no recorded body).
const CHAT_OK: &str = r#"{"id":"chatcmpl-hf1","object":"chat.completion","created":1788912000,"model":"openai/gpt-oss-20b","choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","reasoning":"Capital of France."},"finish_reason":"stop"}],"usage":{"prompt_tokens":77,"completion_tokens":18,"total_tokens":95}}"#;

/// Asserts the monthly wall: `QuotaExhausted` until the 1st of next month, 00:00 UTC.
#[expect(clippy::panic, reason = "test helper: a panic fails the test")]
fn assert_until_next_month(kind: &ErrorKind) {
    let ErrorKind::QuotaExhausted { until: Some(until) } = kind else {
        panic!("expected the monthly wall, got {kind:?}");
    };
    assert_eq!((until.day(), until.hour(), until.minute()), (1, 0, 0));
    assert_eq!(until.month(), Utc::now().month() % 12 + 1, "{until}");
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn chat_sends_the_suffixed_model_and_parses_the_backend_answer() {
    let up = SUITE.upstream().await;
    let (_, headers) = SUITE.fixture_headers("chat_ok.headers");
    up.reply(Reply::json(200, CHAT_OK).headers(headers)).await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    let request = up.only_request().await;
    assert_eq!(request["body"], SUITE.fixture_json("chat_request.json"));
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.text, "Paris.");
    assert_eq!(resp.usage, Some(Usage::new(77, 18)));
}

#[tokio::test]
async fn stream_tolerates_comments_and_either_reasoning_name() {
    let sse = concat!(
        ": keep-alive\n\n",
        "data: {\"id\":\"c\",\"model\":\"openai/gpt-oss-20b\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"Capital.\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"openai/gpt-oss-20b\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"Of France.\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"openai/gpt-oss-20b\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Paris.\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"openai/gpt-oss-20b\",\"choices\":[],\"usage\":{\"prompt_tokens\":77,\"completion_tokens\":18,\"total_tokens\":95}}\n\n",
        "data: [DONE]\n\n",
    );
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(sse)).await;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&documented_stream_request())
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("stream_request", up.only_request().await);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Paris.");
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage == Some(Usage::new(77, 18))),
        "{items:?}"
    );
}

// ---------------------------------------------------------------- error rows (huggingface.md §5)

#[tokio::test]
async fn auth_401_flat_string_is_unauthorized() {
    let err = SUITE.fixture_error(401, "error_401.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_401", error_json(&err));
}

#[tokio::test]
async fn auth_403_permission_error_is_unauthorized() {
    let err = SUITE.fixture_error(403, "error_403_permission.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn model_403_gated_disables_the_route_not_the_key() {
    let err = SUITE.fixture_error(403, "error_403_gated.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_403_gated", error_json(&err));
}

#[tokio::test]
async fn quota_402_depleted_monthly_credits_is_the_monthly_wall() {
    let err = SUITE.fixture_error(402, "error_402_credits.json").await;
    assert_until_next_month(&err.kind);
    insta::assert_json_snapshot!("error_402_credits", error_json(&err));
}

#[tokio::test]
async fn quota_402_2025_wording_is_the_monthly_wall() {
    let err = SUITE
        .fixture_error(402, "error_402_credits_2025.json")
        .await;
    assert_until_next_month(&err.kind);
}

#[tokio::test]
async fn model_400_not_supported_by_any_enabled_provider_is_model_not_found() {
    let err = SUITE
        .fixture_error(400, "error_400_model_not_supported.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn model_404_unknown_is_model_not_found() {
    let err = SUITE
        .chat_error(Reply::json(
            404,
            r#"{"error":"Model nope/nope not found."}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn rate_limited_429_backend_is_rate_limited() {
    let err = SUITE
        .chat_error(
            Reply::json(
                429,
                r#"{"error":{"message":"Rate limit exceeded","type":"rate_limit_error"}}"#,
            )
            .headers(vec![("retry-after".into(), "5".into())]),
        )
        .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(5)),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_503_model_loading_is_transient() {
    let err = SUITE
        .chat_error(Reply::json(
            503,
            r#"{"error":"Model openai/gpt-oss-20b is currently loading","estimated_time":23.4}"#,
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_backend_not_enough_balance_is_transient() {
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"error":{"message":"NOT_ENOUGH_BALANCE: provider account has insufficient balance","type":"invalid_request_error"}}"#,
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(400) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn content_policy_wording_is_content_filtered_else_bad_request() {
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"error":{"message":"The prompt was rejected by the content policy","type":"invalid_request_error"}}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ContentFiltered), "{err:?}");
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"error":"temperature must be positive"}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn transient_5xx_is_transient() {
    for status in [500, 502, 504] {
        let err = SUITE
            .chat_error(Reply::json(status, r#"{"error":"upstream failure"}"#))
            .await;
        assert!(
            matches!(err.kind, ErrorKind::Transient { status: Some(s) } if s == status),
            "{err:?}"
        );
    }
}

// ---------------------------------------------------------------- transport

#[tokio::test]
async fn timeout_is_timeout() {
    let err = SUITE
        .chat_error(Reply::json(200, CHAT_OK).delayed(Duration::from_secs(3)))
        .await;
    assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let err = SUITE.refused_chat_error().await;
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
}
