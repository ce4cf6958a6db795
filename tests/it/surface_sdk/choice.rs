//! `tool_choice` and `parallel_tool_calls` from the SDK, as each wire format says them:
//! OpenAI's shape passed through (Groq), Gemini's `toolConfig`, Cohere's `REQUIRED` /
//! `NONE` (a named function: only that tool, required). A field a format has no place for
//! is named in `x-llmpool-dropped-params` or refused by name, never lost.

use serde_json::{Value, json};

use super::{python, sdk, setup};
use crate::harness::P;

fn tools() -> Value {
    json!(["lookup_a", "lookup_b"]
        .iter()
        .map(|name| json!({"type": "function", "function": {"name": name,
            "description": "Looks something up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}))
        .collect::<Vec<_>>())
}

/// The choices the client makes, by name.
fn choices() -> [(&'static str, Value); 4] {
    [
        ("auto", json!("auto")),
        ("none", json!("none")),
        ("required", json!("required")),
        (
            "named",
            json!({"type": "function", "function": {"name": "lookup_b"}}),
        ),
    ]
}

/// What `p`'s upstream must receive for a choice: (tool_choice as sent, declared names).
fn expected(p: P, choice: &str) -> (Value, Vec<&'static str>) {
    let both = vec!["lookup_a", "lookup_b"];
    match p {
        P::Gemini => {
            let config = match choice {
                "auto" => json!({"mode": "AUTO"}),
                "none" => json!({"mode": "NONE"}),
                "required" => json!({"mode": "ANY"}),
                _ => json!({"mode": "ANY", "allowedFunctionNames": ["lookup_b"]}),
            };
            (config, both)
        }
        P::Cohere => match choice {
            "auto" => (Value::Null, both),
            "none" => (json!("NONE"), both),
            "required" => (json!("REQUIRED"), both),
            _ => (json!("REQUIRED"), vec!["lookup_b"]),
        },
        P::Groq | P::Cerebras | P::OpenRouter => {
            let sent = choices()
                .into_iter()
                .find(|(name, _)| *name == choice)
                .map(|(_, v)| v)
                .unwrap();
            (sent, both)
        }
    }
}

/// The choice and the declared function names in a body, in `p`'s shape.
fn outbound(p: P, body: &Value) -> (Value, Vec<String>) {
    let names = |list: &Value, key: &str| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.pointer(key).and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    match p {
        P::Gemini => (
            body["toolConfig"]["functionCallingConfig"].clone(),
            names(&body["tools"][0]["functionDeclarations"], "/name"),
        ),
        _ => (
            body.get("tool_choice").cloned().unwrap_or(Value::Null),
            names(&body["tools"], "/function/name"),
        ),
    }
}

#[tokio::test]
async fn tool_choice_and_parallel_tool_calls_reach_each_format() {
    let Some(py) = python() else { return };
    let providers = [P::Groq, P::Gemini, P::Cohere];
    let s = setup(&providers).await;
    for p in providers {
        s.up.serve_ok(p).await;
    }
    let gw = s.serve().await;
    let mut calls = Vec::new();
    for p in providers {
        for (name, choice) in choices() {
            calls.push(
                json!({"model": p.id(), "prompt": format!("choice-{}-{name}", p.id()),
                "fields": {"tools": tools(), "tool_choice": choice}}),
            );
        }
        calls.push(
            json!({"model": p.id(), "prompt": format!("parallel-{}", p.id()),
            "fields": {"tools": tools(), "parallel_tool_calls": false}}),
        );
    }
    let v = sdk(&py, &s, &gw, "each", &json!({"calls": calls})).await;
    let mut results = v["results"].as_array().unwrap().iter();
    for p in providers {
        let id = p.id();
        let bodies = s.up.bodies(p).await;
        let find = |marker: &str| -> Option<&Value> {
            bodies
                .iter()
                .find(|b| b.to_string().contains(&format!("\"{marker}\"")))
        };
        for (name, _) in choices() {
            let got = results.next().unwrap();
            assert_eq!(got["status"], 200, "{id} {name}: {got}");
            let body = find(&format!("choice-{id}-{name}"))
                .unwrap_or_else(|| panic!("{id} {name}: no upstream call"));
            let (choice, declared) = outbound(p, body);
            let (want_choice, want_declared) = expected(p, name);
            assert_eq!(choice, want_choice, "{id} {name}: {body}");
            assert_eq!(declared, want_declared, "{id} {name}: {body}");
        }
        let got = results.next().unwrap();
        let body = find(&format!("parallel-{id}"));
        let delivered = got["status"] == 200
            && body.is_some_and(|b| b.get("parallel_tool_calls") == Some(&json!(false)));
        let named = got["status"] == 200
            && got["headers"]["x-llmpool-dropped-params"]
                .as_str()
                .is_some_and(|d| d.split(',').any(|f| f.trim() == "parallel_tool_calls"));
        let refused = got["status"] == 400
            && got["message"]
                .as_str()
                .is_some_and(|m| m.contains("parallel_tool_calls"));
        assert!(
            delivered || named || refused,
            "{id}: `parallel_tool_calls` was lost: {got} {body:?}"
        );
    }
}
