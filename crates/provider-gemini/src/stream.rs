//! `streamGenerateContent?alt=sse` bodies to stream events.
//!
//! Gemini frames events with CRLF and sends no `[DONE]`: the end of the body ends the
//! stream. Every chunk is a whole `GenerateContentResponse` with the next piece of text
//! and the usage so far (cumulative: the last one wins). So:
//!
//! - the stream is complete only if some chunk carried a `finishReason`; a body that
//!   ends without one was cut and ends with an `Err`, never with `Done`;
//! - `Done` is held back until the body ends, because Gemini has been seen appending a
//!   raw, pretty-printed JSON error (no `data:` prefix) after valid events, even after
//!   one with a `finishReason`. The decoder hands such lines over as [`SseItem::Raw`];
//!   they are collected until they form a JSON value, which is classified like an HTTP
//!   error body;
//! - one malformed `data:` event is skipped with a warning rather than failing the
//!   whole answer.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::header::HeaderMap;

use llmpool_core::{
    ChatStream, Clock, ErrorKind, FinishReason, ProviderError, RateLimitSnapshot, StreamEnd,
    StreamEvent, ToolCallDelta, Usage,
};
use llmpool_openai_compat::sse::SseItem;
use llmpool_openai_compat::transport;

use crate::wire::{self, GenerateContentResponse};
use crate::{ID, convert, errors};

type Item = Result<StreamEvent, ProviderError>;

/// Turns decoded SSE items into chat events.
pub(crate) fn events(
    items: BoxStream<'static, Result<SseItem, ProviderError>>,
    decoder: Decoder,
) -> ChatStream {
    futures::stream::unfold(
        (items, decoder, VecDeque::new()),
        |(mut items, mut decoder, mut queue)| async move {
            loop {
                if let Some(event) = queue.pop_front() {
                    return Some((event, (items, decoder, queue)));
                }
                if decoder.done {
                    return None;
                }
                match items.next().await {
                    Some(item) => queue.extend(decoder.on_item(item)),
                    None => queue.extend(decoder.on_end()),
                }
            }
        },
    )
    .boxed()
}

/// The state of one stream: what has been sent and what the chunks said so far.
#[derive(Debug)]
pub(crate) struct Decoder {
    requested_model: String,
    rate_limits: RateLimitSnapshot,
    clock: Arc<dyn Clock>,
    started: bool,
    model: Option<String>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    /// Non-SSE lines not yet forming a JSON value.
    raw: String,
    /// A final event (`Done` or `Err`) was produced; nothing follows it.
    done: bool,
    /// Request fields left out of the request, reported right after `Started`.
    dropped: Vec<String>,
    /// Function calls sent so far (the next call's index).
    calls: u32,
}

