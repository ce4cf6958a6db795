//! Contract tests: OVHcloud AI Endpoints as documented in `shared/providers/ovhcloud.md`,
//! played by wiremock on 127.0.0.1 with the payloads in `tests/fixtures/`. The anonymous
//! lane is keyless, so most tests build the provider with an empty key and check that no
//! `Authorization` header is sent; one row (403, keyed lane) uses a key. One test per row
//! of the reference's error table (§5), plus its quirks.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers outside #[test] functions fail the test by panicking"
)]

use std::sync::Arc;
use std::time::Duration;

use llmpool_core::{
    ChatRequest, ErrorKind, Message, Provider, ProviderConfig, ProviderError, StreamEvent, Usage,
};
use llmpool_provider_ovhcloud::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};
use llmpool_testkit::{assert_error_clean, fixture, fixture_json, request_snapshot};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DIR: &str = env!("CARGO_MANIFEST_DIR");
const PREFIX: &str = "/v1";

/// The keyed lane, through the shared harness (it sends the test key).
const KEYED: Contract = Contract {
    factory: &FACTORY,
    prefix: PREFIX,
    dir: DIR,
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
        model: Some("gpt-oss-120b".into()),
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

/// A loopback upstream that serves one reply to exactly one keyless
/// `POST /v1/chat/completions`.
struct Anonymous {
    server: MockServer,
}

impl Anonymous {
    async fn serving(reply: Reply) -> Self {
        let server = MockServer::start().await;
        let mut template = ResponseTemplate::new(reply.status)
            .set_body_raw(reply.body, reply.content_type.as_str());
        for (name, value) in &reply.headers {
            if !["content-type", "content-length"].contains(&name.to_ascii_lowercase().as_str()) {
                template = template.insert_header(name.as_str(), value.as_str());
            }
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

    /// A provider built with an empty key for this upstream.
    fn provider(&self) -> Arc<dyn Provider> {
        let mut cfg = ProviderConfig::new(&FACTORY, "")
            .with_base_url(format!("{}{PREFIX}", self.server.uri()));
        cfg.timeout = Duration::from_millis(500);
        cfg.connect_timeout = Duration::from_millis(500);
        (FACTORY.build)(&cfg).unwrap()
    }

    /// The one request received, checked to carry no `Authorization`.
    async fn only_request(&self) -> Value {
        let requests = self.server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1);
        assert!(
            !requests[0].headers.contains_key("authorization"),
            "the anonymous lane sent an Authorization header"
        );
        request_snapshot(&requests[0])
    }
}

/// The error of a keyless one-shot call answered by `reply`.
async fn anonymous_error(reply: Reply) -> ProviderError {
    let up = Anonymous::serving(reply).await;
    let Err(err) = up.provider().chat(&documented_request()).await else {
        panic!("expected an error");
    };
    up.only_request().await;
    assert_error_clean(&err);
    assert_eq!(err.provider, "ovhcloud");
    err
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn anonymous_chat_sends_no_authorization_and_parses_the_answer() {
    let up = Anonymous::serving(Reply::json(200, fixture(DIR, "chat_ok.json"))).await;
    let resp = up.provider().chat(&documented_request()).await.unwrap();
    let request = up.only_request().await;
    assert_eq!(request["body"], fixture_json(DIR, "chat_request.json"));
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    // `reasoning_content` is not answer text.
    assert_eq!(resp.text, "Paris.");
    assert_eq!(resp.usage, Some(Usage::new(84, 22)));
}

#[tokio::test]
async fn anonymous_stream_skips_delta_reasoning() {
    let up = Anonymous::serving(Reply::sse(fixture(DIR, "chat_stream.sse"))).await;
    let items = collect(
        up.provider()
            .chat_stream(&documented_stream_request())
            .await
            .unwrap(),
    )
    .await;
    let request = up.only_request().await;
    insta::assert_json_snapshot!("stream_request", request);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert!(!streamed_text(&items).contains("Simple fact"));
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(_)))),
        "{items:?}"
    );
}

#[tokio::test]
async fn draft_rate_limit_headers_are_read_on_success() {
    let up = Anonymous::serving(
        Reply::json(200, fixture(DIR, "chat_ok.json"))
            .headers(vec![("ratelimit-remaining".into(), "0".into())]),
    )
    .await;
    let resp = up.provider().chat(&documented_request()).await.unwrap();
    up.only_request().await;
    assert_eq!(resp.rate_limits.requests_minute.remaining, Some(0));
}

// ---------------------------------------------------------------- error rows (ovhcloud.md §5)

#[tokio::test]
async fn rate_limited_429_waits_ratelimit_reset() {
    let (_, headers) = llmpool_testkit::fixture_headers(DIR, "error_429.headers");
    let err = anonymous_error(Reply::json(429, "").headers(headers)).await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(37)),
        "{err:?}"
    );
    assert_eq!(err.rate_limits.requests_minute.remaining, Some(0));
    insta::assert_json_snapshot!("error_429", error_json(&err));
}

#[tokio::test]
async fn rate_limited_429_with_only_remaining_waits_a_minute() {
    let err = anonymous_error(
        Reply::json(429, r#"{"message":"Too Many Requests"}"#)
            .headers(vec![("ratelimit-remaining".into(), "0".into())]),
    )
    .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_request_413_payload_over_2_mb_is_bad_request() {
    let err =
        anonymous_error(Reply::json(413, "Request Entity Too Large").content_type("text/plain"))
            .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn auth_403_keyed_lane_authentication_failed_is_unauthorized() {
    let err = KEYED
        .chat_error(Reply::json(403, "Forbidden: Authentication Failed").content_type("text/plain"))
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn model_404_unknown_or_retired_is_model_not_found() {
    let err = anonymous_error(Reply::json(404, r#"{"message":"model not found"}"#)).await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn transient_5xx_is_transient() {
    let err = anonymous_error(Reply::json(502, "Bad Gateway").content_type("text/plain")).await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(502) }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- keyed lane and transport

#[tokio::test]
async fn keyed_lane_sends_the_key() {
    let up = KEYED.upstream().await;
    up.reply(Reply::json(200, KEYED.fixture("chat_ok.json")))
        .await;
    KEYED
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    assert_eq!(
        up.only_request().await["headers"]["authorization"],
        "Bearer [KEY]"
    );
}

#[tokio::test]
async fn timeout_is_timeout() {
    let err = anonymous_error(
        Reply::json(200, fixture(DIR, "chat_ok.json")).delayed(Duration::from_secs(3)),
    )
    .await;
    assert!(matches!(err.kind, ErrorKind::Timeout), "{err:?}");
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let err = KEYED.refused_chat_error().await;
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
}
