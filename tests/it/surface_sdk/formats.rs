//! JSON-schema answers (by hand and with `chat.completions.parse`), an image to a vision
//! route and reasoning apart from the answer, per provider, through the SDK.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{
    COHERE_REASONING, COHERE_REASONING_STREAM, GEMINI_JSON, GEMINI_REASONING_STREAM,
    GROQ_REASONING, GROQ_REASONING_STREAM, OPENROUTER_REASONING_STREAM, json_reply, python,
    recorded, sdk, setup, stream_reasoning_and_text,
};
use crate::harness::{P, TEST_TOML, fixtures};

/// The schema the client asks for (what `json-request.json` of Gemini asks).
fn place_schema() -> Value {
    json!({"type": "object", "properties": {"location": {"type": "string"}},
        "required": ["location"], "additionalProperties": false})
}

/// An upstream answer, in `p`'s format, whose text is `{"location":"Paris"}`.
fn json_answer(p: P) -> wiremock::ResponseTemplate {
    let text = r#"{"location":"Paris"}"#;
    match p {
        P::Gemini => json_reply(GEMINI_JSON),
        P::Cohere => {
            let body = json!({
                "id": "5d8d7c5e-0000-4000-8000-00000000json",
                "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
                "finish_reason": "COMPLETE",
                "usage": {"billed_units": {"input_tokens": 12, "output_tokens": 6},
                    "tokens": {"input_tokens": 200, "output_tokens": 6}}
            });
            fixtures::json(200, &body.to_string(), None)
        }
        P::Groq | P::Cerebras | P::OpenRouter => fixtures::openai_answer(text),
    }
}

/// The schema a body asks the upstream for, in the provider's shape; panics when the body
/// does not ask for JSON in that shape.
fn outbound_schema(p: P, body: &Value) -> Value {
    let id = p.id();
    match p {
        P::Gemini => {
            let g = &body["generationConfig"];
            assert_eq!(g["responseMimeType"], "application/json", "{id}: {body}");
            g.get("responseJsonSchema")
                .or_else(|| g.get("responseSchema"))
                .cloned()
                .unwrap_or_else(|| panic!("{id}: no schema: {body}"))
        }
        P::Cohere => {
            let f = &body["response_format"];
            assert_eq!(f["type"], "json_object", "{id}: {body}");
            f["json_schema"].clone()
        }
        P::Groq | P::Cerebras | P::OpenRouter => {
            let f = &body["response_format"];
            assert_eq!(f["type"], "json_schema", "{id}: {body}");
            f["json_schema"]["schema"].clone()
        }
    }
}

#[tokio::test]
async fn a_json_schema_answer_through_each_provider() {
    let Some(py) = python() else { return };
    let s = setup(&P::ALL).await;
    for p in P::ALL {
        s.up.on(p, false)
            .respond_with(json_answer(p))
            .expect(3)
            .mount(s.up.server(p))
            .await;
    }
    let gw = s.serve().await;
    for p in P::ALL {
        let id = p.id();
        let v = sdk(
            &py,
            &s,
            &gw,
            "json_schema",
            &json!({"model": id, "schema": place_schema()}),
        )
        .await;
        assert_eq!(
            v["parsed_content"],
            json!({"location": "Paris"}),
            "{id}: {v}"
        );
        assert_eq!(v["parse_helper"]["type"], "Place", "{id}: {v}");
        assert_eq!(v["parse_helper"]["location"], "Paris", "{id}: {v}");
        assert_eq!(v["headers"]["x-llmpool-provider"], id, "{id}: {v}");
        let bodies = s.up.bodies(p).await;
        assert_eq!(bodies.len(), 3, "{id}: {bodies:?}");
        assert_eq!(outbound_schema(p, &bodies[0]), place_schema(), "{id}");
        // The schema pydantic made for `Place` (by `chat.completions.parse`).
        let schema = outbound_schema(p, &bodies[1]);
        assert_eq!(schema["required"], json!(["location"]), "{id}: {schema}");
        assert_eq!(
            schema["properties"]["location"]["type"], "string",
            "{id}: {schema}"
        );
        // `json_object`: JSON asked for, with no schema.
        assert_eq!(v["json_object"], json!({"location": "Paris"}), "{id}: {v}");
        let body = &bodies[2];
        match p {
            P::Gemini => {
                let g = &body["generationConfig"];
                assert_eq!(g["responseMimeType"], "application/json", "{id}: {body}");
                assert!(
                    g.get("responseJsonSchema").is_none() && g.get("responseSchema").is_none(),
                    "{id}: {body}"
                );
            }
            _ => assert_eq!(
                body["response_format"],
                json!({"type": "json_object"}),
                "{id}: {body}"
            ),
        }
    }
}

