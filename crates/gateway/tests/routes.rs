//! The gateway's routes over scripted providers, driven with `tower::ServiceExt::oneshot`:
//! answer shapes, streaming, every error status, client auth, models, quota and metrics.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failed step is a failed test"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use llmpool::{
    ChatHandler, Config, ErrorKind, FinishReason, KeyedClient, MemoryStore, Provider,
    ProviderError, ProviderFactory, ProviderSettings, ProviderSetup, Router, Settings, StateStore,
    StreamEnd, SystemClock, Usage, mask_key,
};
use llmpool_core::testkit::{FakeProvider, Reply, StreamStep};
use llmpool_gateway::{AppState, parse_client_keys};
use serde_json::{Value, json};
use tower::ServiceExt;

static GROQ: ProviderFactory = llmpool::groq::FACTORY;
static CEREBRAS: ProviderFactory = llmpool::cerebras::FACTORY;
static GEMINI: ProviderFactory = llmpool::gemini::FACTORY;
static OPENROUTER: ProviderFactory = llmpool::openrouter::FACTORY;
static COHERE: ProviderFactory = llmpool::cohere::FACTORY;
const ALL: [&ProviderFactory; 5] = [&GROQ, &CEREBRAS, &GEMINI, &OPENROUTER, &COHERE];

/// The upstream key of a provider in these tests; no response may ever show it.
fn upstream_key(id: &str) -> String {
    format!("{id}-upstream-secret-key-0123456789")
}

struct Harness {
    app: axum::Router,
    fakes: HashMap<&'static str, Arc<FakeProvider>>,
}

/// Settings without retries or waits, so a failure moves on at once, and with one model
/// per provider, so each provider is one route.
fn settings() -> Settings {
    let mut providers = BTreeMap::new();
    for f in ALL {
        let first = f.model_catalog().unwrap().models[0].id.clone();
        providers.insert(
            f.id.to_owned(),
            ProviderSettings {
                models: Some(vec![first]),
                ..ProviderSettings::default()
            },
        );
    }
    Settings {
        store: "memory".to_owned(),
        retry_attempts: 0,
        max_retry_wait_secs: 0,
        providers,
        ..Settings::default()
    }
}

