//! Mistral's tool-call ids: exactly 9 ASCII letters or digits (`[a-zA-Z0-9]{9}`), else the
//! request is a 400 code `3280` (mistral.md §2). A conversation whose earlier calls were
//! made elsewhere (OpenAI `call_…`, OpenRouter `toolu_…`, UUIDs, ids from before a
//! failover) gets every id rewritten here, consistently: an assistant's `tool_calls[].id`
//! and the `tool_call_id` of the tool messages that answer it map to the same new id.
//!
//! The new id is a function of the old one (FNV-1a 64 of its bytes, written in base 62),
//! so the same conversation sent twice gets the same ids, and ids that already fit pass
//! unchanged (Mistral's own, Groq's, Cerebras'). Answers' ids are never touched.

use std::collections::{HashMap, HashSet};

use llmpool_openai_compat::ChatCompletionRequest;

/// The length Mistral requires.
const LEN: usize = 9;

/// The characters of a new id.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether Mistral takes `id` as it is.
pub(crate) fn is_valid(id: &str) -> bool {
    id.len() == LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The [`CompatHooks::body_hook`](llmpool_openai_compat::CompatHooks::body_hook): rewrites
/// the tool-call ids of `body` that Mistral would refuse. Never fails and drops nothing.
#[expect(
    clippy::unnecessary_wraps,
    reason = "the signature of CompatHooks::body_hook"
)]
pub(crate) fn rewrite(body: &mut ChatCompletionRequest, _: &mut Vec<String>) -> Result<(), String> {
    let mapping = mapping(body);
    if mapping.is_empty() {
        return Ok(());
    }
    for message in &mut body.messages {
        for call in &mut message.tool_calls {
            if let Some(new) = mapping.get(&call.id) {
                call.id.clone_from(new);
            }
        }
        if let Some(id) = message.tool_call_id.as_mut()
            && let Some(new) = mapping.get(id.as_str())
        {
            id.clone_from(new);
        }
    }
    Ok(())
}

/// Old id → new id for every id of `body` that does not fit, in order of appearance. A new
/// id never equals another id of the conversation (valid ones kept, or one already given).
fn mapping(body: &ChatCompletionRequest) -> HashMap<String, String> {
    let ids = body.messages.iter().flat_map(|m| {
        m.tool_calls
            .iter()
            .map(|c| c.id.as_str())
            .chain(m.tool_call_id.as_deref())
    });
    let mut taken: HashSet<String> = ids
        .clone()
        .filter(|id| is_valid(id))
        .map(str::to_owned)
        .collect();
    let mut mapping = HashMap::new();
    for id in ids {
        if is_valid(id) || mapping.contains_key(id) {
            continue;
        }
        // A free id is found within a few salts (62^9 ids for a conversation's few dozen).
        let new = (0..=u32::MAX)
            .map(|salt| encode(id, salt))
            .find(|candidate| !taken.contains(candidate))
            .unwrap_or_else(|| encode(id, 0));
        taken.insert(new.clone());
        mapping.insert(id.to_owned(), new);
    }
    mapping
}

/// Nine base-62 digits of the FNV-1a 64 hash of `id` (and `salt`, when not 0, to step past
/// a collision).
fn encode(id: &str, salt: u32) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let salt_bytes = salt.to_le_bytes();
    let tail: &[u8] = if salt == 0 { &[] } else { &salt_bytes };
    for byte in id.bytes().chain(tail.iter().copied()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..LEN)
        .map(|_| {
            let digit = usize::try_from(hash % 62).unwrap_or(0);
            hash /= 62;
            char::from(ALPHABET[digit])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> ChatCompletionRequest {
        serde_json::from_value(json).unwrap()
    }

    fn conversation(first: &str, second: &str) -> ChatCompletionRequest {
        body(serde_json::json!({
            "model": "ministral-8b-latest",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Lyon?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": first, "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": second, "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Lyon\"}"}}
                ]},
                {"role": "tool", "tool_call_id": second, "content": "12C"},
                {"role": "tool", "tool_call_id": first, "content": "15C"}
            ]
        }))
    }

    #[test]
    fn foreign_ids_become_nine_alphanumerics_matched_across_messages() {
        let mut b = conversation("call_7b205c0d4e", "toolu_bdrk_01AbC");
        rewrite(&mut b, &mut Vec::new()).unwrap();
        let calls = &b.messages[1].tool_calls;
        assert!(calls.iter().all(|c| is_valid(&c.id)), "{calls:?}");
        assert_ne!(calls[0].id, calls[1].id);
        assert_eq!(
            b.messages[3].tool_call_id.as_deref(),
            Some(calls[0].id.as_str())
        );
        assert_eq!(
            b.messages[2].tool_call_id.as_deref(),
            Some(calls[1].id.as_str())
        );
        assert_eq!(calls[0].function.arguments, "{\"city\":\"Paris\"}");
        assert_eq!(b.messages[3].content, Some("15C".to_owned().into()));
    }

    #[test]
    fn the_same_conversation_gets_the_same_ids_and_valid_ids_are_kept() {
        let mut a = conversation("call_1", "ax9fskhev");
        let mut b = conversation("call_1", "ax9fskhev");
        rewrite(&mut a, &mut Vec::new()).unwrap();
        rewrite(&mut b, &mut Vec::new()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.messages[1].tool_calls[1].id, "ax9fskhev");
        assert_ne!(a.messages[1].tool_calls[0].id, "call_1");
        assert_eq!(encode("call_1", 0), a.messages[1].tool_calls[0].id);
    }

    #[test]
    fn a_new_id_never_takes_an_id_already_in_the_conversation() {
        // The valid id equals what `call_x` would become: `call_x` steps to the next salt.
        let clash = encode("call_x", 0);
        let mut b = conversation("call_x", &clash);
        rewrite(&mut b, &mut Vec::new()).unwrap();
        let calls = &b.messages[1].tool_calls;
        assert_eq!(calls[1].id, clash);
        assert_eq!(calls[0].id, encode("call_x", 1));
        assert_eq!(
            b.messages[3].tool_call_id.as_deref(),
            Some(calls[0].id.as_str())
        );
    }

    #[test]
    fn validity_is_exactly_nine_ascii_alphanumerics() {
        assert!(is_valid("ax9fskhev"));
        assert!(!is_valid("ax9fskhe"));
        assert!(!is_valid("ax9fskhev1"));
        assert!(!is_valid("ax9_skhev"));
        assert!(!is_valid("ax9fskhé"));
        assert!(!is_valid(""));
    }
}
