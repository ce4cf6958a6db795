//! Contract tests for Huggingface, played by wiremock on 127.0.0.1 with the payloads in
//! `tests/fixtures/`. Extend with one test per documented error row of the provider.
#![expect(clippy::unwrap_used, reason = "helpers outside #[test] functions fail the test by panicking")]

use std::sync::Arc;

use llmpool_core::testkit::{self, assert_no_key, fixture};
use llmpool_core::{ChatRequest, ErrorKind, Provider, StreamEvent};
use llmpool_openai_compat::testkit::{Reply, Upstream, collect, streamed_text};
use llmpool_provider_huggingface::FACTORY;

const PREFIX: &str = "/v1";
const DIR: &str = env!("CARGO_MANIFEST_DIR");

fn provider(base_url: &str) -> Arc<dyn Provider> {
    let p = (FACTORY.build)(&testkit::config(&FACTORY, base_url)).unwrap();
    assert_no_key(&format!("{p:?}"));
    p
}

#[tokio::test]
async fn sends_the_documented_request_and_parses_the_answer() {
    let up = Upstream::start(PREFIX).await;
    up.reply(Reply::json(200, fixture(DIR, "chat_ok.json"))).await;
    let resp = provider(&up.base_url())
        .chat(&ChatRequest::from_user("Hello"))
        .await
        .unwrap();
    assert_eq!(resp.text, "Hello from the mock.");
    assert_eq!(resp.usage.unwrap().total_tokens, 12);
    let sent = up.only_request().await;
    assert_eq!(sent["method"], "POST");
    assert_eq!(sent["path"], "/v1/chat/completions");
    assert_eq!(sent["headers"]["authorization"], "Bearer [KEY]");
    assert_eq!(sent["body"]["model"], FACTORY.default_model);
    assert_eq!(sent["body"]["messages"][0]["content"], "Hello");
}

#[tokio::test]
async fn parses_a_stream() {
    let up = Upstream::start(PREFIX).await;
    up.reply(Reply::sse(fixture(DIR, "chat_stream.sse"))).await;
    let items = collect(provider(&up.base_url()).chat_stream(&ChatRequest::from_user("Hello")).await.unwrap()).await;
    assert_eq!(streamed_text(&items), "Hello from the mock.");
    assert!(matches!(items.last(), Some(Ok(StreamEvent::Done(_)))), "{items:?}");
}

#[tokio::test]
async fn classifies_a_bad_key() {
    let up = Upstream::start(PREFIX).await;
    up.reply(Reply::json(401, r#"{"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}"#)).await;
    let err = provider(&up.base_url()).chat(&ChatRequest::from_user("Hello")).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    assert_no_key(&format!("{err:?} {}", err.summary()));
}

#[tokio::test]
async fn classifies_a_rate_limit() {
    let up = Upstream::start(PREFIX).await;
    up.reply(
        Reply::json(429, r#"{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}"#)
            .headers(vec![("retry-after".into(), "7".into())]),
    )
    .await;
    let err = provider(&up.base_url()).chat(&ChatRequest::from_user("Hello")).await.unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d.as_secs() == 7),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let err = provider(&testkit::refused_base_url(PREFIX).await)
        .chat(&ChatRequest::from_user("Hello"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Network(_)), "{err:?}");
}
