//! A full tool round trip through each provider pinned, non-streamed and streamed: the
//! SDK sends `tools`, the upstream (its recorded answer) calls a tool, the SDK reads or
//! assembles `tool_calls`, sends the assistant message and the `role: tool` results back,
//! and the upstream — matched on the follow-up's shape in its own format — answers text.

use serde_json::{Value, json};

use super::{
    BodyIs, CEREBRAS_TOOLS, CEREBRAS_TOOLS_STREAM, COHERE_TOOLS, COHERE_TOOLS_STREAM, GEMINI_TOOLS,
    GEMINI_TOOLS_FOLLOWUP, GEMINI_TOOLS_NO_ID, GEMINI_TOOLS_STREAM, GROQ_TOOLS, GROQ_TOOLS_STREAM,
    OPENROUTER_TOOLS, OPENROUTER_TOOLS_STREAM, events, is_first_turn, is_followup, json_reply,
    python, recorded, sdk, setup, stream_reasoning_and_text,
};
use crate::harness::{Gateway, P, Setup, fixtures};

/// One expected tool call: the upstream's id, the function, its arguments.
type Call = (&'static str, &'static str, Value);

/// One provider's round trip, one-shot or streamed.
struct Case {
    p: P,
    stream: bool,
    /// The upstream's tool-call answer (JSON, or its recorded stream).
    answer: &'static str,
    /// The calls in it.
    calls: Vec<Call>,
    /// The text before the calls in the same answer, if any.
    text_before: Option<&'static str>,
}

/// A declaration the client sends for each function the recordings call.
fn tool(name: &str) -> Value {
    let (description, properties, required) = match name {
        "weather" => (
            "Get the weather of a location.",
            json!({"location": {"type": "string"}}),
            json!(["location"]),
        ),
        "get_weather" => (
            "Get the current weather for a city.",
            json!({"city": {"type": "string"}}),
            json!(["city"]),
        ),
        "cityAttractions" => (
            "List what to see in a city.",
            json!({"city": {"type": "string"}}),
            json!(["city"]),
        ),
        "search_recipes" => (
            "Search recipes.",
            json!({"query": {"type": "string"}}),
            json!(["query"]),
        ),
        _ => ("Takes no arguments.", json!({}), json!([])),
    };
    json!({"type": "function", "function": {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }})
}

