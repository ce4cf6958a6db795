//! Message content: plain text, or a list of parts (text, images, and parts llmpool only
//! carries through).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a message says: plain text (the common, allocation-light case) or typed parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Several parts in order (text and images).
    Parts(Vec<ContentPart>),
}

impl Default for Content {
    fn default() -> Self {
        Self::Text(String::new())
    }
}

impl Content {
    /// The text when the content is plain text, `None` for parts.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Parts(_) => None,
        }
    }

    /// All the text of the content: the text itself, or the text parts joined (images and
    /// other parts contribute nothing). Borrows for plain text.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Self::Text(text) => Cow::Borrowed(text),
            Self::Parts(parts) => {
                let mut texts = parts.iter().filter_map(ContentPart::as_text);
                match (texts.next(), texts.next()) {
                    (None, _) => Cow::Borrowed(""),
                    (Some(only), None) => Cow::Borrowed(only),
                    (Some(first), Some(second)) => {
                        let mut joined = String::from(first);
                        joined.push_str(second);
                        texts.for_each(|t| joined.push_str(t));
                        Cow::Owned(joined)
                    }
                }
            }
        }
    }

    /// Characters of text, for token estimates (an image counts as nothing here).
    pub fn text_chars(&self) -> usize {
        match self {
            Self::Text(text) => text.chars().count(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(ContentPart::as_text)
                .map(|t| t.chars().count())
                .sum(),
        }
    }

    /// Whether there is no text and no part.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Text(text) => text.is_empty(),
            Self::Parts(parts) => parts.is_empty(),
        }
    }

    /// The parts, when the content has any.
    pub fn parts(&self) -> &[ContentPart] {
        match self {
            Self::Text(_) => &[],
            Self::Parts(parts) => parts,
        }
    }

    /// Whether any part is an image.
    pub fn has_image(&self) -> bool {
        self.parts()
            .iter()
            .any(|p| matches!(p, ContentPart::Image { .. }))
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<&String> for Content {
    fn from(text: &String) -> Self {
        Self::Text(text.clone())
    }
}

impl From<Vec<ContentPart>> for Content {
    fn from(parts: Vec<ContentPart>) -> Self {
        Self::Parts(parts)
    }
}

impl PartialEq<str> for Content {
    fn eq(&self, other: &str) -> bool {
        self.as_text() == Some(other)
    }
}

impl PartialEq<&str> for Content {
    fn eq(&self, other: &&str) -> bool {
        self.as_text() == Some(*other)
    }
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// A piece of text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by `data:` URL or `https:` URL.
    #[serde(rename = "image_url")]
    Image {
        /// The image's address.
        image_url: ImageUrl,
    },
    /// A part of a kind llmpool does not interpret (`input_audio`, `file`, …): passed
    /// through to OpenAI-compatible upstreams as it came, refused by name elsewhere.
    #[serde(untagged)]
    Other(Map<String, Value>),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// An image part from a `data:` or `https:` URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        Self::Image {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
            },
        }
    }

    /// The text of a text part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text { text } => Some(text),
            Self::Image { .. } | Self::Other(_) => None,
        }
    }

    /// The part's `type` as OpenAI names it.
    pub fn kind(&self) -> &str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image_url",
            Self::Other(map) => map.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }
}

/// OpenAI's `image_url` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// `data:<mime>;base64,<data>` or an `https:` URL (llmpool never downloads it: only
    /// providers that fetch URLs themselves get one).
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ImageUrl {
    /// The MIME type and base64 payload of a `data:` URL; `None` for other URLs.
    pub fn data(&self) -> Option<(&str, &str)> {
        let rest = self.url.strip_prefix("data:")?;
        let (meta, data) = rest.split_once(',')?;
        let mime = meta.strip_suffix(";base64")?;
        Some((mime, data))
    }

    /// Whether the URL is `https:`, i.e. the upstream must fetch it.
    pub fn is_remote(&self) -> bool {
        self.url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_borrows_and_parts_join() {
        let plain = Content::from("hi");
        assert!(matches!(plain.text(), Cow::Borrowed("hi")));
        assert_eq!(plain, "hi");
        let parts = Content::Parts(vec![
            ContentPart::text("a"),
            ContentPart::image_url("https://x/y.png"),
            ContentPart::text("b"),
        ]);
        assert_eq!(parts.text(), "ab");
        assert_eq!(parts.text_chars(), 2);
        assert!(parts.has_image());
        assert!(!plain.has_image());
        assert_ne!(parts, "ab");
    }

    #[test]
    fn parts_round_trip_the_openai_shape() {
        let wire = json!([
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "BBBB", "format": "wav"}}
        ]);
        let content: Content = serde_json::from_value(wire.clone()).unwrap();
        let Content::Parts(parts) = &content else {
            panic!("not parts")
        };
        let ContentPart::Image { image_url: image } = &parts[1] else {
            panic!("not an image")
        };
        assert_eq!(image.data(), Some(("image/png", "AAAA")));
        assert!(!image.is_remote());
        assert_eq!(parts[2].kind(), "input_audio");
        assert_eq!(serde_json::to_value(&content).unwrap(), wire);
        assert_eq!(
            serde_json::to_value(Content::from("x")).unwrap(),
            json!("x")
        );
    }

    #[test]
    fn remote_urls_are_recognised() {
        assert!(
            ImageUrl {
                url: "HTTPS://a/b".into(),
                detail: None
            }
            .is_remote()
        );
        assert!(
            ImageUrl {
                url: "https://a/b".into(),
                detail: None
            }
            .data()
            .is_none()
        );
    }
}
