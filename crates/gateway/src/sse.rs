//! A server-sent-events body that sends every event ready at the same moment in one
//! write.
//!
//! hyper writes each body frame with a system call of its own, so a body of one frame
//! per event (as `axum::response::Sse` makes) cost one `writev` per chunk: with the
//! twenty chunks of a typical answer arriving in one or two reads from the upstream, that
//! was half the gateway's CPU. This body gathers what the event stream has ready into one
//! frame instead, and still sends each event as soon as it exists.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use futures::stream::BoxStream;

/// A comment line sent when no event came for this long, so that proxies between the
/// client and the gateway do not close a quiet stream (the default of axum's `Sse`).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// At most this many bytes go into one frame; the rest follows at once in the next.
const MAX_FRAME: usize = 64 * 1024;

/// One SSE event carrying `data` (which must not contain a line break: compact JSON or
/// `[DONE]`).
pub(crate) fn event(data: &str) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// One SSE event whose data is `value` as JSON, serialized straight into the frame (one
/// buffer a chunk: this runs for every token piece of every stream). A value that cannot
/// be serialized (none of the gateway's types) gives an empty `data:` line.
pub(crate) fn json_event<T: serde::Serialize>(value: &T) -> Bytes {
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut out, value).is_err() {
        out.truncate(6);
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// A `text/event-stream` response of `events`, each already framed by [`event`].
pub(crate) fn response(events: BoxStream<'static, Bytes>) -> Response {
    let body = Coalesced::new(events);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn keep_alive_timer() -> tokio::time::Interval {
    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer
}

struct Coalesced {
    events: BoxStream<'static, Bytes>,
    keep_alive: tokio::time::Interval,
    /// Events gathered and not yet sent.
    pending: Vec<u8>,
    /// Scheduler rounds the pending events have waited for more.
    rounds: u32,
    /// Of those, the rounds in a row that brought nothing.
    idle_rounds: u32,
    done: bool,
}

impl Coalesced {
    fn new(events: BoxStream<'static, Bytes>) -> Self {
        Self {
            events,
            keep_alive: keep_alive_timer(),
            pending: Vec::new(),
            rounds: 0,
            idle_rounds: 0,
            done: false,
        }
    }

    fn take(&mut self) -> Poll<Option<Result<Bytes, Infallible>>> {
        self.rounds = 0;
        self.idle_rounds = 0;
        Poll::Ready(Some(Ok(Bytes::from(std::mem::take(&mut self.pending)))))
    }
}

/// The most scheduler rounds events wait for the ones behind them.
const MAX_ROUNDS: u32 = 64;

/// Rounds in a row without a new event after which the frame goes out. The next chunk of
/// an upstream body read at once reaches us two rounds after the previous one (hyper's
/// connection task, then the provider's stream); more is headroom.
const MAX_IDLE_ROUNDS: u32 = 3;

impl Stream for Coalesced {
    type Item = Result<Bytes, Infallible>;

    /// Takes every event ready. While the stream may have more on the way (the
    /// upstream's body reaches us one chunk per few scheduler rounds: hyper's connection
    /// task decodes the next chunk only after this one was taken), the frame waits, with
    /// this task woken again at once behind the tasks already ready; after
    /// [`MAX_IDLE_ROUNDS`] rounds in a row that bring nothing new it goes out. An event
    /// that arrives alone is sent a few rounds after it arrived: microseconds, never a
    /// wait for the next event.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut found = false;
        while !this.done && this.pending.len() < MAX_FRAME {
            match this.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(bytes)) => {
                    this.pending.extend_from_slice(&bytes);
                    found = true;
                }
                Poll::Ready(None) => this.done = true,
                Poll::Pending => break,
            }
        }
        if !this.pending.is_empty() {
            if found {
                this.idle_rounds = 0;
            } else {
                this.idle_rounds += 1;
            }
            if !this.done
                && this.pending.len() < MAX_FRAME
                && this.rounds < MAX_ROUNDS
                && this.idle_rounds < MAX_IDLE_ROUNDS
            {
                this.rounds += 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return this.take();
        }
        if this.done {
            return Poll::Ready(None);
        }
        // Nothing ready: the timer only ever fires in a quiet stretch of the stream.
        match this.keep_alive.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Ok(Bytes::from_static(b": keep-alive\n\n")))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::fmt::Write as _;

    #[test]
    fn a_json_event_is_the_framed_serialization() {
        let value = serde_json::json!({"a": "x\ny", "b": [1, 2]});
        let framed = json_event(&value);
        assert_eq!(framed, event(&serde_json::to_string(&value).unwrap()));
        assert!(framed.starts_with(b"data: {"), "{framed:?}");
        assert!(framed.ends_with(b"}\n\n"), "{framed:?}");
    }

    #[tokio::test]
    async fn ready_events_share_a_frame_and_late_ones_come_alone() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Bytes>();
        for i in 0..3 {
            tx.unbounded_send(event(&format!("{{\"n\":{i}}}"))).unwrap();
        }
        let mut body = Coalesced::new(rx.boxed());
        let frame = body.next().await.unwrap().unwrap();
        assert_eq!(
            frame,
            "data: {\"n\":0}\n\ndata: {\"n\":1}\n\ndata: {\"n\":2}\n\n"
        );
        tx.unbounded_send(event("[DONE]")).unwrap();
        let frame = body.next().await.unwrap().unwrap();
        assert_eq!(frame, "data: [DONE]\n\n");
        drop(tx);
        assert!(body.next().await.is_none());
        assert!(body.next().await.is_none(), "stays ended");
    }

    /// Like hyper's body channel: another task hands over one event per scheduler round.
    #[tokio::test(flavor = "current_thread")]
    async fn events_handed_over_one_per_round_share_a_frame() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let producer = tokio::spawn(async move {
            for i in 0..20 {
                tx.send(event(&i.to_string())).await.unwrap();
            }
        });
        let events =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        let mut body = Coalesced::new(events.boxed());
        let mut frames = Vec::new();
        while let Some(frame) = body.next().await {
            frames.push(frame.unwrap());
        }
        producer.await.unwrap();
        let all: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        let expected = (0..20).fold(String::new(), |mut s, i| {
            let _ = write!(s, "data: {i}\n\n");
            s
        });
        assert_eq!(String::from_utf8(all).unwrap(), expected);
        assert!(frames.len() <= 3, "{} frames for 20 events", frames.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_gets_keep_alive_comments() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Bytes>();
        let mut body = Coalesced::new(rx.boxed());
        let frame = body.next().await.unwrap().unwrap();
        assert_eq!(frame, ": keep-alive\n\n");
        tx.unbounded_send(event("x")).unwrap();
        assert_eq!(body.next().await.unwrap().unwrap(), "data: x\n\n");
    }

    #[tokio::test]
    async fn a_large_burst_is_cut_into_bounded_frames() {
        let chunk = "y".repeat(10_000);
        let events: Vec<Bytes> = (0..20).map(|_| event(&chunk)).collect();
        let total: usize = events.iter().map(Bytes::len).sum();
        let mut body = Coalesced::new(futures::stream::iter(events).boxed());
        let mut frames = Vec::new();
        while let Some(frame) = body.next().await {
            frames.push(frame.unwrap());
        }
        assert!(frames.len() > 1, "{} frames", frames.len());
        assert!(frames.iter().all(|f| f.len() < MAX_FRAME + 10_100));
        assert!(frames.len() < 20, "{} frames", frames.len());
        assert_eq!(frames.iter().map(Bytes::len).sum::<usize>(), total);
    }
}
