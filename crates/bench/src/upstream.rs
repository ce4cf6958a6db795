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
//! Every body is built once at start; a request costs a path match, a scan of its body
//! for `"stream":true` and a clone of `Bytes`. Stream chunks are separate body frames
//! so the client sees a real first chunk, sent without delay.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
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

impl Default for Canned {
    fn default() -> Self {
        Self::new()
    }
}

impl Canned {
    /// Builds every body.
    #[expect(clippy::too_many_lines, reason = "three formats' bodies, written out")]
    pub fn new() -> Self {
        let id = "chatcmpl-7eb08824-fb8d-47af-a1f0-3aa786f2d1f3";
        let model = "openai/gpt-oss-120b";
        let openai = serde_json::json!({
            "id": id,
            "object": "chat.completion",
            "created": 1_770_770_798,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text()},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {
                "queue_time": 0.041_876_985,
                "prompt_tokens": 45,
                "prompt_time": 0.001_954_727,
                "completion_tokens": 20,
                "completion_time": 0.074_1,
                "total_tokens": 65,
                "total_time": 0.076_05
            },
            "system_fingerprint": "fp_f8b414701e",
            "x_groq": {"id": "req_01kh52m3qqem4sw141xf026ehx"},
            "service_tier": "on_demand"
        });
        let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
            serde_json::json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": 1_770_770_839,
                "model": model,
                "system_fingerprint": "fp_f8b414701e",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
            })
        };
        let mut openai_stream = vec![sse(
            &chunk(
                serde_json::json!({"role": "assistant", "content": ""}),
                serde_json::Value::Null,
            ),
            "\n\n",
        )];
        for word in WORDS {
            openai_stream.push(sse(
                &chunk(
                    serde_json::json!({"content": word}),
                    serde_json::Value::Null,
                ),
                "\n\n",
            ));
        }
        let mut last = chunk(serde_json::json!({}), serde_json::json!("stop"));
        last["usage"] =
            serde_json::json!({"prompt_tokens": 45, "completion_tokens": 20, "total_tokens": 65});
        openai_stream.push(sse(&last, "\n\n"));
        openai_stream.push(Bytes::from_static(b"data: [DONE]\n\n"));

        let gemini_body = |t: &str, finish: Option<&str>, n: usize| {
            let mut candidate = serde_json::json!({
                "content": {"parts": [{"text": t}], "role": "model"},
                "index": 0
            });
            if let Some(f) = finish {
                candidate["finishReason"] = serde_json::json!(f);
            }
            serde_json::json!({
                "candidates": [candidate],
                "usageMetadata": {
                    "promptTokenCount": 45,
                    "candidatesTokenCount": n,
                    "totalTokenCount": 45 + n
                },
                "modelVersion": "gemini-3.1-flash-lite",
                "responseId": "FugfaZasF6ra2roP_9i9KQ"
            })
        };
        let gemini = Bytes::from(gemini_body(&text(), Some("STOP"), 20).to_string());
        let gemini_stream = WORDS
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let finish = (i + 1 == STREAM_CHUNKS).then_some("STOP");
                sse(&gemini_body(w, finish, i + 1), "\r\n\r\n")
            })
            .collect();

        let cohere = Bytes::from(
            serde_json::json!({
                "id": "e7592632-1e3d-424f-b129-bd5f9f980f7b",
                "message": {"role": "assistant", "content": [{"type": "text", "text": text()}]},
                "finish_reason": "COMPLETE",
                "usage": {
                    "billed_units": {"input_tokens": 45, "output_tokens": 20},
                    "tokens": {"input_tokens": 507, "output_tokens": 20}
                }
            })
            .to_string(),
        );
        let typed = |kind: &str, data: &serde_json::Value| {
            Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
        };
        let mut cohere_stream = vec![
            typed(
                "message-start",
                &serde_json::json!({
                    "id": "321d178c-2c12-44d3-ae42-2f5510f6b1cc",
                    "type": "message-start",
                    "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}
                }),
            ),
            typed(
                "content-start",
                &serde_json::json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
            ),
        ];
        for word in WORDS {
            cohere_stream.push(typed(
                "content-delta",
                &serde_json::json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": word}}}}),
            ));
        }
        cohere_stream.push(typed(
            "content-end",
            &serde_json::json!({"type": "content-end", "index": 0}),
        ));
        cohere_stream.push(typed(
            "message-end",
            &serde_json::json!({
                "type": "message-end",
                "delta": {
                    "finish_reason": "COMPLETE",
                    "usage": {
                        "billed_units": {"input_tokens": 45, "output_tokens": 20},
                        "tokens": {"input_tokens": 507, "output_tokens": 20}
                    }
                }
            }),
        ));
        cohere_stream.push(Bytes::from_static(b"data: [DONE]\n\n"));

        Self {
            openai: Bytes::from(openai.to_string()),
            openai_stream,
            gemini,
            gemini_stream,
            cohere,
            cohere_stream,
        }
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
    let canned = Arc::new(Canned::new());
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
    fn streams_have_twenty_text_chunks() {
        let c = Canned::new();
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
