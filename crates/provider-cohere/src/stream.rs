//! Cohere's v2 server-sent events to core stream events.
//!
//! Each event is an `event: <type>` line (ignored) and a `data: <json>` line whose own
//! `type` field is dispatched on: `content-delta` carries text, `message-end` carries the
//! finish reason and the usage, and every other type (`message-start`, `content-start`,
//! `content-end`, tool, citation and debug events) is skipped. `data: [DONE]` follows
//! `message-end`.
//!
//! The stream yields `Started`, the deltas, and `Done` at `message-end`; it never reads on
//! after that. Anything else ends it with an `Err`:
//! - a `message-end` whose `finish_reason` is `ERROR` or `TIMEOUT` (Cohere's only way to
//!   report a failure mid-stream) is `Transient`;
//! - a body that ends, or says `[DONE]`, before `message-end` was cut: `Transient`, never
//!   `Done`;
//! - a `message-end` after no text at all is `InvalidResponse`, as for one-shot answers;
//! - a payload without `type` but with a `message` looks like Cohere's flat error body
//!   and is reported as `Transient` with that message.
//!
//! A single payload that does not parse is skipped with a warning: one garbled event
//! should not throw away an answer whose end is still confirmed by `message-end`.

use futures::{Stream, StreamExt};

use llmpool_core::{
    ChatStream, ErrorKind, ProviderError, RateLimitSnapshot, StreamEnd, StreamEvent, ToolCallDelta,
};
use llmpool_openai_compat::sse::SseItem;

use crate::wire::{MessageEndDelta, StreamEventBody};
use crate::{ID, convert, errors};

/// The events of a streamed answer, from the decoded SSE items of its body; `dropped`
/// (request fields left out) is reported right after `Started`.
pub(crate) fn events<S>(
    items: S,
    rate_limits: RateLimitSnapshot,
    dropped: Vec<String>,
) -> ChatStream
where
    S: Stream<Item = Result<SseItem, ProviderError>> + Send + 'static,
{
    let mut head = vec![Ok(StreamEvent::Started {
        rate_limits,
        model: None,
    })];
    if !dropped.is_empty() {
        head.push(Ok(StreamEvent::Dropped(dropped)));
    }
    let started = futures::stream::iter(head);
    let decoder = Decoder {
        items: items.boxed(),
        finished: false,
        saw_text: false,
        tool_args: Vec::new(),
    };
    let rest = futures::stream::unfold(decoder, |mut decoder| async move {
        let event = decoder.next().await?;
        Some((event, decoder))
    });
    started.chain(rest).boxed()
}

struct Decoder {
    items: futures::stream::BoxStream<'static, Result<SseItem, ProviderError>>,
    /// `Done` or an `Err` was yielded; nothing follows.
    finished: bool,
    /// At least one non-empty text delta (or a tool call) was yielded.
    saw_text: bool,
    /// Per tool-call index: whether an arguments fragment arrived; a call that ends
    /// without one (a tool without arguments) gets `{}`. Indexes past
    /// [`MAX_TOOL_CALLS`] skip this rule, so an upstream cannot grow it without bound.
    tool_args: Vec<bool>,
}

const MAX_TOOL_CALLS: usize = 256;

impl Decoder {
    async fn next(&mut self) -> Option<Result<StreamEvent, ProviderError>> {
        if self.finished {
            return None;
        }
        loop {
            let out = match self.items.next().await {
                None => Err(errors::cut_stream("the body ended")),
                Some(Err(e)) => Err(e),
                Some(Ok(item)) => match self.on_item(item) {
                    Some(out) => out,
                    None => continue,
                },
            };
            self.finished = matches!(out, Ok(StreamEvent::Done(_)) | Err(_));
            return Some(out);
        }
    }

    fn on_item(&mut self, item: SseItem) -> Option<Result<StreamEvent, ProviderError>> {
        match item {
            SseItem::Comment(_) => None,
            SseItem::Raw(line) => {
                tracing::warn!(
                    provider = ID,
                    line = %excerpt(&line),
                    "skipping a non-SSE line in a cohere stream"
                );
                None
            }
            SseItem::Event { data, .. } => self.on_data(data.trim()),
        }
    }

