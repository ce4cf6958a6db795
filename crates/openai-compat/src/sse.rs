//! A server-sent-events decoder that is tolerant in the ways LLM providers need.
//!
//! Off-the-shelf SSE decoders follow the HTML spec and silently drop lines that are not
//! `field: value` pairs. Gemini, however, may append a raw (pretty-printed) JSON error
//! object to a stream without any `data:` prefix; dropping it would make a failed stream
//! look like a cut one. So this decoder reports such lines as [`SseItem::Raw`] and leaves
//! the decision to the provider crate. Otherwise it follows the spec: LF, CRLF and CR line
//! endings, `:` comments (OpenRouter's keep-alives), `event:` names (Cohere), multi-line
//! `data:` joined with `\n`, and an event dispatched at each blank line.

use bytes::{Buf, BytesMut};

/// One decoded item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event.
    Event {
        /// The `event:` name, if any.
        event: Option<String>,
        /// The joined `data:` lines.
        data: String,
    },
    /// A `:` comment line, without the colon (keep-alives).
    Comment(String),
    /// A non-empty line that is not an SSE field (e.g. a raw JSON error body).
    Raw(String),
}

/// Incremental decoder: feed bytes as they arrive, collect items.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: BytesMut,
    event: Option<String>,
    data: Option<String>,
    /// A `\r` ended the previous chunk; a `\n` starting the next one belongs to it.
    pending_cr: bool,
}

impl SseDecoder {
    /// A new decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk of the body; returns the items completed by it.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseItem> {
        if chunk.is_empty() {
            // Nothing arrived: a CR that ended the previous chunk may still meet its LF.
            return Vec::new();
        }
        let mut chunk = chunk;
        if self.pending_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.pending_cr = false;
        self.buf.extend_from_slice(chunk);
        let mut items = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line = self.buf.split_to(pos);
            let terminator = self.buf[0];
            self.buf.advance(1);
            if terminator == b'\r' {
                if self.buf.first() == Some(&b'\n') {
                    self.buf.advance(1);
                } else if self.buf.is_empty() {
                    self.pending_cr = true;
                }
            }
            self.line(&String::from_utf8_lossy(&line), &mut items);
        }
        items
    }

    /// Ends the body: a last line without terminator and an event without its blank
    /// line are still delivered.
    pub fn finish(&mut self) -> Vec<SseItem> {
        let mut items = Vec::new();
        if !self.buf.is_empty() {
            let line = self.buf.split();
            self.line(&String::from_utf8_lossy(&line), &mut items);
        }
        self.dispatch(&mut items);
        items
    }

    fn line(&mut self, line: &str, items: &mut Vec<SseItem>) {
        if line.is_empty() {
            self.dispatch(items);
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            items.push(SseItem::Comment(comment.trim_start().to_owned()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            "id" | "retry" => {}
            _ => items.push(SseItem::Raw(line.to_owned())),
        }
    }

    fn dispatch(&mut self, items: &mut Vec<SseItem>) {
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            items.push(SseItem::Event { event, data });
        }
    }
}

/// The event that ends an OpenAI-style stream.
pub const DONE_EVENT: &str = "data: [DONE]\n\n";

/// Encodes one `data:` event (for the gateway's streams): each line of `data` becomes a
/// `data:` line, and a blank line ends the event.
pub fn encode_data(data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 8);
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(d.push(c));
        }
        out.extend(d.finish());
        out
    }

    fn ev(data: &str) -> SseItem {
        SseItem::Event {
            event: None,
            data: data.into(),
        }
    }

    #[test]
    fn handles_all_line_endings_and_split_chunks() {
        let lf = decode_all(&[b"data: a\n\ndata: b\n\n"]);
        let crlf = decode_all(&[b"data: a\r\n\r\ndata: b\r\n\r\n"]);
        let cr = decode_all(&[b"data: a\r\rdata: b\r\r"]);
        let split = decode_all(&[b"da", b"ta: a\r", b"\n\r", b"\ndata: b\r\n", b"\r\n"]);
        for got in [lf, crlf, cr, split] {
            assert_eq!(got, vec![ev("a"), ev("b")]);
        }
    }

    #[test]
    fn comments_events_multiline_and_raw() {
        let got = decode_all(&[
            b": OPENROUTER PROCESSING\n\nevent: message-end\ndata: {\"x\":1}\n\ndata: l1\ndata: l2\n\n{\n  \"error\": 1\n}\n",
        ]);
        assert_eq!(
            got,
            vec![
                SseItem::Comment("OPENROUTER PROCESSING".into()),
                SseItem::Event {
                    event: Some("message-end".into()),
                    data: "{\"x\":1}".into()
                },
                ev("l1\nl2"),
                SseItem::Raw("{".into()),
                SseItem::Raw("  \"error\": 1".into()),
                SseItem::Raw("}".into()),
            ]
        );
    }

    #[test]
    fn unterminated_last_event_is_delivered() {
        assert_eq!(decode_all(&[b"data: [DONE]"]), vec![ev("[DONE]")]);
    }

    #[test]
    fn encoder_round_trips() {
        let text = format!("{}{}", encode_data("{\"a\":1}"), encode_data("x\ny"));
        let got = decode_all(&[text.as_bytes(), DONE_EVENT.as_bytes()]);
        assert_eq!(got, vec![ev("{\"a\":1}"), ev("x\ny"), ev("[DONE]")]);
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let got = decode_all(&[b"data: \xff\xfe\n\n"]);
        assert_eq!(got.len(), 1);
    }
}
