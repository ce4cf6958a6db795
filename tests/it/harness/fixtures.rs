//! The recorded upstream payloads of each provider crate (`crates/provider-*/tests/fixtures`),
//! served by the mocks in each provider's own format, and what each of them says.

use serde_json::Value;
use wiremock::ResponseTemplate;

use super::P;

macro_rules! fixture {
    ($krate:literal, $name:literal) => {
        include_str!(concat!(
            "../../../crates/",
            $krate,
            "/tests/fixtures/",
            $name
        ))
    };
}

/// The payloads a provider's mock serves.
pub(crate) struct Fixtures {
    /// A successful one-shot answer (JSON).
    pub(crate) chat_ok: &'static str,
    /// Its recorded response headers (`.headers` format), when there are any.
    pub(crate) chat_ok_headers: Option<&'static str>,
    /// A complete streamed answer, in the provider's own event format.
    pub(crate) stream: &'static str,
    /// A stream cut before its end.
    pub(crate) stream_cut: &'static str,
}

pub(crate) fn of(p: P) -> Fixtures {
    match p {
        P::Groq => Fixtures {
            chat_ok: fixture!("provider-groq", "chat_ok.json"),
            chat_ok_headers: Some(fixture!("provider-groq", "chat_ok.headers")),
            stream: fixture!("provider-groq", "chat_stream.sse"),
            stream_cut: fixture!("provider-groq", "chat_stream_cut.sse"),
        },
        P::Cerebras => Fixtures {
            chat_ok: fixture!("provider-cerebras", "chat_ok.json"),
            chat_ok_headers: Some(fixture!("provider-cerebras", "chat_ok.headers")),
            stream: fixture!("provider-cerebras", "chat_stream.sse"),
            stream_cut: fixture!("provider-cerebras", "chat_stream_cut.sse"),
        },
        P::Gemini => Fixtures {
            chat_ok: fixture!("provider-gemini", "generate_ok.json"),
            chat_ok_headers: None,
            stream: fixture!("provider-gemini", "stream.sse"),
            stream_cut: fixture!("provider-gemini", "stream_cut.sse"),
        },
        P::OpenRouter => Fixtures {
            chat_ok: fixture!("provider-openrouter", "chat_ok.json"),
            chat_ok_headers: None,
            stream: fixture!("provider-openrouter", "chat_stream.sse"),
            stream_cut: fixture!("provider-openrouter", "chat_stream_cut.sse"),
        },
        P::Cohere => Fixtures {
            chat_ok: fixture!("provider-cohere", "chat_ok.json"),
            chat_ok_headers: Some(fixture!("provider-cohere", "chat_ok.headers")),
            stream: fixture!("provider-cohere", "chat_stream.sse"),
            stream_cut: fixture!("provider-cohere", "chat_stream_cut.sse"),
        },
    }
}

pub(crate) const GROQ_429_TPM: &str = fixture!("provider-groq", "error_429_tpm.json");
pub(crate) const GROQ_429_TPM_HEADERS: &str = fixture!("provider-groq", "error_429_tpm.headers");
pub(crate) const GROQ_STREAM_MALFORMED: &str =
    fixture!("provider-groq", "chat_stream_malformed_event.sse");
pub(crate) const CEREBRAS_401: &str = fixture!("provider-cerebras", "error_401.json");
pub(crate) const GEMINI_SINGLE_CHUNK: &str = fixture!("provider-gemini", "stream_single_chunk.sse");
pub(crate) const GEMINI_503: &str = fixture!("provider-gemini", "error_503.json");
pub(crate) const GEMINI_BLOCKED_PROMPT: &str =
    fixture!("provider-gemini", "generate_blocked_prompt.json");
pub(crate) const OPENROUTER_402: &str = fixture!("provider-openrouter", "error_402_credits.json");
pub(crate) const COHERE_429_TRIAL_RPM: &str =
    fixture!("provider-cohere", "error_429_trial_rpm.json");

/// Response headers that describe the recorded framing, not the body a mock sends.
const FRAMING: &[&str] = &[
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "content-type",
];

/// The headers of a `.headers` fixture (its status line skipped).
pub(crate) fn headers(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(k, _)| !FRAMING.contains(&k.as_str()))
        .collect()
}

/// A JSON answer with this status and the given recorded headers.
pub(crate) fn json(status: u16, body: &str, headers_fixture: Option<&str>) -> ResponseTemplate {
    let mut t =
        ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json");
    for (k, v) in headers_fixture.map(headers).unwrap_or_default() {
        t = t.insert_header(k.as_str(), v.as_str());
    }
    t
}

/// A `text/event-stream` answer.
pub(crate) fn sse(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "text/event-stream")
}

/// The provider's recorded one-shot answer.
pub(crate) fn ok_reply(p: P) -> ResponseTemplate {
    let f = of(p);
    json(200, f.chat_ok, f.chat_ok_headers)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture JSON")
}

/// The answer text of the provider's one-shot fixture.
pub(crate) fn ok_text(p: P) -> String {
    let v = parse(of(p).chat_ok);
    let text = match p {
        P::Groq | P::Cerebras | P::OpenRouter => &v["choices"][0]["message"]["content"],
        P::Gemini => &v["candidates"][0]["content"]["parts"][0]["text"],
        P::Cohere => &v["message"]["content"][0]["text"],
    };
    text.as_str().expect("fixture text").to_owned()
}

/// The model the provider's one-shot fixture reports, when it reports one.
pub(crate) fn ok_model(p: P) -> Option<String> {
    let v = parse(of(p).chat_ok);
    let model = match p {
        P::Groq | P::Cerebras | P::OpenRouter => &v["model"],
        P::Gemini => &v["modelVersion"],
        P::Cohere => return None,
    };
    model.as_str().map(str::to_owned)
}

/// The answer text carried by a stream fixture, read in the provider's own format
/// (reasoning and thoughts are not answer text).
pub(crate) fn stream_text(p: P, sse: &str) -> String {
    let mut out = String::new();
    for data in super::sse_data(sse) {
        let Ok(v) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        match p {
            P::Groq | P::Cerebras | P::OpenRouter => {
                if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                    out.push_str(t);
                }
            }
            P::Gemini => {
                for part in v["candidates"][0]["content"]["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if part["thought"] != true
                        && let Some(t) = part["text"].as_str()
                    {
                        out.push_str(t);
                    }
                }
            }
            P::Cohere => {
                if v["type"] == "content-delta"
                    && let Some(t) = v["delta"]["message"]["content"]["text"].as_str()
                {
                    out.push_str(t);
                }
            }
        }
    }
    out
}

/// An OpenAI-format answer (Groq, Cerebras, OpenRouter) with this content.
pub(crate) fn openai_answer(content: &str) -> ResponseTemplate {
    let body = serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_770_770_798,
        "model": "openai/gpt-oss-120b",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    });
    json(200, &body.to_string(), None)
}
