//! Streaming: fallback before the first delta, prefill continuation after it.
//!
//! [`Router::chat_stream`](crate::Router::chat_stream) walks routes like a one-shot call
//! until one yields its first non-empty delta (within `ttft_timeout_secs`), then hands
//! the caller a [`RoutedStream`]. Between two chunks at most `stall_timeout_secs` may
//! pass. When the upstream stream is cut (error item, stall, end without its end event),
//! the next route whose catalog (or settings) says it continues an assistant prefill gets
//! the request plus the text already delivered as a trailing assistant message, and only
//! its new deltas are forwarded. A route that rejects the prefill (bad request) is marked
//! as not supporting it (stored) and skipped. When no route can continue, the stream
//! ends with an `Err` item: a cut stream never ends with `Done`.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::{Error, ErrorKind, ProviderError};
use crate::ledger::settle::Reservation;
use crate::provider::ChatStream;
use crate::ratelimit::RateLimitSnapshot;
use crate::router::attempt::{Call, Flow, Won, latency_ms};
use crate::router::in_flight::Permit;
use crate::router::inner::{Ctx, Inner};
use crate::router::route::Route;
use crate::types::{
    Attempt, ChatRequest, FinishReason, SkippedRoute, StreamEnd, StreamEvent, ToolCallDelta, Usage,
};

/// One item of a routed stream.
#[derive(Debug, Clone, PartialEq)]
pub enum RoutedEvent {
    /// New answer text.
    Delta(String),
    /// New reasoning text (not part of the answer).
    Reasoning(String),
    /// A piece of a tool call.
    ToolCall(ToolCallDelta),
    /// The answer is complete; always the last item of a complete stream.
    Done {
        /// Why generation stopped.
        finish_reason: Option<FinishReason>,
        /// Usage reported by the route that finished the answer.
        usage: Option<Usage>,
        /// The provider that finished the answer.
        provider: &'static str,
        /// The model the upstream reported (else the route's model).
        model: String,
        /// Every attempt of the request, including continuations.
        attempts: Vec<Attempt>,
    },
}

/// A routed answer stream: deltas, then `Done`; or an `Err` item, which is the explicit
/// terminal error of a cut stream (nothing follows it).
pub struct RoutedStream {
    provider: &'static str,
    model: String,
    attempts: Vec<Attempt>,
    skipped: Vec<SkippedRoute>,
    dropped_params: Vec<String>,
    inner: BoxStream<'static, Result<RoutedEvent, Error>>,
}

impl RoutedStream {
    /// The provider that produced the first delta.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The model of that provider (as reported, else as requested).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The attempts made until the first delta, the answering one last.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Routes passed over without a call because their model cannot serve the request,
    /// in the order met (until the first delta).
    pub fn skipped(&self) -> &[SkippedRoute] {
        &self.skipped
    }

    /// Request fields the answering route left out (they do not change the answer's
    /// meaning), as its provider reported them.
    pub fn dropped_params(&self) -> &[String] {
        &self.dropped_params
    }
}

impl fmt::Debug for RoutedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutedStream")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl Stream for RoutedStream {
    type Item = Result<RoutedEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// An upstream stream that has produced its first delta (or finished without one).
pub(crate) struct Opened {
    stream: ChatStream,
    /// The first content event: answer text, reasoning or a tool-call piece.
    first: Option<RoutedEvent>,
    dropped_params: Vec<String>,
    done: Option<StreamEnd>,
    pub(crate) rate_limits: RateLimitSnapshot,
    model: Option<String>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("first", &self.first)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// `Provider::chat_stream` until its first delta, within this first-token timeout (and the
/// attempt's budget).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FirstDelta {
    pub(crate) ttft: Duration,
}

impl Call for FirstDelta {
    type Output = Opened;
    const STREAM: bool = true;

    async fn call(
        &self,
        route: &Route,
        upstream: &ChatRequest,
        budget: Duration,
    ) -> Result<Opened, ProviderError> {
        first_delta(route, upstream.clone(), budget.min(self.ttft)).await
    }

    fn rate_limits(output: &Opened) -> &RateLimitSnapshot {
        &output.rate_limits
    }
}

