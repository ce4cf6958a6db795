//! The official `openai` Python SDK against the gateway: one-shot and streaming.
//!
//! The interpreter comes from `LLMPOOL_PYTHON` (set by `cargo xtask test`, which
//! provisions `target/py-venv` with `openai`), else `target/py-venv/bin/python`. Without
//! either the test fails, unless `LLMPOOL_SKIP_PYTHON=1` says to skip it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::fixtures;
use crate::harness::{CLIENT_KEY, P, Setup};

const SCRIPT: &str = r#"
import json, sys
import openai

client = openai.OpenAI(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0)
out = {}

r = client.chat.completions.create(
    model="groq", messages=[{"role": "user", "content": "hello"}]
)
out["oneshot"] = {
    "text": r.choices[0].message.content,
    "model": r.model,
    "object": r.object,
    "total_tokens": r.usage.total_tokens,
}

stream = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "hello"}],
    stream=True,
    stream_options={"include_usage": True},
)
parts, finish, usage = [], None, None
for chunk in stream:
    if chunk.choices:
        parts.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    if chunk.usage:
        usage = chunk.usage.total_tokens
out["stream"] = {"text": "".join(parts), "finish": finish, "total_tokens": usage}

try:
    client.chat.completions.create(
        model="nosuchprovider/x", messages=[{"role": "user", "content": "hello"}]
    )
except openai.NotFoundError as e:
    out["not_found"] = e.status_code

try:
    openai.OpenAI(base_url=sys.argv[1], api_key="wrong", max_retries=0).models.list()
except openai.AuthenticationError as e:
    out["unauthorized"] = e.status_code

out["models"] = [m.id for m in client.models.list()]
print(json.dumps(out))
"#;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn can_import_openai(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The interpreter to use, or `None` when the test is to be skipped.
fn python() -> Option<PathBuf> {
    if std::env::var("LLMPOOL_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!("skipped: LLMPOOL_SKIP_PYTHON=1 (the OpenAI Python SDK test did not run)");
        return None;
    }
    let how = "run `cargo xtask test` (it provisions target/py-venv with `openai`), or set LLMPOOL_SKIP_PYTHON=1 to skip this test";
    if let Some(python) = std::env::var_os("LLMPOOL_PYTHON") {
        let python = PathBuf::from(python);
        assert!(
            can_import_openai(&python),
            "LLMPOOL_PYTHON={} cannot import openai: {how}",
            python.display()
        );
        return Some(python);
    }
    let venv = workspace_root().join("target/py-venv/bin/python");
    assert!(
        venv.is_file() && can_import_openai(&venv),
        "no Python with the openai package (LLMPOOL_PYTHON is unset and {} is missing or lacks openai): {how}",
        venv.display()
    );
    Some(venv)
}

#[tokio::test]
async fn the_official_python_sdk_works_one_shot_and_streaming() {
    let Some(python) = python() else { return };
    let s = Setup::new()
        .await
        .keyed(&[P::Groq, P::Cerebras])
        .var("LLMPOOL_API_KEYS", CLIENT_KEY);
    s.up.serve_ok(P::Groq).await;
    s.up.serve_ok(P::Cerebras).await;
    let gw = s.serve().await;
    let script = s.dir().join("sdk.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let base_url = gw.url("/v1");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(&script)
            .arg(base_url)
            .arg(CLIENT_KEY)
            .env("NO_PROXY", "*")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("OPENAI_API_KEY")
            .output()
    })
    .await
    .unwrap()
    .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed:\n{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");

    assert_eq!(v["oneshot"]["text"], fixtures::ok_text(P::Groq), "{v}");
    assert_eq!(v["oneshot"]["object"], "chat.completion");
    assert_eq!(v["oneshot"]["model"], "llama-3.3-70b-versatile");
    assert_eq!(v["oneshot"]["total_tokens"], 652);

    let expected = fixtures::stream_text(P::Cerebras, fixtures::of(P::Cerebras).stream);
    assert_eq!(v["stream"]["text"], expected.as_str(), "{v}");
    assert_eq!(v["stream"]["finish"], "stop", "{v}");
    assert_eq!(v["stream"]["total_tokens"], 106, "{v}");

    assert_eq!(v["not_found"], 404, "{v}");
    assert_eq!(v["unauthorized"], 401, "{v}");
    let models: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(models.contains(&"auto"), "{v}");
    assert!(models.iter().any(|m| m.starts_with("cerebras/")), "{v}");
}