/// The final answer of the follow-up turn, and the text the SDK must get from it.
fn final_answer(p: P, stream: bool) -> (wiremock::ResponseTemplate, String) {
    let f = fixtures::of(p);
    match (p, stream) {
        (_, true) => (fixtures::sse(f.stream), fixtures::stream_text(p, f.stream)),
        (P::Gemini, false) => {
            let text =
                recorded(GEMINI_TOOLS_FOLLOWUP)["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            (json_reply(GEMINI_TOOLS_FOLLOWUP), text)
        }
        (_, false) => (fixtures::ok_reply(p), fixtures::ok_text(p)),
    }
}

async fn mount(s: &Setup, case: &Case) -> String {
    let answer = if case.stream {
        fixtures::sse(case.answer)
    } else {
        json_reply(case.answer)
    };
    s.up.on(case.p, case.stream)
        .and(BodyIs(is_first_turn))
        .respond_with(answer)
        .expect(1)
        .mount(s.up.server(case.p))
        .await;
    let (reply, text) = final_answer(case.p, case.stream);
    s.up.on(case.p, case.stream)
        .and(BodyIs(is_followup))
        .respond_with(reply)
        .expect(1)
        .mount(s.up.server(case.p))
        .await;
    text
}

/// The function names a body declares, in the provider's own shape.
fn declared(p: P, body: &Value) -> Vec<String> {
    let names: Vec<&Value> = match p {
        P::Gemini => body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
            .map(|d| &d["name"])
            .collect(),
        _ => body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| &t["function"]["name"])
            .collect(),
    };
    names
        .into_iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// The thought signature of the first `functionCall` part of a Gemini answer.
fn gemini_signature(answer: &str, stream: bool) -> Option<String> {
    let bodies = if stream {
        events(answer)
    } else {
        vec![recorded(answer)]
    };
    bodies.iter().find_map(|b| {
        b["candidates"][0]["content"]["parts"]
            .as_array()?
            .iter()
            .find(|p| p.get("functionCall").is_some())?["thoughtSignature"]
            .as_str()
            .map(str::to_owned)
    })
}

/// Checks what the SDK got from the tool-call turn; returns the ids it saw.
fn check_calls(case: &Case, first: &Value) -> Vec<String> {
    let id = case.p.id();
    assert_eq!(first["finish"], "tool_calls", "{id}: {first}");
    let got = first["tool_calls"].as_array().unwrap();
    assert_eq!(got.len(), case.calls.len(), "{id}: {first}");
    let mut ids = Vec::new();
    for (call, (upstream_id, name, args)) in got.iter().zip(&case.calls) {
        assert_eq!(call["type"], "function", "{id}: {call}");
        assert_eq!(call["name"], *name, "{id}: {call}");
        let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{id}: arguments are not JSON ({e}): {call}"));
        assert_eq!(arguments, *args, "{id}: {call}");
        let sdk_id = call["id"].as_str().unwrap_or_default().to_owned();
        if case.p == P::Gemini {
            // The gateway may carry Gemini's id (and signature) inside its own.
            assert!(!sdk_id.is_empty(), "{id}: a call without an id: {call}");
        } else {
            assert_eq!(
                sdk_id, *upstream_id,
                "{id}: the upstream's id is passed through"
            );
        }
        ids.push(sdk_id);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{id}: call ids collide: {ids:?}");
    match case.text_before {
        Some(text) => assert_eq!(first["content"], text, "{id}: {first}"),
        None => assert!(
            first["content"].is_null() || first["content"] == "",
            "{id}: no text came with the calls: {first}"
        ),
    }
    if case.stream {
        // OpenAI's contract: each call's first fragment has its index, id and name.
        let fragments = first["fragments"].as_array().unwrap();
        for (i, sdk_id) in ids.iter().enumerate() {
            let opening = fragments
                .iter()
                .find(|f| f["index"] == i)
                .unwrap_or_else(|| panic!("{id}: no fragment for call {i}: {first}"));
            assert_eq!(opening["id"], sdk_id.as_str(), "{id}: {first}");
            assert!(opening["name"].is_string(), "{id}: {first}");
        }
    }
    ids
}

/// Checks the follow-up body the upstream got: the calls and their results, with the
/// same ids, in the provider's shape.
fn check_followup(case: &Case, sdk_ids: &[String], body: &Value) {
    let id = case.p.id();
    match case.p {
        P::Gemini => {
            let contents = body["contents"].as_array().unwrap();
            // The user turn, the model's calls, ONE user content with every result.
            assert_eq!(contents.len(), 3, "{id}: {body}");
            let model = &contents[1];
            assert_eq!(model["role"], "model", "{id}: {body}");
            let calls: Vec<&Value> = model["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p.get("functionCall").is_some())
                .collect();
            let results = contents[2]["parts"].as_array().unwrap();
            assert_eq!(contents[2]["role"], "user", "{id}: {body}");
            assert_eq!(calls.len(), case.calls.len(), "{id}: {body}");
            assert_eq!(results.len(), case.calls.len(), "{id}: {body}");
            for ((part, result), (upstream_id, name, args)) in
                calls.iter().zip(results).zip(&case.calls)
            {
                let call = &part["functionCall"];
                assert_eq!(call["name"], *name, "{id}: {body}");
                assert_eq!(call["args"], *args, "{id}: {body}");
                assert_eq!(
                    call["id"], *upstream_id,
                    "{id}: Gemini's own id goes back: {body}"
                );
                let response = &result["functionResponse"];
                assert_eq!(response["name"], *name, "{id}: {body}");
                assert_eq!(response["id"], *upstream_id, "{id}: {body}");
                assert!(
                    response["response"].is_object(),
                    "{id}: a functionResponse's response is an object: {body}"
                );
                assert!(
                    response.to_string().contains("sunny"),
                    "{id}: the tool's result reached Gemini: {body}"
                );
            }
            let signature = gemini_signature(case.answer, case.stream);
            assert_eq!(
                calls[0]["thoughtSignature"].as_str().map(str::to_owned),
                signature,
                "{id}: the thought signature is carried back: {body}"
            );
        }
        P::Groq | P::Cerebras | P::OpenRouter | P::Cohere => {
            let messages = body["messages"].as_array().unwrap();
            let assistant = messages
                .iter()
                .find(|m| m["role"] == "assistant")
                .unwrap_or_else(|| panic!("{id}: no assistant message: {body}"));
            let echoed: Vec<&str> = assistant["tool_calls"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["id"].as_str())
                .collect();
            let want: Vec<&str> = sdk_ids.iter().map(String::as_str).collect();
            assert_eq!(
                echoed, want,
                "{id}: the calls go back with their ids: {body}"
            );
            let tool_messages: Vec<&Value> =
                messages.iter().filter(|m| m["role"] == "tool").collect();
            assert_eq!(tool_messages.len(), sdk_ids.len(), "{id}: {body}");
            for (m, sdk_id) in tool_messages.iter().zip(sdk_ids) {
                assert_eq!(m["tool_call_id"], sdk_id.as_str(), "{id}: {body}");
                assert!(m["content"].to_string().contains("sunny"), "{id}: {body}");
            }
        }
    }
    // The tools are declared again on the follow-up (OpenRouter requires it; all take it).
    let names: Vec<&str> = case.calls.iter().map(|c| c.1).collect();
    let again = declared(case.p, body);
    assert!(
        names.iter().all(|n| again.iter().any(|d| d == n)),
        "{id}: the follow-up declares {again:?}: {body}"
    );
}

/// The reasoning an OpenAI-format tool-call answer carries (Cerebras' and OpenRouter's
/// recordings have some) reaches the SDK as `reasoning_content`, apart from the calls.
fn check_reasoning(case: &Case, first: &Value) {
    if !matches!(case.p, P::Groq | P::Cerebras | P::OpenRouter) {
        return;
    }
    let what = case.p.id();
    if case.stream {
        let (reasoning, _) = stream_reasoning_and_text(case.p, case.answer);
        let want = (!reasoning.is_empty()).then_some(reasoning);
        assert_eq!(
            first["delta_reasoning"].as_str(),
            want.as_deref(),
            "{what}: {first}"
        );
    } else {
        let reasoning = recorded(case.answer)["choices"][0]["message"]["reasoning"].clone();
        assert_eq!(first["reasoning"], reasoning, "{what}: {first}");
    }
}

/// Whether a request asked for a stream (Gemini: by its path; the others: by the body).
fn streamed_request(r: &wiremock::Request) -> bool {
    r.url.path().contains("streamGenerateContent")
        || serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["stream"] == true)
}

/// Runs the round trips of one provider (one-shot and streamed) in one Python process.
async fn round_trips(cases: [Case; 2]) {
    let Some(py) = python() else { return };
    let p = cases[0].p;
    let id = p.id();
    let s = setup(&[p]).await;
    let mut trips = Vec::new();
    let mut texts = Vec::new();
    for case in &cases {
        texts.push(mount(&s, case).await);
        let mut names: Vec<&str> = case.calls.iter().map(|c| c.1).collect();
        names.dedup();
        let tools: Vec<Value> = names.iter().map(|n| tool(n)).collect();
        trips.push(json!({"model": id, "stream": case.stream, "tools": tools,
            "prompt": "What is the weather in San Francisco?"}));
    }
    let gw: Gateway = s.serve().await;
    let v = sdk(&py, &s, &gw, "tool_round_trips", &json!({"trips": trips})).await;
    let requests = s.up.requests(p).await;
    for ((case, expected_text), trip) in
        cases.iter().zip(&texts).zip(v["trips"].as_array().unwrap())
    {
        let what = format!("{id} {}", if case.stream { "streamed" } else { "one-shot" });
        let ids = check_calls(case, &trip["first"]);
        check_reasoning(case, &trip["first"]);
        let second = &trip["second"];
        assert_eq!(second["content"], expected_text.as_str(), "{what}: {trip}");
        assert_eq!(second["finish"], "stop", "{what}: {trip}");
        assert!(
            second["tool_calls"].as_array().unwrap().is_empty(),
            "{what}: {trip}"
        );
        for turn in ["first", "second"] {
            assert_eq!(
                trip[turn]["headers"]["x-llmpool-provider"], id,
                "{what}: {trip}"
            );
        }
        let bodies: Vec<Value> = requests
            .iter()
            .filter(|r| streamed_request(r) == case.stream)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        assert_eq!(bodies.len(), 2, "{what}: {bodies:?}");
        let first = &bodies[0];
        let mut sent = declared(p, first);
        sent.sort();
        let mut wanted: Vec<String> = case.calls.iter().map(|c| c.1.to_owned()).collect();
        wanted.dedup();
        wanted.sort();
        assert_eq!(sent, wanted, "{what}: the tools in {id}'s shape: {first}");
        if p == P::Cohere {
            assert!(
                !first["tools"].to_string().contains("\"strict\""),
                "{what}: Cohere refuses `strict` inside a tool: {first}"
            );
        }
        check_followup(case, &ids, &bodies[1]);
    }
}

#[tokio::test]
async fn groq_tool_round_trips_one_shot_and_streamed() {
    round_trips([
        Case {
            p: P::Groq,
            stream: false,
            answer: GROQ_TOOLS,
            calls: vec![("ax9fskhev", "weather", json!({}))],
            text_before: None,
        },
        Case {
            p: P::Groq,
            stream: true,
            answer: GROQ_TOOLS_STREAM,
            calls: vec![("tk85n1k4m", "weather", json!({}))],
            text_before: None,
        },
    ])
    .await;
}

#[tokio::test]
async fn cerebras_tool_round_trips_one_shot_and_streamed() {
    round_trips([
        Case {
            p: P::Cerebras,
            stream: false,
            answer: CEREBRAS_TOOLS,
            calls: vec![("85e4fd267", "nonUsefulTool", json!({}))],
            text_before: None,
        },
        Case {
            p: P::Cerebras,
            stream: true,
            answer: CEREBRAS_TOOLS_STREAM,
            calls: vec![("bbd2b9d98", "nonUsefulTool", json!({}))],
            text_before: None,
        },
    ])
    .await;
}

#[tokio::test]
async fn openrouter_tool_round_trips_one_shot_and_streamed() {
    // Every `arguments` fragment of the streamed recording is "": the client must still
    // get "{}".
    round_trips([
        Case {
            p: P::OpenRouter,
            stream: false,
            answer: OPENROUTER_TOOLS,
            calls: vec![(
                "call_7b205c4c32234f3e91624804",
                "search_recipes",
                json!({"query": "pad thai"}),
            )],
            text_before: None,
        },
        Case {
            p: P::OpenRouter,
            stream: true,
            answer: OPENROUTER_TOOLS_STREAM,
            calls: vec![(
                "toolu_bdrk_01AMXFNuQYF6fxS1hryPtu9K",
                "get_all_tabs",
                json!({}),
            )],
            text_before: None,
        },
    ])
    .await;
}

#[tokio::test]
async fn gemini_tool_round_trips_one_shot_and_streamed() {
    round_trips([
        Case {
            p: P::Gemini,
            stream: false,
            answer: GEMINI_TOOLS,
            calls: vec![("PPik6Btt", "catalogSearch", json!({}))],
            text_before: None,
        },
        Case {
            p: P::Gemini,
            stream: true,
            answer: GEMINI_TOOLS_STREAM,
            calls: vec![("g1bmv6il", "get_weather", json!({"city": "San Francisco"}))],
            text_before: Some("Let me check."),
        },
    ])
    .await;
}

#[tokio::test]
async fn cohere_tool_round_trips_one_shot_and_streamed() {
    round_trips([
        Case {
            p: P::Cohere,
            stream: false,
            answer: COHERE_TOOLS,
            calls: vec![
                (
                    "weather_dqgshstja6p9",
                    "weather",
                    json!({"location": "San Francisco"}),
                ),
                (
                    "cityAttractions_dcxfx4myvx68",
                    "cityAttractions",
                    json!({"city": "San Francisco"}),
                ),
            ],
            text_before: None,
        },
        Case {
            p: P::Cohere,
            stream: true,
            answer: COHERE_TOOLS_STREAM,
            calls: vec![
                (
                    "weather_e8p4pn45zt0t",
                    "weather",
                    json!({"location": "San Francisco"}),
                ),
                (
                    "cityAttractions_pyxssbwnq9fq",
                    "cityAttractions",
                    json!({"city": "San Francisco"}),
                ),
            ],
            text_before: None,
        },
    ])
    .await;
}

/// Gemini 2.5 gives no call id: the SDK still gets one, and the follow-up's
/// `functionCall` and `functionResponse` agree on the call (same name, same id or none).
#[tokio::test]
async fn gemini_tool_call_without_an_id_gets_one_and_round_trips() {
    let Some(py) = python() else { return };
    let s = setup(&[P::Gemini]).await;
    s.up.on(P::Gemini, false)
        .and(BodyIs(is_first_turn))
        .respond_with(json_reply(GEMINI_TOOLS_NO_ID))
        .expect(1)
        .mount(s.up.server(P::Gemini))
        .await;
    s.up.on(P::Gemini, false)
        .and(BodyIs(is_followup))
        .respond_with(json_reply(GEMINI_TOOLS_FOLLOWUP))
        .expect(1)
        .mount(s.up.server(P::Gemini))
        .await;
    let gw = s.serve().await;
    let v = sdk(
        &py,
        &s,
        &gw,
        "tool_round_trip",
        &json!({"model": "gemini", "stream": false, "tools": [tool("catalogSearch")],
            "prompt": "Call catalogSearch once."}),
    )
    .await;
    let first = &v["first"];
    assert_eq!(first["finish"], "tool_calls", "{v}");
    let call = &first["tool_calls"][0];
    assert_eq!(call["name"], "catalogSearch", "{v}");
    assert!(call["id"].as_str().is_some_and(|i| !i.is_empty()), "{v}");
    assert_eq!(v["second"]["content"], "Metadata was returned.", "{v}");
    let bodies = s.up.bodies(P::Gemini).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let contents = bodies[1]["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "{}", bodies[1]);
    let fc = &contents[1]["parts"][0]["functionCall"];
    let fr = &contents[2]["parts"][0]["functionResponse"];
    assert_eq!(fc["name"], "catalogSearch", "{}", bodies[1]);
    assert_eq!(fr["name"], "catalogSearch", "{}", bodies[1]);
    assert_eq!(fc.get("id"), fr.get("id"), "{}", bodies[1]);
}

/// A tool conversation that fails over keeps a valid tool protocol: Groq made the call,
/// its follow-up is rate limited, and the next route gets the call and its result in its
/// own format, with Groq's id (Gemini: the function's name recovered for the
/// `functionResponse`, and Google's placeholder where Gemini 3 wants a signature).
#[tokio::test]
async fn a_tool_conversation_fails_over_with_a_valid_tool_protocol() {
    let Some(py) = python() else { return };
    // Cohere first, then Gemini (whose tool mapping came later).
    for next in [P::Cohere, P::Gemini] {
        let s = setup(&[P::Groq, next]).await;
        let next_model = if next == P::Gemini {
            "gemini-3.1-flash-lite"
        } else {
            "command-a-03-2025"
        };
        s.write_toml(&format!(
            "retry_attempts = 0\nmax_retry_wait_secs = 0\nmax_body_bytes = 8192\n\
             [providers.groq]\nmodels = [\"openai/gpt-oss-120b\"]\npriority = 1\n\
             [providers.{}]\nmodels = [\"{next_model}\"]\npriority = 2\n",
            next.id()
        ));
        s.up.on(P::Groq, false)
            .and(BodyIs(is_first_turn))
            .respond_with(json_reply(GROQ_TOOLS))
            .expect(1)
            .mount(s.up.server(P::Groq))
            .await;
        s.up.on(P::Groq, false)
            .and(BodyIs(is_followup))
            .respond_with(fixtures::json(
                429,
                fixtures::GROQ_429_TPM,
                Some(fixtures::GROQ_429_TPM_HEADERS),
            ))
            .expect(1)
            .mount(s.up.server(P::Groq))
            .await;
        let (reply, text) = final_answer(next, false);
        s.up.on(next, false)
            .and(BodyIs(is_followup))
            .respond_with(reply)
            .expect(1)
            .mount(s.up.server(next))
            .await;
        let gw = s.serve().await;
        let v = sdk(
            &py,
            &s,
            &gw,
            "tool_round_trip",
            &json!({"model": "auto", "stream": false, "tools": [tool("weather")],
                "prompt": "What is the weather in San Francisco?"}),
        )
        .await;
        let what = format!("groq → {}", next.id());
        assert_eq!(
            v["first"]["headers"]["x-llmpool-provider"], "groq",
            "{what}: {v}"
        );
        assert_eq!(
            v["first"]["tool_calls"][0]["id"], "ax9fskhev",
            "{what}: {v}"
        );
        let second = &v["second"];
        assert_eq!(
            second["headers"]["x-llmpool-provider"],
            next.id(),
            "{what}: {v}"
        );
        assert_eq!(second["content"], text.as_str(), "{what}: {v}");
        let trail = second["headers"]["x-llmpool-trail"]
            .as_str()
            .unwrap_or_default();
        assert!(
            trail.contains("groq/openai/gpt-oss-120b:rate_limited")
                && trail.contains(&format!("{}/{next_model}:ok", next.id())),
            "{what}: {trail}"
        );
        let bodies = s.up.bodies(next).await;
        assert_eq!(bodies.len(), 1, "{what}: {bodies:?}");
        check_failover_body(next, &bodies[0], &what);
    }
}

/// The follow-up body the route after Groq got: Groq's call and its result, in its format.
fn check_failover_body(next: P, body: &Value, what: &str) {
    if next == P::Gemini {
        let contents = body["contents"].as_array().unwrap();
        assert_eq!(contents.len(), 3, "{what}: {body}");
        let part = &contents[1]["parts"][0];
        assert_eq!(
            part["functionCall"],
            json!({"id": "ax9fskhev", "name": "weather", "args": {}}),
            "{what}: {body}"
        );
        assert_eq!(
            part["thoughtSignature"], "skip_thought_signature_validator",
            "{what}: Gemini 3 refuses an unsigned call: {body}"
        );
        let response = &contents[2]["parts"][0]["functionResponse"];
        assert_eq!(response["id"], "ax9fskhev", "{what}: {body}");
        assert_eq!(response["name"], "weather", "{what}: {body}");
    } else {
        let messages = body["messages"].as_array().unwrap();
        let assistant = messages.iter().find(|m| m["role"] == "assistant").unwrap();
        assert_eq!(
            assistant["tool_calls"][0]["id"], "ax9fskhev",
            "{what}: {body}"
        );
        assert_eq!(assistant["tool_calls"][0]["function"]["name"], "weather");
        let result = messages.iter().find(|m| m["role"] == "tool").unwrap();
        assert_eq!(result["tool_call_id"], "ax9fskhev", "{what}: {body}");
    }
}