    fn on_data(&mut self, data: &str) -> Option<Result<StreamEvent, ProviderError>> {
        if data == "[DONE]" {
            return Some(Err(errors::cut_stream("[DONE] arrived")));
        }
        match serde_json::from_str::<StreamEventBody>(data) {
            Ok(StreamEventBody::ContentDelta { delta }) => {
                let content = delta.message.content;
                if let Some(thinking) = content.thinking.filter(|t| !t.is_empty()) {
                    return Some(Ok(StreamEvent::Reasoning(thinking)));
                }
                let text = content.text.filter(|t| !t.is_empty())?;
                self.saw_text = true;
                Some(Ok(StreamEvent::Delta(text)))
            }
            Ok(StreamEventBody::MessageEnd { delta }) => Some(self.end(&delta)),
            Ok(StreamEventBody::ToolCallStart { index, delta }) => {
                self.saw_text = true;
                let piece = delta.message.tool_calls;
                let (name, arguments) = piece
                    .function
                    .map(|f| (f.name, f.arguments.unwrap_or_default()))
                    .unwrap_or_default();
                self.note_args(index, !arguments.is_empty());
                Some(Ok(StreamEvent::ToolCall(ToolCallDelta {
                    index,
                    id: piece.id,
                    name,
                    arguments,
                })))
            }
            Ok(StreamEventBody::ToolCallDelta { index, delta }) => {
                let arguments = delta
                    .message
                    .tool_calls
                    .function
                    .and_then(|f| f.arguments)
                    .filter(|a| !a.is_empty())?;
                self.note_args(index, true);
                Some(Ok(StreamEvent::ToolCall(ToolCallDelta {
                    index,
                    arguments,
                    ..ToolCallDelta::default()
                })))
            }
            Ok(StreamEventBody::ToolCallEnd { index }) => {
                let i = usize::try_from(index).ok()?;
                if self.tool_args.get(i).copied() == Some(false) {
                    self.tool_args[i] = true;
                    return Some(Ok(StreamEvent::ToolCall(ToolCallDelta {
                        index,
                        arguments: "{}".to_owned(),
                        ..ToolCallDelta::default()
                    })));
                }
                None
            }
            // The plan before the calls has no OpenAI slot; it is the model's reasoning.
            Ok(StreamEventBody::ToolPlanDelta { delta }) => delta
                .message
                .tool_plan
                .filter(|p| !p.is_empty())
                .map(|p| Ok(StreamEvent::Reasoning(p))),
            Ok(StreamEventBody::Ignored) => None,
            Err(e) => {
                if let Some(message) = error_message(data) {
                    return Some(Err(ProviderError::new(
                        ID,
                        ErrorKind::Transient { status: None },
                    )
                    .with_message(message)));
                }
                tracing::warn!(
                    provider = ID,
                    error = %e,
                    data = %excerpt(data),
                    "skipping a malformed cohere stream event"
                );
                None
            }
        }
    }

    fn note_args(&mut self, index: u32, seen: bool) {
        let Ok(i) = usize::try_from(index) else {
            return;
        };
        if i >= self.tool_args.len() && i < MAX_TOOL_CALLS {
            self.tool_args.resize(i + 1, true);
            self.tool_args[i] = false;
        }
        if let Some(flag) = self.tool_args.get_mut(i) {
            *flag |= seen;
        }
    }

    fn end(&self, delta: &MessageEndDelta) -> Result<StreamEvent, ProviderError> {
        let error = delta.error.as_deref().filter(|e| !e.trim().is_empty());
        let finish_reason = match (delta.finish_reason.as_deref(), error) {
            (Some(raw), _) => Some(convert::finish_reason(raw, error)?),
            (None, Some(error)) => return Err(errors::failed_generation("absent", Some(error))),
            (None, None) => None,
        };
        if !self.saw_text {
            return Err(errors::invalid_response(
                "the stream ended without any text content",
            ));
        }
        Ok(StreamEvent::Done(StreamEnd {
            finish_reason,
            usage: delta.usage.as_ref().and_then(convert::usage),
            model: None,
        }))
    }
}

/// The message of a payload shaped like Cohere's flat error body (no `type`, a `message`).
fn error_message(data: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    if value.get("type").is_some() {
        return None;
    }
    value.get("message")?.as_str().map(str::to_owned)
}

