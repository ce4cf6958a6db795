//! Workers AI's OpenAI endpoint takes message `content` only as a string (cloudflare.md §2:
//! an array is a 400 code 5006 "Type mismatch of '/messages/0/content', 'array' not in
//! 'string'") and refuses `content: null` on an assistant turn that calls tools. This pass
//! writes text-only part lists as one string (their texts joined, as core reads them),
//! sends `""` for a tool-only assistant turn, and refuses, by its place in the request, an
//! image or any other non-text part: the endpoint has no way to receive it.

use llmpool_core::{Content, ContentPart};
use llmpool_openai_compat::ChatCompletionRequest;

/// The [`CompatHooks::body_hook`](llmpool_openai_compat::CompatHooks::body_hook) of
/// Cloudflare: string content everywhere. Drops nothing.
///
/// # Errors
///
/// The request field of the first part that is not text
/// (`messages[1].content[0].image_url`, `messages[0].content[2]`).
pub(crate) fn string_content(
    body: &mut ChatCompletionRequest,
    _: &mut Vec<String>,
) -> Result<(), String> {
    for (i, message) in body.messages.iter_mut().enumerate() {
        match &message.content {
            Some(Content::Parts(parts)) => {
                if let Some((j, part)) = parts
                    .iter()
                    .enumerate()
                    .find(|(_, p)| !matches!(p, ContentPart::Text { .. }))
                {
                    return Err(match part {
                        ContentPart::Image { .. } => {
                            format!("messages[{i}].content[{j}].image_url")
                        }
                        _ => format!("messages[{i}].content[{j}]"),
                    });
                }
                let text = message
                    .content
                    .as_ref()
                    .map(|c| c.text().into_owned())
                    .unwrap_or_default();
                message.content = Some(Content::Text(text));
            }
            None if !message.tool_calls.is_empty() => {
                message.content = Some(Content::Text(String::new()));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(messages: serde_json::Value) -> ChatCompletionRequest {
        let mut body = serde_json::json!({"model": "m"});
        body["messages"] = messages;
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn text_parts_become_one_string_and_tool_turns_get_empty_text() {
        let mut b = body(serde_json::json!([
            {"role": "user", "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}
        ]));
        string_content(&mut b, &mut Vec::new()).unwrap();
        let sent = serde_json::to_value(&b).unwrap();
        assert_eq!(sent["messages"][0]["content"], "Hello, world");
        assert_eq!(sent["messages"][1]["content"], "");
        assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], "c1");
        assert_eq!(sent["messages"][2]["content"], "ok");
    }

    #[test]
    fn an_image_or_other_part_is_refused_by_its_place() {
        let mut b = body(serde_json::json!([
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}
        ]));
        assert_eq!(
            string_content(&mut b, &mut Vec::new()).unwrap_err(),
            "messages[1].content[1].image_url"
        );
        let mut b = body(serde_json::json!([
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}
        ]));
        assert_eq!(
            string_content(&mut b, &mut Vec::new()).unwrap_err(),
            "messages[0].content[0]"
        );
    }
}
