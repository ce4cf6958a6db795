//! Contract tests: the Kilo AI Gateway as documented in `shared/providers/kilo.md`, played
//! by wiremock on 127.0.0.1 with the payloads in `tests/fixtures/`. Free models are
//! keyless, so the tests build the provider with an empty key and check that no
//! `Authorization` header is sent. One test per row of the reference's error table (§5),
//! plus its quirks.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers outside #[test] functions fail the test by panicking"
)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use llmpool_core::{
    ChatRequest, ErrorKind, Message, Provider, ProviderConfig, ProviderError, StreamEvent, Usage,
};
use llmpool_provider_kilo::FACTORY;
use llmpool_testkit::compat::{Reply, collect, error_json, events_json, streamed_text};
use llmpool_testkit::{
    assert_error_clean, assert_quota_until, fixture, fixture_json, refused_base_url,
    request_snapshot,
};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The documented base has no `/v1`.
const PREFIX: &str = "/api/gateway";

/// An OpenRouter-shaped free-model answer (no Kilo answer was recorded).
const CHAT_OK: &str = r#"{"id":"gen-1788912000-abc","provider":"Nvidia","model":"nvidia/nemotron-3-super-120b-a12b:free","object":"chat.completion","created":1788912000,"choices":[{"index":0,"finish_reason":"stop","native_finish_reason":"stop","message":{"role":"assistant","content":"Paris.","reasoning":"The capital of France is Paris."}}],"usage":{"prompt_tokens":40,"completion_tokens":30,"total_tokens":70,"cost":0}}"#;

/// `chat_request.json` in core terms.
fn documented_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are a terse assistant."),
            Message::user("What is the capital of France?"),
        ],
        model: Some("nvidia/nemotron-3-super-120b-a12b:free".into()),
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

/// A loopback upstream that serves one reply to exactly one
/// `POST /api/gateway/chat/completions`.
struct Gateway {
    server: MockServer,
}

impl Gateway {
    async fn serving(reply: Reply) -> Self {
        let server = MockServer::start().await;
        let mut template = ResponseTemplate::new(reply.status)
            .set_body_raw(reply.body, reply.content_type.as_str());
        for (name, value) in &reply.headers {
            template = template.insert_header(name.as_str(), value.as_str());
        }
        if let Some(delay) = reply.delay {
            template = template.set_delay(delay);
        }
        Mock::given(method("POST"))
            .and(path(format!("{PREFIX}/chat/completions")))
            .respond_with(template)
            .expect(1)
            .mount(&server)
            .await;
        Self { server }
    }

    fn base_url(&self) -> String {
        format!("{}{PREFIX}", self.server.uri())
    }

    /// The one request received, checked to carry no `Authorization`.
    async fn only_request(&self) -> Value {
        let requests = self.server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1);
        assert!(
            !requests[0].headers.contains_key("authorization"),
            "a keyless call sent an Authorization header"
        );
        request_snapshot(&requests[0])
    }
}

/// A provider built with an empty key for `base_url`.
fn keyless(base_url: &str) -> Arc<dyn Provider> {
    let mut cfg = ProviderConfig::new(&FACTORY, "").with_base_url(base_url);
    cfg.timeout = Duration::from_millis(500);
    cfg.connect_timeout = Duration::from_millis(500);
    (FACTORY.build)(&cfg).unwrap()
}

/// The error of a keyless one-shot call answered by `reply`.
async fn error_for(reply: Reply) -> ProviderError {
    let up = Gateway::serving(reply).await;
    let Err(err) = keyless(&up.base_url()).chat(&documented_request()).await else {
        panic!("expected an error");
    };
    up.only_request().await;
    assert_error_clean(&err);
    assert_eq!(err.provider, "kilo");
    err
}

