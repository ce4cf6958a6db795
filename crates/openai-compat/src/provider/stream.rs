//! Turns the SSE items of a chat-completions stream into [`StreamEvent`]s.
//!
//! Rules: `Started` first; `data: [DONE]` ends a complete stream; `:` comments are
//! keep-alives; one malformed event is skipped with a warning; an error payload (a
//! top-level `error`, a `finish_reason: "error"` choice, an `event: error`) ends the stream
//! with a classified `Err`; a body that ends after a finish reason but without `[DONE]` is
//! still complete; a body that ends with neither was cut and ends with an `Err`, never a
//! `Done`. Reasoning becomes `Reasoning` events wherever the upstream put it: a
//! `reasoning`/`reasoning_content` delta, Mistral's `thinking` chunks in an array
//! `content`, or a leading inline `<think>…</think>` block of the answer text, whose tags
//! may be split across chunks (see `think`).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use llmpool_core::{
    ChatStream, ErrorKind, FinishReason, ProviderError, RateLimitSnapshot, StreamEnd, StreamEvent,
    ToolCallDelta, Usage,
};
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::Shared;
use super::think::{Split, ThinkSplitter};
use crate::sse::SseItem;
use crate::wire::{ChatCompletionChunk, ErrorBody, finish_reason_from_wire};

type Item = Result<StreamEvent, ProviderError>;

/// Tool-call indexes tracked for the empty-arguments rule; a stream naming a higher index
/// (no model makes this many calls in one turn) is passed through without the rule, so an
/// upstream cannot make the state grow without bound.
const MAX_TOOL_CALLS: usize = 256;

/// The event stream of one streaming response.
pub(crate) fn events(
    shared: Shared,
    items: BoxStream<'static, Result<SseItem, ProviderError>>,
    status: u16,
    headers: HeaderMap,
    rate_limits: RateLimitSnapshot,
    now: DateTime<Utc>,
    dropped: Vec<String>,
) -> ChatStream {
    let state = StreamState::new(shared, status, headers, rate_limits, now);
    let mut queue = VecDeque::new();
    queue.push_back(Ok(StreamEvent::Started {
        rate_limits,
        model: None,
    }));
    if !dropped.is_empty() {
        queue.push_back(Ok(StreamEvent::Dropped(dropped)));
    }
    futures::stream::unfold(
        (items, state, queue),
        |(mut items, mut state, mut queue)| async move {
            loop {
                if let Some(event) = queue.pop_front() {
                    return Some((event, (items, state, queue)));
                }
                if state.ended {
                    return None;
                }
                match items.next().await {
                    Some(item) => queue.extend(state.on_item(item)),
                    None => queue.extend(state.on_end()),
                }
            }
        },
    )
    .boxed()
}

/// What a stream has told so far.
pub(crate) struct StreamState {
    shared: Shared,
    status: u16,
    headers: HeaderMap,
    rate_limits: RateLimitSnapshot,
    now: DateTime<Utc>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    model: Option<String>,
    /// At least one chunk parsed.
    parsed_any: bool,
    /// Per tool-call index: whether any argument text arrived. A call whose fragments were
    /// all empty (OpenRouter/Bedrock for no-argument tools) gets `{}` before the end.
    tool_args_seen: Vec<bool>,
    /// Moves a leading inline `<think>` block of the answer text to reasoning.
    think: ThinkSplitter,
    /// The terminal item (`Done` or `Err`) was produced.
    ended: bool,
}