/// `{"location":"Paris"}` streamed in three pieces, in `p`'s event format.
fn json_stream(p: P) -> String {
    let pieces = [r#"{"loc"#, r#"ation":"Pa"#, r#"ris"}"#];
    let mut events: Vec<Value> = Vec::new();
    match p {
        P::Gemini => {
            for piece in pieces {
                events.push(json!({"candidates": [{"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}],
                    "modelVersion": "gemini-3.1-flash-lite"}));
            }
            events.push(json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 6, "totalTokenCount": 15},
                "modelVersion": "gemini-3.1-flash-lite"}));
        }
        P::Cohere => {
            events.push(json!({"id": "json-stream", "type": "message-start", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}));
            events.push(json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}));
            for piece in pieces {
                events.push(json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}));
            }
            events.push(json!({"type": "content-end", "index": 0}));
            events.push(json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE",
                "usage": {"billed_units": {"input_tokens": 9, "output_tokens": 6}, "tokens": {"input_tokens": 9, "output_tokens": 6}}}}));
        }
        P::Groq | P::Cerebras | P::OpenRouter => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-json", "object": "chat.completion.chunk", "created": 1_770_770_798,
                    "model": "openai/gpt-oss-120b", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            events.push(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ));
            for piece in pieces {
                events.push(chunk(json!({"content": piece}), Value::Null));
            }
            events.push(chunk(json!({}), json!("stop")));
        }
    }
    let mut text = String::new();
    for e in &events {
        writeln!(text, "data: {e}\n").unwrap();
    }
    if p != P::Gemini {
        text.push_str("data: [DONE]\n\n");
    }
    text
}

