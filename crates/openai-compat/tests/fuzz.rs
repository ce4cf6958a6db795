//! Fuzz targets for the decoders of this crate that read bytes from outside: the SSE
//! decoder (arbitrary chunking of the same bytes gives the same items), the tolerant
//! error-body reader, the wire types of requests and answers, and the rate-limit header
//! helpers. The provider itself (one-shot answers, streams, error classification) is
//! fuzzed through each OpenAI-compatible provider crate's fuzz targets (Groq, Cerebras,
//! OpenRouter), with their hooks.
//!
//! Short bounded runs here; `cargo xtask fuzz --secs N` runs them longer.

use std::time::Duration;

use llmpool_openai_compat::sse::{SseDecoder, SseItem, encode_data};
use llmpool_openai_compat::transport::{body_excerpt, header_duration, header_u64, retry_after};
use llmpool_openai_compat::wire::ChatCompletionRequest;
use llmpool_openai_compat::{
    ChatCompletion, ChatCompletionChunk, ErrorBody, HeaderMap, HeaderValue,
};
use llmpool_testkit::fuzz;
use proptest::prelude::*;
use serde_json::Value;

/// A recorded stream: role chunk, text, usage, `[DONE]`, a keep-alive comment, an event
/// whose data spans two lines, LF, CRLF and CR endings.
const STREAM_SEED: &str = concat!(
    ": OPENROUTER PROCESSING\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\\nlo\"},\"finish_reason\":null}]}\r\n\r\n",
    "event: message\rdata: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\r\r",
    "data: {\"id\":\"c1\",\r\ndata: \"choices\":[]}\r\n\r\n",
    "data: [DONE]\n\n",
);

/// A one-shot answer.
const ANSWER_SEED: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#;

/// A request as clients send it.
const REQUEST_SEED: &str = r#"{"model":"auto","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],"stream":true,"max_tokens":64,"temperature":0.2,"top_p":0.9,"stop":["\n"],"stream_options":{"include_usage":true}}"#;

#[expect(clippy::panic, reason = "a seed that is not JSON is a broken test")]
fn seed_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("seed is not JSON: {e}"))
}

fn decode(chunks: &[&[u8]]) -> Vec<SseItem> {
    let mut decoder = SseDecoder::new();
    let mut items = Vec::new();
    for chunk in chunks {
        items.extend(decoder.push(chunk));
    }
    items.extend(decoder.finish());
    items
}

/// Bytes to decode: the seed stream damaged, or arbitrary bytes.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => fuzz::mutated_sse(STREAM_SEED.as_bytes().to_vec()),
        1 => fuzz::bytes(512),
    ]
}

/// Cuts `bytes` at the given points (empty chunks included) and, when `at_cr`, also
/// right after each CR with an empty chunk there (where a decoder must remember that an
/// LF may follow).
fn chunked(bytes: &[u8], cuts: &[prop::sample::Index], at_cr: bool) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    if at_cr {
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\r' {
                points.extend([i + 1, i + 1]);
            }
        }
    }
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(bytes[start..p].to_vec());
        start = p;
    }
    chunks.push(bytes[start..].to_vec());
    chunks
}

#[test]
fn fuzz_sse_chunking_gives_the_same_items() {
    let strategy = (
        sse_bytes(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        any::<bool>(),
    );
    fuzz::run(256, &strategy, |(bytes, cuts, at_cr)| {
        let whole = decode(&[&bytes]);
        let chunks = chunked(&bytes, &cuts, at_cr);
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        assert_eq!(decode(&refs), whole, "chunks {chunks:?}");
        // Byte by byte, the most a slow upstream can split.
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode(&bytewise), whole);
        // No item ever spans a line ending: events are split at LF, CRLF and CR.
        for item in &whole {
            match item {
                SseItem::Event { event, data } => {
                    assert!(!data.contains('\r'), "{item:?}");
                    assert!(event.as_deref().is_none_or(|e| !e.contains(['\r', '\n'])));
                }
                SseItem::Comment(text) | SseItem::Raw(text) => {
                    assert!(!text.contains(['\r', '\n']), "{item:?}");
                }
            }
        }
    });
}

#[test]
fn fuzz_sse_encoder_round_trips() {
    let strategy = prop::collection::vec(fuzz::text(64), 1..4);
    fuzz::run(256, &strategy, |texts| {
        // The encoder writes each line as a `data:` line; a CR inside a line would end
        // it on the way back, so the encoder's contract is for text without CR.
        let texts: Vec<String> = texts.into_iter().map(|t| t.replace('\r', "")).collect();
        let encoded: String = texts.iter().map(|t| encode_data(t)).collect();
        let expected: Vec<SseItem> = texts
            .iter()
            .map(|t| SseItem::Event {
                event: None,
                data: t.clone(),
            })
            .collect();
        assert_eq!(decode(&[encoded.as_bytes()]), expected);
    });
}