async fn harness(keyed: &[&'static str]) -> Harness {
    harness_with(settings(), keyed, "").await
}

async fn harness_with(settings: Settings, keyed: &[&'static str], client_keys: &str) -> Harness {
    let clock = Arc::new(SystemClock);
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let fakes: HashMap<&'static str, Arc<FakeProvider>> = keyed
        .iter()
        .map(|id| (*id, Arc::new(FakeProvider::new(id))))
        .collect();
    let setups = ALL
        .iter()
        .map(|f| ProviderSetup {
            factory: f,
            clients: fakes
                .get(f.id)
                .map(|fake| {
                    vec![KeyedClient {
                        key_label: mask_key(&upstream_key(f.id)),
                        provider: fake.clone() as Arc<dyn Provider>,
                    }]
                })
                .unwrap_or_default(),
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
    let state = AppState::new(handler, &settings, parse_client_keys(client_keys));
    Harness {
        app: llmpool_gateway::router(state),
        fakes,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body).into_owned()
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `data:` payloads of a server-sent event stream, in order.
    fn sse_data(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter_map(|event| {
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                (!data.is_empty()).then(|| data.join("\n"))
            })
            .collect()
    }

    /// The OpenAI error body's `error` object, after checking the status.
    fn error(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        let error = body["error"].clone();
        assert!(error["message"].is_string(), "no message in {body}");
        assert!(error["type"].is_string(), "no type in {body}");
        assert!(error.get("code").is_some(), "no code in {body}");
        error
    }
}

impl Harness {
    fn fake(&self, id: &str) -> &FakeProvider {
        &self.fakes[id]
    }

    /// Sends one request and checks that no upstream key shows in the answer.
    async fn send(&self, req: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        for f in ALL {
            let key = upstream_key(f.id);
            assert!(!text.contains(&key), "upstream key in body: {text}");
            for (name, value) in &headers {
                assert!(
                    !value.to_str().unwrap_or_default().contains(&key),
                    "upstream key in header {name}"
                );
            }
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn chat(&self, body: Value) -> Answer {
        self.send(chat_request(&body.to_string(), None)).await
    }
}

fn chat_request(body: &str, bearer: Option<&str>) -> Request<Body> {
    let mut req =
        Request::post("/v1/chat/completions").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    req.body(Body::from(body.to_owned())).unwrap()
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

fn rate_limited(secs: u64) -> Reply {
    Reply::error(ErrorKind::RateLimited {
        retry_after: Some(Duration::from_secs(secs)),
    })
}

// ---------------------------------------------------------------------------------------
// One-shot answers and routing
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn one_shot_answer_has_openai_shape_and_routing_headers() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(
        Reply::text("Hello there")
            .model("openai/gpt-oss-120b")
            .usage(Usage::new(5, 7)),
    );
    let a = h.chat(hello("auto")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    assert_eq!(a.header("x-llmpool-provider"), Some("groq"));
    assert_eq!(a.header("x-llmpool-attempts"), Some("1"));
    let body = a.json();
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["model"], "openai/gpt-oss-120b");
    assert_eq!(body["choices"].as_array().unwrap().len(), 1);
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
    );
    assert_eq!(h.fake("cerebras").calls(), 0);
    // The upstream got the client's message.
    let sent = h.fake("groq").requests();
    assert_eq!(sent[0].messages.last().unwrap().content, "hello");
}

#[tokio::test]
async fn absent_model_routes_by_policy() {
    let h = harness(&["cerebras"]).await;
    let a = h
        .chat(json!({"messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(a.json()["choices"][0]["message"]["content"], "ok");
}

#[tokio::test]
async fn fallback_reports_the_provider_that_answered_and_every_attempt() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(rate_limited(60));
    h.fake("cerebras")
        .push(Reply::text("from cerebras").model("gpt-oss-120b"));
    let a = h.chat(hello("auto")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(a.header("x-llmpool-attempts"), Some("2"));
    let body = a.json();
    assert_eq!(body["model"], "gpt-oss-120b");
    assert_eq!(body["choices"][0]["message"]["content"], "from cerebras");
    assert_eq!(h.fake("groq").calls(), 1);
}

#[tokio::test]
async fn model_pins_a_provider_a_route_an_alias_or_a_bare_model() {
    let mut s = settings();
    s.aliases
        .insert("gpt-4o-mini".to_owned(), "gemini".to_owned());
    s.aliases
        .insert("fast".to_owned(), "cerebras/gpt-oss-120b".to_owned());
    s.aliases.insert("gpt-4o".to_owned(), "auto".to_owned());
    let h = harness_with(s, &["groq", "cerebras", "gemini"], "").await;

    let a = h.chat(hello("gemini")).await;
    assert_eq!(a.header("x-llmpool-provider"), Some("gemini"));
    assert_eq!(h.fake("gemini").calls(), 1);

    let a = h.chat(hello("groq/openai/gpt-oss-20b")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header("x-llmpool-provider"), Some("groq"));
    assert_eq!(a.json()["model"], "openai/gpt-oss-20b");
    let sent = h.fake("groq").requests();
    assert_eq!(sent[0].model.as_deref(), Some("openai/gpt-oss-20b"));

    let a = h.chat(hello("gpt-4o-mini")).await;
    assert_eq!(a.header("x-llmpool-provider"), Some("gemini"));
    assert_eq!(h.fake("gemini").calls(), 2);

    let a = h.chat(hello("fast")).await;
    assert_eq!(a.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(a.json()["model"], "gpt-oss-120b");

    let a = h.chat(hello("gpt-4o")).await;
    assert_eq!(a.header("x-llmpool-provider"), Some("groq"));

    // A bare model id that only Cerebras lists.
    let a = h.chat(hello("gpt-oss-120b")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(h.fake("cerebras").calls(), 2);
    assert_eq!(h.fake("groq").calls(), 2);
}

// ---------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------

fn stream_body(model: &str, include_usage: Option<bool>) -> Value {
    let mut body = hello(model);
    body["stream"] = json!(true);
    if let Some(include) = include_usage {
        body["stream_options"] = json!({"include_usage": include});
    }
    body
}

fn streamed(usage: Option<Usage>) -> Reply {
    Reply::stream([
        StreamStep::delta("Hel"),
        StreamStep::delta("lo"),
        StreamStep::delta(" world"),
        StreamStep::Done(StreamEnd {
            finish_reason: Some(FinishReason::Stop),
            usage,
            model: Some("openai/gpt-oss-120b".to_owned()),
        }),
    ])
}

fn chunks(data: &[String]) -> Vec<Value> {
    data.iter()
        .filter(|d| d.as_str() != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("bad chunk {d}: {e}")))
        .collect()
}

fn chunk_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn stream_sends_chunks_then_done_without_usage_unless_asked() {
    let h = harness(&["groq"]).await;
    h.fake("groq").push(streamed(Some(Usage::new(3, 4))));
    let a = h.chat(stream_body("auto", None)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream")),
        "{:?}",
        a.headers
    );
    assert_eq!(a.header("x-llmpool-provider"), Some("groq"));
    assert_eq!(a.header("x-llmpool-attempts"), Some("1"));
    let data = a.sse_data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(data.iter().filter(|d| *d == "[DONE]").count(), 1);
    let chunks = chunks(&data);
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id, "one id for the whole stream");
        assert!(c.get("usage").is_none_or(Value::is_null), "usage in {c}");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunk_text(&chunks), "Hello world");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["model"], "openai/gpt-oss-120b");

    // Asking for usage explicitly off changes nothing.
    h.fake("groq").push(streamed(Some(Usage::new(3, 4))));
    let a = h.chat(stream_body("auto", Some(false))).await;
    assert!(
        chunks_of(&a)
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null))
    );
}

fn chunks_of(a: &Answer) -> Vec<Value> {
    chunks(&a.sse_data())
}

#[tokio::test]
async fn stream_ends_with_a_usage_chunk_when_include_usage_is_set() {
    let h = harness(&["groq"]).await;
    h.fake("groq").push(streamed(Some(Usage::new(3, 4))));
    let a = h.chat(stream_body("groq", Some(true))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let data = a.sse_data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks = chunks(&data);
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})
    );
    // Only the last chunk carries usage, and the finish chunk comes right before it.
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null))
    );
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(chunk_text(&chunks), "Hello world");
}

