//! Contract tests: NVIDIA NIM as documented in `shared/providers/nvidia.md`, played by
//! wiremock on 127.0.0.1 with the payloads in `tests/fixtures/`. One test per row of the
//! reference's error table (§5), plus its quirks and transport failures.

use std::time::Duration;

use llmpool_core::{ChatRequest, ErrorKind, Message, StreamEvent, Usage};
use llmpool_provider_nvidia::FACTORY;
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
        model: Some("nvidia/nemotron-3-super-120b-a12b".into()),
        temperature: Some(0.2),
        max_tokens: Some(512),
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

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn chat_sends_max_tokens_and_parses_the_answer_without_reasoning() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("chat_ok.json")))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    let request = up.only_request().await;
    // The output cap goes out as `max_tokens`, exactly the documented body.
    assert_eq!(request["body"], SUITE.fixture_json("chat_request.json"));
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    // `reasoning_content` is not part of the answer.
    assert_eq!(resp.text, "Paris.");
    assert_eq!(resp.usage, Some(Usage::new(31, 19)));
}

#[tokio::test]
async fn stream_asks_for_usage_skips_reasoning_and_reads_the_usage_chunk() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("chat_stream.sse"))).await;
    let stream = SUITE
        .provider(&up.base_url())
        .chat_stream(&documented_stream_request())
        .await
        .unwrap();
    let items = collect(stream).await;
    let request = up.only_request().await;
    assert_eq!(request["body"]["stream_options"]["include_usage"], true);
    assert_eq!(request["body"]["max_tokens"], 512);
    insta::assert_json_snapshot!("stream_request", request);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Paris.");
    let Some(Ok(StreamEvent::Done(end))) = items.last() else {
        panic!("stream did not end with Done: {items:?}");
    };
    assert_eq!(end.usage, Some(Usage::new(31, 19)));
}

#[tokio::test]
async fn an_answer_spent_on_reasoning_is_an_invalid_response() {
    let empty = r#"{"id":"chatcmpl-e","object":"chat.completion","created":1788912000,"model":"nvidia/nemotron-3-super-120b-a12b","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"Let me think about France at length"},"finish_reason":"length"}],"usage":{"prompt_tokens":31,"completion_tokens":512,"total_tokens":543}}"#;
    let err = SUITE.chat_error(Reply::json(200, empty)).await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
    assert_eq!(err.status, Some(200));
}

// ---------------------------------------------------------------- error rows (nvidia.md §5)

#[tokio::test]
async fn auth_401_problem_json_is_unauthorized() {
    let err = SUITE.fixture_error(401, "error_401.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_401", error_json(&err));
}

#[tokio::test]
async fn auth_401_missing_header_text_is_unauthorized() {
    let err = SUITE
        .chat_error(
            Reply::json(401, "Header of type `authorization` was missing")
                .content_type("text/plain"),
        )
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn auth_403_authorization_failed_is_unauthorized() {
    let err = SUITE.fixture_error(403, "error_403_auth.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    assert_eq!(err.message.as_deref(), Some("Authorization failed"));
}

#[tokio::test]
async fn model_404_not_found_for_account_disables_the_route_not_the_key() {
    let err = SUITE
        .fixture_error(404, "error_404_not_for_account.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_404_not_for_account", error_json(&err));
}

#[tokio::test]
async fn model_404_plain_text_page_not_found_is_model_not_found() {
    let err = SUITE
        .chat_error(
            Reply::json(404, SUITE.fixture("error_404_unrouted.txt")).content_type("text/plain"),
        )
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    assert_eq!(err.message.as_deref(), Some("404 page not found"));
}

#[tokio::test]
async fn model_410_end_of_life_is_model_not_found() {
    let err = SUITE.fixture_error(410, "error_410_end_of_life.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_410_end_of_life", error_json(&err));
}

#[tokio::test]
async fn rate_limited_429_without_headers_cools_down_60_s() {
    let err = SUITE
        .chat_error(SUITE.recorded("error_429.headers", "error_429.json"))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
    assert!(err.rate_limits.is_empty());
    insta::assert_json_snapshot!("error_429", error_json(&err));
}

#[tokio::test]
async fn transient_400_degraded_is_not_a_bad_request() {
    let err = SUITE.fixture_error(400, "error_400_degraded.json").await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(400) }),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_400_degraded", error_json(&err));
}

#[tokio::test]
async fn transient_503_worker_pool_full_is_transient() {
    let err = SUITE
        .fixture_error(503, "error_503_resource_exhausted.json")
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
    assert!(err.message.as_deref().unwrap().contains("(16/16)"));
}

#[tokio::test]
async fn transient_504_empty_body_is_transient() {
    let err = SUITE.chat_error(Reply::json(504, "")).await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(504) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_request_400_parallel_tool_calls_is_bad_request() {
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"status":400,"title":"Bad Request","detail":"This model only supports single tool-calls at once!"}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn payment_402_is_payment_required() {
    let err = SUITE
        .chat_error(Reply::json(
            402,
            r#"{"status":402,"title":"Payment Required"}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::PaymentRequired), "{err:?}");
}

// ---------------------------------------------------------------- transport

#[tokio::test]
async fn stream_error_before_the_first_chunk_is_returned_directly() {
    let err = SUITE
        .stream_error(SUITE.json_error(410, "error_410_end_of_life.json"))
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

#[tokio::test]
async fn malformed_json_is_invalid_response() {
    let err = SUITE
        .chat_error(Reply::json(200, r#"{"id":"chatcmpl-1","choices":[{"#))
        .await;
    assert!(matches!(err.kind, ErrorKind::InvalidResponse), "{err:?}");
}