/// Opens `route`'s stream and waits for its first delta within `budget`.
async fn first_delta(
    route: &Route,
    req: ChatRequest,
    budget: Duration,
) -> Result<Opened, ProviderError> {
    let provider = route.provider;
    let wait = async {
        let mut stream = route.client.chat_stream(&req).await?;
        let mut rate_limits = RateLimitSnapshot::default();
        let mut model = None;
        let mut dropped_params = Vec::new();
        loop {
            let first = |stream, first, rate_limits, model, dropped_params| Opened {
                stream,
                first: Some(first),
                done: None,
                rate_limits,
                model,
                dropped_params,
            };
            match stream.next().await {
                Some(Ok(StreamEvent::Started {
                    rate_limits: r,
                    model: m,
                })) => {
                    rate_limits = r;
                    model = m.or(model);
                }
                Some(Ok(StreamEvent::Delta(text))) => {
                    if !text.is_empty() {
                        let event = RoutedEvent::Delta(text);
                        return Ok(first(stream, event, rate_limits, model, dropped_params));
                    }
                }
                Some(Ok(StreamEvent::Reasoning(text))) => {
                    if !text.is_empty() {
                        let event = RoutedEvent::Reasoning(text);
                        return Ok(first(stream, event, rate_limits, model, dropped_params));
                    }
                }
                Some(Ok(StreamEvent::ToolCall(call))) => {
                    let event = RoutedEvent::ToolCall(call);
                    return Ok(first(stream, event, rate_limits, model, dropped_params));
                }
                Some(Ok(StreamEvent::Dropped(names))) => dropped_params = names,
                Some(Ok(StreamEvent::Done(end))) => {
                    return Ok(Opened {
                        stream,
                        first: None,
                        done: Some(end),
                        rate_limits,
                        model,
                        dropped_params,
                    });
                }
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(ProviderError::new(
                        provider,
                        ErrorKind::Transient { status: None },
                    )
                    .with_message("stream ended before its first token"));
                }
            }
        }
    };
    match tokio::time::timeout(budget, wait).await {
        Ok(result) => result,
        Err(_) => Err(ProviderError::new(provider, ErrorKind::Timeout)
            .with_message(format!("no first token within {} ms", budget.as_millis()))),
    }
}

struct Current {
    route: Arc<Route>,
    stream: ChatStream,
    reservation: Reservation,
    model: Option<String>,
    started: Instant,
    /// The route's in-flight slots, held while its stream is read: released when the
    /// stream finishes, is cut (the `Current` is taken apart) or is dropped with the
    /// routed stream.
    permit: Permit,
}

struct Driver {
    inner: Arc<Inner>,
    req: ChatRequest,
    queue: VecDeque<Arc<Route>>,
    ctx: Ctx,
    current: Option<Current>,
    pending: VecDeque<Result<RoutedEvent, Error>>,
    finished: bool,
    /// A tool-call piece reached the caller: a cut stream is then never continued on
    /// another route (prefill continuation is for text answers only).
    tool_call_sent: bool,
    /// The stall timer, armed lazily: a chunk only records when it came (`last`); the
    /// timer, when it fires, re-arms itself for `last + stall` unless that has passed. A
    /// timer re-armed on every chunk was 8 % of a stream's CPU.
    stall_timer: Pin<Box<tokio::time::Sleep>>,
    last: Instant,
}

