//! A minimal upstream for the gateway benchmark: answers every chat call at once with a
//! fixed, realistic body in the caller's wire format, so that what is measured is the
//! gateway in front of it, never the upstream.
//!
//! - `POST …/chat/completions` (Groq, Cerebras, OpenRouter, and the gateway's own API):
//!   an OpenAI `chat.completion`, or with `"stream": true` a 20-chunk SSE answer, a usage
//!   chunk and `data: [DONE]`;
//! - `POST …/models/{model}:generateContent` / `:streamGenerateContent` (Gemini): a
//!   `generateContent` answer, or 20 `data:` events separated by CRLF pairs;
//! - `POST …/chat` (Cohere v2): a v2 chat answer, or Cohere's typed events ending with
//!   `message-end` and `data: [DONE]`.
//!
//! Every body is built once at start from the recorded answers in `fixtures/` (copies of
//! `shared/providers/fixtures/<id>/`), with the answer text set to 20 words; a request costs a path match, a scan of its body
//! for `"stream":true` and a clone of `Bytes`. Stream chunks are separate body frames
//! so the client sees a real first chunk, sent without delay.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Number of text chunks of every streamed answer.
pub const STREAM_CHUNKS: usize = 20;

/// The words of the fixed answer; streamed one per chunk.
const WORDS: [&str; STREAM_CHUNKS] = [
    "Luminaria",
    " is",
    " a",
    " spring",
    " festival",
    " of",
    " light",
    ",",
    " held",
    " on",
    " the",
    " equinox",
    " when",
    " day",
    " and",
    " night",
    " stand",
    " in",
    " balance",
    ".",
];

/// The wire format a request path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completions (Groq, Cerebras, OpenRouter, llmpool itself).
    OpenAi,
    /// Gemini `generateContent`.
    Gemini,
    /// Cohere v2 chat.
    Cohere,
}

impl Format {
    /// The format of a request path, `None` for paths this upstream does not serve.
    pub fn of_path(path: &str) -> Option<Self> {
        if path.ends_with("/chat/completions") {
            Some(Self::OpenAi)
        } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
            Some(Self::Gemini)
        } else if path.ends_with("/chat") {
            Some(Self::Cohere)
        } else {
            None
        }
    }
}

/// The pre-built bodies of every answer.
#[derive(Debug, Clone)]
pub struct Canned {
    openai: Bytes,
    openai_stream: Vec<Bytes>,
    gemini: Bytes,
    gemini_stream: Vec<Bytes>,
    cohere: Bytes,
    cohere_stream: Vec<Bytes>,
}

fn text() -> String {
    WORDS.concat()
}

/// The recorded answers the canned ones are built from (copies of
/// `shared/providers/fixtures/<id>/`, see `fixtures/README.md`).
mod fixtures {
    pub(super) const OPENAI: &str = include_str!("../fixtures/groq/chat_ok.json");
    pub(super) const OPENAI_STREAM: &str = include_str!("../fixtures/groq/chat_stream.sse");
    pub(super) const GEMINI: &str = include_str!("../fixtures/gemini/generate_ok.json");
    pub(super) const GEMINI_STREAM: &str = include_str!("../fixtures/gemini/stream.sse");
    pub(super) const COHERE: &str = include_str!("../fixtures/cohere/chat_ok.json");
    pub(super) const COHERE_STREAM: &str = include_str!("../fixtures/cohere/chat_stream.sse");
}

/// A fixture parsed as JSON.
fn parse(name: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("fixture {name} is not JSON"))
}

/// `value` with `new` at `pointer` (which must exist).
fn with(mut value: Value, pointer: &str, new: Value) -> anyhow::Result<Value> {
    *value
        .pointer_mut(pointer)
        .with_context(|| format!("a fixture has nothing at {pointer}"))? = new;
    Ok(value)
}

/// The events of a recorded stream, in order: each `data:` line's JSON with the
/// `event:` line before it (empty when none); `data: [DONE]` is left out.
fn events(name: &str, text: &str) -> anyhow::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let mut kind = String::new();
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("event:") {
            k.trim().clone_into(&mut kind);
        } else if let Some(data) = line.strip_prefix("data:") {
            let data = data.trim();
            if data != "[DONE]" {
                out.push((std::mem::take(&mut kind), parse(name, data)?));
            }
        }
    }
    if out.is_empty() {
        anyhow::bail!("fixture {name} holds no events");
    }
    Ok(out)
}

impl Canned {
    /// Builds every body from the fixtures: one-shot answers as recorded with the text
    /// replaced by the 20 words, streams as recorded with their text event repeated
    /// once per word.
    pub fn new() -> anyhow::Result<Self> {
        let text = || Value::String(text());

        let openai = with(
            parse("groq/chat_ok.json", fixtures::OPENAI)?,
            "/choices/0/message/content",
            text(),
        )?;
        let recorded = events("groq/chat_stream.sse", fixtures::OPENAI_STREAM)?;
        let has_text = |v: &Value| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
        };
        let (first, last) = (&recorded[0].1, &recorded[recorded.len() - 1].1);
        let chunk = &recorded
            .iter()
            .find(|(_, v)| has_text(v))
            .context("groq/chat_stream.sse has no text chunk")?
            .1;
        let mut openai_stream = vec![sse(first, "\n\n")];
        for word in WORDS {
            let c = with(chunk.clone(), "/choices/0/delta/content", json!(word))?;
            openai_stream.push(sse(&c, "\n\n"));
        }
        openai_stream.push(sse(last, "\n\n"));
        openai_stream.push(Bytes::from_static(b"data: [DONE]\n\n"));

