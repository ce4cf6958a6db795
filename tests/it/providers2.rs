//! The second-wave providers, the keyless opt-in and configuration-only providers through
//! `llmpool serve`, each against a wiremock upstream on 127.0.0.1 that answers with the
//! provider crate's own recorded fixtures.

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{Setup, sse_data};

/// A second-wave provider: id, key variable, base-URL variable.
struct New {
    id: &'static str,
    key_env: &'static str,
    base_url_env: &'static str,
}

const NEW: [New; 8] = [
    New {
        id: "nvidia",
        key_env: "NVIDIA_API_KEY",
        base_url_env: "NVIDIA_BASE_URL",
    },
    New {
        id: "mistral",
        key_env: "MISTRAL_API_KEY",
        base_url_env: "MISTRAL_BASE_URL",
    },
    New {
        id: "cloudflare",
        key_env: "CLOUDFLARE_API_TOKEN",
        base_url_env: "CLOUDFLARE_BASE_URL",
    },
    New {
        id: "zai",
        key_env: "ZAI_API_KEY",
        base_url_env: "ZAI_BASE_URL",
    },
    New {
        id: "ovhcloud",
        key_env: "OVHCLOUD_API_KEY",
        base_url_env: "OVHCLOUD_BASE_URL",
    },
    New {
        id: "huggingface",
        key_env: "HF_TOKEN",
        base_url_env: "HUGGINGFACE_BASE_URL",
    },
    New {
        id: "ollama-cloud",
        key_env: "OLLAMA_API_KEY",
        base_url_env: "OLLAMA_CLOUD_BASE_URL",
    },
    New {
        id: "kilo",
        key_env: "KILO_API_KEY",
        base_url_env: "KILO_BASE_URL",
    },
];

/// A fixture of `crates/provider-<id>/tests/fixtures/`, when recorded.
fn fixture(id: &str, name: &str) -> Option<String> {
    let path = format!(
        "{}/../crates/provider-{id}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).ok()
}

/// The provider's recorded one-shot answer and stream; a provider with none recorded
/// (its reference captured only errors) gets OVHcloud's, the same OpenAI wire format.
fn answers(id: &str) -> (String, String) {
    let ok = fixture(id, "chat_ok.json")
        .or_else(|| fixture("ovhcloud", "chat_ok.json"))
        .expect("a one-shot fixture");
    let stream = fixture(id, "chat_stream.sse")
        .or_else(|| fixture("ovhcloud", "chat_stream.sse"))
        .expect("a stream fixture");
    (ok, stream)
}

/// The text a stream's chunks carry (`choices[0].delta.content`, concatenated).
fn streamed_text(payloads: &[String]) -> String {
    payloads
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// A mock upstream answering `<anything>/chat/completions` with `ok` (one-shot) and
/// `stream` (when the body asks for one).
async fn upstream(ok: &str, stream: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"/chat/completions$"))
        .and(StreamAsked(true))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(stream.as_bytes().to_vec(), "text/event-stream"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"/chat/completions$"))
        .and(StreamAsked(false))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(ok.as_bytes().to_vec(), "application/json"),
        )
        .mount(&server)
        .await;
    server
}

/// Matches requests whose JSON body has `"stream": <this>` (absent counts as false).
struct StreamAsked(bool);

impl wiremock::Match for StreamAsked {
    fn matches(&self, req: &wiremock::Request) -> bool {
        serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| v.get("stream").and_then(Value::as_bool))
            .unwrap_or(false)
            == self.0
    }
}

fn ask(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    })
}

