//! Contract tests: Ollama Cloud as documented in `shared/providers/ollama-cloud.md`,
//! played by wiremock on 127.0.0.1 with the payloads in `tests/fixtures/`. One test per row
//! of the reference's error table (§5), plus its quirks.

use std::time::Duration;

use chrono::{Datelike, Timelike, Utc, Weekday};
use llmpool_core::{ChatRequest, ErrorKind, Message, StreamEvent, Usage};
use llmpool_provider_ollama_cloud::FACTORY;
use llmpool_testkit::assert_quota_until;
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
        model: Some("gpt-oss:120b".into()),
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
async fn chat_sends_max_tokens_and_leaves_reasoning_out() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("chat_ok.json")))
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
    assert_eq!(resp.text, "Paris.");
    assert_eq!(resp.usage, Some(Usage::new(86, 24)));
}

#[tokio::test]
async fn stream_asks_for_usage_and_tolerates_repeated_roles() {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture("chat_stream.sse"))).await;
    let items = collect(
        SUITE
            .provider(&up.base_url())
            .chat_stream(&documented_stream_request())
            .await
            .unwrap(),
    )
    .await;
    let request = up.only_request().await;
    // Usage comes only when asked for.
    assert_eq!(request["body"]["stream_options"]["include_usage"], true);
    insta::assert_json_snapshot!("stream_request", request);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Paris.");
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage.is_some()),
        "{items:?}"
    );
}

// ---------------------------------------------------------------- error rows (ollama-cloud.md §5)

#[tokio::test]
async fn auth_401_unauthorized_is_unauthorized() {
    let err = SUITE.fixture_error(401, "error_401_v1.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_401_v1", error_json(&err));
}

#[tokio::test]
async fn model_403_requires_a_subscription_disables_the_route_not_the_key() {
    let err = SUITE
        .fixture_error(403, "error_403_subscription.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_403_subscription", error_json(&err));
    let err = SUITE
        .fixture_error(403, "error_403_subscription_v1.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn model_200_with_the_subscription_error_is_model_not_found() {
    let err = SUITE
        .chat_error(Reply::json(
            200,
            SUITE.fixture("error_403_subscription.json"),
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn quota_429_monthly_parks_the_account_for_a_day() {
    let before = Utc::now();
    let err = SUITE.fixture_error(429, "error_429_monthly_v1.json").await;
    assert_quota_until(&err, before, Utc::now(), 24 * 3600 * 1000);
    insta::assert_json_snapshot!("error_429_monthly_v1", error_json(&err));
}

#[tokio::test]
async fn quota_429_weekly_lasts_until_monday_midnight_utc() {
    let err = SUITE.fixture_error(429, "error_429_weekly.json").await;
    let ErrorKind::QuotaExhausted { until: Some(until) } = err.kind else {
        panic!("{err:?}");
    };
    assert_eq!(until.weekday(), Weekday::Mon);
    assert_eq!((until.hour(), until.minute()), (0, 0));
    assert!(until > Utc::now() && until - Utc::now() <= chrono::Duration::days(7));
}

#[tokio::test]
async fn quota_429_session_lasts_until_the_next_five_hour_epoch() {
    let err = SUITE.fixture_error(429, "error_429_session.json").await;
    let ErrorKind::QuotaExhausted { until: Some(until) } = err.kind else {
        panic!("{err:?}");
    };
    assert_eq!(until.timestamp() % 18_000, 0);
    assert!(until > Utc::now() && until - Utc::now() <= chrono::Duration::hours(5));
}

#[tokio::test]
async fn rate_limited_429_hourly_waits_for_the_next_hour() {
    let err = SUITE
        .chat_error(Reply::json(
            429,
            r#"{"error":"you've reached your hourly usage limit, please wait or upgrade to continue"}"#,
        ))
        .await;
    let ErrorKind::RateLimited {
        retry_after: Some(wait),
    } = err.kind
    else {
        panic!("{err:?}");
    };
    assert!(wait <= Duration::from_secs(3600), "{wait:?}");
}

#[tokio::test]
async fn rate_limited_429_second_request_in_flight_waits_seconds() {
    let err = SUITE
        .chat_error(Reply::json(
            429,
            r#"{"error":"too many concurrent requests"}"#,
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(2)),
        "{err:?}"
    );
}

#[tokio::test]
async fn model_404_not_found_is_model_not_found() {
    let err = SUITE
        .chat_error(Reply::json(
            404,
            r#"{"error":{"message":"model \"nope\" not found","type":"not_found_error","param":null,"code":null}}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn model_410_gone_is_model_not_found() {
    let err = SUITE
        .chat_error(Reply::json(410, r#"{"error":"Gone"}"#))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn transient_5xx_is_transient() {
    let err = SUITE
        .chat_error(Reply::json(
            500,
            r#"{"error":{"message":"internal error","type":"api_error","param":null,"code":null}}"#,
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(500) }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- transport

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