/// At most 200 characters of a line, for warnings.
fn excerpt(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use llmpool_core::{FinishReason, Usage};

    use super::*;

    fn run_items(
        items: Vec<Result<SseItem, ProviderError>>,
    ) -> Vec<Result<StreamEvent, ProviderError>> {
        block_on(
            events(
                futures::stream::iter(items),
                RateLimitSnapshot::default(),
                Vec::new(),
            )
            .collect(),
        )
    }

    fn run(items: Vec<SseItem>) -> Vec<Result<StreamEvent, ProviderError>> {
        run_items(items.into_iter().map(Ok).collect())
    }

    fn data(json: &str) -> SseItem {
        SseItem::Event {
            event: None,
            data: json.to_owned(),
        }
    }

    fn delta(text: &str) -> SseItem {
        data(&format!(
            r#"{{"type":"content-delta","index":0,"delta":{{"message":{{"content":{{"text":"{text}"}}}}}}}}"#
        ))
    }

    const END: &str = r#"{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"tokens":{"input_tokens":5,"output_tokens":2}}}}"#;

    fn texts(out: &[Result<StreamEvent, ProviderError>]) -> Vec<&str> {
        out.iter()
            .filter_map(|e| match e {
                Ok(StreamEvent::Delta(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn complete_stream_ends_with_done_and_reads_no_further() {
        let out = run(vec![
            data(r#"{"id":"x","type":"message-start","delta":{"message":{"content":[]}}}"#),
            SseItem::Comment("keep-alive".into()),
            delta("Hi"),
            data(
                r#"{"type":"content-delta","index":1,"delta":{"message":{"content":{"thinking":"hmm"}}}}"#,
            ),
            delta(""),
            delta(" there"),
            data(END),
            data("[DONE]"),
            data("never read"),
        ]);
        assert!(matches!(out[0], Ok(StreamEvent::Started { .. })));
        assert_eq!(texts(&out), ["Hi", " there"]);
        // The reasoning model's thinking comes as reasoning, never as answer text.
        assert!(matches!(&out[2], Ok(StreamEvent::Reasoning(t)) if t == "hmm"));
        assert_eq!(out.len(), 5);
        match &out[4] {
            Ok(StreamEvent::Done(end)) => {
                assert_eq!(end.finish_reason, Some(FinishReason::Stop));
                assert_eq!(end.usage, Some(Usage::new(5, 2)));
            }
            other => panic!("expected Done, got {other:?}"),
        }
    }

    #[test]
    fn malformed_events_and_raw_lines_are_skipped() {
        let out = run(vec![
            delta("a"),
            data("{not json"),
            SseItem::Raw("garbage".into()),
            data(r#"{"type":"content-delta"}"#),
            delta("b"),
            data(END),
        ]);
        assert_eq!(texts(&out), ["a", "b"]);
        assert!(matches!(out.last(), Some(Ok(StreamEvent::Done(_)))));
    }

    #[test]
    fn cut_streams_never_end_with_done() {
        for tail in [vec![], vec![data("[DONE]")]] {
            let mut items = vec![delta("a")];
            items.extend(tail);
            let out = run(items);
            assert_eq!(out.len(), 3);
            let err = out[2].as_ref().unwrap_err();
            assert!(matches!(err.kind, ErrorKind::Transient { status: None }));
            assert!(
                err.message
                    .as_deref()
                    .unwrap()
                    .contains("before message-end")
            );
        }
    }

    #[test]
    fn failures_end_the_stream_with_an_error() {
        let out = run(vec![
            delta("a"),
            data(
                r#"{"type":"message-end","delta":{"finish_reason":"ERROR","error":"internal failure"}}"#,
            ),
        ]);
        let err = out.last().unwrap().as_ref().unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Transient { .. }));
        assert!(
            err.message
                .as_deref()
                .unwrap()
                .contains("ERROR: internal failure")
        );

        let out = run(vec![
            delta("a"),
            data(r#"{"id":"x","message":"upstream failed"}"#),
            delta("never read"),
        ]);
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[2].as_ref().unwrap_err().message.as_deref(),
            Some("upstream failed")
        );

        let out = run(vec![data(END)]);
        assert!(matches!(
            out[1].as_ref().unwrap_err().kind,
            ErrorKind::InvalidResponse
        ));

        let out = run_items(vec![
            Ok(delta("a")),
            Err(ProviderError::new(ID, ErrorKind::Timeout)),
            Ok(delta("never read")),
        ]);
        assert_eq!(out.len(), 3);
        assert!(matches!(
            out[2].as_ref().unwrap_err().kind,
            ErrorKind::Timeout
        ));
    }
}
