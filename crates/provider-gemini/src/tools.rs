//! Function calling, request side: declarations, `toolConfig`, replayed calls and tool
//! results (capabilities.md §1, §6.1, §6.5).
//!
//! Parameters go as `parametersJsonSchema` (JSON Schema), not as the OpenAPI-subset
//! `parameters`: the subset rejects the whole request for one keyword it does not know
//! (`additionalProperties`, `const`, `exclusiveMinimum`, `$schema`, …; fixture
//! `tools-error-400-unknown-schema-field.json`), and a sanitizer that drops such
//! keywords would loosen the caller's schema in silence. `parametersJsonSchema` takes
//! JSON Schema as OpenAI clients write it (including `$ref`/`$defs` and
//! `additionalProperties`); only the root `$schema`, which it rejects, is removed.

use std::collections::HashMap;

use serde_json::{Map, Value};

use llmpool_core::{
    ChatRequest, ErrorKind, Message, ProviderError, ResponseFormat, Tool, ToolCall, ToolChoice,
};

use crate::ID;
use crate::signature::{self, SKIP_SIGNATURE};
use crate::wire::{
    CallPart, Content, FunctionCall, FunctionCallingConfig, FunctionDeclaration, FunctionResponse,
    Part, ToolConfig, ToolDeclarations,
};

fn bad_request(message: String) -> ProviderError {
    ProviderError::new(ID, ErrorKind::BadRequest).with_message(message)
}

/// Gemini 3 models (and the `gemini-flash…-latest` aliases, which serve them): they sign
/// function calls and take a JSON answer format together with tools.
pub(crate) fn is_gemini_3(model: &str) -> bool {
    model.starts_with("gemini-3") || model.starts_with("gemini-flash")
}

/// Whether a replayed model turn needs a thought signature on its first call: every
/// Gemini model but the 1.x and 2.x families, which neither sign calls nor ask for it.
fn wants_signatures(model: &str) -> bool {
    model.starts_with("gemini-") && !model.starts_with("gemini-1") && !model.starts_with("gemini-2")
}

/// `tools` and `toolConfig` for `req`, or a refusal naming what Gemini would reject.
pub(crate) fn declarations(
    req: &ChatRequest,
    model: &str,
) -> Result<(Vec<ToolDeclarations>, Option<ToolConfig>), ProviderError> {
    if req.tools.is_empty() {
        return match &req.tool_choice {
            None | Some(ToolChoice::Auto | ToolChoice::None) => Ok((Vec::new(), None)),
            Some(choice) => Err(bad_request(format!(
                "`tool_choice` `{}` needs `tools`, and the request declares none",
                choice.as_str()
            ))),
        };
    }
    if ["gemma-1", "gemma-2", "gemma-3"]
        .iter()
        .any(|old| model.starts_with(old))
    {
        return Err(bad_request(format!(
            "`tools` is not supported by provider `gemini` for `{model}` (Gemini answers 400: function calling is not enabled for Gemma 3 and older)"
        )));
    }
    check_json_combination(req, model)?;
    let functions = req
        .tools
        .iter()
        .enumerate()
        .map(|(i, tool)| declaration(i, tool))
        .collect::<Result<Vec<_>, _>>()?;
    let strict = req.tools.iter().any(|t| t.strict == Some(true));
    let config = |mode, allowed: Vec<String>| {
        Some(ToolConfig {
            function_calling_config: FunctionCallingConfig {
                mode,
                allowed_function_names: allowed,
            },
        })
    };
    let tool_config = match &req.tool_choice {
        // `VALIDATED` holds calls to their schemas and still lets the model answer in
        // text: `strict` tools under the default choice. Without a choice the default
        // (`AUTO`) needs no `toolConfig`; an explicit `auto` is sent as it was asked.
        None | Some(ToolChoice::Auto) if strict => config("VALIDATED", Vec::new()),
        None => None,
        Some(ToolChoice::Auto) => config("AUTO", Vec::new()),
        Some(ToolChoice::None) => config("NONE", Vec::new()),
        Some(ToolChoice::Required) => config("ANY", Vec::new()),
        Some(ToolChoice::Function(name)) => {
            if !req.tools.iter().any(|t| t.name == *name) {
                return Err(bad_request(format!(
                    "`tool_choice` names the function `{name}`, which is not among the request's `tools`"
                )));
            }
            config("ANY", vec![name.clone()])
        }
    };
    Ok((
        vec![ToolDeclarations {
            function_declarations: functions,
        }],
        tool_config,
    ))
}