impl Driver {
    /// The next item of `stream`, or `None` when no item came within `stall` of the last
    /// one (or of the stream's start).
    async fn next_within(
        &mut self,
        stream: &mut ChatStream,
        stall: Duration,
    ) -> Option<Option<Result<StreamEvent, ProviderError>>> {
        let timer = &mut self.stall_timer;
        let last = &mut self.last;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(item) = stream.poll_next_unpin(cx) {
                *last = Instant::now();
                return Poll::Ready(Some(item));
            }
            loop {
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let deadline = *last + stall;
                if Instant::now() >= deadline {
                    return Poll::Ready(None);
                }
                timer.as_mut().reset(deadline);
            }
        })
        .await
    }

    /// Starts the stall clock for a stream just taken over.
    fn restart_stall_clock(&mut self) {
        self.last = Instant::now();
        let stall = Duration::from_secs(self.inner.settings.stall_timeout_secs);
        self.stall_timer.as_mut().reset(self.last + stall);
    }

    fn ttft(&self) -> Duration {
        Duration::from_secs(self.inner.settings.ttft_timeout_secs)
    }

    /// Takes over a freshly opened stream.
    async fn adopt(&mut self, won: Won<Opened>) -> Result<(), Error> {
        let Won {
            value,
            route,
            reservation,
            permit,
        } = won;
        let mut current = Current {
            route,
            stream: value.stream,
            reservation,
            model: value.model,
            started: Instant::now(),
            permit,
        };
        if let Some(first) = value.first {
            match &first {
                RoutedEvent::Delta(text) => self.ctx.prefill.push_str(text),
                RoutedEvent::ToolCall(_) => self.tool_call_sent = true,
                RoutedEvent::Reasoning(_) | RoutedEvent::Done { .. } => {}
            }
            self.pending.push_back(Ok(first));
            self.restart_stall_clock();
            self.current = Some(current);
        } else if let Some(end) = value.done {
            let done = self.finish(&mut current, end).await?;
            self.pending.push_back(Ok(done));
        }
        Ok(())
    }

    async fn finish(
        &mut self,
        current: &mut Current,
        end: StreamEnd,
    ) -> Result<RoutedEvent, Error> {
        self.finished = true;
        self.inner
            .ledger
            .reconcile(&current.reservation, end.usage.as_ref())
            .await?;
        // Debug like a successful one-shot attempt: a line per answer costs real CPU.
        tracing::debug!(
            provider = current.route.provider,
            model = %current.route.model,
            outcome = "done",
            latency_ms = latency_ms(current.started.elapsed()),
            "stream finished"
        );
        Ok(RoutedEvent::Done {
            finish_reason: end.finish_reason,
            usage: end.usage,
            provider: current.route.provider,
            model: end
                .model
                .or_else(|| current.model.clone())
                .unwrap_or_else(|| current.route.model.clone()),
            attempts: self.ctx.attempts.clone(),
        })
    }

    async fn next(&mut self) -> Option<Result<RoutedEvent, Error>> {
        if let Some(item) = self.pending.pop_front() {
            return Some(item);
        }
        if self.finished {
            return None;
        }
        let stall = Duration::from_secs(self.inner.settings.stall_timeout_secs);
        loop {
            let Some(mut current) = self.current.take() else {
                // Not finished and nothing to read: never end like a complete stream.
                let error = self.ctx.take_error();
                return Some(self.fail(error));
            };
            let item = self.next_within(&mut current.stream, stall).await.ok_or(());
            let cut = match item {
                Ok(Some(Ok(StreamEvent::Delta(text)))) => {
                    if text.is_empty() {
                        self.current = Some(current);
                        continue;
                    }
                    self.ctx.prefill.push_str(&text);
                    self.current = Some(current);
                    return Some(Ok(RoutedEvent::Delta(text)));
                }
                Ok(Some(Ok(StreamEvent::Reasoning(text)))) => {
                    self.current = Some(current);
                    if text.is_empty() {
                        continue;
                    }
                    return Some(Ok(RoutedEvent::Reasoning(text)));
                }
                Ok(Some(Ok(StreamEvent::ToolCall(call)))) => {
                    self.tool_call_sent = true;
                    self.current = Some(current);
                    return Some(Ok(RoutedEvent::ToolCall(call)));
                }
                // Headers went out with the first route's answer; a continuation's are moot.
                Ok(Some(Ok(StreamEvent::Dropped(_)))) => {
                    self.current = Some(current);
                    continue;
                }
                Ok(Some(Ok(StreamEvent::Started { rate_limits, model }))) => {
                    if let Err(e) = self.inner.observe(&current.route, &rate_limits).await {
                        return Some(self.fail(e));
                    }
                    current.model = model.or(current.model);
                    self.current = Some(current);
                    continue;
                }
                Ok(Some(Ok(StreamEvent::Done(end)))) => {
                    return Some(match self.finish(&mut current, end).await {
                        Ok(done) => Ok(done),
                        Err(e) => self.fail(e),
                    });
                }
                Ok(Some(Err(e))) => e,
                Ok(None) => ProviderError::new(
                    current.route.provider,
                    ErrorKind::Transient { status: None },
                )
                .with_message("stream ended without a finish"),
                Err(()) => ProviderError::new(current.route.provider, ErrorKind::Timeout)
                    .with_message(format!("no chunk within {} s", stall.as_secs())),
            };
            let Current {
                route,
                started,
                stream,
                permit,
                ..
            } = current;
            // The cut stream's connection closes, then its slots are free: a continuation
            // on another model of the same key must not find them taken.
            drop(stream);
            drop(permit);
            match self.after_cut(route, started, cut).await {
                Ok(()) => {
                    if let Some(item) = self.pending.pop_front() {
                        return Some(item);
                    }
                }
                Err(e) => return Some(self.fail(e)),
            }
        }
    }

    fn fail(&mut self, e: Error) -> Result<RoutedEvent, Error> {
        self.finished = true;
        self.current = None;
        Err(e)
    }

    /// Records a cut and continues on the next route that takes a prefill.
    async fn after_cut(
        &mut self,
        route: Arc<Route>,
        started: Instant,
        error: ProviderError,
    ) -> Result<(), Error> {
        let error = error.with_model(&route.model);
        let inner = Arc::clone(&self.inner);
        let mut guard = inner.health.no_probe(route.provider);
        // Mid-stream there is no retry and no waiting on the cut route.
        let flow = inner
            .after_failure(
                &route,
                &error,
                started.elapsed(),
                &mut guard,
                &mut self.ctx,
                u32::MAX,
                u32::MAX,
            )
            .await?;
        if flow == Flow::Surface {
            return Err(Error::ContentFiltered(Box::new(error)));
        }
        self.ctx.errors.push(error);
        self.ctx.deadline = Instant::now() + inner.settings.deadline();
        let mut candidates: VecDeque<Arc<Route>> = std::mem::take(&mut self.queue)
            .into_iter()
            .filter(|r| !self.tool_call_sent && r.prefill && inner.health.supports_prefill(&r.id))
            .collect();
        let call = FirstDelta { ttft: self.ttft() };
        let won = inner
            .walk(&self.req, &mut candidates, &mut self.ctx, &call)
            .await;
        self.queue = candidates;
        match won {
            Ok(Some(won)) => self.adopt(won).await,
            Ok(None) => Err(self.ctx.take_error()),
            Err(Error::DeadlineExceeded(errors)) => Err(Error::AllProvidersFailed(errors)),
            Err(e) => Err(e),
        }
    }
}

