//! Contract tests: Z.ai as documented in `shared/providers/zai.md`, played by wiremock on
//! 127.0.0.1 with the payloads in `tests/fixtures/`. One test per row of the reference's
//! error table (§5), plus its request quirks.

use std::time::Duration;

use chrono::{TimeZone, Timelike, Utc};
use llmpool_core::{ChatRequest, ErrorKind, Message, StreamEvent, Usage};
use llmpool_provider_zai::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    prefix: "/api/paas/v4",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: documented_request,
    stream_request: documented_stream_request,
};

/// `chat_request.json` in core terms (`thinking` is the provider's own addition).
fn documented_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are a terse assistant."),
            Message::user("What is the capital of France?"),
        ],
        model: Some("glm-4.7-flash".into()),
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

/// A Z.ai error body with this code and message.
fn coded(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#),
    )
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn chat_disables_thinking_and_parses_the_answer() {
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
    assert_eq!(request["path"], "/api/paas/v4/chat/completions");
    insta::assert_json_snapshot!("chat_request", request);
    insta::assert_json_snapshot!("chat_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.text, "Hello world");
    assert_eq!(resp.usage, Some(Usage::new(10, 3)));
}

#[tokio::test]
async fn stream_drops_stream_options_skips_reasoning_and_reads_usage() {
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
    assert!(request["body"].get("stream_options").is_none(), "{request}");
    assert_eq!(request["body"]["thinking"]["type"], "disabled");
    insta::assert_json_snapshot!("stream_request", request);
    insta::assert_json_snapshot!("stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Paris.");
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage == Some(Usage::new(18, 14))),
        "{items:?}"
    );
}

// ---------------------------------------------------------------- error rows (zai.md §5)

#[tokio::test]
async fn auth_401_1002_illegal_token_is_unauthorized() {
    let err = SUITE.fixture_error(401, "error_401_1002.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_401_1002", error_json(&err));
}

#[tokio::test]
async fn auth_401_1000_to_1004_are_unauthorized() {
    for code in [1000, 1001, 1003, 1004] {
        let err = SUITE
            .chat_error(coded(
                401,
                code,
                "Authentication parameter not received in Header",
            ))
            .await;
        assert!(
            matches!(err.kind, ErrorKind::Unauthorized),
            "{code}: {err:?}"
        );
    }
}

#[tokio::test]
async fn auth_429_account_inactive_or_locked_is_unauthorized() {
    for code in [1110, 1111, 1112, 1121] {
        let err = SUITE.chat_error(coded(429, code, "account locked")).await;
        assert!(
            matches!(err.kind, ErrorKind::Unauthorized),
            "{code}: {err:?}"
        );
    }
}

#[tokio::test]
async fn model_429_1113_insufficient_balance_disables_the_route_not_the_key() {
    let err = SUITE
        .fixture_error(429, "error_429_1113_balance.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_429_1113_balance", error_json(&err));
}

#[tokio::test]
async fn model_400_1211_does_not_exist_is_model_not_found() {
    let err = SUITE.fixture_error(400, "error_400_1211_model.json").await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_parameter_codes_are_bad_request() {
    for code in [1210, 1213, 1214, 1215] {
        let err = SUITE
            .chat_error(coded(400, code, "invalid parameter"))
            .await;
        assert!(matches!(err.kind, ErrorKind::BadRequest), "{code}: {err:?}");
    }
}

#[tokio::test]
async fn bad_request_400_1261_prompt_too_long_is_context_too_long() {
    let err = SUITE.chat_error(coded(400, 1261, "Prompt 超长")).await;
    assert!(matches!(err.kind, ErrorKind::ContextTooLong), "{err:?}");
}

#[tokio::test]
async fn content_400_1301_unsafe_is_content_filtered() {
    let err = SUITE
        .chat_error(coded(
            400,
            1301,
            "System detected potentially unsafe or sensitive content in input or generation",
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ContentFiltered), "{err:?}");
}

#[tokio::test]
async fn rate_limited_429_1302_concurrency_waits_briefly() {
    let err = SUITE
        .fixture_error(429, "error_429_1302_concurrency.json")
        .await;
    assert!(
        matches!(err.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(2)),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_429_1302_concurrency", error_json(&err));
}

#[tokio::test]
async fn rate_limited_429_1302_rate_with_request_id_waits_briefly() {
    let err = SUITE.fixture_error(429, "error_429_1302_rate.json").await;
    assert!(
        matches!(
            err.kind,
            ErrorKind::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn rate_limited_429_1303_and_1305_are_rate_limited() {
    for code in [1303, 1305] {
        let err = SUITE
            .chat_error(coded(429, code, "frequency too high"))
            .await;
        assert!(
            matches!(
                err.kind,
                ErrorKind::RateLimited {
                    retry_after: Some(_)
                }
            ),
            "{code}: {err:?}"
        );
    }
}

#[tokio::test]
async fn quota_429_1304_daily_limit_lasts_until_midnight_in_china() {
    let err = SUITE
        .chat_error(coded(429, 1304, "this API has reached today's call limit"))
        .await;
    let ErrorKind::QuotaExhausted { until: Some(until) } = err.kind else {
        panic!("{err:?}");
    };
    // Midnight UTC+8 is 16:00 UTC.
    assert_eq!((until.hour(), until.minute()), (16, 0));
    assert!(until > Utc::now() && until - Utc::now() <= chrono::Duration::days(1));
}

#[tokio::test]
async fn quota_429_1308_window_lasts_until_the_time_in_the_message() {
    let err = SUITE.fixture_error(429, "error_429_1308_window.json").await;
    assert!(
        matches!(err.kind, ErrorKind::QuotaExhausted { until: Some(t) } if t == Utc.with_ymd_and_hms(2026, 8, 24, 23, 41, 44).unwrap()),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_429_1308_window", error_json(&err));
}

#[tokio::test]
async fn quota_429_1310_weekly_lasts_until_the_time_in_the_message() {
    let err = SUITE
        .chat_error(coded(
            429,
            1310,
            "Weekly/Monthly limit reached. Your limit will reset at 2026-12-07 00:00:00",
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::QuotaExhausted { until: Some(t) } if t == Utc.with_ymd_and_hms(2026, 12, 6, 16, 0, 0).unwrap()),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_429_1312_overloaded_is_transient() {
    let err = SUITE
        .chat_error(coded(429, 1312, "model currently overloaded, try later"))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(429) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn auth_429_1313_fair_use_is_unauthorized() {
    let err = SUITE
        .chat_error(coded(429, 1313, "fair use policy violated"))
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn transient_500_and_1234_are_transient() {
    let err = SUITE.chat_error(coded(500, 1234, "Network error")).await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(500) }),
        "{err:?}"
    );
    let err = SUITE
        .chat_error(Reply::json(
            500,
            r#"{"error":{"message":"internal error"}}"#,
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
