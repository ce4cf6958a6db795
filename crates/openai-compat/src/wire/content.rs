//! How an upstream's answer `content` is read: a string, `null`, or an array of typed
//! chunks, and where the reasoning hidden in it goes.
//!
//! Two providers put reasoning inside `content` instead of a field of its own:
//!
//! - **Mistral** (reasoning models, `reasoning_effort: "high"`) sends an array of chunks,
//!   `[{"type":"thinking","thinking":[{"type":"text","text":…}]}, {"type":"text","text":…}]`,
//!   one-shot and in stream deltas (mistral.md §3–§4). Text chunks are the answer;
//!   thinking chunks are reasoning. A chunk without `type` but with `text` is text; chunks
//!   of other types (none documented for chat answers) carry no text and are skipped.
//! - **DeepSeek-R1-style models** (Cloudflare, cloudflare.md §3; Groq's `raw` format) open
//!   the answer with an inline `<think>…</think>` block. [`split_leading_think`] moves it
//!   out of a one-shot answer; streams are split by the stream reader as chunks arrive.
//!
//! A string `content` is read as it was before this module existed: one `String`, with no
//! intermediate value and no other allocation.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The tag that opens an inline reasoning block.
pub(crate) const THINK_OPEN: &str = "<think>";
/// The tag that closes an inline reasoning block.
pub(crate) const THINK_CLOSE: &str = "</think>";

/// A `content` as read from an answer or a delta: its answer text and its reasoning.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ContentIn {
    /// The text chunks, concatenated (a plain string `content` is all text). `None` when
    /// there was no text chunk.
    pub(crate) text: Option<String>,
    /// The thinking chunks' text, concatenated; `None` when there was none.
    pub(crate) thinking: Option<String>,
}

