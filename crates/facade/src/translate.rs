//! Batch translation: many texts in one request to save quota, with per-item fallback.
//!
//! A batch goes out as a JSON object numbering the texts (`{"1": "…", "2": "…"}`) and
//! must come back as the same object translated. Anything else (other keys, a missing
//! or extra item, prose around broken JSON) fails the batch, and its texts are then
//! translated one by one; a text that still cannot be translated is returned unchanged.

use std::collections::BTreeMap;

use llmpool_core::{ChatRequest, Message};

/// How texts are grouped into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most characters of source text in one batch.
    pub max_chars: usize,
    /// Most texts in one batch.
    pub max_items: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_chars: 6_000,
            max_items: 40,
        }
    }
}

/// Groups the indices of the texts that need translating (blank ones pass through) into
/// batches that respect `limits`, keeping order. A text longer than `max_chars` gets a
/// batch of its own.
pub(crate) fn plan_batches(texts: &[String], limits: BatchLimits) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut chars = 0;
    for (i, text) in texts.iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let len = text.chars().count();
        if !current.is_empty()
            && (chars + len > limits.max_chars || current.len() >= limits.max_items.max(1))
        {
            batches.push(std::mem::take(&mut current));
            chars = 0;
        }
        current.push(i);
        chars += len;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn system_prompt(target: &str) -> String {
    format!(
        "You are a translation engine. Translate every value of the JSON object the user sends \
         into {target}. Keep the keys exactly as they are, keep formatting, placeholders and \
         line breaks, and do not add or drop items. Reply with the JSON object only, no prose, \
         no code fences."
    )
}

/// The request for one batch.
pub(crate) fn batch_request(items: &[&str], target: &str) -> ChatRequest {
    let numbered: BTreeMap<String, &str> = items
        .iter()
        .enumerate()
        .map(|(i, t)| ((i + 1).to_string(), *t))
        .collect();
    let body = serde_json::to_string(&numbered).unwrap_or_default();
    let mut req = ChatRequest::new(vec![
        Message::system(system_prompt(target)),
        Message::user(body),
    ]);
    req.temperature = Some(0.0);
    req
}

/// The request for one text on its own.
pub(crate) fn single_request(text: &str, target: &str) -> ChatRequest {
    let mut req = ChatRequest::new(vec![
        Message::system(format!(
            "You are a translation engine. Translate the user's text into {target}. Reply with \
             the translation only, keeping formatting and line breaks."
        )),
        Message::user(text),
    ]);
    req.temperature = Some(0.0);
    req
}

/// Parses a batch answer: exactly the keys `1..=expected`, each a string. Tolerates code
/// fences and text around the object. Returns the translations in order.
pub(crate) fn parse_batch_answer(answer: &str, expected: usize) -> Result<Vec<String>, String> {
    let start = answer.find('{').ok_or("the answer holds no JSON object")?;
    let end = answer.rfind('}').ok_or("the answer holds no JSON object")?;
    if end < start {
        return Err("the answer holds no JSON object".to_owned());
    }
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(&answer[start..=end])
        .map_err(|e| format!("the answer is not a JSON object of strings: {e}"))?;
    if map.len() != expected {
        return Err(format!(
            "expected {expected} translations, got {}",
            map.len()
        ));
    }
    (1..=expected)
        .map(|i| match map.get(&i.to_string()) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(_) => Err(format!("item {i} is not a non-empty string")),
            None => Err(format!("item {i} is missing")),
        })
        .collect()
}

/// Cleans a single translation: trims and removes wrapping code fences or quotes.
pub(crate) fn clean_single(answer: &str) -> Option<String> {
    let mut t = answer.trim();
    if let Some(inner) = t.strip_prefix("```").and_then(|s| s.strip_suffix("```")) {
        t = inner
            .split_once('\n')
            .map_or(inner, |(_, rest)| rest)
            .trim();
    }
    (!t.is_empty()).then(|| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn batches_skip_blanks_and_respect_limits() {
        let texts = s(&["a", "  ", "bb", "", "ccc", "dddd"]);
        let all = plan_batches(&texts, BatchLimits::default());
        assert_eq!(all, vec![vec![0, 2, 4, 5]]);
        let small = plan_batches(
            &texts,
            BatchLimits {
                max_chars: 4,
                max_items: 10,
            },
        );
        assert_eq!(small, vec![vec![0, 2], vec![4], vec![5]]);
        let few = plan_batches(
            &texts,
            BatchLimits {
                max_chars: 100,
                max_items: 2,
            },
        );
        assert_eq!(few, vec![vec![0, 2], vec![4, 5]]);
    }

    #[test]
    fn batch_request_numbers_items() {
        let req = batch_request(&["hello", "world"], "Persian");
        assert_eq!(req.messages[1].content, r#"{"1":"hello","2":"world"}"#);
        assert!(req.messages[0].content.text().contains("Persian"));
    }

    #[test]
    fn parses_answers_strictly() {
        assert_eq!(
            parse_batch_answer("```json\n{\"1\": \"سلام\", \"2\": \"دنیا\"}\n```", 2).unwrap(),
            s(&["سلام", "دنیا"])
        );
        assert!(
            parse_batch_answer(r#"{"1": "a"}"#, 2)
                .unwrap_err()
                .contains("expected 2")
        );
        assert!(
            parse_batch_answer(r#"{"1": "a", "3": "b"}"#, 2)
                .unwrap_err()
                .contains("item 2")
        );
        assert!(parse_batch_answer(r#"{"1": 5}"#, 1).is_err());
        assert!(parse_batch_answer("sorry, I cannot", 1).is_err());
    }

    #[test]
    fn cleans_single_answers() {
        assert_eq!(clean_single("  hola \n").as_deref(), Some("hola"));
        assert_eq!(clean_single("```\nhola\n```").as_deref(), Some("hola"));
        assert_eq!(clean_single("   "), None);
    }
}