/// An upstream that reports no usage still gives a client that asked for it its usage
/// chunk: the ledger's estimate (prompt by length, completion by the streamed text).
#[tokio::test]
async fn stream_estimates_the_usage_chunk_when_the_upstream_reports_none() {
    let h = harness(&["groq"]).await;
    h.fake("groq").push(streamed(None));
    let a = h.chat(stream_body("groq", Some(true))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let data = a.sse_data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let got = chunks(&data);
    let usage = &got.last().unwrap()["usage"];
    // "Hello world": 11 characters, about 3 tokens.
    assert_eq!(usage["completion_tokens"], 3);
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 0, "{usage}");
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + 3);
    // Without include_usage, no usage chunk at all.
    h.fake("groq").push(streamed(None));
    let a = h.chat(stream_body("groq", None)).await;
    let got = chunks(&a.sse_data());
    assert!(
        got.iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null))
    );
}

#[tokio::test]
async fn stream_falls_back_before_the_first_chunk() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq")
        .push(Reply::error(ErrorKind::Transient { status: Some(503) }));
    h.fake("cerebras").push(Reply::text("fallback text"));
    let a = h.chat(stream_body("auto", None)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(a.header("x-llmpool-attempts"), Some("2"));
    assert_eq!(chunk_text(&chunks_of(&a)), "fallback text");
    assert_eq!(a.sse_data().last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn a_cut_stream_ends_with_an_error_event_and_no_done() {
    let h = harness(&["groq"]).await;
    h.fake("groq").push(Reply::stream([
        StreamStep::delta("Partial"),
        StreamStep::fail(ErrorKind::Transient { status: Some(502) }),
    ]));
    let a = h.chat(stream_body("auto", Some(true))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let data = a.sse_data();
    assert!(
        !data.iter().any(|d| d == "[DONE]"),
        "a cut stream must not end like a complete one: {data:?}"
    );
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "last event: {last}");
    assert!(last["error"]["type"].is_string(), "last event: {last}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunk_text(&chunks), "Partial");
    assert!(
        chunks.iter().all(|c| c["choices"]
            .get(0)
            .is_none_or(|ch| ch["finish_reason"].is_null())),
        "no finish_reason on a cut stream: {chunks:?}"
    );
}

#[tokio::test]
async fn stream_errors_before_the_first_chunk_are_plain_error_statuses() {
    let h = harness(&[]).await;
    let a = h.chat(stream_body("auto", None)).await;
    let e = a.error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e["code"], "no_available_providers");
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );

    let h = harness(&["groq"]).await;
    h.fake("groq")
        .push(Reply::error(ErrorKind::Transient { status: Some(500) }));
    let a = h.chat(stream_body("auto", None)).await;
    let e = a.error(StatusCode::BAD_GATEWAY);
    assert!(e["message"].as_str().unwrap().contains("groq"), "{e}");
}

// ---------------------------------------------------------------------------------------
// Error statuses
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_json_is_400() {
    let h = harness(&["groq"]).await;
    let a = h.send(chat_request("{\"messages\": [", None)).await;
    let e = a.error(StatusCode::BAD_REQUEST);
    assert_eq!(e["type"], "invalid_request_error");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("invalid request body"),
        "{e}"
    );
    let a = h.send(chat_request("not json at all", None)).await;
    a.error(StatusCode::BAD_REQUEST);
    assert_eq!(h.fake("groq").calls(), 0);
}