impl<'de> Deserialize<'de> for ContentIn {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = ContentIn;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text or an array of content chunks")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<ContentIn, E> {
        Ok(ContentIn {
            text: Some(s.to_owned()),
            thinking: None,
        })
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<ContentIn, E> {
        Ok(ContentIn {
            text: Some(s),
            thinking: None,
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<ContentIn, E> {
        Ok(ContentIn::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ContentIn, A::Error> {
        let mut out = ContentIn::default();
        while let Some(chunk) = seq.next_element::<Chunk>()? {
            match chunk.kind.as_deref() {
                None | Some("text") => append(&mut out.text, chunk.text),
                Some("thinking") => match chunk.thinking {
                    Some(Thinking::Text(text)) => append(&mut out.thinking, Some(text)),
                    Some(Thinking::Chunks(parts)) => {
                        for part in parts {
                            if matches!(part.kind.as_deref(), None | Some("text")) {
                                append(&mut out.thinking, part.text);
                            }
                        }
                    }
                    // Some writers put the thinking text under `text`.
                    None => append(&mut out.thinking, chunk.text),
                },
                Some(_) => {}
            }
        }
        Ok(out)
    }
}

/// One element of an array `content`.
#[derive(Deserialize)]
struct Chunk {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<Thinking>,
}

/// A thinking chunk's payload: Mistral's list of text chunks, or a plain string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Thinking {
    Text(String),
    Chunks(Vec<Chunk>),
}

fn append(to: &mut Option<String>, text: Option<String>) {
    match (to.as_mut(), text) {
        (_, None) => {}
        (Some(have), Some(more)) => have.push_str(&more),
        (None, Some(first)) => *to = Some(first),
    }
}

/// Adds `text` to the reasoning a message or delta already carries: to `reasoning` when
/// it is set (the field the readers prefer), else to `reasoning_content`; joined with
/// `sep`, and not again when it is already there word for word.
pub(crate) fn add_reasoning(
    reasoning: &mut Option<String>,
    reasoning_content: &mut Option<String>,
    text: String,
    sep: &str,
) {
    if text.is_empty() {
        return;
    }
    let target = if reasoning.is_some() {
        reasoning
    } else {
        reasoning_content
    };
    match target {
        Some(have) if have.is_empty() => *have = text,
        Some(have) if *have == text => {}
        Some(have) => {
            have.push_str(sep);
            have.push_str(&text);
        }
        None => *target = Some(text),
    }
}

/// Splits a one-shot answer that opens (after whitespace) with `<think>`: the block's
/// text (trimmed) is reasoning, what follows `</think>` (without its leading blank lines)
/// is the answer. A block that is never closed is all reasoning: the model was cut off
/// while thinking, and a stream of the same answer would have said the same. A `<think>`
/// anywhere else is answer text. Returns `(reasoning, answer)`; `text` comes back
/// untouched (no copy) when it has no leading block.
pub(crate) fn split_leading_think(text: String) -> (Option<String>, String) {
    let Some(rest) = text.trim_start().strip_prefix(THINK_OPEN) else {
        return (None, text);
    };
    let (thought, answer) = rest.split_once(THINK_CLOSE).unwrap_or((rest, ""));
    let thought = thought.trim();
    (
        (!thought.is_empty()).then(|| thought.to_owned()),
        answer.trim_start().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> ContentIn {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn strings_chunks_and_thinking() {
        assert_eq!(
            read(r#""Paris.""#),
            ContentIn {
                text: Some("Paris.".into()),
                thinking: None
            }
        );
        let mistral = read(
            r#"[{"type":"thinking","thinking":[{"type":"text","text":"The user "},{"type":"text","text":"asks."}]},
                {"type":"text","text":"Par"},{"text":"is."}]"#,
        );
        assert_eq!(mistral.text.as_deref(), Some("Paris."));
        assert_eq!(mistral.thinking.as_deref(), Some("The user asks."));
        let plain_thinking = read(r#"[{"type":"thinking","thinking":"hm"}]"#);
        assert_eq!(plain_thinking.text, None);
        assert_eq!(plain_thinking.thinking.as_deref(), Some("hm"));
        let other =
            read(r#"[{"type":"reference","reference_ids":[1]},{"type":"text","text":"x"}]"#);
        assert_eq!(other.text.as_deref(), Some("x"));
        assert_eq!(read("[]"), ContentIn::default());
    }

    #[test]
    fn other_shapes_are_errors() {
        for bad in ["7", "true", r#"{"text":"x"}"#, r#"["x"]"#] {
            assert!(serde_json::from_str::<ContentIn>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn leading_think_blocks() {
        let (r, a) = split_leading_think("<think>\nParis, surely.\n</think>\n\nParis.".into());
        assert_eq!(
            (r.as_deref(), a.as_str()),
            (Some("Paris, surely."), "Paris.")
        );
        let (r, a) = split_leading_think("  <think>still going".into());
        assert_eq!((r.as_deref(), a.as_str()), (Some("still going"), ""));
        let (r, a) = split_leading_think("Use <think> tags.".into());
        assert_eq!((r, a.as_str()), (None, "Use <think> tags."));
        let (r, a) = split_leading_think("<think></think>Paris.".into());
        assert_eq!((r, a.as_str()), (None, "Paris."));
    }

    #[test]
    fn reasoning_is_added_not_replaced() {
        let (mut r, mut rc) = (None, None);
        add_reasoning(&mut r, &mut rc, "a".into(), "\n\n");
        assert_eq!((r.as_deref(), rc.as_deref()), (None, Some("a")));
        add_reasoning(&mut r, &mut rc, "a".into(), "\n\n");
        assert_eq!(rc.as_deref(), Some("a"));
        add_reasoning(&mut r, &mut rc, "b".into(), "\n\n");
        assert_eq!(rc.as_deref(), Some("a\n\nb"));
        let (mut r, mut rc) = (Some("x".to_owned()), None);
        add_reasoning(&mut r, &mut rc, "y".into(), "");
        assert_eq!((r.as_deref(), rc.as_deref()), (Some("xy"), None));
        add_reasoning(&mut r, &mut rc, String::new(), "");
        assert_eq!(r.as_deref(), Some("xy"));
    }
}