impl StreamState {
    pub(crate) fn new(
        shared: Shared,
        status: u16,
        headers: HeaderMap,
        rate_limits: RateLimitSnapshot,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            shared,
            status,
            headers,
            rate_limits,
            now,
            finish_reason: None,
            usage: None,
            model: None,
            parsed_any: false,
            tool_args_seen: Vec::new(),
            think: ThinkSplitter::default(),
            ended: false,
        }
    }

    /// The events produced by one SSE item.
    pub(crate) fn on_item(&mut self, item: Result<SseItem, ProviderError>) -> Vec<Item> {
        if self.ended {
            return Vec::new();
        }
        match item {
            Err(e) => self.end_with(Err(e.with_rate_limits(self.rate_limits))),
            Ok(SseItem::Comment(text)) => {
                tracing::trace!(provider = self.shared.id, comment = %text, "stream keep-alive");
                Vec::new()
            }
            Ok(SseItem::Raw(line)) => self.on_raw(&line),
            Ok(SseItem::Event { event, data }) => self.on_event(event.as_deref(), &data),
        }
    }

    /// The body ended.
    pub(crate) fn on_end(&mut self) -> Vec<Item> {
        if self.ended {
            return Vec::new();
        }
        if self.finish_reason.is_some() {
            return self.done();
        }
        let err = self.shared.error(
            ErrorKind::Transient { status: None },
            None,
            "the stream ended before a finish reason or `[DONE]`",
            self.rate_limits,
        );
        self.end_with(Err(err))
    }

    fn on_raw(&mut self, line: &str) -> Vec<Item> {
        // A bare JSON error line (no `data:`) is an error, not noise.
        if let Ok(value) = serde_json::from_str::<Value>(line)
            && let Some(err) = (self.shared.hooks.embedded_error)(&value)
        {
            return self.fail(&err);
        }
        tracing::warn!(
            provider = self.shared.id,
            line = %excerpt(line),
            "skipping a stream line that is not an SSE field"
        );
        Vec::new()
    }

    fn on_event(&mut self, event: Option<&str>, data: &str) -> Vec<Item> {
        let data = data.trim();
        if data == "[DONE]" {
            if !self.parsed_any {
                let err = self.shared.invalid(
                    self.status,
                    "the stream ended with `[DONE]` before any valid chunk",
                    self.rate_limits,
                );
                return self.end_with(Err(err));
            }
            return self.done();
        }
        if data.is_empty() {
            return Vec::new();
        }
        if event == Some("error") {
            let err = ErrorBody::parse(data.as_bytes());
            return self.fail(&err);
        }
        let chunk = match super::typed_unless_error::<ChatCompletionChunk>(data.as_bytes()) {
            Some(chunk) => chunk,
            None => match self.checked_chunk(data) {
                Ok(chunk) => chunk,
                Err(events) => return events,
            },
        };
        self.parsed_any = true;
        if !chunk.model.is_empty() {
            self.model = Some(chunk.model.clone());
        }
        if let Some(usage) = chunk.any_usage() {
            self.usage = Some(usage.into());
        }
        let mut out = Vec::new();
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let delta = choice.delta;
            if let Some(text) = delta
                .reasoning
                .or(delta.reasoning_content)
                .filter(|t| !t.is_empty())
            {
                out.push(Ok(StreamEvent::Reasoning(text)));
            }
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                push_split(&mut out, self.think.push(text));
            }
            for call in delta.tool_calls {
                let call = ToolCallDelta::from(call);
                let i = usize::try_from(call.index).unwrap_or(usize::MAX);
                if i >= self.tool_args_seen.len() && i < MAX_TOOL_CALLS {
                    self.tool_args_seen.resize(i + 1, false);
                }
                if let Some(seen) = self.tool_args_seen.get_mut(i) {
                    *seen |= !call.arguments.is_empty();
                }
                out.push(Ok(StreamEvent::ToolCall(call)));
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish_reason = Some(finish_reason_from_wire(&reason));
            }
        }
        out
    }

    /// The slow path of an event that may carry an error: parsed as a `Value` for the
    /// hooks first. `Err` holds what the event turns into instead of a chunk.
    fn checked_chunk(&mut self, data: &str) -> Result<ChatCompletionChunk, Vec<Item>> {
        let value = match serde_json::from_str::<Value>(data) {
            Ok(value) => value,
            Err(e) => {
                tracing::warn!(
                    provider = self.shared.id,
                    error = %e,
                    data = %excerpt(data),
                    "skipping a malformed stream event"
                );
                return Err(Vec::new());
            }
        };
        if let Some(err) = (self.shared.hooks.embedded_error)(&value) {
            return Err(self.fail(&err));
        }
        serde_json::from_value::<ChatCompletionChunk>(value).map_err(|e| {
            tracing::warn!(
                provider = self.shared.id,
                error = %e,
                data = %excerpt(data),
                "skipping a stream event that is not a chunk"
            );
            Vec::new()
        })
    }

    fn fail(&mut self, body: &ErrorBody) -> Vec<Item> {
        let err = self.shared.classified(
            self.status,
            true,
            body,
            &self.headers,
            self.rate_limits,
            self.now,
        );
        self.end_with(Err(err))
    }

    fn done(&mut self) -> Vec<Item> {
        let mut held = Vec::new();
        push_split(&mut held, self.think.finish());
        let end = StreamEnd {
            finish_reason: self.finish_reason.take(),
            usage: self.usage.take(),
            model: self.model.take(),
        };
        if self.tool_args_seen.is_empty() && held.is_empty() {
            return self.end_with(Ok(StreamEvent::Done(end)));
        }
        let mut out = held;
        out.extend(
            (0_u32..)
                .zip(std::mem::take(&mut self.tool_args_seen))
                .filter(|(_, seen)| !seen)
                .map(|(index, _)| {
                    Ok(StreamEvent::ToolCall(ToolCallDelta {
                        index,
                        arguments: "{}".to_owned(),
                        ..ToolCallDelta::default()
                    }))
                }),
        );
        out.extend(self.end_with(Ok(StreamEvent::Done(end))));
        out
    }

    fn end_with(&mut self, item: Item) -> Vec<Item> {
        self.ended = true;
        vec![item]
    }
}

