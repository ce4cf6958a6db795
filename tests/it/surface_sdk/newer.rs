//! A tool round trip, one-shot and streamed, through each of the newer OpenAI-compatible
//! providers whose catalog has a tool-calling model, pinned, over its own mock upstream.

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer};

use super::{BodyIs, GROQ_TOOLS, GROQ_TOOLS_STREAM, is_first_turn, is_followup, json_reply};
use super::{python, sdk};
use crate::harness::{CLIENT_KEY, Setup, fixtures, sse_data};

/// A newer provider: id, key variable, base-URL variable, a model whose catalog entry
/// says it calls tools.
const NEWER: [(&str, &str, &str, &str); 6] = [
    (
        "nvidia",
        "NVIDIA_API_KEY",
        "NVIDIA_BASE_URL",
        "openai/gpt-oss-20b",
    ),
    (
        "mistral",
        "MISTRAL_API_KEY",
        "MISTRAL_BASE_URL",
        "ministral-8b-latest",
    ),
    ("zai", "ZAI_API_KEY", "ZAI_BASE_URL", "glm-4.7-flash"),
    (
        "ovhcloud",
        "OVHCLOUD_API_KEY",
        "OVHCLOUD_BASE_URL",
        "gpt-oss-120b",
    ),
    (
        "huggingface",
        "HF_TOKEN",
        "HUGGINGFACE_BASE_URL",
        "openai/gpt-oss-20b:cheapest",
    ),
    (
        "ollama-cloud",
        "OLLAMA_API_KEY",
        "OLLAMA_CLOUD_BASE_URL",
        "gpt-oss:120b",
    ),
];

/// OVHcloud's recorded answer, one-shot and streamed (the same OpenAI wire format as all
/// of these), for the follow-up turn.
const FINAL_OK: &str =
    include_str!("../../../crates/provider-ovhcloud/tests/fixtures/chat_ok.json");
const FINAL_STREAM: &str =
    include_str!("../../../crates/provider-ovhcloud/tests/fixtures/chat_stream.sse");

/// Matches requests whose JSON body has `"stream": <this>` (absent counts as false).
struct Streamed(bool);

impl wiremock::Match for Streamed {
    fn matches(&self, req: &wiremock::Request) -> bool {
        serde_json::from_slice::<Value>(&req.body)
            .is_ok_and(|b| b["stream"].as_bool().unwrap_or(false) == self.0)
    }
}

async fn upstream() -> MockServer {
    let server = MockServer::start().await;
    let replies = [
        (false, true, json_reply(GROQ_TOOLS)),
        (false, false, json_reply(FINAL_OK)),
        (true, true, fixtures::sse(GROQ_TOOLS_STREAM)),
        (true, false, fixtures::sse(FINAL_STREAM)),
    ];
    for (stream, first, reply) in replies {
        let turn = if first {
            BodyIs(is_first_turn)
        } else {
            BodyIs(is_followup)
        };
        Mock::given(method("POST"))
            .and(path_regex(r"/chat/completions$"))
            .and(Streamed(stream))
            .and(turn)
            .respond_with(reply)
            .expect(1)
            .mount(&server)
            .await;
    }
    server
}

fn final_texts() -> (String, String) {
    let ok: Value = serde_json::from_str(FINAL_OK).unwrap();
    let one_shot = ok["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let streamed = sse_data(FINAL_STREAM)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    (one_shot, streamed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_newer_provider_carries_a_tool_round_trip() {
    let Some(py) = python() else { return };
    let (one_shot_text, streamed_text) = final_texts();
    let tool = json!({"type": "function", "function": {"name": "weather",
        "description": "Get the weather of a location.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}});
    for (id, key_env, base_url_env, model) in NEWER {
        let server = upstream().await;
        let key = format!("{id}-e2e-key-0123456789");
        let s = Setup::new()
            .await
            .keyed(&[])
            .var(key_env, &key)
            .var(base_url_env, &format!("{}/v1", server.uri()))
            .var("LLMPOOL_API_KEYS", CLIENT_KEY);
        // The catalogs' paces (Mistral: one request a second per key) are lifted: the
        // round trips follow each other within a second.
        s.write_toml(&format!(
            "retry_attempts = 0\nmax_retry_wait_secs = 0\n[providers.{id}]\nmodels = [\"{model}\"]\nrpm = 1000\nrps = 1000\n[providers.{id}.shared]\nrpm = 1000\nrps = 1000\n"
        ));
        let gw = s.serve().await;
        let trips: Vec<Value> = [false, true]
            .iter()
            .map(|stream| {
                json!({"model": id, "stream": stream, "tools": [tool],
                    "prompt": "What is the weather in San Francisco?"})
            })
            .collect();
        let v = sdk(&py, &s, &gw, "tool_round_trips", &json!({"trips": trips})).await;
        let expected = [
            ("ax9fskhev", one_shot_text.as_str()),
            ("tk85n1k4m", streamed_text.as_str()),
        ];
        let requests = server.received_requests().await.unwrap_or_default();
        assert_eq!(requests.len(), 4, "{id}");
        for ((trip, (call_id, text)), stream) in v["trips"]
            .as_array()
            .unwrap()
            .iter()
            .zip(expected)
            .zip([false, true])
        {
            let what = format!("{id} {}", if stream { "streamed" } else { "one-shot" });
            let first = &trip["first"];
            assert_eq!(first["finish"], "tool_calls", "{what}: {trip}");
            assert_eq!(
                first["tool_calls"],
                json!([{"id": call_id, "type": "function", "name": "weather", "arguments": "{}"}]),
                "{what}: {trip}"
            );
            assert_eq!(trip["second"]["content"], text, "{what}: {trip}");
            assert_eq!(
                trip["second"]["headers"]["x-llmpool-provider"], id,
                "{what}"
            );
            let bodies: Vec<Value> = requests
                .iter()
                .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
                .filter(|b| b["stream"].as_bool().unwrap_or(false) == stream)
                .collect();
            assert_eq!(bodies.len(), 2, "{what}");
            assert_eq!(bodies[0]["model"], model, "{what}");
            assert_eq!(
                bodies[0]["tools"][0]["function"]["name"], "weather",
                "{what}: {}",
                bodies[0]
            );
            let messages = bodies[1]["messages"].as_array().unwrap();
            let assistant = messages.iter().find(|m| m["role"] == "assistant").unwrap();
            assert_eq!(
                assistant["tool_calls"][0]["id"], call_id,
                "{what}: {}",
                bodies[1]
            );
            let result = messages.iter().find(|m| m["role"] == "tool").unwrap();
            assert_eq!(result["tool_call_id"], call_id, "{what}: {}", bodies[1]);
            assert!(
                result["content"].to_string().contains("sunny"),
                "{what}: {}",
                bodies[1]
            );
        }
        assert!(!gw.log().contains(&key), "{id}: key in the log");
    }
}