/// Refuses the combinations Gemini answers 400 (capabilities.md §2.3): a JSON answer
/// format with forced function calling (mode `ANY`), and on models before Gemini 3 a JSON
/// format with function declarations at all.
fn check_json_combination(req: &ChatRequest, model: &str) -> Result<(), ProviderError> {
    let format = match &req.response_format {
        None | Some(ResponseFormat::Text) => return Ok(()),
        Some(format) => format.as_str(),
    };
    let forced = match &req.tool_choice {
        Some(ToolChoice::Required) => Some("`required`".to_owned()),
        Some(ToolChoice::Function(name)) => Some(format!("naming `{name}`")),
        _ => None,
    };
    if let Some(forced) = forced {
        return Err(bad_request(format!(
            "gemini cannot force a function call (`tool_choice` {forced}) together with `response_format` `{format}` (Gemini answers 400: forced function calling with a JSON response mime type is unsupported)"
        )));
    }
    if !is_gemini_3(model) {
        return Err(bad_request(format!(
            "`{model}` cannot combine `tools` with `response_format` `{format}` (Gemini before 3 answers 400: function calling with a JSON response mime type is unsupported)"
        )));
    }
    Ok(())
}

/// One `functionDeclarations[]` entry.
fn declaration(i: usize, tool: &Tool) -> Result<FunctionDeclaration, ProviderError> {
    if !valid_name(&tool.name) {
        return Err(bad_request(format!(
            "tools[{i}].function.name `{}` is not a name gemini accepts (a letter or `_` first, then letters, digits, `_ . : -`, at most 128 characters)",
            tool.name
        )));
    }
    let parameters = match &tool.parameters {
        None => None,
        Some(schema) if is_empty_object_schema(schema) => None,
        Some(Value::Object(schema)) => {
            let mut schema = schema.clone();
            schema.remove("$schema");
            Some(Value::Object(schema))
        }
        Some(_) => {
            return Err(bad_request(format!(
                "tools[{i}].function.parameters (`{}`) is not a JSON Schema object",
                tool.name
            )));
        }
    };
    Ok(FunctionDeclaration {
        name: tool.name.clone(),
        description: tool.description.clone().filter(|d| !d.is_empty()),
        parameters_json_schema: parameters,
    })
}

/// Gemini's rule for function names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

/// `{}` or an object schema without properties: the function takes no arguments, and
/// Gemini wants no schema then.
fn is_empty_object_schema(schema: &Value) -> bool {
    let Some(obj) = schema.as_object() else {
        return false;
    };
    obj.iter().all(|(key, value)| match key.as_str() {
        "type" => value == "object",
        "properties" => value.as_object().is_some_and(Map::is_empty),
        "required" => value.as_array().is_some_and(Vec::is_empty),
        "$schema" | "additionalProperties" | "description" | "title" => true,
        _ => false,
    })
}

/// The `functionCall` part replaying `call` (the `j`-th call of `messages[i]`), with
/// the id and signature its id carries.
pub(crate) fn call_part(i: usize, j: usize, call: &ToolCall) -> Result<Part, ProviderError> {
    let args = match serde_json::from_str::<Value>(call.arguments.trim()) {
        _ if call.arguments.trim().is_empty() => Value::Object(Map::new()),
        Ok(Value::Null) => Value::Object(Map::new()),
        Ok(args @ Value::Object(_)) => args,
        Ok(_) => {
            return Err(bad_request(format!(
                "messages[{i}].tool_calls[{j}].function.arguments (call `{}` of `{}`) is not a JSON object",
                call.id, call.name
            )));
        }
        Err(e) => {
            return Err(bad_request(format!(
                "messages[{i}].tool_calls[{j}].function.arguments (call `{}` of `{}`) is not valid JSON: {e}",
                call.id, call.name
            )));
        }
    };
    let replay = signature::replay(&call.id);
    Ok(Part::Call(CallPart {
        function_call: FunctionCall {
            id: replay.id,
            name: call.name.clone(),
            args,
        },
        thought_signature: replay.signature,
    }))
}

