//! What Ollama's OpenAI layer would ignore without a word (ollama-cloud.md §2: unknown
//! fields are silently ignored) and that changes the answer: a `tool_choice` other than
//! `auto` (not among the fields it reads) and an image by https URL (it reads base64
//! data URLs only, and llmpool never downloads a client's URL). Both fail the route by
//! name before any call.

use llmpool_core::{Content, ContentPart};
use llmpool_openai_compat::ChatCompletionRequest;

/// The [`CompatHooks::body_hook`](llmpool_openai_compat::CompatHooks::body_hook) of Ollama
/// Cloud. Changes and drops nothing.
///
/// # Errors
///
/// `tool_choice` when it is not `auto`; the place of the first image that is not a data
/// URL (`messages[0].content[1].image_url`).
pub(crate) fn refuse_ignored(
    body: &mut ChatCompletionRequest,
    _: &mut Vec<String>,
) -> Result<(), String> {
    if body
        .tool_choice
        .as_ref()
        .is_some_and(|choice| choice.as_str() != Some("auto"))
    {
        return Err("tool_choice".to_owned());
    }
    for (i, message) in body.messages.iter().enumerate() {
        let Some(Content::Parts(parts)) = &message.content else {
            continue;
        };
        for (j, part) in parts.iter().enumerate() {
            if let ContentPart::Image { image_url } = part
                && !image_url.url.starts_with("data:")
            {
                return Err(format!("messages[{i}].content[{j}].image_url"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(extra: &str) -> ChatCompletionRequest {
        serde_json::from_str(&format!(
            r#"{{"model":"gemma4:31b","messages":[{{"role":"user","content":[{{"type":"text","text":"see"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,AAAA"}}}}]}}]{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn auto_and_data_urls_pass_other_choices_and_https_images_are_named() {
        let mut ok = body(r#","tool_choice":"auto""#);
        let before = ok.clone();
        refuse_ignored(&mut ok, &mut Vec::new()).unwrap();
        assert_eq!(ok, before);
        for choice in [
            r#""required""#,
            r#""none""#,
            r#"{"type":"function","function":{"name":"f"}}"#,
        ] {
            let mut b = body(&format!(r#","tool_choice":{choice}"#));
            assert_eq!(
                refuse_ignored(&mut b, &mut Vec::new()).unwrap_err(),
                "tool_choice"
            );
        }
        let mut https: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"gemma4:31b","messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            refuse_ignored(&mut https, &mut Vec::new()).unwrap_err(),
            "messages[1].content[0].image_url"
        );
    }
}