#[tokio::test]
async fn wrong_schema_is_400_naming_the_field() {
    let h = harness(&["groq"]).await;
    let cases = [
        (json!({"messages": "hello"}), "messages"),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            "stream",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": -3}),
            "max_tokens",
        ),
        (json!({"messages": []}), "messages"),
        (
            json!({"messages": [{"role": "function", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}]}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "custom", "custom": {}}]}),
            "tools[0].type",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "n": 3}),
            "n",
        ),
    ];
    for (body, field) in cases {
        let a = h.chat(body.clone()).await;
        let e = a.error(StatusCode::BAD_REQUEST);
        assert_eq!(e["type"], "invalid_request_error", "{body}");
        assert_eq!(e["param"], field, "{body} -> {e}");
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "the message should name `{field}`: {e}"
        );
    }
    // A missing required field is named in the message.
    let a = h.chat(json!({"model": "auto"})).await;
    let e = a.error(StatusCode::BAD_REQUEST);
    assert!(e["message"].as_str().unwrap().contains("messages"), "{e}");
    assert_eq!(h.fake("groq").calls(), 0);
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let mut s = settings();
    s.max_body_bytes = 2048;
    let h = harness_with(s, &["groq"], "").await;
    let big = json!({"messages": [{"role": "user", "content": "x".repeat(4096)}]}).to_string();
    // Without a content-length header (the body is read up to the limit)...
    let a = h.send(chat_request(&big, None)).await;
    let e = a.error(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(e["message"].as_str().unwrap().contains("2048"), "{e}");
    // ...and with one (refused before reading).
    let req = Request::post("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    let a = h.send(req).await;
    a.error(StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit is fine.
    let small = json!({"messages": [{"role": "user", "content": "x".repeat(1500)}]}).to_string();
    let a = h.send(chat_request(&small, None)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(h.fake("groq").calls(), 1);
}

#[tokio::test]
async fn unknown_provider_or_model_is_404() {
    let h = harness(&["groq"]).await;
    for model in ["nosuchprovider/some-model", "no-such-model", "groq-typo"] {
        let a = h.chat(hello(model)).await;
        let e = a.error(StatusCode::NOT_FOUND);
        assert_eq!(e["code"], "model_not_found", "{model}");
        assert!(e["message"].as_str().unwrap().contains(model), "{e}");
    }
    let a = h.get("/v1/no-such-route").await;
    a.error(StatusCode::NOT_FOUND);
    assert_eq!(h.fake("groq").calls(), 0);
}

#[tokio::test]
async fn no_key_at_all_is_503_naming_the_key_variables() {
    let h = harness(&[]).await;
    let a = h.chat(hello("auto")).await;
    let e = a.error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e["code"], "no_available_providers");
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with("No available providers"), "{message}");
    for var in [
        "GROQ_API_KEY",
        "CEREBRAS_API_KEY",
        "GEMINI_API_KEY",
        "OPENROUTER_API_KEY",
        "COHERE_API_KEY",
    ] {
        assert!(message.contains(var), "{message}");
    }
    assert!(a.header("retry-after").is_none());
    // Pinning a provider without a key names its variable.
    let h = harness(&["groq"]).await;
    let a = h.chat(hello("cohere")).await;
    let e = a.error(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        e["message"].as_str().unwrap().contains("COHERE_API_KEY"),
        "{e}"
    );
}

#[tokio::test]
async fn all_busy_is_503_with_retry_after() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(rate_limited(120));
    h.fake("cerebras").push(rate_limited(300));
    let a = h.chat(hello("auto")).await;
    let e = a.error(StatusCode::BAD_GATEWAY);
    assert_eq!(e["code"], "all_providers_failed");

    let a = h.chat(hello("auto")).await;
    let e = a.error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e["code"], "no_available_providers");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("groq") && message.contains("cerebras"),
        "the reason names each provider: {message}"
    );
    let retry: u64 = a
        .header("retry-after")
        .expect("retry-after when the earliest reset is known")
        .parse()
        .unwrap();
    // The earliest reset is Groq's (120 s), not Cerebras's.
    assert!((1..=120).contains(&retry), "retry-after {retry}");
    assert_eq!(h.fake("groq").calls(), 1);
    assert_eq!(h.fake("cerebras").calls(), 1);
}

#[tokio::test]
async fn all_failed_is_502_listing_each_cause() {
    let h = harness(&["groq", "cerebras", "gemini"]).await;
    h.fake("groq").push(Reply::provider_error(
        ProviderError::new("groq", ErrorKind::Transient { status: Some(500) })
            .with_status(500)
            .with_message("internal server error"),
    ));
    h.fake("cerebras").push(Reply::provider_error(
        ProviderError::new("cerebras", ErrorKind::Unauthorized)
            .with_status(401)
            .with_message("Wrong API Key"),
    ));
    h.fake("gemini")
        .push(Reply::error(ErrorKind::InvalidResponse));
    let a = h.chat(hello("auto")).await;
    let e = a.error(StatusCode::BAD_GATEWAY);
    assert_eq!(e["code"], "all_providers_failed");
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with("All providers failed"), "{message}");
    for cause in [
        "groq: transient (500): internal server error",
        "cerebras: unauthorized (401): Wrong API Key",
        "gemini: invalid_response",
    ] {
        assert!(message.contains(cause), "`{cause}` missing in: {message}");
    }
}

