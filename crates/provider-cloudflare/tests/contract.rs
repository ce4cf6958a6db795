//! Contract tests: Cloudflare Workers AI as documented in `shared/providers/cloudflare.md`,
//! played by wiremock on 127.0.0.1 with the payloads in `tests/fixtures/`. One test per row
//! of the reference's error table (§5), plus its request and stream quirks.

use std::time::Duration;

use chrono::{Timelike, Utc};
use llmpool_core::{
    ChatRequest, ErrorKind, FinishReason, Message, ProviderError, StreamEvent, Usage,
};
use llmpool_provider_cloudflare::FACTORY;
use llmpool_testkit::compat::{Contract, Reply, collect, error_json, events_json, streamed_text};

const SUITE: Contract = Contract {
    factory: &FACTORY,
    // The account id is part of the path.
    prefix: "/client/v4/accounts/0123456789abcdef0123456789abcdef/ai/v1",
    dir: env!("CARGO_MANIFEST_DIR"),
    request: documented_request,
    stream_request: documented_stream_request,
};

/// `chat_request.json` in core terms, without an output cap: the provider sends one.
fn documented_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are a terse assistant."),
            Message::user("What is the capital of France?"),
        ],
        model: Some("@cf/openai/gpt-oss-120b".into()),
        temperature: Some(0.2),
        max_tokens: None,
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

/// Asserts the daily Neuron wall: `QuotaExhausted` until the next 00:00 UTC.
#[expect(clippy::panic, reason = "test helper: a panic fails the test")]
fn assert_daily_wall(kind: &ErrorKind) {
    let ErrorKind::QuotaExhausted { until: Some(until) } = kind else {
        panic!("expected the daily wall, got {kind:?}");
    };
    let now = Utc::now();
    assert_eq!((until.hour(), until.minute(), until.second()), (0, 0, 0));
    assert!(
        *until > now && *until - now <= chrono::Duration::days(1),
        "{until}"
    );
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn chat_always_sends_max_tokens_and_reject_if_busy() {
    let up = SUITE.upstream().await;
    up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
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
    assert_eq!(resp.usage, Some(Usage::new(80, 21)));
}

#[tokio::test]
async fn a_caller_cap_is_kept() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("chat_ok.json")))
        .await;
    let req = ChatRequest {
        max_tokens: Some(64),
        ..documented_request()
    };
    SUITE.provider(&up.base_url()).chat(&req).await.unwrap();
    assert_eq!(up.only_request().await["body"]["max_tokens"], 64);
}

/// The documented request sent to a DeepSeek-R1 distill, which thinks inline.
fn r1_request(stream: bool) -> ChatRequest {
    ChatRequest {
        model: Some("@cf/deepseek-ai/deepseek-r1-distill-qwen-32b".into()),
        stream,
        ..documented_request()
    }
}

/// The reasoning events of a stream, joined.
fn streamed_reasoning(items: &[Result<StreamEvent, ProviderError>]) -> String {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::Reasoning(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// The outbound request and the items of a stream answered with the fixture `name`.
type Items = Vec<Result<StreamEvent, ProviderError>>;

async fn r1_stream(name: &str) -> Result<(serde_json::Value, Items), ProviderError> {
    let up = SUITE.upstream().await;
    up.reply(Reply::sse(SUITE.fixture(name))).await;
    let stream = SUITE
        .provider(&up.base_url())
        .chat_stream(&r1_request(true))
        .await?;
    let items = collect(stream).await;
    Ok((up.only_request().await, items))
}

#[tokio::test]
async fn inline_think_block_is_reasoning_not_answer_text() {
    let up = SUITE.upstream().await;
    up.reply(Reply::json(200, SUITE.fixture("chat_ok_think_inline.json")))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&r1_request(false))
        .await
        .unwrap();
    insta::assert_json_snapshot!("think_request", up.only_request().await);
    insta::assert_json_snapshot!("think_response", resp, { ".latency" => "[latency]" });
    assert_eq!(resp.text, "Paris.");
    assert_eq!(
        resp.reasoning.as_deref(),
        Some("The user wants the capital of France. That is Paris.")
    );
}

#[tokio::test]
async fn streamed_think_block_with_split_tags_is_reasoning() {
    let (request, items) = r1_stream("think-stream.sse").await.unwrap();
    insta::assert_json_snapshot!("think_stream_request", request);
    insta::assert_json_snapshot!("think_stream_events", events_json(&items));
    assert_eq!(streamed_text(&items), "Paris.");
    assert_eq!(
        streamed_reasoning(&items),
        "The user wants the capital of France. That is Paris."
    );
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage == Some(Usage::new(14, 24))),
        "{items:?}"
    );
}

