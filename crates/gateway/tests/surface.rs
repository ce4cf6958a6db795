//! Nothing in a request is dropped in silence: every documented OpenAI request field, sent
//! through the gateway to each provider's real codec over a wiremock upstream, either
//! reaches the upstream (possibly renamed), or is answered 400 naming it, or is named in
//! `x-llmpool-dropped-params`. Also the tool, reasoning and dropped-params rendering of
//! answers, one-shot and streamed.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed step is a failed test"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use llmpool::{ChatHandler, Config, Settings};
use llmpool::{
    KeyedClient, MemoryStore, ProviderConfig, ProviderFactory, ProviderSettings, ProviderSetup,
    Router, StateStore, SystemClock, mask_key,
};
use llmpool_gateway::{AppState, parse_client_keys};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

static GROQ: ProviderFactory = llmpool::groq::FACTORY;
static CEREBRAS: ProviderFactory = llmpool::cerebras::FACTORY;
static GEMINI: ProviderFactory = llmpool::gemini::FACTORY;
static OPENROUTER: ProviderFactory = llmpool::openrouter::FACTORY;
static COHERE: ProviderFactory = llmpool::cohere::FACTORY;
const ALL: [&ProviderFactory; 5] = [&GROQ, &CEREBRAS, &GEMINI, &OPENROUTER, &COHERE];

/// A one-shot answer in each upstream's own format.
fn upstream_answer(id: &str) -> Value {
    match id {
        "gemini" => json!({
            "candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
            "modelVersion": "gemini-3.1-flash-lite"
        }),
        "cohere" => json!({
            "id": "c1",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            "finish_reason": "COMPLETE",
            "usage": {"tokens": {"input_tokens": 3, "output_tokens": 1}}
        }),
        _ => json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        }),
    }
}

/// A gateway whose only route is `factory`'s first catalog model, over `server`.
async fn gateway(factory: &'static ProviderFactory, server: &MockServer) -> axum::Router {
    let clock = Arc::new(SystemClock);
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let model = factory.model_catalog().unwrap().models[0].id.clone();
    let mut providers = BTreeMap::new();
    providers.insert(
        factory.id.to_owned(),
        ProviderSettings {
            models: Some(vec![model]),
            ..ProviderSettings::default()
        },
    );
    let settings = Settings {
        store: "memory".to_owned(),
        retry_attempts: 0,
        max_retry_wait_secs: 0,
        providers,
        ..Settings::default()
    };
    let key = format!("{}-secret-key-0123456789", factory.id);
    let cfg = ProviderConfig::new(factory, key.clone()).with_base_url(server.uri());
    let provider = (factory.build)(&cfg).unwrap();
    let setups = ALL
        .iter()
        .map(|f| ProviderSetup {
            factory: f,
            clients: if f.id == factory.id {
                vec![KeyedClient {
                    key_label: mask_key(&key),
                    provider: provider.clone(),
                }]
            } else {
                Vec::new()
            },
        })
        .collect();
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

struct Reply {
    status: StatusCode,
    dropped: Option<String>,
    body: Value,
}

async fn post(app: &axum::Router, body: &Value) -> Reply {
    let req = Request::post("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let dropped = response
        .headers()
        .get("x-llmpool-dropped-params")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        dropped,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Every field of OpenAI's chat-completions request (beyond `model`, `messages` and
/// `stream`), each with a value a test can recognise in an outbound body, and the ways a
/// provider may rename it (a key, or a value it turns into).
fn documented_fields() -> Vec<(&'static str, Value, &'static [&'static str])> {
    vec![
        ("temperature", json!(0.375), &[]),
        ("top_p", json!(0.625), &[]),
        ("max_tokens", json!(321), &[]),
        ("max_completion_tokens", json!(321), &[]),
        ("stop", json!(["ZZSTOP"]), &[]),
        ("seed", json!(4242), &[]),
        ("frequency_penalty", json!(0.125), &[]),
        ("presence_penalty", json!(0.25), &[]),
        ("logprobs", json!(true), &[]),
        ("top_logprobs", json!(3), &[]),
        ("user", json!("user-4242"), &[]),
        (
            "tools",
            json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]),
            // Gemini declares it as `functionDeclarations: [{name}]`.
            &["get_weather"],
        ),
        ("tool_choice", json!("required"), &["REQUIRED"]),
        ("parallel_tool_calls", json!(false), &[]),
        (
            "response_format",
            json!({"type": "json_object"}),
            &["application/json"],
        ),
        ("reasoning_effort", json!("low"), &["LOW"]),
        ("logit_bias", json!({"50256": -100}), &[]),
        ("service_tier", json!("flex"), &[]),
        ("store", json!(false), &[]),
        ("metadata", json!({"trace": "t-4242"}), &[]),
        ("modalities", json!(["text"]), &[]),
        ("audio", json!({"voice": "alloy", "format": "wav"}), &[]),
        (
            "prediction",
            json!({"type": "content", "content": "predicted-4242"}),
            &[],
        ),
        (
            "web_search_options",
            json!({"search_context_size": "low"}),
            &[],
        ),
        ("verbosity", json!("low"), &[]),
        ("prompt_cache_key", json!("cache-4242"), &[]),
        ("safety_identifier", json!("safety-4242"), &[]),
        ("stream_options", json!({"include_usage": true}), &[]),
        ("n", json!(2), &[]),
        ("functions", json!([{"name": "legacy"}]), &[]),
        ("function_call", json!("auto"), &[]),
    ]
}

/// Whether `needle` occurs anywhere in `hay` (as a value, or as an object's key/value).
fn contains(hay: &Value, needle: &Value) -> bool {
    if hay == needle {
        return true;
    }
    match hay {
        Value::Array(items) => items.iter().any(|v| contains(v, needle)),
        Value::Object(map) => map.values().any(|v| contains(v, needle)),
        _ => false,
    }
}

#[tokio::test]
async fn no_request_field_reaches_no_upstream_in_silence() {
    for factory in ALL {
        let server = MockServer::start().await;
        for (field, value, renames) in documented_fields() {
            // A fresh gateway per field: the free-tier ledgers (a few calls a minute on
            // some providers) must not be what answers.
            let app = gateway(factory, &server).await;
            server.reset().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(upstream_answer(factory.id)))
                .mount(&server)
                .await;
            let mut body =
                json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]});
            body[field] = value.clone();
            let reply = post(&app, &body).await;
            let sent: Vec<Value> = server
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .map(|r| serde_json::from_slice(&r.body).unwrap())
                .collect();
            let id = factory.id;
            let refused = reply.status == StatusCode::BAD_REQUEST
                && reply.body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!("`{field}`")));
            let named_dropped = reply.status == StatusCode::OK
                && reply
                    .dropped
                    .as_deref()
                    .is_some_and(|d| d.split(", ").any(|n| n == field));
            let delivered = reply.status == StatusCode::OK
                && sent.len() == 1
                && (contains(&sent[0], &value)
                    || renames.iter().any(|r| contains(&sent[0], &Value::from(*r))));
            assert!(
                refused || named_dropped || delivered,
                "{id}: `{field}` was lost: status {}, dropped {:?}, answer {}, upstream got {sent:?}",
                reply.status,
                reply.dropped,
                reply.body
            );
            if refused {
                assert!(
                    sent.is_empty(),
                    "{id}: `{field}` refused after an upstream call"
                );
            }
        }
    }
}