/// The events of one split piece of content: reasoning first, then answer text.
fn push_split(out: &mut Vec<Item>, (reasoning, answer): Split) {
    if let Some(text) = reasoning {
        out.push(Ok(StreamEvent::Reasoning(text)));
    }
    if let Some(text) = answer {
        out.push(Ok(StreamEvent::Delta(text)));
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::CompatHooks;
    use crate::transport::Scrubber;

    static HOOKS: CompatHooks = CompatHooks::DEFAULT;

    fn state() -> StreamState {
        StreamState::new(
            Shared {
                id: "t",
                hooks: &HOOKS,
                scrubber: Scrubber::new(SecretString::from("sk-secret-0123456789")),
            },
            200,
            HeaderMap::new(),
            RateLimitSnapshot::default(),
            Utc::now(),
        )
    }

    fn data(s: &str) -> SseItem {
        SseItem::Event {
            event: None,
            data: s.to_owned(),
        }
    }

    const CHUNK: &str =
        r#"{"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;
    const FINISH: &str =
        r#"{"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;

    #[test]
    fn malformed_event_is_skipped_and_done_follows() {
        let mut s = state();
        assert!(s.on_item(Ok(data("{not json"))).is_empty());
        assert_eq!(
            s.on_item(Ok(data(CHUNK))).pop().unwrap().unwrap(),
            StreamEvent::Delta("hi".into())
        );
        assert!(s.on_item(Ok(SseItem::Comment("x".into()))).is_empty());
        s.on_item(Ok(data(FINISH)));
        let done = s.on_item(Ok(data("[DONE]"))).pop().unwrap().unwrap();
        assert!(matches!(
            done,
            StreamEvent::Done(StreamEnd {
                finish_reason: Some(FinishReason::Stop),
                ..
            })
        ));
        assert!(s.on_end().is_empty());
    }

    #[test]
    fn finish_without_done_is_complete_but_nothing_is_a_cut() {
        let mut s = state();
        s.on_item(Ok(data(FINISH)));
        assert!(matches!(
            s.on_end().pop().unwrap(),
            Ok(StreamEvent::Done(_))
        ));
        let mut s = state();
        s.on_item(Ok(data(CHUNK)));
        let err = s.on_end().pop().unwrap().unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Transient { status: None }));
    }

    #[test]
    fn reasoning_and_tool_call_pieces_become_events() {
        let mut s = state();
        let reasoning =
            r#"{"choices":[{"index":0,"delta":{"reasoning":"think"},"finish_reason":null}]}"#;
        assert_eq!(
            s.on_item(Ok(data(reasoning))).pop().unwrap().unwrap(),
            StreamEvent::Reasoning("think".into())
        );
        // OpenRouter/Bedrock for a tool without arguments: every fragment empty.
        let first = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"tabs","arguments":""}}]}}]}"#;
        let second = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"t2","type":"function","function":{"name":"w","arguments":"{\"a\":"}}]}}]}"#;
        let third = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]}"#;
        let mut events: Vec<StreamEvent> = [first, second, third, "[DONE]"]
            .into_iter()
            .flat_map(|c| s.on_item(Ok(data(c))))
            .map(Result::unwrap)
            .collect();
        let done = events.pop().unwrap();
        assert!(matches!(
            done,
            StreamEvent::Done(StreamEnd {
                finish_reason: Some(FinishReason::ToolCalls),
                ..
            })
        ));
        let calls: Vec<ToolCallDelta> = events
            .into_iter()
            .map(|e| match e {
                StreamEvent::ToolCall(c) => c,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(calls[0].id.as_deref(), Some("t1"));
        assert_eq!(calls[1].name.as_deref(), Some("w"));
        assert_eq!(calls[2].arguments, "1}");
        assert_eq!(
            calls[3],
            ToolCallDelta {
                index: 0,
                arguments: "{}".into(),
                ..ToolCallDelta::default()
            }
        );
    }

    fn content(text: &str) -> SseItem {
        data(&serde_json::json!({"choices":[{"index":0,"delta":{"content":text}}]}).to_string())
    }

    /// The reasoning and answer text of the events, and whether the last one is `Done`.
    fn texts(events: &[Item]) -> (String, String, bool) {
        let (mut r, mut a) = (String::new(), String::new());
        for e in events {
            match e {
                Ok(StreamEvent::Reasoning(t)) => r.push_str(t),
                Ok(StreamEvent::Delta(t)) => a.push_str(t),
                _ => {}
            }
        }
        let done = matches!(events.last(), Some(Ok(StreamEvent::Done(_))));
        (r, a, done)
    }

    #[test]
    fn a_leading_think_block_split_across_chunks_is_reasoning() {
        let mut s = state();
        let mut events = Vec::new();
        for piece in ["<thi", "nk>\nParis, sure", "ly.</th", "ink>\n\nPar", "is."] {
            events.extend(s.on_item(Ok(content(piece))));
        }
        events.extend(s.on_item(Ok(data(FINISH))));
        events.extend(s.on_item(Ok(data("[DONE]"))));
        assert_eq!(
            texts(&events),
            ("Paris, surely.".into(), "Paris.".into(), true)
        );
        // Cut off while thinking: what was held back comes out as reasoning before `Done`.
        let mut s = state();
        let mut events = s.on_item(Ok(content("<think>hm </thi")));
        events.extend(s.on_item(Ok(data(FINISH))));
        events.extend(s.on_end());
        assert_eq!(texts(&events), ("hm </thi".into(), String::new(), true));
    }

    #[test]
    fn mistral_thinking_chunks_are_reasoning_events() {
        let mut s = state();
        let chunk = r#"{"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hm"}]},{"type":"text","text":"Paris."}]}}]}"#;
        let events = s.on_item(Ok(data(chunk)));
        assert_eq!(
            events.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            vec![
                StreamEvent::Reasoning("hm".into()),
                StreamEvent::Delta("Paris.".into())
            ]
        );
    }

    #[test]
    fn done_without_chunks_is_invalid() {
        let mut s = state();
        let err = s.on_item(Ok(data("[DONE]"))).pop().unwrap().unwrap_err();
        assert!(matches!(err.kind, ErrorKind::InvalidResponse));
    }

    #[test]
    fn error_event_and_raw_error_line_end_the_stream() {
        let mut s = state();
        let err = s
            .on_item(Ok(SseItem::Event {
                event: Some("error".into()),
                data: r#"{"message":"overloaded","code":"queue_exceeded"}"#.into(),
            }))
            .pop()
            .unwrap()
            .unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Transient { .. }));
        assert!(s.on_item(Ok(data(CHUNK))).is_empty());
        let mut s = state();
        let err = s
            .on_item(Ok(SseItem::Raw(
                r#"{"error":{"code":503,"message":"down"}}"#.into(),
            )))
            .pop()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.status, Some(503));
        let mut s = state();
        assert!(s.on_item(Ok(SseItem::Raw("garbage".into()))).is_empty());
    }
}