#[tokio::test]
async fn content_refusal_is_returned_not_routed_around() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(Reply::provider_error(
        ProviderError::new("groq", ErrorKind::ContentFiltered)
            .with_status(400)
            .with_message("the prompt was flagged by the safety system"),
    ));
    let a = h.chat(hello("auto")).await;
    let e = a.error(StatusCode::BAD_REQUEST);
    assert_eq!(e["code"], "content_filter");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("groq"), "{message}");
    assert!(
        message.contains("flagged by the safety system"),
        "{message}"
    );
    assert_eq!(h.fake("cerebras").calls(), 0);

    let metrics = h.get("/metrics").await.text();
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"llmpool_attempts_total{provider="groq",outcome="content_filtered"} 1"#),
        "a refusal is a failure of that provider, counted by kind:\n{metrics}"
    );

    // Streamed too, before the first chunk.
    h.fake("groq")
        .push(Reply::error(ErrorKind::ContentFiltered));
    let a = h.chat(stream_body("auto", None)).await;
    let e = a.error(StatusCode::BAD_REQUEST);
    assert_eq!(e["code"], "content_filter");
    assert_eq!(h.fake("cerebras").calls(), 0);
}

// ---------------------------------------------------------------------------------------
// Client auth
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn client_keys_guard_every_route_but_health() {
    let h = harness_with(settings(), &["groq"], "client-key-one, client-key-two").await;
    let body = hello("auto").to_string();

    let a = h.send(chat_request(&body, None)).await;
    let e = a.error(StatusCode::UNAUTHORIZED);
    assert_eq!(e["type"], "authentication_error");
    let a = h.send(chat_request(&body, Some("client-key-thre"))).await;
    a.error(StatusCode::UNAUTHORIZED);
    let a = h.send(chat_request(&body, Some("client-key-one2"))).await;
    a.error(StatusCode::UNAUTHORIZED);
    let basic = Request::post("/v1/chat/completions")
        .header(header::AUTHORIZATION, "Basic Y2xpZW50LWtleS1vbmU=")
        .body(Body::from(body.clone()))
        .unwrap();
    h.send(basic).await.error(StatusCode::UNAUTHORIZED);
    assert_eq!(h.fake("groq").calls(), 0, "no upstream call without auth");

    for key in ["client-key-one", "client-key-two"] {
        let a = h.send(chat_request(&body, Some(key))).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    }
    assert_eq!(h.fake("groq").calls(), 2);

    for path in ["/v1/models", "/v1/quota", "/metrics"] {
        h.get(path).await.error(StatusCode::UNAUTHORIZED);
        let req = Request::get(path)
            .header(header::AUTHORIZATION, "Bearer client-key-two")
            .body(Body::empty())
            .unwrap();
        let a = h.send(req).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
    }
    let a = h.get("/health").await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn without_client_keys_no_auth_is_needed() {
    let h = harness(&["groq"]).await;
    let req = Request::post("/v1/chat/completions")
        .header(header::AUTHORIZATION, "Bearer anything")
        .body(Body::from(hello("auto").to_string()))
        .unwrap();
    assert_eq!(h.send(req).await.status, StatusCode::OK);
    assert_eq!(h.get("/v1/models").await.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// Read-only routes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn health_is_ok() {
    let h = harness(&[]).await;
    let a = h.get("/health").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["status"], "ok");
}

#[tokio::test]
async fn models_lists_auto_and_every_keyed_route() {
    let mut s = settings();
    s.providers.insert(
        "groq".to_owned(),
        ProviderSettings {
            models: Some(vec![
                "openai/gpt-oss-120b".to_owned(),
                "openai/gpt-oss-20b".to_owned(),
            ]),
            ..ProviderSettings::default()
        },
    );
    let h = harness_with(s, &["groq", "gemini"], "").await;
    let a = h.get("/v1/models").await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json();
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    for m in data {
        assert_eq!(m["object"], "model");
        assert!(m["id"].is_string() && m["owned_by"].is_string(), "{m}");
        assert!(m["created"].is_u64(), "{m}");
    }
    let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids[0], "auto");
    assert_eq!(
        ids[1..3],
        ["groq/openai/gpt-oss-120b", "groq/openai/gpt-oss-20b"]
    );
    assert!(ids.iter().any(|id| id.starts_with("gemini/")), "{ids:?}");
    assert!(
        ids.iter()
            .all(|id| *id == "auto" || id.starts_with("groq/") || id.starts_with("gemini/")),
        "only providers with a key: {ids:?}"
    );
    let owners: Vec<&str> = data[1..]
        .iter()
        .map(|m| m["owned_by"].as_str().unwrap())
        .collect();
    assert!(owners.iter().all(|o| *o == "groq" || *o == "gemini"));
    // Each entry says what its model can do (an extra object OpenAI's clients ignore),
    // the catalog's facts: gpt-oss-120b calls tools and reasons but reads no images.
    assert_eq!(
        data[1]["capabilities"],
        json!({"tools": true, "json_schema": true, "json_object": true, "vision": false,
               "reasoning": true, "context_window": 131_072, "max_output_tokens": null})
    );
    assert!(data[0].get("capabilities").is_none(), "`auto` is no model");
    // The providers without a key are not models: they are listed apart, each with why.
    let off = body["llmpool"]["providers_off"].as_array().unwrap();
    let off_ids: Vec<&str> = off.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(off_ids, ["cerebras", "cohere", "openrouter"], "{body}");
    assert_eq!(off[0]["reason"], "no key: set CEREBRAS_API_KEY");
    assert_eq!(off[0]["config_only"], false);
    // Every listed id is accepted as `model`.
    for id in &ids {
        let a = h.chat(hello(id)).await;
        assert_eq!(a.status, StatusCode::OK, "{id}: {}", a.text());
    }
}