#[tokio::test]
async fn message_fields_and_images_are_never_lost_in_silence() {
    let cases = [
        (
            "messages[].name",
            json!([{"role": "user", "content": "hi", "name": "name-4242"}]),
            vec![json!("name-4242")],
        ),
        (
            "messages[0].content[1]",
            json!([{"role": "user", "content": [{"type": "text", "text": "what?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo4242"}}]}]),
            // As sent, or (Gemini) its payload inline.
            vec![
                json!("data:image/png;base64,iVBORw0KGgo4242"),
                json!("iVBORw0KGgo4242"),
            ],
        ),
        (
            "messages[1].tool_calls",
            json!([{"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_4242", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_4242", "content": "sunny"}]),
            vec![json!("call_4242")],
        ),
    ];
    for factory in ALL {
        let server = MockServer::start().await;
        for (name, messages, needles) in &cases {
            let app = gateway(factory, &server).await;
            server.reset().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(upstream_answer(factory.id)))
                .mount(&server)
                .await;
            let reply = post(&app, &json!({"model": "auto", "messages": messages})).await;
            let sent: Vec<Value> = server
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .map(|r| serde_json::from_slice(&r.body).unwrap())
                .collect();
            let delivered = reply.status == StatusCode::OK
                && needles.iter().any(|needle| contains(&sent[0], needle));
            let dropped = reply.dropped.as_deref().is_some_and(|d| d.contains(*name));
            // Refused naming the field, or (capability routing) because no route of the
            // provider can serve it: a 400 naming the capability, before any upstream call.
            let refused = reply.status == StatusCode::BAD_REQUEST && {
                let m = reply.body["error"]["message"].as_str().unwrap_or_default();
                let unsupported = reply.body["error"]["code"] == "unsupported_capability"
                    && m.contains("`messages`")
                    && sent.is_empty();
                m.contains("messages[") || m.contains("`tools`") || unsupported
            };
            assert!(
                delivered || dropped || refused,
                "{}: {name} was lost: {} {:?} {} {sent:?}",
                factory.id,
                reply.status,
                reply.dropped,
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn tool_calls_and_reasoning_reach_the_client_one_shot_and_streamed() {
    let server = MockServer::start().await;
    let app = gateway(&GROQ, &server).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "x", "model": "openai/gpt-oss-120b",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
                "reasoning": "need the weather",
                "tool_calls": [{"id": "ax9fskhev", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}]
        })))
        .mount(&server)
        .await;
    let request = json!({"model": "auto", "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "logprobs": true});
    let reply = post(&app, &request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.dropped.as_deref(), Some("logprobs"));
    let message = &reply.body["choices"][0]["message"];
    assert_eq!(
        *message,
        json!({"role": "assistant", "content": null, "reasoning_content": "need the weather",
            "tool_calls": [{"id": "ax9fskhev", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
    );
    assert_eq!(reply.body["choices"][0]["finish_reason"], "tool_calls");
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
    assert!(sent.get("logprobs").is_none(), "{sent}");

    // Streamed: the upstream's fragments come out as OpenAI `delta.tool_calls` pieces.
    server.reset().await;
    let sse = concat!(
        "data: {\"id\":\"x\",\"model\":\"openai/gpt-oss-120b\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"hmm\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"tk85n1k4m\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse),
        )
        .mount(&server)
        .await;
    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let req = Request::post("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(streamed.to_string()))
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["x-llmpool-dropped-params"]
            .to_str()
            .unwrap(),
        "logprobs"
    );
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(*deltas[1], json!({"reasoning_content": "hmm"}));
    assert_eq!(
        *deltas[2],
        json!({"tool_calls": [{"index": 0, "id": "tk85n1k4m", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
    );
    assert_eq!(
        *deltas[3],
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Paris\"}"}}]})
    );
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}