async fn fixture_error(status: u16, name: &str) -> ProviderError {
    error_for(Reply::json(status, fixture(DIR, name))).await
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn keyless_chat_posts_to_the_gateway_base_without_v1() {
    let up = Gateway::serving(Reply::json(200, CHAT_OK)).await;
    let resp = keyless(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    let request = up.only_request().await;
    assert_eq!(request["path"], "/api/gateway/chat/completions");
    assert_eq!(request["body"], fixture_json(DIR, "chat_request.json"));
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.text, "Paris.");
    assert_eq!(resp.usage, Some(Usage::new(40, 30)));
}

#[tokio::test]
async fn keyless_stream_ignores_keep_alive_comments_and_reasoning() {
    let sse = concat!(
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"id\":\"gen-1\",\"model\":\"kilo-auto/free\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"reasoning\":\"Capital.\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"gen-1\",\"model\":\"kilo-auto/free\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Paris.\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"gen-1\",\"model\":\"kilo-auto/free\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":30,\"total_tokens\":70}}\n\n",
        "data: [DONE]\n\n",
    );
    let up = Gateway::serving(Reply::sse(sse)).await;
    let items = collect(
        keyless(&up.base_url())
            .chat_stream(&documented_stream_request())
            .await
            .unwrap(),
    )
    .await;
    insta::assert_json_snapshot!("stream_request", up.only_request().await);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Paris.");
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage == Some(Usage::new(40, 30))),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_configured_key_is_sent() {
    let up = Gateway::serving(Reply::json(200, CHAT_OK)).await;
    let cfg = ProviderConfig::new(&FACTORY, llmpool_testkit::TEST_KEY).with_base_url(up.base_url());
    (FACTORY.build)(&cfg)
        .unwrap()
        .chat(&documented_request())
        .await
        .unwrap();
    let requests = up.server.received_requests().await.unwrap();
    assert_eq!(
        request_snapshot(&requests[0])["headers"]["authorization"],
        "Bearer [KEY]"
    );
}

// ---------------------------------------------------------------- error rows (kilo.md §5)

#[tokio::test]
async fn rate_limited_429_free_model_hourly_limit() {
    let err = fixture_error(429, "error_429_free_model.json").await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_429_free_model", error_json(&err));
}

#[tokio::test]
async fn quota_401_promotion_limit_is_the_rolling_day_not_auth() {
    let before = Utc::now();
    let err = fixture_error(401, "error_401_promotion_limit.json").await;
    assert_quota_until(&err, before, Utc::now(), 24 * 3600 * 1000);
    insta::assert_json_snapshot!("error_401_promotion_limit", error_json(&err));
}

#[tokio::test]
async fn model_401_paid_model_auth_required_is_model_not_found() {
    let err = fixture_error(401, "error_401_paid_model_auth.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn auth_401_authentication_required_is_unauthorized() {
    let err = fixture_error(401, "error_401_auth_required.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn model_402_paid_model_credits_required_is_model_not_found() {
    let err = fixture_error(402, "error_402_credits.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_402_credits", error_json(&err));
}

#[tokio::test]
async fn model_404_discontinued_free_model_is_model_not_found() {
    let err = fixture_error(404, "error_404_free_period_ended.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_404_free_period_ended", error_json(&err));
}

#[tokio::test]
async fn model_404_model_not_found_is_model_not_found() {
    let err = fixture_error(404, "error_404_model_not_found.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn model_403_feature_exclusive_is_model_not_found() {
    let err = error_for(Reply::json(
        403,
        r#"{"error":"kilo-exclusive/x is only available for Kilo Code. Use kilo-auto/free as a free alternative.","error_type":"feature_exclusive_model","message":"kilo-exclusive/x is only available for Kilo Code."}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn model_400_data_collection_required_is_model_not_found() {
    let err = error_for(Reply::json(
        400,
        r#"{"error":"This model requires data collection to be allowed","error_type":"data_collection_required","message":"This model requires data collection to be allowed"}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn transient_503_no_free_models_available_is_transient() {
    let err = fixture_error(503, "error_503_no_free_models.json").await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_503_temporarily_unavailable_is_transient() {
    let err = error_for(Reply::json(
        503,
        r#"{"error":"Service Unavailable","error_type":"temporarily_unavailable","message":"The service is temporarily unavailable. Please try again later."}"#,
    ))
    .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_request_400_context_length_is_context_too_long() {
    let err = error_for(Reply::json(
        400,
        r#"{"error":{"message":"This endpoint's maximum context length is 131072 tokens. However, you requested about 134615 tokens.","code":400}}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::ContextTooLong), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_malformed_request_types_are_bad_request() {
    for kind in [
        "invalid_request",
        "invalid_path",
        "unsupported_field",
        "api_kind_not_supported",
    ] {
        let err = error_for(Reply::json(
            400,
            format!(
                r#"{{"error":"Invalid request","error_type":"{kind}","message":"Invalid request"}}"#
            ),
        ))
        .await;
        assert!(matches!(err.kind, ErrorKind::BadRequest), "{kind}: {err:?}");
    }
}

#[tokio::test]
async fn bad_request_400_provider_returned_error_is_bad_request() {
    let err = error_for(Reply::json(
        400,
        r#"{"error":{"message":"Provider returned error","code":400,"metadata":{"raw":"response_format is not supported","provider_name":"Nvidia"}}}"#,
    ))
    .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn rate_limited_429_gateway_wide_throttling_is_rate_limited() {
    let err = error_for(
        Reply::json(429, r#"{"error":"Too Many Requests"}"#)
            .headers(vec![("retry-after".into(), "30".into())]),
    )
    .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(30)),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- transport

#[tokio::test]
async fn timeout_is_timeout() {
    let err = error_for(Reply::json(200, CHAT_OK).delayed(Duration::from_secs(3))).await;
    assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let base = refused_base_url(PREFIX).await;
    let err = keyless(&base)
        .chat(&documented_request())
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
}
