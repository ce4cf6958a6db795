//! Capability routing seen from the SDK (a route whose model cannot call tools is skipped
//! without a call and the skip is in `x-llmpool-trail`; a request no route can serve is
//! `openai.BadRequestError` naming the capability), and nothing dropped in silence: each
//! request field the SDK sends reaches the upstream, or is named in
//! `x-llmpool-dropped-params`, or is refused with a 400 naming it.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{CEREBRAS_TOOLS, contains, json_reply, python, sdk, setup};
use crate::harness::{P, fixtures};

/// Groq's model cannot call tools (catalog: `qwen/qwen3.8-27b`, tools = false, no vision,
/// no JSON schema) and comes first; Cerebras' can.
const TOOLLESS_FIRST: &str = r#"
retry_attempts = 0
max_retry_wait_secs = 0
timeout_secs = 20
deadline_secs = 40
max_body_bytes = 8192

[providers.groq]
models = ["qwen/qwen3.8-27b"]
priority = 1
[providers.cerebras]
models = ["gpt-oss-120b"]
priority = 2
"#;

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "nonUsefulTool",
        "description": "Returns a magic number.",
        "parameters": {"type": "object", "properties": {}}}}])
}

#[tokio::test]
async fn auto_with_tools_skips_a_route_without_tool_support() {
    let Some(py) = python() else { return };
    let s = setup(&[P::Groq, P::Cerebras]).await;
    s.write_toml(TOOLLESS_FIRST);
    s.up.serve_ok(P::Groq).await;
    s.up.on(P::Cerebras, false)
        .respond_with(json_reply(CEREBRAS_TOOLS))
        .mount(s.up.server(P::Cerebras))
        .await;
    let gw = s.serve().await;
    let calls = json!([
        // Without tools, Groq's route answers: it is first.
        {"model": "auto", "prompt": "hello"},
        {"model": "auto", "prompt": "What is the magic number?", "fields": {"tools": weather_tool()}},
    ]);
    let v = sdk(&py, &s, &gw, "each", &json!({"calls": calls})).await;
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0]["status"], 200, "{v}");
    assert_eq!(r[0]["headers"]["x-llmpool-provider"], "groq", "{v}");
    assert_eq!(r[1]["status"], 200, "{v}");
    assert_eq!(r[1]["headers"]["x-llmpool-provider"], "cerebras", "{v}");
    assert_eq!(r[1]["tool_calls"][0]["name"], "nonUsefulTool", "{v}");
    let trail = r[1]["headers"]["x-llmpool-trail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        trail.contains("groq/qwen/qwen3.8-27b:skipped:tools"),
        "the skip is in the trail: {trail:?} ({v})"
    );
    assert!(trail.contains("cerebras/gpt-oss-120b:ok"), "{trail:?}");
    // The skipped upstream got only the plain request.
    let groq = s.up.bodies(P::Groq).await;
    assert_eq!(groq.len(), 1, "{groq:?}");
    assert!(groq[0].get("tools").is_none(), "{}", groq[0]);
    let cerebras = s.up.bodies(P::Cerebras).await;
    assert_eq!(cerebras.len(), 1, "{cerebras:?}");
    assert_eq!(cerebras[0]["tools"][0]["function"]["name"], "nonUsefulTool");
}

