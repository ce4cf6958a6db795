//! Pacing through `llmpool serve`: providers whose free tier allows one request in flight
//! (Z.ai per key and model, Ollama Cloud per account) never get a second one while the
//! first is answered, and Mistral's one request a second shows in `/v1/quota`.
//!
//! The upstreams are wiremock servers on 127.0.0.1 answering after a delay long enough
//! that every concurrent request reaches the gateway while the first is still upstream
//! (the delay only bounds how slow the machine may be; nothing is timed).

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{Gateway, Resp, Setup};

/// How long the upstreams take to answer.
const UPSTREAM_DELAY: Duration = Duration::from_secs(4);
/// Requests sent at once to each provider.
const CONCURRENT: usize = 4;

/// A provider's recorded one-shot answer (`crates/provider-<id>/tests/fixtures/`).
fn chat_ok(id: &str) -> String {
    let path = format!(
        "{}/../crates/provider-{id}/tests/fixtures/chat_ok.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An upstream answering every chat completion with `ok` after [`UPSTREAM_DELAY`].
async fn slow_upstream(ok: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"/chat/completions$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(ok.as_bytes().to_vec(), "application/json")
                .set_delay(UPSTREAM_DELAY),
        )
        .mount(&server)
        .await;
    server
}

async fn upstream_calls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

fn ask(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

/// Sends [`CONCURRENT`] requests for `model` at once; answers in no particular order.
async fn burst(gw: &Gateway, model: &str) -> Vec<Resp> {
    let body = ask(model);
    futures::future::join_all((0..CONCURRENT).map(|_| gw.chat(&body))).await
}

/// One answered, the others turned away without an upstream call: 503 with a one-second
/// `retry-after` and the route skipped as busy in the trail.
fn one_answered_rest_busy(answers: &[Resp], provider: &str, skipped_route: &str) {
    let ok: Vec<&Resp> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "{answers:?}");
    assert_eq!(ok[0].header("x-llmpool-provider"), Some(provider));
    for busy in answers.iter().filter(|r| r.status != 200) {
        let e = busy.error(503);
        assert_eq!(e["code"], "no_available_providers", "{}", busy.body);
        assert_eq!(busy.header("retry-after"), Some("1"), "{}", busy.body);
        let trail = busy.header("x-llmpool-trail").unwrap_or_default();
        assert!(
            trail.contains(&format!("{skipped_route}:skipped:in_flight")),
            "trail {trail:?}, body {}",
            busy.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_in_flight_providers_are_never_sent_two_requests_at_once() {
    let zai = slow_upstream(&chat_ok("zai")).await;
    let ollama = slow_upstream(&chat_ok("ollama-cloud")).await;
    let mistral = slow_upstream(&chat_ok("mistral")).await;
    let setup = Setup::new()
        .await
        .keyed(&[])
        .var("ZAI_API_KEY", "zai-e2e-key-0123456789")
        .var("ZAI_BASE_URL", &format!("{}/v1", zai.uri()))
        .var("OLLAMA_API_KEY", "ollama-e2e-key-0123456789")
        .var("OLLAMA_CLOUD_BASE_URL", &format!("{}/v1", ollama.uri()))
        .var("MISTRAL_API_KEY", "mistral-e2e-key-0123456789")
        .var("MISTRAL_BASE_URL", &format!("{}/v1", mistral.uri()));
    setup.write_toml("retry_attempts = 0\n");
    let gw = setup.serve().await;

    // Z.ai: one in flight per key and model. Pinned to one model, the burst sends one
    // request upstream; the others are told to come back in a second.
    let answers = burst(&gw, "zai/glm-4.7-flash").await;
    one_answered_rest_busy(&answers, "zai", "zai/glm-4.7-flash");
    assert_eq!(upstream_calls(&zai).await, 1);

    // Ollama Cloud: one in flight per account, across its models. Any of its models may
    // serve `ollama-cloud`, yet only one request goes up at a time.
    let answers = burst(&gw, "ollama-cloud").await;
    one_answered_rest_busy(&answers, "ollama-cloud", "ollama-cloud/gpt-oss:120b");
    assert_eq!(upstream_calls(&ollama).await, 1);

    // The slots were given back with the answers: the next request goes upstream.
    let r = gw.chat(&ask("zai/glm-4.7-flash")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(upstream_calls(&zai).await, 2);
    let r = gw.chat(&ask("ollama-cloud")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(upstream_calls(&ollama).await, 2);

    // The report shows the limits and what is in flight (nothing now).
    let quota = gw.get("/v1/quota").await.json();
    let zai_status = &quota["quota_status"]["zai"];
    // One in flight per key across its models (the stricter reading of zai.md).
    assert_eq!(
        (
            zai_status["max_in_flight"].clone(),
            zai_status["in_flight"].clone()
        ),
        (json!(1), json!(0)),
        "{zai_status}"
    );
    let route = &zai_status["routes"][0];
    assert_eq!(route["model"], "glm-4.7-flash");
    assert_eq!(
        (
            route["key_max_in_flight"].clone(),
            route["key_in_flight"].clone()
        ),
        (json!(1), json!(0)),
        "{route}"
    );
    assert!(route.get("max_in_flight").is_none(), "{route}");
    let ollama_status = &quota["quota_status"]["ollama-cloud"];
    assert_eq!(
        (
            ollama_status["max_in_flight"].clone(),
            ollama_status["in_flight"].clone()
        ),
        (json!(1), json!(0)),
        "{ollama_status}"
    );
    assert_eq!(
        ollama_status["routes"][0]["key_max_in_flight"], 1,
        "{ollama_status}"
    );
    assert_eq!(
        ollama_status["routes"][0]["key_in_flight"], 0,
        "{ollama_status}"
    );
    let mistral_status = &quota["quota_status"]["mistral"];
    assert_eq!(mistral_status["max_per_second"], 1, "{mistral_status}");
    assert_eq!(
        mistral_status["routes"][0]["key_max_per_second"], 1,
        "{mistral_status}"
    );
    assert!(
        mistral_status.get("in_flight").is_none(),
        "{mistral_status}"
    );
    // A provider without pacing limits shows no pacing fields.
    let groq_status = &quota["quota_status"]["groq"];
    for field in ["max_per_second", "max_in_flight", "in_flight"] {
        assert!(groq_status.get(field).is_none(), "{field}: {groq_status}");
    }
}