impl Decoder {
    /// A decoder for a stream of `requested_model` whose response headers said
    /// `rate_limits`; `clock` dates daily-quota errors arriving mid-stream.
    pub(crate) fn new(
        requested_model: &str,
        rate_limits: RateLimitSnapshot,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            requested_model: requested_model.to_owned(),
            rate_limits,
            clock,
            started: false,
            model: None,
            usage: None,
            finish: None,
            raw: String::new(),
            done: false,
            dropped: Vec::new(),
            calls: 0,
        }
    }

    fn on_item(&mut self, item: Result<SseItem, ProviderError>) -> Vec<Item> {
        if self.done {
            return Vec::new();
        }
        match item {
            Err(err) => self.fail(err),
            Ok(SseItem::Event { data, .. }) => self.on_data(&data),
            Ok(SseItem::Raw(line)) => self.on_raw(&line),
            Ok(SseItem::Comment(_)) => Vec::new(),
        }
    }

    fn on_data(&mut self, data: &str) -> Vec<Item> {
        let data = data.trim();
        if data.is_empty() {
            return Vec::new();
        }
        if wire::error_status(data.as_bytes()).is_some() {
            return self.fail_with_body(data);
        }
        let chunk: GenerateContentResponse = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(err) => {
                tracing::warn!(provider = ID, error = %err, "skipping a malformed stream event");
                return Vec::new();
            }
        };
        if let Some(model) = &chunk.model_version {
            self.model = Some(model.clone());
        }
        if let Some(meta) = &chunk.usage_metadata {
            self.usage = Some(convert::usage(meta));
        }
        let mut out = Vec::new();
        let text = convert::candidate_text(&chunk);
        if text.is_empty()
            && !self.started
            && let Some(reason) = convert::block_reason(&chunk)
        {
            return self.fail(convert::content_filtered("prompt", reason));
        }
        let thoughts = convert::candidate_thoughts(&chunk);
        if !thoughts.is_empty() {
            self.start(&mut out);
            out.push(Ok(StreamEvent::Reasoning(thoughts)));
        }
        if !text.is_empty() {
            self.start(&mut out);
            out.push(Ok(StreamEvent::Delta(text)));
        }
        // Gemini sends each call whole: one delta per call, with id, name and the
        // complete arguments.
        let calls = match convert::candidate_calls(&chunk, self.calls) {
            Ok(calls) => calls,
            Err(err) => {
                out.extend(self.fail(err));
                return out;
            }
        };
        for call in calls {
            self.start(&mut out);
            out.push(Ok(StreamEvent::ToolCall(ToolCallDelta {
                index: self.calls,
                id: Some(call.id),
                name: Some(call.name),
                arguments: call.arguments,
            })));
            self.calls += 1;
        }
        if let Some(raw) = chunk
            .first_candidate()
            .and_then(|c| c.finish_reason.as_deref())
        {
            let reason = convert::finish_reason(raw);
            if reason == FinishReason::ContentFilter && !self.started {
                out.extend(self.fail(convert::content_filtered("answer", raw)));
                return out;
            }
            if self.calls == 0 && convert::is_tool_failure(raw) {
                out.extend(self.fail(convert::tool_failure(raw)));
                return out;
            }
            self.finish = Some(reason);
        }
        out
    }

    fn on_raw(&mut self, line: &str) -> Vec<Item> {
        self.raw.push_str(line);
        self.raw.push('\n');
        let text = self.raw.trim_start();
        if !(text.starts_with('{') || text.starts_with('[')) {
            tracing::warn!(provider = ID, "skipping a non-SSE line in the stream");
            self.raw.clear();
            return Vec::new();
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => {
                let body = std::mem::take(&mut self.raw);
                if wire::error_status(body.as_bytes()).is_some() {
                    return self.fail_with_body(&body);
                }
                // Not an error: chunks without SSE framing (the JSON-array form of
                // `streamGenerateContent`, should `alt=sse` be ignored) read as events.
                let chunks = match value {
                    serde_json::Value::Array(items) => items,
                    other => vec![other],
                };
                let mut out = Vec::new();
                for chunk in chunks {
                    if !self.done {
                        out.extend(self.on_data(&chunk.to_string()));
                    }
                }
                out
            }
            // Not complete yet: the error object spans several lines.
            Err(err) if err.is_eof() => Vec::new(),
            Err(err) => {
                tracing::warn!(provider = ID, error = %err, "skipping a non-SSE line in the stream");
                self.raw.clear();
                Vec::new()
            }
        }
    }

    fn on_end(&mut self) -> Vec<Item> {
        if self.done {
            return Vec::new();
        }
        if !self.raw.trim().is_empty() {
            let excerpt = transport::body_excerpt(self.raw.as_bytes());
            return self.fail(
                ProviderError::new(ID, ErrorKind::InvalidResponse).with_message(format!(
                    "the stream ended inside a raw JSON value: {excerpt}"
                )),
            );
        }
        let Some(mut finish) = self.finish.take() else {
            return self.fail(
                ProviderError::new(ID, ErrorKind::Transient { status: None })
                    .with_message("the stream ended without a finishReason (cut)"),
            );
        };
        if self.calls > 0 && finish == FinishReason::Stop {
            // Gemini says STOP for an answer that calls functions.
            finish = FinishReason::ToolCalls;
        }
        let mut out = Vec::new();
        self.start(&mut out);
        out.push(Ok(StreamEvent::Done(StreamEnd {
            finish_reason: Some(finish),
            usage: self.usage,
            model: Some(
                self.model
                    .clone()
                    .unwrap_or_else(|| self.requested_model.clone()),
            ),
        })));
        self.done = true;
        out
    }

    /// The same decoder reporting `dropped` (request fields left out) after `Started`.
    pub(crate) fn with_dropped(mut self, dropped: Vec<String>) -> Self {
        self.dropped = dropped;
        self
    }

    /// `Started` goes out once, right before the first delta (or `Done`), so a stream
    /// refused before any text ends with its `Err` alone.
    fn start(&mut self, out: &mut Vec<Item>) {
        if !self.started {
            self.started = true;
            out.push(Ok(StreamEvent::Started {
                rate_limits: self.rate_limits,
                model: self.model.clone(),
            }));
            if !self.dropped.is_empty() {
                out.push(Ok(StreamEvent::Dropped(std::mem::take(&mut self.dropped))));
            }
        }
    }

    fn fail_with_body(&mut self, body: &str) -> Vec<Item> {
        let err = errors::classify(200, &HeaderMap::new(), body.as_bytes(), self.clock.now());
        self.fail(err)
    }

    fn fail(&mut self, err: ProviderError) -> Vec<Item> {
        self.done = true;
        vec![Err(err)]
    }
}