/// Cut off while thinking (`max_tokens`): everything is reasoning, no answer text, and the
/// stream still ends cleanly with its `length` finish reason.
#[tokio::test]
async fn streamed_think_block_never_closed_is_all_reasoning() {
    let (_, items) = r1_stream("think-stream-unclosed.sse").await.unwrap();
    insta::assert_json_snapshot!("think_stream_unclosed_events", events_json(&items));
    assert_eq!(streamed_text(&items), "");
    assert_eq!(
        streamed_reasoning(&items),
        "The user wants the capital of France. Let me rec"
    );
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.finish_reason == Some(FinishReason::Length)),
        "{items:?}"
    );
}

/// Only a block that opens the answer is reasoning: a `<think>` later on is text.
#[tokio::test]
async fn a_think_tag_that_does_not_open_the_answer_is_text() {
    let (_, items) = r1_stream("think-stream-not-leading.sse").await.unwrap();
    assert_eq!(
        streamed_text(&items),
        "Wrap it in <think> tags: <think>x</think>."
    );
    assert_eq!(streamed_reasoning(&items), "");
    let up = SUITE.upstream().await;
    let body = SUITE
        .fixture("chat_ok_think_inline.json")
        .replace("<think>\\n", "Note: <think>\\n");
    assert!(
        body.contains("Note: <think>"),
        "the fixture changed: {body}"
    );
    up.reply(Reply::json(200, body)).await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&r1_request(false))
        .await
        .unwrap();
    assert!(resp.text.starts_with("Note: <think>"), "{}", resp.text);
    assert!(resp.text.ends_with("Paris."), "{}", resp.text);
    assert_eq!(resp.reasoning, None);
}

/// `cf-ai-neurons` is each call's cost: read in thousandths of a Neuron.
#[tokio::test]
async fn neurons_header_is_the_calls_cost() {
    let up = SUITE.upstream().await;
    up.reply(SUITE.recorded("chat_ok.headers", "chat_ok.json"))
        .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    assert_eq!(resp.rate_limits.cost_milli, Some(3980));
    let up = SUITE.upstream().await;
    up.reply(
        Reply::json(200, SUITE.fixture("chat_ok.json"))
            .headers(vec![("cf-ai-neurons".into(), "n/a".into())]),
    )
    .await;
    let resp = SUITE
        .provider(&up.base_url())
        .chat(&documented_request())
        .await
        .unwrap();
    assert_eq!(resp.rate_limits.cost_milli, None);
    assert_eq!(resp.text, "Paris.");
}

#[tokio::test]
async fn stream_parses_openai_chunks() {
    let sse = concat!(
        "data: {\"id\":\"id-1\",\"object\":\"chat.completion.chunk\",\"model\":\"@cf/openai/gpt-oss-120b\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Par\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"id-1\",\"object\":\"chat.completion.chunk\",\"model\":\"@cf/openai/gpt-oss-120b\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"is.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":21,\"total_tokens\":101}}\n\n",
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
    let request = up.only_request().await;
    assert_eq!(request["body"]["max_tokens"], 2048);
    insta::assert_json_snapshot!("stream_request", request);
    assert_eq!(streamed_text(&items), "Paris.");
    assert!(
        matches!(items.last(), Some(Ok(StreamEvent::Done(end))) if end.usage == Some(Usage::new(80, 21))),
        "{items:?}"
    );
}

#[tokio::test]
async fn stream_whose_first_event_is_the_daily_wall_is_an_error_not_content() {
    let items = SUITE.stream_items("stream_error_first_event.sse").await;
    insta::assert_json_snapshot!("stream_error_first_event", events_json(&items));
    assert_eq!(streamed_text(&items), "");
    let Some(Err(err)) = items.last() else {
        panic!("no error at the end: {items:?}");
    };
    assert_daily_wall(&err.kind);
}

// ---------------------------------------------------------------- error rows (cloudflare.md §5)

#[tokio::test]
async fn auth_10000_is_unauthorized() {
    let err = SUITE
        .chat_error(Reply::json(
            401,
            r#"{"result":null,"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[]}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn auth_404_7003_wrong_account_id_is_unauthorized() {
    let err = SUITE.fixture_error(404, "error_404_route_7003.json").await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
    insta::assert_json_snapshot!("error_404_route_7003", error_json(&err));
}

#[tokio::test]
async fn quota_429_3036_daily_neurons_is_the_daily_wall() {
    let err = SUITE.fixture_error(429, "error_429_daily_3036.json").await;
    assert_daily_wall(&err.kind);
    insta::assert_json_snapshot!("error_429_daily_3036", error_json(&err));
}

#[tokio::test]
async fn quota_429_4006_daily_neurons_is_the_daily_wall() {
    let err = SUITE.fixture_error(429, "error_429_daily_4006.json").await;
    assert_daily_wall(&err.kind);
}

#[tokio::test]
async fn transient_429_3040_capacity_is_not_a_quota() {
    let err = SUITE
        .fixture_error(429, "error_429_capacity_3040.json")
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(429) }),
        "{err:?}"
    );
    insta::assert_json_snapshot!("error_429_capacity_3040", error_json(&err));
}

