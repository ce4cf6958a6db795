//! Capability routing through the binary: a request goes only to routes whose model can
//! serve what it needs (tools, images, a JSON format, reasoning, its size), the others
//! show as `skipped:<capability>` in `x-llmpool-trail` without an upstream call, and when
//! no route can serve it the answer is a 400 naming the capability and the configured
//! models that have it. `/v1/models` shows each route's capabilities, and
//! `model_capabilities` in `llmpool.toml` overrides the catalogs.

use serde_json::{Value, json};

use crate::harness::{P, Setup};

/// The test settings of [`crate::harness::TEST_TOML`], with a model per provider chosen
/// for what it can do (from the catalogs): Groq's `qwen/qwen3.8-27b` calls no tools and
/// reads no images; Cerebras's `gpt-oss-120b` calls tools and reads no images; Gemini's
/// `gemini-3.1-flash-lite` does both.
const CAPS_TOML: &str = r#"
retry_attempts = 0
max_retry_wait_secs = 0
timeout_secs = 20
deadline_secs = 40
cooldown_secs = 60

[providers.groq]
models = ["qwen/qwen3.8-27b"]
[providers.cerebras]
models = ["gpt-oss-120b"]
[providers.gemini]
models = ["gemini-3.1-flash-lite"]
"#;

async fn setup(keyed: &[P], extra_toml: &str) -> Setup {
    let s = Setup::new().await.keyed(keyed);
    s.write_toml(&format!("{CAPS_TOML}{extra_toml}"));
    for p in keyed {
        s.up.serve_ok(*p).await;
    }
    s
}

fn with_tools(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "what is the weather in Paris?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "current weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}
        }}]
    })
}

fn with_image(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is in the picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        ]}]
    })
}

#[tokio::test]
async fn auto_with_tools_skips_a_tool_less_route_without_calling_it() {
    let s = setup(&[P::Groq, P::Cerebras], "").await;
    let gw = s.serve().await;
    let r = gw.chat(&with_tools("auto")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(
        r.header("x-llmpool-trail"),
        Some("groq/qwen/qwen3.8-27b:skipped:tools,cerebras/gpt-oss-120b:ok")
    );
    assert_eq!(
        r.header("x-llmpool-attempts"),
        Some("1"),
        "a skip is no attempt"
    );
    assert!(
        s.up.requests(P::Groq).await.is_empty(),
        "groq got a request"
    );
    let sent = s.up.bodies(P::Cerebras).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["tools"][0]["function"]["name"], "get_weather");

    // Streamed, the trail header says the same.
    let mut body = with_tools("auto");
    body["stream"] = json!(true);
    let r = gw.chat(&body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("x-llmpool-trail"),
        Some("groq/qwen/qwen3.8-27b:skipped:tools,cerebras/gpt-oss-120b:ok")
    );
    assert!(s.up.requests(P::Groq).await.is_empty());

    // A plain request is not filtered: groq, first in priority, answers it.
    let r = gw.chat(&crate::harness::hello("auto")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("x-llmpool-trail"),
        Some("groq/qwen/qwen3.8-27b:ok")
    );
}

#[tokio::test]
async fn an_image_skips_the_routes_that_cannot_read_it() {
    let s = setup(&[P::Groq, P::Cerebras, P::Gemini], "").await;
    let gw = s.serve().await;
    let r = gw.chat(&with_image("auto")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("gemini"));
    assert_eq!(
        r.header("x-llmpool-trail"),
        Some(
            "groq/qwen/qwen3.8-27b:skipped:vision,cerebras/gpt-oss-120b:skipped:vision,\
             gemini/gemini-3.1-flash-lite:ok"
        )
    );
    assert!(s.up.requests(P::Groq).await.is_empty());
    assert!(s.up.requests(P::Cerebras).await.is_empty());
    // Gemini got the image inline.
    let sent = s.up.bodies(P::Gemini).await;
    assert!(sent[0].to_string().contains("iVBORw0KGgo="), "{}", sent[0]);
}

