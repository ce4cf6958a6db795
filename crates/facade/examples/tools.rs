//! A tool loop: the model may call `get_weather`; each call is answered by a local
//! function and sent back as a tool result, until the model answers in text. Then the same
//! question once more, as JSON matching a schema.
//!
//! Run with at least one key of a provider whose model calls tools (e.g.
//! `GROQ_API_KEY=… cargo run -p llmpool --example tools -- "Weather in Paris and Tokyo?"`).

use llmpool::ChatHandler;
use llmpool::{ChatRequest, Message, Tool, ToolChoice};
use serde_json::{Value, json};

/// The local implementation of the `get_weather` tool (a stand-in for a real lookup).
fn get_weather(arguments: &str) -> String {
    let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
    let city = args["city"].as_str().unwrap_or("somewhere");
    let temp_c = city.len() % 15 + 10;
    json!({"city": city, "temp_c": temp_c, "sky": "clear"}).to_string()
}

/// At most this many model turns; a model that keeps calling tools is stopped here.
const MAX_TURNS: usize = 5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What is the weather in Paris and in Tokyo?".to_owned());
    let handler = ChatHandler::builder().build().await?;
    let weather = Tool::function(
        "get_weather",
        "Current weather for a city.",
        json!({"type": "object", "properties": {"city": {"type": "string"}},
               "required": ["city"], "additionalProperties": false}),
    );
    let mut req = ChatRequest::from_user(question.clone())
        .with_tool(weather)
        .with_tool_choice(ToolChoice::Auto);
    for _ in 0..MAX_TURNS {
        let resp = handler.chat(req.clone()).await?;
        eprintln!("[{} / {}]", resp.provider, resp.model);
        if resp.tool_calls.is_empty() {
            println!("{}", resp.text);
            break;
        }
        // The assistant's calls go back into the conversation, then one result per call.
        let calls = resp.tool_calls.clone();
        req.messages
            .push(Message::assistant_tool_calls(resp.text, calls.clone()));
        for call in calls {
            eprintln!("calling {}({})", call.name, call.arguments);
            let result = match call.name.as_str() {
                "get_weather" => get_weather(&call.arguments),
                other => json!({"error": format!("no tool `{other}`")}).to_string(),
            };
            req.messages.push(Message::tool_result(call.id, result));
        }
    }

    let structured = ChatRequest::from_user(format!("{question} Answer as JSON."))
        .with_json_schema(
            "weather",
            json!({"type": "object",
               "properties": {"cities": {"type": "array", "items": {"type": "string"}}},
               "required": ["cities"], "additionalProperties": false}),
        );
    match handler.chat(structured).await {
        Ok(resp) => println!("{}", resp.text),
        Err(e) => eprintln!("no route answered the JSON request: {e}"),
    }
    Ok(())
}
