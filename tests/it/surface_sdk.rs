//! The whole chat surface through the real binary with the official `openai` Python
//! client (issue 10): tool round trips (call → result → answer), JSON-schema answers,
//! images, reasoning, capability routing and the dropped-params header, against the mock
//! upstreams of all five wire formats (Groq, Cerebras and OpenRouter speak OpenAI's;
//! Gemini and Cohere v2 their own).
//!
//! Each test runs one Python process per group of SDK calls (`surface_sdk/sdk.py`), which
//! prints what the SDK saw as one JSON object; the test asserts on it and on what each
//! upstream received. The interpreter is found as in `openai_sdk.rs` (`LLMPOOL_PYTHON`,
//! else `target/py-venv/bin/python`; `LLMPOOL_SKIP_PYTHON=1` skips).

mod choice;
mod formats;
mod newer;
mod routing;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use wiremock::{Match, ResponseTemplate};

use crate::harness::{CLIENT_KEY, Gateway, P, Setup, sse_data, workspace_root};

/// The scenarios the tests run.
const SCRIPT: &str = include_str!("surface_sdk/sdk.py");

/// A provider fixture: one of a provider crate's (`crates/provider-<p>/tests/fixtures`),
/// or one copied from `shared/providers/fixtures` into `surface_sdk/fixtures` where the
/// crate has none.
macro_rules! crate_fixture {
    ($krate:literal, $name:literal) => {
        include_str!(concat!("../../crates/", $krate, "/tests/fixtures/", $name))
    };
}
macro_rules! own_fixture {
    ($name:literal) => {
        include_str!(concat!("surface_sdk/fixtures/", $name))
    };
}

const GROQ_TOOLS: &str = crate_fixture!("provider-groq", "tools-response.json");
const GROQ_TOOLS_STREAM: &str = crate_fixture!("provider-groq", "tools-stream.txt");
const GROQ_REASONING: &str = crate_fixture!("provider-groq", "chat_ok_reasoning.json");
const GROQ_REASONING_STREAM: &str = crate_fixture!("provider-groq", "reasoning-stream.txt");
const CEREBRAS_TOOLS: &str = crate_fixture!("provider-cerebras", "tools-response.json");
const CEREBRAS_TOOLS_STREAM: &str = crate_fixture!("provider-cerebras", "tools-stream.txt");
const OPENROUTER_TOOLS: &str = crate_fixture!("provider-openrouter", "tools-response.json");
const OPENROUTER_TOOLS_STREAM: &str =
    crate_fixture!("provider-openrouter", "tools-stream-empty-args.txt");
const OPENROUTER_REASONING_STREAM: &str =
    crate_fixture!("provider-openrouter", "reasoning-stream.txt");
const COHERE_TOOLS: &str = crate_fixture!("provider-cohere", "tools-response.json");
const COHERE_TOOLS_STREAM: &str = crate_fixture!("provider-cohere", "tools-stream.txt");
const COHERE_REASONING: &str = crate_fixture!("provider-cohere", "chat_ok_reasoning.json");
const COHERE_REASONING_STREAM: &str = crate_fixture!("provider-cohere", "reasoning-stream.txt");
const GEMINI_TOOLS: &str = crate_fixture!("provider-gemini", "tools-response.json");
const GEMINI_TOOLS_NO_ID: &str = crate_fixture!("provider-gemini", "tools-response-no-id.json");
const GEMINI_TOOLS_STREAM: &str = crate_fixture!("provider-gemini", "tools-stream.sse");
const GEMINI_TOOLS_FOLLOWUP: &str =
    crate_fixture!("provider-gemini", "tools-followup-response.json");
const GEMINI_JSON: &str = own_fixture!("gemini/json-response.json");
const GEMINI_REASONING_STREAM: &str =
    crate_fixture!("provider-gemini", "reasoning-stream-thought-parts.sse");