#[cfg(test)]
mod tests {
    use llmpool_core::{ErrorKindLabel, SystemClock};
    use llmpool_openai_compat::sse::SseDecoder;

    use super::*;

    /// Runs `body` through the SSE decoder and this module, as one chunk per `split`.
    fn run(body: &str) -> Vec<Item> {
        let mut sse = SseDecoder::new();
        let mut items: Vec<SseItem> = sse.push(body.as_bytes());
        items.extend(sse.finish());
        let mut decoder =
            Decoder::new("asked", RateLimitSnapshot::default(), Arc::new(SystemClock));
        let mut out = Vec::new();
        for item in items {
            out.extend(decoder.on_item(Ok(item)));
        }
        out.extend(decoder.on_end());
        out
    }

    fn labels(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                Ok(StreamEvent::Started { .. }) => "started".to_owned(),
                Ok(StreamEvent::Delta(t)) => format!("delta:{t}"),
                Ok(StreamEvent::Reasoning(t)) => format!("reasoning:{t}"),
                Ok(StreamEvent::ToolCall(c)) => format!("tool_call:{c:?}"),
                Ok(StreamEvent::Dropped(d)) => format!("dropped:{d:?}"),
                Ok(StreamEvent::Done(end)) => format!("done:{:?}", end.finish_reason),
                Err(e) => format!("err:{}", e.kind.label()),
            })
            .collect()
    }

    const HELLO: &str = r#"data: {"candidates":[{"content":{"parts":[{"text":"Hel"}]}}],"modelVersion":"v1","usageMetadata":{"promptTokenCount":1}}"#;
    const END: &str = r#"data: {"candidates":[{"content":{"parts":[{"text":"lo"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3}}"#;

    #[test]
    fn complete_stream_takes_the_last_usage() {
        let out = run(&format!("{HELLO}\r\n\r\n{END}\r\n\r\n"));
        assert_eq!(
            labels(&out),
            ["started", "delta:Hel", "delta:lo", "done:Some(Stop)"]
        );
        let Some(Ok(StreamEvent::Done(end))) = out.last() else {
            panic!("{out:?}")
        };
        assert_eq!(end.usage, Some(Usage::new(1, 2)));
        assert_eq!(end.model.as_deref(), Some("v1"));
    }

    #[test]
    fn a_body_without_finish_reason_is_cut() {
        let out = run(&format!("{HELLO}\r\n\r\n"));
        assert_eq!(labels(&out), ["started", "delta:Hel", "err:transient"]);
        assert_eq!(labels(&run("")), ["err:transient"]);
    }

    #[test]
    fn malformed_events_are_skipped() {
        let out = run(&format!(
            "{HELLO}\r\n\r\ndata: {{\"candi\r\n\r\n{END}\r\n\r\n"
        ));
        assert_eq!(
            labels(&out),
            ["started", "delta:Hel", "delta:lo", "done:Some(Stop)"]
        );
    }

    #[test]
    fn raw_errors_after_finish_win() {
        let raw = "{\n  \"error\": {\n    \"code\": 429,\n    \"status\": \"RESOURCE_EXHAUSTED\"\n  }\n}\n";
        let out = run(&format!("{HELLO}\n\n{END}\n\n{raw}"));
        assert_eq!(
            labels(&out),
            ["started", "delta:Hel", "delta:lo", "err:rate_limited"]
        );
        // Garbage lines are skipped; a JSON value cut by the end of the body is not.
        let out = run(&format!("{HELLO}\n\nnoise\n{END}\n\n"));
        assert_eq!(out.len(), 4);
        let out = run(&format!("{HELLO}\n\n{END}\n\n{{\n  \"error\": {{"));
        assert_eq!(
            out.last().unwrap().as_ref().unwrap_err().kind.label(),
            ErrorKindLabel::InvalidResponse
        );
    }

    #[test]
    fn unframed_json_chunks_are_read() {
        let hello = HELLO.trim_start_matches("data: ");
        let end = END.trim_start_matches("data: ");
        let out = run(&format!("[{hello},\n{end}]\n"));
        assert_eq!(
            labels(&out),
            ["started", "delta:Hel", "delta:lo", "done:Some(Stop)"]
        );
    }

    #[test]
    fn data_errors_and_refusals() {
        let out = run(
            "data: {\"error\":{\"code\":500,\"message\":\"m\",\"status\":\"INTERNAL\"}}\r\n\r\n",
        );
        assert_eq!(labels(&out), ["err:transient"]);
        let out = run("data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\r\n\r\n");
        assert_eq!(labels(&out), ["err:content_filtered"]);
        let out = run("data: {\"candidates\":[{\"finishReason\":\"SAFETY\"}]}\r\n\r\n");
        assert_eq!(labels(&out), ["err:content_filtered"]);
        let out = run(&format!(
            "{HELLO}\r\n\r\ndata: {{\"candidates\":[{{\"finishReason\":\"SAFETY\"}}]}}\r\n\r\n"
        ));
        assert_eq!(
            labels(&out),
            ["started", "delta:Hel", "done:Some(ContentFilter)"]
        );
    }

    #[test]
    fn function_calls_are_one_delta_each_and_finish_as_tool_calls() {
        let call = |id: &str, sig: &str| {
            format!(
                r#"data: {{"candidates":[{{"content":{{"parts":[{{"functionCall":{{"name":"f","args":{{"a":1}}{id}}}{sig}}}]}}}}],"responseId":"r"}}"#
            )
        };
        let out = run(&format!(
            "{HELLO}\r\n\r\n{}\r\n\r\n{}\r\n\r\n{END}\r\n\r\n",
            call(r#","id":"g1""#, r#","thoughtSignature":"c2ln""#),
            call("", "")
        ));
        assert_eq!(labels(&out).last().unwrap(), "done:Some(ToolCalls)");
        let calls: Vec<&ToolCallDelta> = out
            .iter()
            .filter_map(|i| match i {
                Ok(StreamEvent::ToolCall(c)) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].index, calls[1].index), (0, 1));
        let first = crate::signature::replay(calls[0].id.as_deref().unwrap());
        assert_eq!(
            (first.id.as_deref(), first.signature.as_deref()),
            (Some("g1"), Some("c2ln"))
        );
        assert_eq!(calls[1].id.as_deref(), Some("call_r_1"));
        assert_eq!(calls[1].name.as_deref(), Some("f"));
        assert_eq!(calls[1].arguments, r#"{"a":1}"#);
    }

    #[test]
    fn a_malformed_function_call_is_an_error() {
        let out =
            run("data: {\"candidates\":[{\"finishReason\":\"MALFORMED_FUNCTION_CALL\"}]}\r\n\r\n");
        assert_eq!(labels(&out), ["err:invalid_response"]);
        let nameless = run(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"args\":{}}}]},\"finishReason\":\"STOP\"}]}\r\n\r\n",
        );
        assert_eq!(labels(&nameless), ["err:invalid_response"]);
    }

    #[test]
    fn nothing_follows_a_final_event() {
        let mut decoder = Decoder::new("m", RateLimitSnapshot::default(), Arc::new(SystemClock));
        let err = ProviderError::new(ID, ErrorKind::Timeout);
        assert_eq!(decoder.on_item(Err(err)).len(), 1);
        assert!(decoder.on_end().is_empty());
        assert!(
            decoder
                .on_item(Ok(SseItem::Comment(String::new())))
                .is_empty()
        );
    }
}