#[tokio::test]
async fn a_json_schema_answer_streamed_through_each_provider() {
    let Some(py) = python() else { return };
    // Cerebras documents JSON formats as not for streaming.
    let streaming = [P::Groq, P::Gemini, P::OpenRouter, P::Cohere];
    let s = setup(&streaming).await;
    for p in streaming {
        s.up.on(p, true)
            .respond_with(fixtures::sse(&json_stream(p)))
            .expect(1)
            .mount(s.up.server(p))
            .await;
    }
    let gw = s.serve().await;
    let format = json!({"type": "json_schema", "json_schema": {"name": "place", "schema": place_schema(), "strict": true}});
    let calls: Vec<Value> = streaming
        .iter()
        .map(|p| {
            json!({"model": p.id(), "stream": true, "prompt": "Where is the Eiffel Tower? JSON.",
            "fields": {"response_format": format}})
        })
        .collect();
    let v = sdk(&py, &s, &gw, "each", &json!({"calls": calls})).await;
    for (p, got) in streaming.iter().zip(v["results"].as_array().unwrap()) {
        let id = p.id();
        assert_eq!(got["status"], 200, "{id}: {got}");
        let content: Value = serde_json::from_str(got["content"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{id}: the assembled content is not JSON ({e}): {got}"));
        assert_eq!(content, json!({"location": "Paris"}), "{id}: {got}");
        assert_eq!(got["finish"], "stop", "{id}: {got}");
        let bodies = s.up.bodies(*p).await;
        assert_eq!(bodies.len(), 1, "{id}: {bodies:?}");
        assert_eq!(outbound_schema(*p, &bodies[0]), place_schema(), "{id}");
    }
}

/// A 1×1 PNG.
const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

#[tokio::test]
async fn an_image_reaches_each_vision_route_in_its_shape() {
    let Some(py) = python() else { return };
    let vision = [P::Cerebras, P::Gemini, P::OpenRouter, P::Cohere];
    let s = setup(&vision).await;
    // Vision models of each (Groq's catalog has none).
    s.write_toml(
        &TEST_TOML
            .replace(
                r#"models = ["gpt-oss-120b"]"#,
                r#"models = ["qwen-3.8-27b"]"#,
            )
            .replace(
                r#"models = ["command-a-03-2025"]"#,
                r#"models = ["command-a-vision-07-2025"]"#,
            ),
    );
    for p in vision {
        s.up.on(p, false)
            .respond_with(fixtures::ok_reply(p))
            .mount(s.up.server(p))
            .await;
    }
    let gw = s.serve().await;
    let data_url = format!("data:image/png;base64,{PNG_BASE64}");
    // A URL llmpool must never fetch itself (nothing resolves here): it goes to the
    // provider as a URL, or is refused by name.
    let https_url = "https://images.example.com/cat.png";
    let ask = |model: &str, url: &str| {
        json!({"model": model, "prompt": "", "fields": {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": url}}]}]}})
    };
    let calls: Vec<Value> = vision
        .iter()
        .flat_map(|p| [ask(p.id(), &data_url), ask(p.id(), https_url)])
        .collect();
    let v = sdk(&py, &s, &gw, "each", &json!({"calls": calls})).await;
    let mut results = v["results"].as_array().unwrap().iter();
    for p in vision {
        let id = p.id();
        let bodies = s.up.bodies(p).await;
        let data = results.next().unwrap();
        assert_eq!(data["status"], 200, "{id}: {data}");
        assert_eq!(
            data["content"],
            fixtures::ok_text(p).as_str(),
            "{id}: {data}"
        );
        assert_eq!(data["headers"]["x-llmpool-provider"], id, "{id}: {data}");
        let https = results.next().unwrap();
        let sent = usize::from(https["status"] == 200);
        assert_eq!(bodies.len(), 1 + sent, "{id}: {bodies:?}");
        let body = &bodies[0];
        if p == P::Gemini {
            let parts = body["contents"][0]["parts"].as_array().unwrap();
            assert!(
                parts.iter().any(|part| part["inlineData"]
                    == json!({"mimeType": "image/png", "data": PNG_BASE64})),
                "{id}: the image as inlineData: {body}"
            );
            assert!(
                parts
                    .iter()
                    .any(|part| part["text"] == "What is in this image?"),
                "{body}"
            );
        } else {
            assert_eq!(
                image_url(body).as_deref(),
                Some(data_url.as_str()),
                "{id}: {body}"
            );
        }
        if sent == 1 {
            let body = &bodies[1];
            if p == P::Gemini {
                let parts = body["contents"][0]["parts"].as_array().unwrap();
                assert!(
                    parts
                        .iter()
                        .any(|part| part["fileData"]["fileUri"] == https_url),
                    "{id}: the URL as fileData: {body}"
                );
            } else {
                assert_eq!(image_url(body).as_deref(), Some(https_url), "{id}: {body}");
            }
        } else {
            assert_eq!(https["status"], 400, "{id}: {https}");
            let message = https["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("image") || message.contains("messages["),
                "{id}: {https}"
            );
        }
    }
}

/// The URL of the first `image_url` part of a body in OpenAI's or Cohere's shape.
fn image_url(body: &Value) -> Option<String> {
    body["messages"][0]["content"]
        .as_array()?
        .iter()
        .find(|part| part["type"] == "image_url")?["image_url"]["url"]
        .as_str()
        .map(str::to_owned)
}

/// One reasoning case: a recorded answer, one-shot or streamed.
struct Reasoning {
    p: P,
    stream: bool,
    answer: &'static str,
    /// Extra request fields (Gemini returns thoughts only when asked, with an effort).
    fields: Value,
}

/// The reasoning and the answer of a recorded one-shot body.
fn one_shot_reasoning_and_text(p: P, answer: &str) -> (String, String) {
    let v = recorded(answer);
    if p == P::Cohere {
        let blocks = v["message"]["content"].as_array().unwrap();
        let pick = |kind: &str| -> String {
            blocks
                .iter()
                .filter(|b| b["type"] == kind)
                .filter_map(|b| b[kind].as_str())
                .collect()
        };
        (pick("thinking"), pick("text"))
    } else {
        let m = &v["choices"][0]["message"];
        (
            m["reasoning"].as_str().unwrap().to_owned(),
            m["content"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test]
async fn reasoning_reaches_the_sdk_apart_from_the_answer() {
    let Some(py) = python() else { return };
    let cases = [
        Reasoning {
            p: P::Groq,
            stream: false,
            answer: GROQ_REASONING,
            fields: json!({}),
        },
        Reasoning {
            p: P::Groq,
            stream: true,
            answer: GROQ_REASONING_STREAM,
            fields: json!({}),
        },
        Reasoning {
            p: P::Cohere,
            stream: false,
            answer: COHERE_REASONING,
            fields: json!({}),
        },
        Reasoning {
            p: P::Cohere,
            stream: true,
            answer: COHERE_REASONING_STREAM,
            fields: json!({}),
        },
        Reasoning {
            p: P::OpenRouter,
            stream: true,
            answer: OPENROUTER_REASONING_STREAM,
            fields: json!({}),
        },
        Reasoning {
            p: P::Gemini,
            stream: true,
            answer: GEMINI_REASONING_STREAM,
            fields: json!({"reasoning_effort": "low"}),
        },
    ];
    let s = setup(&[P::Groq, P::Cohere, P::OpenRouter, P::Gemini]).await;
    for c in &cases {
        let reply = if c.stream {
            fixtures::sse(c.answer)
        } else {
            json_reply(c.answer)
        };
        s.up.on(c.p, c.stream)
            .respond_with(reply)
            .expect(1)
            .mount(s.up.server(c.p))
            .await;
    }
    let gw = s.serve().await;
    let calls: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({"model": c.p.id(), "stream": c.stream, "prompt": "How many r in strawberry?",
                "fields": c.fields})
        })
        .collect();
    let v = sdk(&py, &s, &gw, "each", &json!({"calls": calls})).await;
    for (c, got) in cases.iter().zip(v["results"].as_array().unwrap()) {
        let what = format!(
            "{} {}",
            c.p.id(),
            if c.stream { "streamed" } else { "one-shot" }
        );
        assert_eq!(got["status"], 200, "{what}: {got}");
        let (reasoning, text) = if c.stream {
            stream_reasoning_and_text(c.p, c.answer)
        } else {
            one_shot_reasoning_and_text(c.p, c.answer)
        };
        assert!(!reasoning.is_empty() && !text.is_empty(), "{what}: fixture");
        // The SDK's assembled message holds the answer only; the reasoning is in
        // `reasoning_content` (one-shot) or the deltas' `reasoning_content` (streamed).
        assert_eq!(got["content"], text.as_str(), "{what}: {got}");
        if c.stream {
            assert_eq!(got["delta_reasoning"], reasoning.as_str(), "{what}: {got}");
            assert_eq!(got["delta_content"], text.as_str(), "{what}: {got}");
        } else {
            assert_eq!(got["reasoning"], reasoning.as_str(), "{what}: {got}");
        }
        assert_eq!(got["finish"], "stop", "{what}: {got}");
    }
    // Gemini was asked for its thoughts.
    let gemini = s.up.bodies(P::Gemini).await;
    assert_eq!(gemini.len(), 1);
    assert_eq!(
        gemini[0]["generationConfig"]["thinkingConfig"]["includeThoughts"], true,
        "{}",
        gemini[0]
    );
}
