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

/// A `text/event-stream` response of `events`, each already framed by [`event`].
pub(crate) fn response(events: BoxStream<'static, Bytes>) -> Response {
    let body = Coalesced {
        events,
        keep_alive: keep_alive_timer(),
        done: false,
    };
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
    done: bool,
}

impl Stream for Coalesced {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut first: Option<Bytes> = None;
        let mut more: Vec<u8> = Vec::new();
        loop {
            match self.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(bytes)) => match &first {
                    None => first = Some(bytes),
                    Some(head) => {
                        if more.is_empty() {
                            more.reserve(head.len() * 24);
                            more.extend_from_slice(head);
                        }
                        more.extend_from_slice(&bytes);
                        if more.len() >= MAX_FRAME {
                            break;
                        }
                    }
                },
                Poll::Ready(None) => {
                    self.done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if !more.is_empty() {
            return Poll::Ready(Some(Ok(Bytes::from(more))));
        }
        if let Some(one) = first {
            return Poll::Ready(Some(Ok(one)));
        }
        if self.done {
            return Poll::Ready(None);
        }
        // Nothing ready: the timer only ever fires in a quiet stretch of the stream.
        match self.keep_alive.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Ok(Bytes::from_static(b": keep-alive\n\n")))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn ready_events_share_a_frame_and_late_ones_come_alone() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Bytes>();
        for i in 0..3 {
            tx.unbounded_send(event(&format!("{{\"n\":{i}}}"))).unwrap();
        }
        let mut body = Coalesced {
            events: rx.boxed(),
            keep_alive: keep_alive_timer(),
            done: false,
        };
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

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_gets_keep_alive_comments() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Bytes>();
        let mut body = Coalesced {
            events: rx.boxed(),
            keep_alive: keep_alive_timer(),
            done: false,
        };
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
        let mut body = Coalesced {
            events: futures::stream::iter(events).boxed(),
            keep_alive: keep_alive_timer(),
            done: false,
        };
        let mut frames = Vec::new();
        while let Some(frame) = body.next().await {
            frames.push(frame.unwrap());
        }
        assert!(frames.len() > 1, "{} frames", frames.len());
        assert!(frames.iter().all(|f| f.len() < MAX_FRAME + 10_100));
        assert_eq!(frames.iter().map(Bytes::len).sum::<usize>(), total);
    }
}