        let gemini = with(
            parse("gemini/generate_ok.json", fixtures::GEMINI)?,
            "/candidates/0/content/parts",
            json!([{ "text": text() }]),
        )?;
        let recorded = events("gemini/stream.sse", fixtures::GEMINI_STREAM)?;
        let (chunk, last) = (&recorded[0].1, &recorded[recorded.len() - 1].1);
        let mut gemini_stream = Vec::with_capacity(STREAM_CHUNKS);
        for (i, word) in WORDS.iter().enumerate() {
            let base = if i + 1 == STREAM_CHUNKS { last } else { chunk };
            let c = with(
                base.clone(),
                "/candidates/0/content/parts",
                json!([{ "text": word }]),
            )?;
            gemini_stream.push(sse(&c, "\r\n\r\n"));
        }

        let cohere = with(
            parse("cohere/chat_ok.json", fixtures::COHERE)?,
            "/message/content/0/text",
            text(),
        )?;
        let recorded = events("cohere/chat_stream.sse", fixtures::COHERE_STREAM)?;
        let is_delta = |(kind, _): &&(String, Value)| kind == "content-delta";
        let first_delta = recorded
            .iter()
            .position(|e| is_delta(&e))
            .context("cohere/chat_stream.sse has no content-delta")?;
        let after_deltas = recorded.len()
            - recorded
                .iter()
                .rev()
                .position(|e| is_delta(&e))
                .unwrap_or_default();
        let typed =
            |kind: &str, data: &Value| Bytes::from(format!("event: {kind}\ndata: {data}\n\n"));
        let mut cohere_stream: Vec<Bytes> = recorded[..first_delta]
            .iter()
            .map(|(kind, data)| typed(kind, data))
            .collect();
        for word in WORDS {
            let c = with(
                recorded[first_delta].1.clone(),
                "/delta/message/content/text",
                json!(word),
            )?;
            cohere_stream.push(typed("content-delta", &c));
        }
        cohere_stream.extend(
            recorded[after_deltas..]
                .iter()
                .map(|(kind, data)| typed(kind, data)),
        );
        cohere_stream.push(Bytes::from_static(b"data: [DONE]\n\n"));

        Ok(Self {
            openai: Bytes::from(openai.to_string()),
            openai_stream,
            gemini: Bytes::from(gemini.to_string()),
            gemini_stream,
            cohere: Bytes::from(cohere.to_string()),
            cohere_stream,
        })
    }

    /// The one-shot body of a format.
    pub fn body(&self, format: Format) -> &Bytes {
        match format {
            Format::OpenAi => &self.openai,
            Format::Gemini => &self.gemini,
            Format::Cohere => &self.cohere,
        }
    }

    /// The stream frames of a format, in order.
    pub fn stream(&self, format: Format) -> &[Bytes] {
        match format {
            Format::OpenAi => &self.openai_stream,
            Format::Gemini => &self.gemini_stream,
            Format::Cohere => &self.cohere_stream,
        }
    }
}

fn sse(value: &serde_json::Value, end: &str) -> Bytes {
    Bytes::from(format!("data: {value}{end}"))
}

/// True when a request body asks for a stream (`"stream": true`, any spacing).
pub fn wants_stream(body: &[u8]) -> bool {
    let needle = b"\"stream\"";
    let mut rest = body;
    while let Some(pos) = find(rest, needle) {
        rest = &rest[pos + needle.len()..];
        let value = rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b':'))
            .map_or(&[][..], |i| &rest[i..]);
        if value.starts_with(b"true") {
            return true;
        }
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

type Body = BoxBody<Bytes, Infallible>;

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).boxed()
}