#[tokio::test]
async fn a_request_no_route_can_serve_is_a_bad_request_naming_the_capability() {
    let Some(py) = python() else { return };
    // Only Groq's tool-less, text-only model is keyed.
    let s = setup(&[P::Groq]).await;
    s.write_toml(TOOLLESS_FIRST);
    s.up.serve_ok(P::Groq).await;
    let gw = s.serve().await;
    let image = json!([{"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]);
    let schema = json!({"type": "json_schema", "json_schema": {"name": "x",
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}});
    let calls = json!([
        {"model": "auto", "prompt": "magic number?", "fields": {"tools": weather_tool()}},
        {"model": "groq", "prompt": "magic number?", "fields": {"tools": weather_tool()}},
        {"model": "auto", "prompt": "x", "fields": {"response_format": schema}},
        {"model": "auto", "prompt": "x", "fields": {"messages": [{"role": "user", "content": image}]}},
        {"model": "auto", "prompt": "magic number?", "stream": true, "fields": {"tools": weather_tool()}},
    ]);
    let v = sdk(&py, &s, &gw, "each", &json!({"calls": calls})).await;
    let wanted = ["tools", "tools", "json_schema", "image", "tools"];
    for (got, word) in v["results"].as_array().unwrap().iter().zip(wanted) {
        assert_eq!(got["status"], 400, "{got}");
        assert_eq!(got["error_class"], "BadRequestError", "{got}");
        let message = got["message"].as_str().unwrap_or_default();
        assert!(message.contains(word), "the message names `{word}`: {got}");
    }
    assert!(s.up.requests(P::Groq).await.is_empty(), "no upstream call");
}

/// Where a field may land in an outbound body: the field, and its possible JSON pointers.
type Landing = (&'static str, Vec<&'static str>);

/// Fields to send one call each, and where each may land in an outbound body (the
/// provider's key for it, as a JSON pointer) when it is mapped rather than dropped.
fn probes() -> Vec<(Value, Vec<Landing>)> {
    vec![
        (
            json!({"seed": 4242}),
            vec![("seed", vec!["/seed", "/generationConfig/seed"])],
        ),
        (
            json!({"temperature": 0.375}),
            vec![(
                "temperature",
                vec!["/temperature", "/generationConfig/temperature"],
            )],
        ),
        (
            json!({"top_p": 0.625}),
            vec![("top_p", vec!["/top_p", "/p", "/generationConfig/topP"])],
        ),
        (
            json!({"stop": ["ZZSTOP"]}),
            vec![(
                "stop",
                vec![
                    "/stop",
                    "/stop_sequences",
                    "/generationConfig/stopSequences",
                ],
            )],
        ),
        (
            json!({"max_completion_tokens": 321}),
            vec![(
                "max_completion_tokens",
                vec![
                    "/max_completion_tokens",
                    "/max_tokens",
                    "/generationConfig/maxOutputTokens",
                ],
            )],
        ),
        (
            json!({"max_tokens": 321}),
            vec![(
                "max_tokens",
                vec![
                    "/max_tokens",
                    "/max_completion_tokens",
                    "/generationConfig/maxOutputTokens",
                ],
            )],
        ),
        (json!({"user": "user-4242"}), vec![("user", vec!["/user"])]),
        (
            json!({"logprobs": true, "top_logprobs": 3}),
            vec![
                (
                    "logprobs",
                    vec!["/logprobs", "/generationConfig/responseLogprobs"],
                ),
                (
                    "top_logprobs",
                    vec!["/top_logprobs", "/generationConfig/logprobs"],
                ),
            ],
        ),
        (
            json!({"frequency_penalty": 0.125}),
            vec![(
                "frequency_penalty",
                vec!["/frequency_penalty", "/generationConfig/frequencyPenalty"],
            )],
        ),
        (
            json!({"presence_penalty": 0.25}),
            vec![(
                "presence_penalty",
                vec!["/presence_penalty", "/generationConfig/presencePenalty"],
            )],
        ),
        (
            json!({"metadata": {"trace": "t-4242"}}),
            vec![("metadata", vec!["/metadata"])],
        ),
        (json!({"store": false}), vec![("store", vec!["/store"])]),
        (
            json!({"service_tier": "flex"}),
            vec![("service_tier", vec!["/service_tier"])],
        ),
    ]
}

/// Fields that change what the answer means: never dropped.
const MEANINGFUL: &[&str] = &[
    "stop",
    "max_completion_tokens",
    "max_tokens",
    "temperature",
    "top_p",
];

#[tokio::test]
async fn no_field_the_sdk_sends_is_dropped_in_silence() {
    let Some(py) = python() else { return };
    let providers = P::ALL;
    let s = setup(&providers).await;
    // Many calls to each provider: the catalogs' per-minute limits are lifted.
    let mut toml =
        String::from("retry_attempts = 0\nmax_retry_wait_secs = 0\nmax_body_bytes = 8192\n");
    for (p, model) in providers.iter().zip([
        "openai/gpt-oss-120b",
        "gpt-oss-120b",
        "gemini-3.1-flash-lite",
        "openrouter/free",
        "command-a-03-2025",
    ]) {
        let limits = "rpm = 1000\ntpm = 10000000\nrpd = 10000\ntpd = 100000000\n";
        writeln!(
            toml,
            "[providers.{id}]\nmodels = [\"{model}\"]\n{limits}[providers.{id}.shared]\n{limits}",
            id = p.id()
        )
        .unwrap();
    }
    s.write_toml(&toml);
    for p in providers {
        s.up.serve_ok(p).await;
    }
    let gw = s.serve().await;
    let probes = probes();
    let mut calls = Vec::new();
    for p in providers {
        for (i, (fields, _)) in probes.iter().enumerate() {
            let mut fields = fields.clone();
            let stream = fields
                .as_object_mut()
                .unwrap()
                .remove("stream")
                .is_some_and(|s| s == true);
            calls.push(
                json!({"model": p.id(), "prompt": format!("probe-{}-{i}", p.id()),
                "stream": stream, "fields": fields}),
            );
        }
    }
    let v = sdk(&py, &s, &gw, "each", &json!({"calls": calls})).await;
    let results = v["results"].as_array().unwrap();
    let mut k = 0;
    for p in providers {
        let id = p.id();
        let bodies = s.up.bodies(p).await;
        for (i, (fields, keys)) in probes.iter().enumerate() {
            let got = &results[k];
            k += 1;
            let marker = Value::from(format!("probe-{id}-{i}"));
            let sent: Vec<&Value> = bodies.iter().filter(|b| contains(b, &marker)).collect();
            let dropped = got["headers"]["x-llmpool-dropped-params"]
                .as_str()
                .unwrap_or_default();
            let dropped: Vec<&str> = dropped.split(',').map(str::trim).collect();
            for (field, pointers) in keys {
                let value = &fields[*field];
                let refused = got["status"] == 400
                    && got["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&format!("`{field}`")));
                let named = got["status"] == 200 && dropped.contains(field);
                let delivered = got["status"] == 200
                    && sent.len() == 1
                    && pointers
                        .iter()
                        .any(|ptr| sent[0].pointer(ptr) == Some(value));
                assert!(
                    refused || named || delivered,
                    "{id}: `{field}` was lost: the SDK got {got}; the upstream got {sent:?}"
                );
                if refused {
                    assert!(
                        sent.is_empty(),
                        "{id}: `{field}` refused after a call: {sent:?}"
                    );
                }
                if MEANINGFUL.contains(field) {
                    assert!(
                        !named,
                        "{id}: `{field}` changes the answer, yet was dropped: {got}"
                    );
                }
            }
        }
    }
    // The plain answers came through (the probes were answered, not only checked).
    assert!(
        results
            .iter()
            .any(|r| r["content"] == fixtures::ok_text(P::Gemini).as_str()),
        "{v}"
    );
}