/// Sends pinned and `auto`, one-shot and streamed, and checks each answer is the
/// upstream's text and came from `id`.
async fn answers_four_ways(gw: &crate::harness::Gateway, id: &str, ok: &str, stream: &str) {
    let expected_ok =
        serde_json::from_str::<Value>(ok).unwrap()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    let expected_stream = streamed_text(&sse_data(stream));
    for model in [id, "auto"] {
        let r = gw.chat(&ask(model, false)).await;
        assert_eq!(r.status, 200, "{id} via {model}: {}", r.body);
        let body = r.json();
        assert_eq!(
            body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default(),
            expected_ok,
            "{id} via {model}: {body}"
        );
        assert_eq!(r.header("x-llmpool-provider"), Some(id), "{id} via {model}");
        let r = gw.chat(&ask(model, true)).await;
        assert_eq!(r.status, 200, "{id} streamed via {model}: {}", r.body);
        let data = r.sse_data();
        assert_eq!(
            data.last().map(String::as_str),
            Some("[DONE]"),
            "{}",
            r.body
        );
        assert_eq!(
            streamed_text(&data),
            expected_stream,
            "{id} streamed via {model}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_provider_answers_pinned_and_auto_one_shot_and_streamed() {
    for p in &NEW {
        let (ok, stream) = answers(p.id);
        let server = upstream(&ok, &stream).await;
        let key = format!("{}-e2e-key-0123456789", p.id);
        let setup = Setup::new()
            .await
            .keyed(&[])
            .var(p.key_env, &key)
            .var(p.base_url_env, &format!("{}/v1", server.uri()));
        // Four requests in a minute: above Kilo's 3 RPM and, back to back, Mistral's one a
        // second, so the test lifts the minute and second limits (the limits themselves are
        // the contract suites' and the router's; pacing is `pacing.rs`'s).
        setup.write_toml(&format!(
            "retry_attempts = 0\n[providers.{id}]\nrpm = 1000\nrps = 1000\n\
             [providers.{id}.shared]\nrpm = 1000\nrps = 1000\n",
            id = p.id
        ));
        let gw = setup.serve().await;
        answers_four_ways(&gw, p.id, &ok, &stream).await;
        let requests = server.received_requests().await.unwrap_or_default();
        assert_eq!(requests.len(), 4, "{}", p.id);
        // The key reached the upstream, and nowhere else (the harness checks answers).
        let auth: Vec<String> = requests
            .iter()
            .filter_map(|r| r.headers.get("authorization"))
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        assert_eq!(auth, vec![format!("Bearer {key}"); 4], "{}", p.id);
        assert!(!gw.log().contains(&key), "{} key in the log", p.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_provider_is_used_only_after_the_opt_in() {
    let (ok, stream) = answers("ovhcloud");
    let server = upstream(&ok, &stream).await;
    let base = format!("{}/v1", server.uri());

    // A table without `enabled = true` is no opt-in: nothing is sent, and the status says why.
    let setup = Setup::new()
        .await
        .keyed(&[])
        .var("OVHCLOUD_BASE_URL", &base);
    setup.write_toml("retry_attempts = 0\n[providers.ovhcloud]\npriority = 1\n");
    let gw = setup.serve().await;
    let r = gw.chat(&ask("auto", false)).await;
    assert_ne!(r.status, 200, "{}", r.body);
    let r = gw.chat(&ask("ovhcloud", false)).await;
    assert_ne!(r.status, 200, "{}", r.body);
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
    let quota = gw.get("/v1/quota").await.json();
    let note = quota["quota_status"]["ovhcloud"]["note"]
        .as_str()
        .unwrap_or_default();
    assert!(note.contains("enabled = true"), "{quota}");
    let models = gw.get("/v1/models").await.json();
    assert!(!models.to_string().contains("ovhcloud/"), "{models}");
    drop(gw);

    // Opted in: the anonymous lane answers, with no Authorization header.
    setup.write_toml("retry_attempts = 0\n[providers.ovhcloud]\nenabled = true\n");
    let gw = setup.serve().await;
    answers_four_ways(&gw, "ovhcloud", &ok, &stream).await;
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 4);
    assert!(
        requests
            .iter()
            .all(|r| r.headers.get("authorization").is_none())
    );
    let quota = gw.get("/v1/quota").await.json();
    assert!(
        quota["quota_status"]["ovhcloud"]["note"].is_null(),
        "{quota}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_provider_works_from_llmpool_toml_alone() {
    let (ok, stream) = answers("ovhcloud");
    let server = upstream(&ok, &stream).await;
    let setup = Setup::new()
        .await
        .keyed(&[])
        .var("MY_FREE_TOKEN", "my-free-token-0123456789");
    // A local server (no key) and a hosted one whose key variable llmpool reads only
    // because the table names it.
    setup.write_toml(&format!(
        "retry_attempts = 0\n\
         [providers.local]\nkind = \"openai\"\nbase_url = \"{uri}/v1\"\nmodels = [\"qwen3:8b\"]\npriority = 1000\n\
         [providers.hosted-free]\nkind = \"openai\"\nbase_url = \"{uri}/hosted/v1\"\napi_key_env = \"MY_FREE_TOKEN\"\nmodels = [\"big-model\"]\nrpd = 1000\npriority = 1\n",
        uri = server.uri()
    ));
    let gw = setup.serve().await;
    answers_four_ways(&gw, "hosted-free", &ok, &stream).await;
    let r = gw.chat(&ask("local", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("local"));
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 5);
    for r in &requests[..4] {
        assert_eq!(r.url.path(), "/hosted/v1/chat/completions");
        assert_eq!(
            r.headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer my-free-token-0123456789")
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["model"], "big-model");
    }
    let last = &requests[4];
    assert_eq!(last.url.path(), "/v1/chat/completions");
    assert!(last.headers.get("authorization").is_none());
    let models = gw.get("/v1/models").await.json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"local/qwen3:8b") && ids.contains(&"hosted-free/big-model"),
        "{models}"
    );
    assert!(!gw.log().contains("my-free-token-0123456789"));
}

/// A fallback that always answers: a configured local provider on its own upstream,
/// tried after everything else.
async fn backup() -> (MockServer, String) {
    let (ok, stream) = answers("ovhcloud");
    let server = upstream(&ok, &stream).await;
    let table = format!(
        "[providers.backup]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodels = [\"local-model\"]\npriority = 1000\n",
        server.uri()
    );
    (server, table)
}

/// An upstream whose requests for `model` get `status` with the fixture `error` of
/// `id`, and whose other requests get the recorded answer.
async fn failing_for(id: &str, model: Option<&str>, status: u16, error: &str) -> MockServer {
    let (ok, stream) = answers(id);
    let server = upstream(&ok, &stream).await;
    let body = fixture(id, error).expect("an error fixture");
    let mut mock = Mock::given(method("POST")).and(path_regex(r"/chat/completions$"));
    if let Some(model) = model {
        mock = mock.and(wiremock::matchers::body_partial_json(
            json!({"model": model}),
        ));
    }
    mock.respond_with(
        ResponseTemplate::new(status).set_body_raw(body.into_bytes(), "application/json"),
    )
    .with_priority(1)
    .mount(&server)
    .await;
    server
}

/// Requests `server` received for `model`.
async fn calls_for(server: &MockServer, model: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["model"] == model))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_wide_wall_parks_the_provider_until_the_reset_and_falls_over() {
    // Cloudflare's 10,000 daily neurons spent (4006): the whole account is out until
    // 00:00 UTC.
    let server = failing_for("cloudflare", None, 429, "error_429_daily_4006.json").await;
    let (backup_server, backup_table) = backup().await;
    let setup = Setup::new()
        .await
        .keyed(&[])
        .var("CLOUDFLARE_API_TOKEN", "cf-e2e-token-0123456789")
        .var("CLOUDFLARE_BASE_URL", &format!("{}/v1", server.uri()));
    setup.write_toml(&format!(
        "retry_attempts = 0\n[providers.cloudflare]\npriority = 1\nmodels = [\"@cf/openai/gpt-oss-120b\", \"@cf/meta/llama-3.3-70b-instruct-fp8-fast\"]\n{backup_table}"
    ));
    let gw = setup.serve().await;
    let r = gw.chat(&ask("auto", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("backup"));
    // Each of the key's two routes learned the wall once (the router parks routes, not
    // keys: one call more per extra model); then the provider is parked.
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        2
    );
    let quota = gw.get("/v1/quota").await.json();
    let cf = &quota["quota_status"]["cloudflare"];
    assert_eq!(cf["state"], "exhausted", "{cf}");
    assert_eq!(cf["available"], false, "{cf}");
    let until = cf["cooldown_until"].as_str().unwrap_or_default();
    assert!(
        until.ends_with("T00:00:00Z"),
        "parked until the next 00:00 UTC: {cf}"
    );
    assert_eq!(cf["cooldown_until"], cf["resets_at"], "{cf}");
    // Parked: the next request goes straight to the backup.
    let r = gw.chat(&ask("auto", true)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        2
    );
    assert_eq!(
        backup_server
            .received_requests()
            .await
            .unwrap_or_default()
            .len(),
        2
    );
}

/// A route-level error (model not free for this key, model gone) disables that route:
/// the key's other models keep answering, and the route is not tried again.
async fn route_disabled(
    id: &str,
    key_env: &str,
    base_url_env: &str,
    models: [&str; 2],
    status: u16,
    error: &str,
) {
    let server = failing_for(id, Some(models[0]), status, error).await;
    let setup = Setup::new()
        .await
        .keyed(&[])
        .var(key_env, &format!("{id}-e2e-key-0123456789"))
        .var(base_url_env, &format!("{}/v1", server.uri()));
    setup.write_toml(&format!(
        "retry_attempts = 0\n[providers.{id}]\npriority = 1\nrpm = 1000\nmodels = [\"{}\", \"{}\"]\n[providers.{id}.shared]\nrpm = 1000\n",
        models[0], models[1]
    ));
    let gw = setup.serve().await;
    for stream in [false, true, false] {
        let r = gw.chat(&ask(id, stream)).await;
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        assert_eq!(r.header("x-llmpool-provider"), Some(id));
    }
    assert_eq!(
        calls_for(&server, models[0]).await,
        1,
        "{id}: the disabled route was tried again"
    );
    assert_eq!(calls_for(&server, models[1]).await, 3, "{id}");
    let quota = gw.get("/v1/quota").await.json();
    let p = &quota["quota_status"][id];
    assert_eq!(p["available"], true, "{id}: the key stays in use: {p}");
    assert_eq!(p["model"], models[1], "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_not_free_for_this_key_disables_that_route_only() {
    // Z.ai's 1113: no balance for this model on this key.
    route_disabled(
        "zai",
        "ZAI_API_KEY",
        "ZAI_BASE_URL",
        ["glm-4.7-flash", "glm-4.5-flash"],
        429,
        "error_429_1113_balance.json",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanently_gone_model_disables_its_route() {
    // Kilo's free period of a model ended.
    route_disabled(
        "kilo",
        "KILO_API_KEY",
        "KILO_BASE_URL",
        ["kilo-auto/free", "nvidia/nemotron-3-super-120b-a12b:free"],
        404,
        "error_404_free_period_ended.json",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_nvidia_deployment_is_retried() {
    let (ok, stream) = answers("nvidia");
    let server = upstream(&ok, &stream).await;
    let degraded = fixture("nvidia", "error_400_degraded.json").unwrap();
    Mock::given(method("POST"))
        .and(path_regex(r"/chat/completions$"))
        .respond_with(
            ResponseTemplate::new(400).set_body_raw(degraded.into_bytes(), "application/json"),
        )
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let setup = Setup::new()
        .await
        .keyed(&[])
        .var("NVIDIA_API_KEY", "nvapi-e2e-key-0123456789")
        .var("NVIDIA_BASE_URL", &format!("{}/v1", server.uri()));
    setup.write_toml(
        "retry_attempts = 1\nmax_retry_wait_secs = 1\n[providers.nvidia]\nmodels = [\"nvidia/nemotron-3-super-120b-a12b\"]\n",
    );
    let gw = setup.serve().await;
    let r = gw.chat(&ask("nvidia", false)).await;
    // A 400 that is a bad request would be returned as is; DEGRADED is retried.
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        calls_for(&server, "nvidia/nemotron-3-super-120b-a12b").await,
        2
    );
}