fn can_import_openai(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import openai, pydantic"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The interpreter to use, or `None` when the tests are to be skipped.
fn python() -> Option<PathBuf> {
    if std::env::var("LLMPOOL_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!("skipped: LLMPOOL_SKIP_PYTHON=1 (the OpenAI Python SDK tests did not run)");
        return None;
    }
    let how = "run `cargo xtask test` (it provisions target/py-venv with `openai`), or set LLMPOOL_SKIP_PYTHON=1 to skip this test";
    let python = std::env::var_os("LLMPOOL_PYTHON").map_or_else(
        || workspace_root().join("target/py-venv/bin/python"),
        PathBuf::from,
    );
    assert!(
        can_import_openai(&python),
        "{} cannot import openai: {how}",
        python.display()
    );
    Some(python)
}

/// Runs one scenario of `sdk.py` against `gw` and returns the JSON it printed.
async fn sdk(python: &Path, s: &Setup, gw: &Gateway, scenario: &str, args: &Value) -> Value {
    let script = s.dir().join("sdk.py");
    if !script.is_file() {
        std::fs::write(&script, SCRIPT).unwrap();
    }
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .arg(gw.url("/v1"))
        .arg(CLIENT_KEY)
        .arg(scenario)
        .arg(args.to_string())
        .env("NO_PROXY", "*")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python {scenario} failed:\n{stdout}\n{stderr}\ngateway log:\n{}",
        gw.log()
    );
    crate::harness::assert_no_secret("the SDK's output", &stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {stdout}"))
}

/// A setup whose gateway takes the client key, with these providers keyed.
async fn setup(keyed: &[P]) -> Setup {
    Setup::new()
        .await
        .keyed(keyed)
        .var("LLMPOOL_API_KEYS", CLIENT_KEY)
}

/// Matches requests whose JSON body passes the predicate.
struct BodyIs(fn(&Value) -> bool);

impl Match for BodyIs {
    fn matches(&self, req: &wiremock::Request) -> bool {
        serde_json::from_slice::<Value>(&req.body).is_ok_and(|v| (self.0)(&v))
    }
}

/// Whether a body is the follow-up turn of a tool conversation, in any of the five
/// formats: an OpenAI or Cohere `role: tool` message, or a Gemini `functionResponse` part.
fn is_followup(body: &Value) -> bool {
    let tool_message = body["messages"]
        .as_array()
        .is_some_and(|ms| ms.iter().any(|m| m["role"] == "tool"));
    let function_response = body["contents"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["parts"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p.get("functionResponse").is_some()))
        })
    });
    tool_message || function_response
}

fn is_first_turn(body: &Value) -> bool {
    !is_followup(body)
}

/// A recorded JSON fixture without its `_source` note, as the upstream sent it.
fn recorded(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).expect("fixture JSON");
    if let Some(map) = v.as_object_mut() {
        map.remove("_source");
    }
    v
}

/// A 200 JSON answer with this recorded body.
fn json_reply(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(recorded(text).to_string().into_bytes(), "application/json")
}

/// The parsed `data:` payloads of a recorded stream (comments and `[DONE]` left out).
fn events(sse: &str) -> Vec<Value> {
    sse_data(sse)
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

/// The reasoning and the answer text a recorded stream carries, read in the provider's
/// own format.
fn stream_reasoning_and_text(p: P, sse: &str) -> (String, String) {
    let (mut reasoning, mut text) = (String::new(), String::new());
    for v in events(sse) {
        match p {
            P::Groq | P::Cerebras | P::OpenRouter => {
                let delta = &v["choices"][0]["delta"];
                if let Some(r) = delta["reasoning"].as_str() {
                    reasoning.push_str(r);
                }
                if let Some(t) = delta["content"].as_str() {
                    text.push_str(t);
                }
            }
            P::Gemini => {
                for part in v["candidates"][0]["content"]["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = part["text"].as_str() {
                        if part["thought"] == true {
                            reasoning.push_str(t);
                        } else {
                            text.push_str(t);
                        }
                    }
                }
            }
            P::Cohere => {
                if v["type"] == "content-delta" {
                    let content = &v["delta"]["message"]["content"];
                    if let Some(r) = content["thinking"].as_str() {
                        reasoning.push_str(r);
                    }
                    if let Some(t) = content["text"].as_str() {
                        text.push_str(t);
                    }
                }
            }
        }
    }
    (reasoning, text)
}

/// Whether `needle` occurs anywhere in `hay` (as the whole value, or inside it).
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