/// Opens a routed stream (see the module docs).
pub(crate) async fn open(
    inner: Arc<Inner>,
    req: ChatRequest,
    span: tracing::Span,
) -> Result<RoutedStream, Error> {
    if req.messages.is_empty() {
        return Err(Error::InvalidRequest(
            "the request has no messages".to_owned(),
        ));
    }
    let mut ctx = Ctx::new(Instant::now() + inner.settings.deadline());
    let mut queue: VecDeque<Arc<Route>> = inner.plan(&req, &mut ctx).await?.into();
    let call = FirstDelta {
        ttft: Duration::from_secs(inner.settings.ttft_timeout_secs),
    };
    let won = inner.walk(&req, &mut queue, &mut ctx, &call).await?;
    let Some(won) = won else {
        return Err(ctx.take_error());
    };
    let provider = won.route.provider;
    let model = won
        .value
        .model
        .clone()
        .unwrap_or_else(|| won.route.model.clone());
    let attempts = ctx.attempts.clone();
    let skipped = std::mem::take(&mut ctx.unfit);
    let dropped_params = won.value.dropped_params.clone();
    let stall = Duration::from_secs(inner.settings.stall_timeout_secs);
    let last = Instant::now();
    let mut driver = Driver {
        inner,
        req,
        queue,
        ctx,
        current: None,
        pending: VecDeque::new(),
        finished: false,
        tool_call_sent: false,
        stall_timer: Box::pin(tokio::time::sleep_until(last + stall)),
        last,
    };
    driver.adopt(won).await?;
    let stream = futures::stream::unfold(driver, move |mut driver| {
        let span = span.clone();
        async move {
            let item = driver.next().instrument(span).await?;
            Some((item, driver))
        }
    });
    Ok(RoutedStream {
        provider,
        model,
        attempts,
        skipped,
        dropped_params,
        inner: stream.boxed(),
    })
}