#[tokio::test]
async fn quota_has_the_seed_shape_and_counts_calls() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(rate_limited(60));
    let a = h.chat(hello("auto")).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = h.get("/v1/quota").await;
    assert_eq!(a.status, StatusCode::OK);
    let q = a.json();
    assert_eq!(q["total_providers"], 5);
    assert_eq!(q["available_providers"], 1, "{q}");
    assert_eq!(q["failed_providers"], json!(["groq"]), "{q}");
    let providers = q["quota_status"].as_object().unwrap();
    let ids: Vec<&str> = providers.keys().map(String::as_str).collect();
    assert_eq!(ids, ["cerebras", "cohere", "gemini", "groq", "openrouter"]);
    for (id, p) in providers {
        for field in [
            "calls_today",
            "max_daily",
            "api_key_available",
            "available",
            "state",
        ] {
            assert!(p.get(field).is_some(), "{id} lacks `{field}`: {p}");
        }
    }
    assert_eq!(providers["cerebras"]["calls_today"], 1);
    assert_eq!(providers["groq"]["api_key_available"], true);
    assert_eq!(providers["groq"]["available"], false);
    assert_eq!(providers["cohere"]["api_key_available"], false);
    assert_eq!(providers["cohere"]["calls_today"], 0);
    assert!(providers["groq"]["last_error"].is_string(), "{q}");
}

#[tokio::test]
async fn metrics_count_requests_and_attempts_in_prometheus_text() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(rate_limited(60));
    assert_eq!(h.chat(hello("auto")).await.status, StatusCode::OK);
    assert_eq!(h.chat(hello("auto")).await.status, StatusCode::OK);
    assert_eq!(
        h.chat(hello("nope/nothing")).await.status,
        StatusCode::NOT_FOUND
    );
    h.chat(json!({"messages": 1}))
        .await
        .error(StatusCode::BAD_REQUEST);
    let a = h.get("/metrics").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.header("content-type").is_some_and(|c| c.contains("text")),
        "{:?}",
        a.headers
    );
    let text = a.text();
    let sample = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l[name.len()..].trim().parse().ok())
    };
    assert_eq!(
        sample(r#"llmpool_requests_total{endpoint="chat_completions",outcome="ok"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(r#"llmpool_attempts_total{provider="groq",outcome="rate_limited"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(r#"llmpool_attempts_total{provider="cerebras",outcome="ok"}"#),
        Some(2.0),
        "{text}"
    );
    // Each failed request is counted once, under its own outcome.
    assert_eq!(
        sample(r#"llmpool_requests_total{endpoint="chat_completions",outcome="rejected"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            r#"llmpool_requests_total{endpoint="chat_completions",outcome="no_available_providers"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("llmpool_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        (total - 4.0).abs() < f64::EPSILON,
        "4 requests in all: {text}"
    );
    assert!(
        text.contains("# TYPE llmpool_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(r#"llmpool_calls_today{provider="cerebras"} 2"#),
        "{text}"
    );
    assert!(text.contains("llmpool_quota_remaining_today"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}

#[tokio::test]
async fn a_wrong_method_is_405_in_openai_shape() {
    let h = harness(&["groq"]).await;
    let a = h.get("/v1/chat/completions").await;
    let e = a.error(StatusCode::METHOD_NOT_ALLOWED);
    assert!(e["message"].as_str().unwrap().contains("GET"), "{e}");
    let a = h
        .send(Request::post("/v1/models").body(Body::empty()).unwrap())
        .await;
    a.error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(start_paused = true)]
async fn the_overall_deadline_is_504() {
    let mut s = settings();
    s.timeout_secs = 5;
    s.deadline_secs = 6;
    let h = harness_with(s, &["groq", "cerebras", "gemini"], "").await;
    // Groq fails after 4 s; Cerebras would take a minute, past the 6 s deadline, so
    // Gemini's turn comes after the deadline.
    h.fake("groq").push(
        Reply::error(ErrorKind::Transient { status: Some(503) }).delay(Duration::from_secs(4)),
    );
    h.fake("cerebras")
        .push(Reply::text("too late").delay(Duration::from_secs(60)));
    let a = h.chat(hello("auto")).await;
    let e = a.error(StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(e["code"], "deadline_exceeded", "{e}");
    assert_eq!(h.fake("gemini").calls(), 0);
}

// ---------------------------------------------------------------------------------------
// Route trails and the dashboard
// ---------------------------------------------------------------------------------------

/// The one model each provider has in these tests.
fn model_of(f: &ProviderFactory) -> String {
    f.model_catalog().unwrap().models[0].id.clone()
}

#[tokio::test]
async fn trail_lists_every_attempt_of_a_fallback() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(rate_limited(60));
    h.fake("cerebras").push(Reply::text("from cerebras"));
    let a = h.chat(hello("auto")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let expected = format!(
        "groq/{}:rate_limited,cerebras/{}:ok",
        model_of(&GROQ),
        model_of(&CEREBRAS)
    );
    assert_eq!(a.header("x-llmpool-trail"), Some(expected.as_str()));

    // Streamed: the same trail on the event stream's headers.
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(Reply::error(ErrorKind::Timeout));
    h.fake("cerebras").push(streamed(None));
    let a = h.chat(stream_body("auto", None)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let expected = format!(
        "groq/{}:timeout,cerebras/{}:ok",
        model_of(&GROQ),
        model_of(&CEREBRAS)
    );
    assert_eq!(a.header("x-llmpool-trail"), Some(expected.as_str()));
}

#[tokio::test]
async fn trail_is_in_the_502_body_and_header() {
    let h = harness(&["groq", "cerebras"]).await;
    h.fake("groq").push(Reply::error(ErrorKind::Timeout));
    h.fake("cerebras")
        .push(Reply::error(ErrorKind::QuotaExhausted { until: None }));
    let a = h.chat(hello("auto")).await;
    let e = a.error(StatusCode::BAD_GATEWAY);
    // Each failed attempt names its route's model, as an answered one does.
    let expected = format!(
        "groq/{}:timeout,cerebras/{}:quota",
        model_of(&GROQ),
        model_of(&CEREBRAS)
    );
    assert_eq!(e["trail"], expected.as_str());
    assert_eq!(a.header("x-llmpool-trail"), Some(expected.as_str()));
    // The dashboard's request list says the same.
    let state = dashboard_state(&h).await;
    let request = &state["requests"][0];
    assert_eq!(request["status"], 502, "{state}");
    assert_eq!(request["attempts"], 2, "{state}");
    assert_eq!(request["trail"], expected.as_str(), "{state}");
}

fn with_tools(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {}}}}]
    })
}

