//! Fuzz target: the gateway's request body. Arbitrary bytes, arbitrary JSON and a valid
//! request mutated (fields of the wrong type, huge numbers, unicode, missing parts) are
//! posted to `/v1/chat/completions` through the axum router (`tower::ServiceExt::oneshot`)
//! over scripted providers that always answer. Whatever the body, the answer is never a
//! panic: a body the wire types cannot read, or cannot express as a request, is a 400
//! `invalid_request_error` with a message (naming the field when there is one); any other
//! failure has the OpenAI error shape; a success is a chat completion or an SSE stream.
//!
//! Short bounded runs here; `cargo xtask fuzz --secs N` runs them longer.
#![expect(
    clippy::unwrap_used,
    reason = "test set-up outside #[test] functions: a failed step is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use llmpool::openai::ChatCompletionRequest;
use llmpool::{ChatHandler, Config, Settings};
use llmpool::{
    KeyedClient, MemoryStore, Provider, ProviderFactory, ProviderSettings, ProviderSetup, Router,
    StateStore, SystemClock, mask_key,
};
use llmpool_core::testkit::FakeProvider;
use llmpool_gateway::{AppState, parse_client_keys};
use llmpool_testkit::fuzz;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

static GROQ: ProviderFactory = llmpool::groq::FACTORY;
static CEREBRAS: ProviderFactory = llmpool::cerebras::FACTORY;

const REQUEST_SEED: &str = r#"{"model":"auto","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]},{"role":"assistant","content":"Hello"},{"role":"user","content":"2+2?"}],"stream":false,"max_tokens":64,"temperature":0.2,"top_p":0.9,"stop":["\n"],"n":1,"stream_options":{"include_usage":true}}"#;

/// The gateway over two fake providers whose every call answers "ok".
async fn app() -> axum::Router {
    let clock = Arc::new(SystemClock);
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let mut providers = BTreeMap::new();
    let mut setups = Vec::new();
    for f in [&GROQ, &CEREBRAS] {
        let first = f.model_catalog().unwrap().models[0].id.clone();
        providers.insert(
            f.id.to_owned(),
            ProviderSettings {
                models: Some(vec![first]),
                ..ProviderSettings::default()
            },
        );
        setups.push(ProviderSetup {
            factory: f,
            clients: vec![KeyedClient {
                key_label: mask_key("upstream-secret-key-0123456789"),
                provider: Arc::new(FakeProvider::new(f.id)) as Arc<dyn Provider>,
            }],
        });
    }
    let settings = Settings {
        store: "memory".to_owned(),
        retry_attempts: 0,
        max_retry_wait_secs: 0,
        providers,
        ..Settings::default()
    };
    let router = Router::new(&settings, setups, store.clone(), clock.clone()).unwrap();
    let config = Config::from_parts(settings.clone(), "test.toml", BTreeMap::new()).unwrap();
    let handler = ChatHandler::builder()
        .config(config)
        .store(store)
        .clock(clock)
        .router(router)
        .build()
        .await
        .unwrap();
    llmpool_gateway::router(AppState::new(handler, &settings, parse_client_keys("")))
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    let seed: Value = serde_json::from_str(REQUEST_SEED).unwrap_or(Value::Null);
    prop_oneof![
        4 => fuzz::mutated_json(seed).prop_map(|v| v.to_string().into_bytes()),
        1 => fuzz::mutated_bytes(REQUEST_SEED.as_bytes().to_vec()),
        1 => fuzz::json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => fuzz::bytes(256),
    ]
}

/// Whether the gateway's own reading of the body must refuse it.
fn refused_by_parse(body: &[u8]) -> bool {
    let Ok(wire) = serde_json::from_slice::<ChatCompletionRequest>(body) else {
        return true;
    };
    let n_not_one = wire
        .extra
        .get("n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n != 1);
    n_not_one || wire.to_core().is_err()
}

#[test]
fn fuzz_chat_request_bodies() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(app());
    fuzz::run(192, &bodies(), |body| {
        let request = Request::post("/v1/chat/completions")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .unwrap();
        let (status, content_type, answer) = runtime.block_on(async {
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, content_type, bytes)
        });
        let text = String::from_utf8_lossy(&answer);
        if refused_by_parse(&body) {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        }
        if status.is_success() {
            if content_type.starts_with("text/event-stream") {
                assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            } else {
                let value: Value = serde_json::from_slice(&answer).unwrap();
                assert_eq!(value["object"], "chat.completion", "{text}");
            }
            return;
        }
        let value: Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("error answer is not JSON ({e}): {text}"));
        let error = &value["error"];
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{text}"
        );
        assert!(error["type"].is_string(), "{text}");
        if status == StatusCode::BAD_REQUEST && refused_by_parse(&body) {
            assert_eq!(error["type"], "invalid_request_error", "{text}");
        }
    });
}

/// Found by `fuzz_chat_request_bodies` (`cargo xtask fuzz`): bytes after a valid request
/// object were ignored and the request served, instead of a 400 for a broken body.
#[test]
fn bytes_after_the_request_are_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(app());
    let body = r#"{"model":"auto","messages":[{"role":"user","content":"2+2?"}]}}"#;
    let request = Request::post("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, answer) = runtime.block_on(async {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    });
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let value: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(value["error"]["type"], "invalid_request_error");
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("trailing")),
        "{value}"
    );
}