#[tokio::test]
async fn model_403_5035_paid_plan_only_disables_the_route_not_the_key() {
    let err = SUITE
        .fixture_error(403, "error_403_paid_model_5035.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
    insta::assert_json_snapshot!("error_403_paid_model_5035", error_json(&err));
}

#[tokio::test]
async fn model_403_5016_terms_not_accepted_is_model_not_found() {
    let err = SUITE
        .chat_error(Reply::json(
            403,
            r#"{"result":null,"success":false,"errors":[{"code":5016,"message":"User has not agreed to Llama3.2 model terms"}],"messages":[]}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn model_403_5018_and_3041_not_allowed_are_model_not_found() {
    for code in [5018, 3041] {
        let err = SUITE
            .chat_error(Reply::json(
                403,
                format!(
                    r#"{{"result":null,"success":false,"errors":[{{"code":{code},"message":"The account is not allowed to access this model"}}],"messages":[]}}"#
                ),
            ))
            .await;
        assert!(
            matches!(err.kind, ErrorKind::ModelNotFound),
            "{code}: {err:?}"
        );
    }
}

#[tokio::test]
async fn auth_403_3023_account_blocked_is_unauthorized() {
    let err = SUITE
        .chat_error(Reply::json(
            403,
            r#"{"result":null,"success":false,"errors":[{"code":3023,"message":"Service unavailable for account"}],"messages":[]}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn model_400_5007_no_such_model_is_model_not_found() {
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"errors":[{"code":5007,"message":"No such model @cf/nope or task"}],"success":false}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn model_404_3042_invalid_name_is_model_not_found() {
    let err = SUITE
        .chat_error(Reply::json(
            404,
            r#"{"errors":[{"code":3042,"message":"The model name is invalid"}],"success":false}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ModelNotFound), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_5006_bad_input_is_bad_request() {
    let err = SUITE
        .fixture_error(400, "error_400_bad_input_5006.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn bad_request_400_context_length_without_code_is_context_too_long() {
    let err = SUITE
        .fixture_error(400, "error_400_context_length.json")
        .await;
    assert!(matches!(err.kind, ErrorKind::ContextTooLong), "{err:?}");
}

#[tokio::test]
async fn bad_request_413_3006_too_large_is_bad_request() {
    let err = SUITE
        .chat_error(Reply::json(
            413,
            r#"{"errors":[{"code":3006,"message":"Request is too large"}],"success":false}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn bad_request_405_7001_is_bad_request() {
    let err = SUITE.fixture_error(405, "error_405_models_7001.json").await;
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
}

#[tokio::test]
async fn transient_408_3007_and_3008_are_transient() {
    for code in [3007, 3008] {
        let err = SUITE
            .chat_error(Reply::json(
                408,
                format!(
                    r#"{{"errors":[{{"code":{code},"message":"Request timeout"}}],"success":false}}"#
                ),
            ))
            .await;
        assert!(
            matches!(err.kind, ErrorKind::Transient { status: Some(408) }),
            "{code}: {err:?}"
        );
    }
}

#[tokio::test]
async fn transient_503_7009_upstream_unavailable_is_transient() {
    let err = SUITE
        .chat_error(Reply::json(
            503,
            r#"{"errors":[{"code":7009,"message":"Upstream service unavailable"}],"success":false}"#,
        ))
        .await;
    assert!(
        matches!(err.kind, ErrorKind::Transient { status: Some(503) }),
        "{err:?}"
    );
}

#[tokio::test]
async fn content_3030_flagged_output_is_content_filtered() {
    let err = SUITE
        .chat_error(Reply::json(
            400,
            r#"{"errors":[{"code":3030,"message":"output has been flagged"}],"success":false}"#,
        ))
        .await;
    assert!(matches!(err.kind, ErrorKind::ContentFiltered), "{err:?}");
}

// ---------------------------------------------------------------- transport

#[tokio::test]
async fn ok_status_with_a_v4_error_body_is_classified() {
    let err = SUITE
        .chat_error(Reply::json(200, SUITE.fixture("error_429_daily_4006.json")))
        .await;
    assert_daily_wall(&err.kind);
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