#[test]
fn fuzz_error_body_reads_any_bytes() {
    let strategy = prop_oneof![
        fuzz::bytes(700),
        fuzz::mutated_json(seed_json(
            r#"{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded","param":null,"metadata":{"raw":"upstream","limit_source":"x"}}}"#
        ))
        .prop_map(|v| v.to_string().into_bytes()),
        fuzz::json_value().prop_map(|v| v.to_string().into_bytes()),
    ];
    fuzz::run(512, &strategy, |bytes| {
        let body = ErrorBody::parse(&bytes);
        let is_json = serde_json::from_slice::<Value>(&bytes).is_ok();
        assert_eq!(body.is_json, is_json);
        assert!(body.raw.chars().count() <= 500, "raw excerpt too long");
        assert_eq!(body.raw, body_excerpt(&bytes));
        if !is_json {
            // Text bodies keep their text as the message (HTML pages only a note).
            assert_eq!(
                body.message.is_some(),
                !body.is_html && !body.raw.is_empty(),
                "{body:?}"
            );
        }
        if let Some(status) = body.status_code() {
            assert!((100..=599).contains(&status));
        }
        // The readers used by classification never fail on what was read.
        let _ = (body.summary(), body.mentions("quota"), body.code_is(&["x"]));
    });
}

#[test]
fn fuzz_wire_answers_decode_or_fail_cleanly() {
    let strategy = prop_oneof![
        fuzz::mutated_json(seed_json(ANSWER_SEED)),
        fuzz::json_value(),
    ];
    fuzz::run(512, &strategy, |value| {
        // A decoded answer re-encodes and decodes to itself (no silent loss).
        if let Ok(answer) = serde_json::from_value::<ChatCompletion>(value.clone()) {
            let again = serde_json::to_value(&answer).unwrap_or(Value::Null);
            let back: Result<ChatCompletion, _> = serde_json::from_value(again);
            assert_eq!(back.ok().as_ref(), Some(&answer));
        }
        if let Ok(chunk) = serde_json::from_value::<ChatCompletionChunk>(value) {
            let _ = chunk.any_usage();
        }
    });
}

#[test]
fn fuzz_wire_requests_convert_or_name_the_problem() {
    let strategy = prop_oneof![
        3 => fuzz::mutated_json(seed_json(REQUEST_SEED)),
        1 => fuzz::json_value(),
    ];
    fuzz::run(512, &strategy, |value| {
        let Ok(req) = serde_json::from_value::<ChatCompletionRequest>(value) else {
            return;
        };
        match req.to_core() {
            Ok(core) => {
                assert_eq!(core.messages.len(), req.messages.len());
                assert_eq!(core.stream, req.stream);
            }
            Err(e) => assert!(!e.to_string().trim().is_empty(), "an empty message"),
        }
    });
}

#[test]
fn fuzz_header_values_parse_or_are_ignored() {
    fuzz::run(512, &fuzz::header_value(), |text| {
        let Ok(value) = HeaderValue::from_str(&text) else {
            return;
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-count", value.clone());
        headers.insert("retry-after", value);
        let trimmed = text.trim();
        if let Ok(n) = trimmed.parse::<u64>() {
            assert_eq!(header_u64(&headers, "x-count"), Some(n));
            // Durations go through f64: exact up to 2^53 s (far beyond any real wait).
            if n <= 1 << 53 {
                assert_eq!(retry_after(&headers), Some(Duration::from_secs(n)));
            }
        }
        if trimmed.parse::<f64>().is_err() {
            // Not a number at all: never a count.
            assert_eq!(header_u64(&headers, "x-count"), None, "{text:?}");
        }
        assert_eq!(
            header_duration(&headers, "retry-after"),
            llmpool_core::parse_duration(trimmed)
        );
    });
}

/// Found by `fuzz_sse_chunking_gives_the_same_items` (with cuts after each CR): an empty chunk between the CR and
/// the LF of one CRLF made the LF a second line ending (a blank line, which dispatched
/// the event early and split one event's data lines into two events).
#[test]
fn an_empty_chunk_inside_a_crlf_changes_nothing() {
    let whole = decode(&[b"data: x\r\ndata: y\r\n\r\n"]);
    assert_eq!(
        whole,
        vec![SseItem::Event {
            event: None,
            data: "x\ny".into()
        }]
    );
    assert_eq!(decode(&[b"data: x\r", b"", b"\ndata: y\r\n\r\n"]), whole);
}