/// The `functionResponse` part of the tool result `messages[i]`, named after the
/// earlier call it answers (`names`: call id → function name).
pub(crate) fn result_part(
    i: usize,
    message: &Message,
    text: &str,
    names: &HashMap<&str, &str>,
) -> Result<Part, ProviderError> {
    let Some(call_id) = message.tool_call_id.as_deref() else {
        return Err(bad_request(format!(
            "messages[{i}] (role `tool`) has no `tool_call_id`"
        )));
    };
    let Some(name) = names.get(call_id) else {
        return Err(bad_request(format!(
            "messages[{i}].tool_call_id `{call_id}` answers no tool call of an earlier assistant message"
        )));
    };
    let mut response = Map::new();
    response.insert("name".to_owned(), Value::String((*name).to_owned()));
    response.insert("content".to_owned(), result_value(text));
    Ok(Part::Result {
        function_response: FunctionResponse {
            id: signature::replay(call_id).id,
            name: (*name).to_owned(),
            response: Value::Object(response),
        },
    })
}

/// A tool result as Gemini's `response.content`: a JSON object or array as itself,
/// anything else (plain text, a bare number) as the text. A JSON value holding a `$ref`
/// or `$defs` key stays text too: Gemini would read it as a schema reference and
/// answer 400 (vercel/ai#14369), and dropping the key would lose data.
fn result_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) if !has_ref_key(&value) => value,
        _ => Value::String(text.to_owned()),
    }
}

fn has_ref_key(value: &Value) -> bool {
    match value {
        Value::Object(obj) => obj
            .iter()
            .any(|(k, v)| k == "$ref" || k == "$defs" || has_ref_key(v)),
        Value::Array(items) => items.iter().any(has_ref_key),
        _ => false,
    }
}

/// Gives the first function call of every model turn a signature where it has none, on
/// models that require one: a call replayed from another provider, or whose id lost its
/// signature, then gets Google's documented placeholder.
pub(crate) fn fill_missing_signatures(contents: &mut [Content], model: &str) {
    if !wants_signatures(model) {
        return;
    }
    for content in contents.iter_mut().filter(|c| c.role == "model") {
        let first_call = content.parts.iter_mut().find_map(|p| match p {
            Part::Call(call) => Some(call),
            _ => None,
        });
        if let Some(call) = first_call
            && call.thought_signature.is_none()
        {
            call.thought_signature = Some(SKIP_SIGNATURE.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_follow_gemini_rules() {
        assert!(valid_name("get_weather") && valid_name("_a.b:c-d"));
        assert!(!valid_name("") && !valid_name("1st") && !valid_name("-x") && !valid_name("a b"));
        assert!(!valid_name(&"a".repeat(129)));
    }

    #[test]
    fn empty_object_schemas_are_left_out() {
        assert!(is_empty_object_schema(&json!({})));
        assert!(is_empty_object_schema(
            &json!({"type": "object", "properties": {}, "additionalProperties": false})
        ));
        assert!(!is_empty_object_schema(
            &json!({"type": "object", "properties": {"a": {"type": "string"}}})
        ));
        assert!(!is_empty_object_schema(&json!({"type": "string"})));
    }

    #[test]
    fn results_are_objects_arrays_or_text() {
        assert_eq!(result_value(r#"{"temp":17}"#), json!({"temp": 17}));
        assert_eq!(result_value("[1,2]"), json!([1, 2]));
        assert_eq!(result_value("metadata"), json!("metadata"));
        assert_eq!(result_value("42"), json!("42"));
        assert_eq!(
            result_value(r##"{"a":{"$ref":"#/x"}}"##),
            json!(r##"{"a":{"$ref":"#/x"}}"##)
        );
    }

    #[test]
    fn signatures_are_wanted_from_gemini_3_on() {
        assert!(
            wants_signatures("gemini-3.1-flash-lite") && wants_signatures("gemini-flash-latest")
        );
        assert!(!wants_signatures("gemini-2.5-flash") && !wants_signatures("gemma-3-27b-it"));
    }
}