#[tokio::test]
async fn no_route_that_can_serve_is_a_400_naming_the_capability_and_the_capable_models() {
    let s = setup(&[P::Groq, P::Cerebras], "").await;
    let gw = s.serve().await;
    // Pinned to groq, whose only model calls no tools: cerebras's would.
    let r = gw.chat(&with_tools("groq")).await;
    let e = r.error(400);
    assert_eq!(e["code"], "unsupported_capability", "{e}");
    assert_eq!(e["type"], "invalid_request_error", "{e}");
    assert_eq!(e["param"], "tools", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("`tools`"), "{message}");
    assert!(message.contains("cerebras/gpt-oss-120b"), "{message}");
    assert!(!message.contains("groq/qwen"), "{message}");
    // Pinned to the model itself: the same 400, not a fallback and not a 502.
    let r = gw.chat(&with_tools("groq/qwen/qwen3.8-27b")).await;
    assert_eq!(r.error(400)["code"], "unsupported_capability");
    // No model in the rotation reads images; Cerebras's catalog has one outside the
    // `models` setting, which a client may pin: the 400 names it.
    let r = gw.chat(&with_image("auto")).await;
    let e = r.error(400);
    assert_eq!(e["param"], "messages", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("configured models with `vision`: cerebras/qwen-3.8-27b"),
        "{message}"
    );
    // Streamed requests get the same answer before any event.
    let mut body = with_image("auto");
    body["stream"] = json!(true);
    assert_eq!(
        gw.chat(&body).await.error(400)["code"],
        "unsupported_capability"
    );
    assert!(s.up.requests(P::Groq).await.is_empty());
    assert!(s.up.requests(P::Cerebras).await.is_empty());
    // Pinning the model named serves the image.
    let r = gw.chat(&with_image("cerebras/qwen-3.8-27b")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("x-llmpool-trail"),
        Some("cerebras/qwen-3.8-27b:ok")
    );
}

#[tokio::test]
async fn a_pinned_model_lacking_reasoning_names_the_models_that_have_it() {
    let s = setup(&[P::Groq, P::Cerebras], "").await;
    let gw = s.serve().await;
    // Pinned to Cerebras's vision model, which takes no reasoning effort: the 400 lists
    // the configured models that do.
    let mut body = with_image("cerebras/qwen-3.8-27b");
    body["reasoning_effort"] = json!("high");
    let e = gw.chat(&body).await.error(400);
    assert_eq!(e["param"], "reasoning_effort", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("`reasoning`") && message.contains("cerebras/gpt-oss-120b"),
        "{message}"
    );
    assert!(s.up.requests(P::Cerebras).await.is_empty());
}

#[tokio::test]
async fn models_show_what_each_route_can_do() {
    let s = setup(&[P::Groq, P::Cerebras, P::Gemini], "").await;
    let gw = s.serve().await;
    let r = gw.get("/v1/models").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    let entry = |id: &str| {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {body}"))
            .clone()
    };
    assert_eq!(
        entry("gemini/gemini-3.1-flash-lite")["capabilities"],
        json!({"tools": true, "json_schema": true, "json_object": true, "vision": true,
               "reasoning": true, "context_window": 1_048_576, "max_output_tokens": 65_536})
    );
    assert_eq!(
        entry("groq/qwen/qwen3.8-27b")["capabilities"]["tools"],
        false
    );
    // The status report has them per route too.
    let quota = gw.get("/v1/quota").await.json();
    let routes = &quota["quota_status"]["cerebras"]["routes"];
    assert_eq!(routes[0]["model"], "gpt-oss-120b", "{quota}");
    assert_eq!(routes[0]["capabilities"]["tools"], true, "{quota}");
    assert_eq!(routes[0]["capabilities"]["vision"], false, "{quota}");
    // `llmpool status` shows them in a few letters per provider's first model.
    let out = s.cli(&["status"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    // The cell after the model's: provider, key, state, today, this minute, model, can.
    let can = |id: &str| {
        let line = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no {id} row: {}", out.stdout));
        line.split_whitespace()
            .nth(6)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(can("gemini"), "tsjvr", "{}", out.stdout);
    assert_eq!(can("cerebras"), "tsjr", "{}", out.stdout);
    assert_eq!(can("groq"), "jr", "{}", out.stdout);
    assert!(out.stdout.contains("can: t tools"), "{}", out.stdout);
}

#[tokio::test]
async fn an_override_in_the_config_file_changes_routing() {
    let over = "\n[providers.groq.model_capabilities.\"qwen/qwen3.8-27b\"]\ntools = true\n\
                context_window = 32768\n";
    let s = setup(&[P::Groq, P::Cerebras], over).await;
    let gw = s.serve().await;
    let r = gw.chat(&with_tools("auto")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("x-llmpool-trail"),
        Some("groq/qwen/qwen3.8-27b:ok"),
        "the override says groq's model calls tools"
    );
    assert!(s.up.requests(P::Cerebras).await.is_empty());
    let models = gw.get("/v1/models").await.json();
    let qwen = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "groq/qwen/qwen3.8-27b")
        .cloned()
        .unwrap();
    assert_eq!(qwen["capabilities"]["tools"], true, "{qwen}");
    assert_eq!(qwen["capabilities"]["context_window"], 32768, "{qwen}");
    drop(gw);

    // A misspelt capability stops the start, naming the key path.
    s.write_toml(&format!(
        "{CAPS_TOML}\n[providers.groq.model_capabilities.\"qwen/qwen3.8-27b\"]\ntool = true\n"
    ));
    let out = s.cli(&["status"]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("providers.groq.model_capabilities.qwen/qwen3.8-27b.tool"),
        "{}",
        out.stderr
    );
}