/// Groq's model is said to call no tools, Cerebras' does: a tool request that fails
/// shows the skip before the failure, in the 502 and in the 503.
#[tokio::test]
async fn a_failed_request_trail_shows_the_capability_skips() {
    let mut s = settings();
    let groq = s.providers.get_mut("groq").unwrap();
    groq.model_capabilities.insert(
        model_of(&GROQ),
        llmpool::CapabilityOverride {
            tools: Some(false),
            ..llmpool::CapabilityOverride::default()
        },
    );
    let h = harness_with(s, &["groq", "cerebras"], "").await;
    let skip = format!("groq/{}:skipped:tools", model_of(&GROQ));
    h.fake("cerebras").push(rate_limited(120));
    let a = h.chat(with_tools("auto")).await;
    let e = a.error(StatusCode::BAD_GATEWAY);
    let expected = format!("{skip},cerebras/{}:rate_limited", model_of(&CEREBRAS));
    assert_eq!(e["trail"], expected.as_str());
    assert_eq!(a.header("x-llmpool-trail"), Some(expected.as_str()));
    // Cerebras now waits out its limit: nothing is tried, and the 503 says both why.
    let mut body = with_tools("auto");
    body["stream"] = json!(true);
    let a = h.chat(body).await;
    let e = a.error(StatusCode::SERVICE_UNAVAILABLE);
    let expected = format!(
        "{skip},cerebras/{}:skipped:rate_limited",
        model_of(&CEREBRAS)
    );
    assert_eq!(e["trail"], expected.as_str());
    assert_eq!(a.header("x-llmpool-trail"), Some(expected.as_str()));
    let state = dashboard_state(&h).await;
    assert_eq!(state["requests"][0]["trail"], expected.as_str(), "{state}");
    assert_eq!(h.fake("groq").calls(), 0, "a skipped route is not called");
    // A plain request is not filtered: no skip in its trail.
    let a = h.chat(hello("auto")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(
        a.header("x-llmpool-trail"),
        Some(format!("groq/{}:ok", model_of(&GROQ)).as_str())
    );
}

#[tokio::test]
async fn trail_of_a_503_names_each_skipped_route() {
    let h = harness(&["groq"]).await;
    h.fake("groq").push(rate_limited(120));
    h.chat(hello("auto")).await.error(StatusCode::BAD_GATEWAY);
    let a = h.chat(hello("auto")).await;
    let e = a.error(StatusCode::SERVICE_UNAVAILABLE);
    let expected = format!("groq/{}:skipped:rate_limited", model_of(&GROQ));
    assert_eq!(e["trail"], expected.as_str());
    assert_eq!(a.header("x-llmpool-trail"), Some(expected.as_str()));
    assert_eq!(h.fake("groq").calls(), 1, "a skipped route is not called");
}

async fn dashboard_state(h: &Harness) -> Value {
    let a = h.get("/dashboard/api/state").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    a.json()
}

#[tokio::test]
async fn dashboard_lists_the_last_requests_with_their_trails() {
    let h = harness(&["groq", "cerebras"]).await;
    let before = dashboard_state(&h).await;
    assert_eq!(before["requests"], json!([]));
    assert_eq!(before["total"], 0);
    assert_eq!(before["zones"]["gemini"], "America/Los_Angeles");
    assert!(before["status"]["quota_status"]["groq"]["routes"].is_array());

    h.fake("groq").push(rate_limited(60));
    h.fake("cerebras")
        .push(Reply::text("hi").usage(Usage::new(3, 4)));
    assert_eq!(h.chat(hello("auto")).await.status, StatusCode::OK);
    h.fake("cerebras").push(streamed(Some(Usage::new(2, 3))));
    assert_eq!(
        h.chat(stream_body("cerebras", None)).await.status,
        StatusCode::OK
    );

    let after = dashboard_state(&h).await;
    assert_eq!(after["total"], 2);
    let requests = after["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2);
    // Newest first: the stream, then the fallback.
    assert_eq!(requests[0]["model"], "cerebras");
    assert_eq!(requests[0]["stream"], true);
    assert_eq!(requests[0]["completion_tokens"], 3);
    assert_eq!(requests[1]["model"], "auto");
    assert_eq!(requests[1]["provider"], "cerebras");
    assert_eq!(requests[1]["attempts"], 2);
    assert_eq!(requests[1]["prompt_tokens"], 3);
    assert_eq!(
        requests[1]["trail"],
        format!(
            "groq/{}:rate_limited,cerebras/{}:ok",
            model_of(&GROQ),
            model_of(&CEREBRAS)
        )
        .as_str()
    );
    assert!(
        requests[1].get("prompt").is_none(),
        "prompts are not kept by default"
    );
    let minutes = after["minutes"].as_array().unwrap();
    let failovers: u64 = minutes
        .iter()
        .map(|m| m["failovers"].as_u64().unwrap())
        .sum();
    assert_eq!(failovers, 1);
}

#[tokio::test]
async fn dashboard_page_is_open_and_its_data_needs_the_client_key() {
    let h = harness_with(settings(), &["groq"], "client-key-one").await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let a = h.get(path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(
            a.header("content-type").unwrap().starts_with(kind),
            "{path}: {:?}",
            a.header("content-type")
        );
    }
    assert!(h.get("/").await.text().contains("/dashboard/app.js"));
    h.get("/dashboard/api/state")
        .await
        .error(StatusCode::UNAUTHORIZED);
    let req = Request::get("/dashboard/api/state")
        .header(header::AUTHORIZATION, "Bearer client-key-one")
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_stream_the_client_leaves_is_still_listed() {
    let h = harness(&["cerebras"]).await;
    h.fake("cerebras").push(streamed(None));
    let response = h
        .app
        .clone()
        .oneshot(chat_request(&stream_body("auto", None).to_string(), None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The client goes away without reading the answer.
    drop(response);
    let state = dashboard_state(&h).await;
    let requests = state["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{state}");
    assert_eq!(requests[0]["outcome"], "client_closed");
    assert_eq!(
        requests[0]["trail"],
        format!("cerebras/{}:ok", model_of(&CEREBRAS)).as_str()
    );
}

/// A 400 about the output cap names the token-limit field the client sent.
#[tokio::test]
async fn the_output_cap_400_names_the_field_the_client_sent() {
    let mut s = settings();
    let groq = s.providers.get_mut("groq").unwrap();
    groq.model_capabilities.insert(
        model_of(&GROQ),
        llmpool::CapabilityOverride {
            max_output_tokens: Some(100),
            ..llmpool::CapabilityOverride::default()
        },
    );
    let h = harness_with(s, &["groq"], "").await;
    for field in ["max_tokens", "max_completion_tokens"] {
        let mut body = hello("groq");
        body[field] = json!(1000);
        let e = h.chat(body).await.error(StatusCode::BAD_REQUEST);
        assert_eq!(e["code"], "unsupported_capability", "{e}");
        assert_eq!(e["param"], field, "{e}");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{field}`")), "{message}");
        if field == "max_tokens" {
            assert!(!message.contains("max_completion_tokens"), "{message}");
        }
    }
    // Both sent: `max_completion_tokens` is the one used, and named.
    let mut body = hello("groq");
    body["max_tokens"] = json!(50);
    body["max_completion_tokens"] = json!(1000);
    let e = h.chat(body).await.error(StatusCode::BAD_REQUEST);
    assert_eq!(e["param"], "max_completion_tokens", "{e}");
    assert_eq!(h.fake("groq").calls(), 0);
}