async fn answer(canned: Arc<Canned>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let format = Format::of_path(req.uri().path());
    let gemini_stream = req.uri().path().contains(":streamGenerateContent");
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let Some(format) = format else {
        let mut response = Response::new(full(Bytes::from_static(
            br#"{"error":{"message":"not found","type":"invalid_request_error"}}"#,
        )));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Ok(response);
    };
    let stream = gemini_stream || (format != Format::Gemini && wants_stream(&body));
    let response = if stream {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = canned
            .stream(format)
            .iter()
            .map(|b| Ok(Frame::data(b.clone())))
            .collect();
        let mut response = Response::new(StreamBody::new(futures::stream::iter(frames)).boxed());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert("cache-control", HeaderValue::from_static("no-cache"));
        // nginx passes each chunk on at once instead of buffering the answer.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    } else {
        let mut response = Response::new(full(canned.body(format).clone()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    };
    Ok(response)
}

/// Serves the canned answers on `listener` until the task is dropped; one task per
/// connection, keep-alive on.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let canned = Arc::new(Canned::new().map_err(|e| std::io::Error::other(format!("{e:#}")))?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let canned = Arc::clone(&canned);
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(Arc::clone(&canned), req));
            // A client that goes away mid-request is not the upstream's problem.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

/// Binds `addr` and returns the listener with its real address (for port 0).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_stream_requests() {
        assert!(wants_stream(br#"{"model":"x","stream":true}"#));
        assert!(wants_stream(br#"{"stream" : true,"model":"x"}"#));
        assert!(!wants_stream(br#"{"stream":false}"#));
        assert!(!wants_stream(br#"{"model":"stream"}"#));
    }

    #[test]
    fn routes_paths_to_formats() {
        assert_eq!(
            Format::of_path("/openai/v1/chat/completions"),
            Some(Format::OpenAi)
        );
        assert_eq!(
            Format::of_path("/v1beta/models/gemini-3.1-flash-lite:generateContent"),
            Some(Format::Gemini)
        );
        assert_eq!(Format::of_path("/v2/chat"), Some(Format::Cohere));
        assert_eq!(Format::of_path("/v1/models"), None);
    }

    #[test]
    fn bodies_are_the_recorded_answers_with_the_text_replaced() {
        let c = Canned::new().unwrap();
        let body = |f: Format| serde_json::from_slice::<Value>(c.body(f)).unwrap();
        let openai = body(Format::OpenAi);
        assert_eq!(openai["choices"][0]["message"]["content"], text());
        assert_eq!(openai["system_fingerprint"], "fp_f8b414701e");
        assert_eq!(openai["usage"]["prompt_tokens"], 45);
        let gemini = body(Format::Gemini);
        assert_eq!(
            gemini["candidates"][0]["content"]["parts"][0]["text"],
            text()
        );
        assert_eq!(gemini["responseId"], "FugfaZasF6ra2roP_9i9KQ");
        let cohere = body(Format::Cohere);
        assert_eq!(cohere["message"]["content"][0]["text"], text());
        assert_eq!(cohere["finish_reason"], "COMPLETE");
        let last =
            |f: Format| String::from_utf8_lossy(&c.stream(f)[c.stream(f).len() - 2]).into_owned();
        assert!(
            last(Format::OpenAi).contains("\"finish_reason\":\"stop\""),
            "{}",
            last(Format::OpenAi)
        );
        assert!(
            last(Format::Cohere).starts_with("event: message-end\n"),
            "{}",
            last(Format::Cohere)
        );
        let gemini_end =
            String::from_utf8_lossy(&c.stream(Format::Gemini)[STREAM_CHUNKS - 1]).into_owned();
        assert!(
            gemini_end.contains("\"finishReason\":\"STOP\""),
            "{gemini_end}"
        );
    }

    /// The real provider crates read every canned answer, one-shot and streamed, as the
    /// 20 words: the gateway benchmark measures real decoding, not errors.
    #[tokio::test]
    async fn the_real_providers_read_every_canned_answer() {
        use futures::StreamExt;
        use llmpool_core::{ChatRequest, Message, ProviderConfig, StreamEvent};

        let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let server = tokio::spawn(serve(listener));
        for (factory, prefix) in [
            (&llmpool_provider_groq::FACTORY, "/openai/v1"),
            (&llmpool_provider_gemini::FACTORY, "/v1beta"),
            (&llmpool_provider_cohere::FACTORY, "/v2"),
        ] {
            let cfg = ProviderConfig::new(factory, "bench-key-0123456789")
                .with_base_url(format!("http://{addr}{prefix}"));
            let provider = (factory.build)(&cfg).unwrap();
            let req = ChatRequest::new(vec![Message::user("hello")]);
            let answer = provider.chat(&req).await.unwrap();
            assert_eq!(answer.text, text(), "{}", factory.id);
            let mut streamed = String::new();
            let mut done = false;
            let mut stream = provider.chat_stream(&req).await.unwrap();
            while let Some(event) = stream.next().await {
                match event.unwrap() {
                    StreamEvent::Delta(t) => streamed.push_str(&t),
                    StreamEvent::Done(_) => done = true,
                    StreamEvent::Started { .. }
                    | StreamEvent::Reasoning(_)
                    | StreamEvent::ToolCall(_)
                    | StreamEvent::Dropped(_) => {}
                }
            }
            assert_eq!(streamed, text(), "{}", factory.id);
            assert!(done, "{}: the stream ended without Done", factory.id);
        }
        server.abort();
    }

    #[test]
    fn streams_have_twenty_text_chunks() {
        let c = Canned::new().unwrap();
        let count = |f: Format, needle: &str| {
            c.stream(f)
                .iter()
                .filter(|b| String::from_utf8_lossy(b).contains(needle))
                .count()
        };
        assert_eq!(count(Format::OpenAi, "\"content\":\""), STREAM_CHUNKS + 1);
        assert_eq!(count(Format::Gemini, "\"text\""), STREAM_CHUNKS);
        assert_eq!(count(Format::Cohere, "content-delta"), STREAM_CHUNKS);
    }
}
