//! A scripted in-process provider for router, facade, gateway and end-to-end tests.
//!
//! Each call takes the next queued [`Reply`] (or the fallback, by default a plain `"ok"`
//! answer) and records the request it got. Replies can wait (tokio time, so paused tests
//! control it), fail with any [`ErrorKind`] and rate-limit headers, or stream events that
//! cut, stall or fail midway. It counts its calls in flight (a stream's until it is
//! finished or dropped) and the most there ever were at once ([`FakeProvider::peak`]).
//!
//! ```
//! use std::sync::Arc;
//! use llmpool_core::testkit::{FakeProvider, Reply, StreamStep};
//! use llmpool_core::ErrorKind;
//!
//! let fake = Arc::new(FakeProvider::new("groq"));
//! fake.push(Reply::error(ErrorKind::Transient { status: Some(503) }));
//! fake.push(Reply::text("hello").model("openai/gpt-oss-120b"));
//! fake.push(Reply::stream([StreamStep::delta("Hel"), StreamStep::Stall]));
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;

use crate::error::{BoxError, ConfigError, ErrorKind, ProviderError};
use crate::provider::{ChatStream, Provider, ProviderConfig, ProviderFactory};
use crate::ratelimit::RateLimitSnapshot;
use crate::types::{
    ChatRequest, ChatResponse, FinishReason, StreamEnd, StreamEvent, ToolCallDelta, Usage,
};

/// One step of a scripted stream.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "test scripts: a few steps each, kept as plain values"
)]
pub enum StreamStep {
    /// `StreamEvent::Started` with these headers and model.
    Started(RateLimitSnapshot, Option<String>),
    /// A delta of text.
    Delta(String),
    /// A piece of a tool call.
    ToolCall(ToolCallDelta),
    /// Wait this long (tokio time) before the next step.
    Sleep(Duration),
    /// The clean end.
    Done(StreamEnd),
    /// An error item (the stream is cut).
    Fail(ProviderError),
    /// Never yield again (a stalled connection).
    Stall,
}

impl StreamStep {
    /// A text delta.
    pub fn delta(text: impl Into<String>) -> Self {
        Self::Delta(text.into())
    }

    /// A clean end with `stop` and no usage.
    pub fn done() -> Self {
        Self::Done(StreamEnd {
            finish_reason: Some(FinishReason::Stop),
            usage: None,
            model: None,
        })
    }

    /// An error item of this kind.
    pub fn fail(kind: ErrorKind) -> Self {
        Self::Fail(ProviderError::new("fake", kind))
    }
}

impl Clone for StreamStep {
    fn clone(&self) -> Self {
        match self {
            Self::Started(r, m) => Self::Started(*r, m.clone()),
            Self::Delta(t) => Self::Delta(t.clone()),
            Self::ToolCall(c) => Self::ToolCall(c.clone()),
            Self::Sleep(d) => Self::Sleep(*d),
            Self::Done(e) => Self::Done(e.clone()),
            Self::Fail(e) => Self::Fail(clone_error(e)),
            Self::Stall => Self::Stall,
        }
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Text {
        text: String,
        model: Option<String>,
        usage: Option<Usage>,
        finish_reason: Option<FinishReason>,
    },
    Fail(Box<StreamStep>),
    Stream(Vec<StreamStep>),
}

/// One scripted answer of a [`FakeProvider`].
#[derive(Debug, Clone)]
pub struct Reply {
    outcome: Outcome,
    delay: Duration,
    rate_limits: RateLimitSnapshot,
}

impl Reply {
    /// A complete answer (one delta then `Done` when streamed).
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Text {
                text: text.into(),
                model: None,
                usage: None,
                finish_reason: Some(FinishReason::Stop),
            },
            delay: Duration::ZERO,
            rate_limits: RateLimitSnapshot::default(),
        }
    }

    /// A failure of this kind (before any stream event).
    pub fn error(kind: ErrorKind) -> Self {
        Self::provider_error(ProviderError::new("fake", kind))
    }

    /// A failure with status, message and headers as given (the provider id is replaced).
    pub fn provider_error(error: ProviderError) -> Self {
        Self {
            outcome: Outcome::Fail(Box::new(StreamStep::Fail(error))),
            delay: Duration::ZERO,
            rate_limits: RateLimitSnapshot::default(),
        }
    }

    /// A stream of these steps; a one-shot `chat` gets the deltas joined when the steps
    /// end with `Done`, else the first failure (or a transient one for a cut).
    pub fn stream(steps: impl IntoIterator<Item = StreamStep>) -> Self {
        Self {
            outcome: Outcome::Stream(steps.into_iter().collect()),
            delay: Duration::ZERO,
            rate_limits: RateLimitSnapshot::default(),
        }
    }

    /// The model the upstream reports.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        if let Outcome::Text { model: m, .. } = &mut self.outcome {
            *m = Some(model.into());
        }
        self
    }

    /// Reported usage.
    #[must_use]
    pub fn usage(mut self, usage: Usage) -> Self {
        if let Outcome::Text { usage: u, .. } = &mut self.outcome {
            *u = Some(usage);
        }
        self
    }

    /// Rate-limit headers of the answer (or of the failure).
    #[must_use]
    pub fn rate_limits(mut self, rate_limits: RateLimitSnapshot) -> Self {
        self.rate_limits = rate_limits;
        self
    }

    /// Sleeps for the reply's delay; no sleep at all for none (a zero sleep still waits
    /// for the timer's next millisecond tick, which would dominate a benchmark).
    async fn wait(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }

    /// Wait this long (tokio time) before answering.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Debug)]
struct State {
    script: VecDeque<Reply>,
    fallback: Reply,
    requests: Vec<ChatRequest>,
}

/// A scripted provider. Share it as `Arc<FakeProvider>`; hand the router
/// `fake.clone() as Arc<dyn Provider>`.
#[derive(Debug)]
pub struct FakeProvider {
    id: &'static str,
    state: Mutex<State>,
    concurrency: Arc<Concurrency>,
}

/// Calls in flight now and the most there were at once.
#[derive(Debug, Default)]
struct Concurrency {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// One call in flight; dropping it ends the call (also when its future or stream is
/// dropped half-way).
#[derive(Debug)]
struct Busy(Arc<Concurrency>);

impl Busy {
    fn start(concurrency: &Arc<Concurrency>) -> Self {
        let now = concurrency.now.fetch_add(1, Ordering::SeqCst) + 1;
        concurrency.peak.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(concurrency))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeProvider {
    /// A provider with this id whose script is empty (every call answers `"ok"`).
    pub fn new(id: &'static str) -> Self {
        Self {
            id,
            state: Mutex::new(State {
                script: VecDeque::new(),
                fallback: Reply::text("ok"),
                requests: Vec::new(),
            }),
            concurrency: Arc::default(),
        }
    }

    /// Calls in flight now: one-shot calls not yet answered, streams not yet finished
    /// (ended, failed) or dropped.
    pub fn in_flight(&self) -> usize {
        self.concurrency.now.load(Ordering::SeqCst)
    }

    /// The most calls that were ever in flight at once.
    pub fn peak(&self) -> usize {
        self.concurrency.peak.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the reply to the next unanswered call.
    pub fn push(&self, reply: Reply) {
        self.lock().script.push_back(reply);
    }

    /// Queues `n` copies of a reply.
    pub fn push_n(&self, reply: &Reply, n: usize) {
        let mut state = self.lock();
        for _ in 0..n {
            state.script.push_back(reply.clone());
        }
    }

    /// The reply used once the queue is empty.
    pub fn set_fallback(&self, reply: Reply) {
        self.lock().fallback = reply;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.lock().requests.clone()
    }

    /// How many calls were made.
    pub fn calls(&self) -> usize {
        self.lock().requests.len()
    }

    /// Queued replies not yet used.
    pub fn pending(&self) -> usize {
        self.lock().script.len()
    }

    fn next(&self, req: &ChatRequest) -> Reply {
        let mut state = self.lock();
        state.requests.push(req.clone());
        match state.script.pop_front() {
            Some(r) => r,
            None => state.fallback.clone(),
        }
    }

    fn own(&self, mut error: ProviderError, rate_limits: RateLimitSnapshot) -> ProviderError {
        error.provider = self.id;
        if !rate_limits.is_empty() {
            *error.rate_limits = rate_limits;
        }
        error
    }
}

/// A copy of a provider error (a network cause is copied as its message and io kind).
pub fn clone_error(e: &ProviderError) -> ProviderError {
    let kind = match &e.kind {
        ErrorKind::RateLimited { retry_after } => ErrorKind::RateLimited {
            retry_after: *retry_after,
        },
        ErrorKind::QuotaExhausted { until } => ErrorKind::QuotaExhausted { until: *until },
        ErrorKind::Unauthorized => ErrorKind::Unauthorized,
        ErrorKind::PaymentRequired => ErrorKind::PaymentRequired,
        ErrorKind::BadRequest => ErrorKind::BadRequest,
        ErrorKind::ModelNotFound => ErrorKind::ModelNotFound,
        ErrorKind::ContextTooLong => ErrorKind::ContextTooLong,
        ErrorKind::ContentFiltered => ErrorKind::ContentFiltered,
        ErrorKind::Transient { status } => ErrorKind::Transient { status: *status },
        ErrorKind::Timeout => ErrorKind::Timeout,
        ErrorKind::Network(source) => {
            let io_kind = source
                .downcast_ref::<std::io::Error>()
                .map_or(std::io::ErrorKind::Other, std::io::Error::kind);
            let copy: BoxError = Box::new(std::io::Error::new(io_kind, source.to_string()));
            ErrorKind::Network(copy)
        }
        ErrorKind::InvalidResponse => ErrorKind::InvalidResponse,
    };
    ProviderError {
        provider: e.provider,
        model: e.model.clone(),
        kind,
        status: e.status,
        message: e.message.clone(),
        rate_limits: e.rate_limits.clone(),
    }
}

/// A connection-refused network error, as a provider reports one.
pub fn refused() -> ErrorKind {
    ErrorKind::Network(Box::new(std::io::Error::from(
        std::io::ErrorKind::ConnectionRefused,
    )))
}

#[async_trait::async_trait]
impl Provider for FakeProvider {
    fn id(&self) -> &'static str {
        self.id
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let _busy = Busy::start(&self.concurrency);
        let reply = self.next(req);
        reply.wait().await;
        let requested = req.model.clone().unwrap_or_default();
        let response = |text: String, model: Option<String>, usage, finish_reason| ChatResponse {
            text,
            finish_reason,
            usage,
            provider: self.id,
            model: model.unwrap_or_else(|| requested.clone()),
            latency: reply.delay,
            rate_limits: reply.rate_limits,
            ..ChatResponse::default()
        };
        match reply.outcome {
            Outcome::Text {
                text,
                model,
                usage,
                finish_reason,
            } => Ok(response(text, model, usage, finish_reason)),
            Outcome::Fail(step) => match *step {
                StreamStep::Fail(e) => Err(self.own(e, reply.rate_limits)),
                _ => Err(ProviderError::new(self.id, ErrorKind::InvalidResponse)),
            },
            Outcome::Stream(steps) => {
                let mut text = String::new();
                for step in steps {
                    match step {
                        // A one-shot answer of a scripted stream keeps its text only.
                        StreamStep::Started(..) | StreamStep::ToolCall(_) => {}
                        StreamStep::Delta(t) => text.push_str(&t),
                        StreamStep::Sleep(d) => tokio::time::sleep(d).await,
                        StreamStep::Done(end) => {
                            return Ok(response(text, end.model, end.usage, end.finish_reason));
                        }
                        StreamStep::Fail(e) => return Err(self.own(e, reply.rate_limits)),
                        StreamStep::Stall => futures::future::pending::<()>().await,
                    }
                }
                Err(ProviderError::new(
                    self.id,
                    ErrorKind::Transient { status: None },
                ))
            }
        }
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let busy = Busy::start(&self.concurrency);
        let reply = self.next(req);
        reply.wait().await;
        let steps = match reply.outcome {
            Outcome::Fail(step) => match *step {
                StreamStep::Fail(e) => return Err(self.own(e, reply.rate_limits)),
                other => vec![other],
            },
            Outcome::Text {
                text,
                model,
                usage,
                finish_reason,
            } => vec![
                StreamStep::Started(reply.rate_limits, model.clone()),
                StreamStep::Delta(text),
                StreamStep::Done(StreamEnd {
                    finish_reason,
                    usage,
                    model,
                }),
            ],
            Outcome::Stream(steps) => {
                let mut all = vec![StreamStep::Started(reply.rate_limits, None)];
                all.extend(steps);
                all
            }
        };
        let id = self.id;
        // The call stays in flight while the stream lives and has steps left.
        let state = (VecDeque::from(steps), Some(busy));
        let stream = futures::stream::unfold(state, move |(mut steps, mut busy)| async move {
            loop {
                let Some(step) = steps.pop_front() else {
                    busy.take();
                    return None;
                };
                let item = match step {
                    StreamStep::Started(rate_limits, model) => {
                        Ok(StreamEvent::Started { rate_limits, model })
                    }
                    StreamStep::Delta(t) => Ok(StreamEvent::Delta(t)),
                    StreamStep::ToolCall(c) => Ok(StreamEvent::ToolCall(c)),
                    StreamStep::Sleep(d) => {
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    StreamStep::Done(end) => Ok(StreamEvent::Done(end)),
                    StreamStep::Fail(mut e) => {
                        e.provider = id;
                        Err(e)
                    }
                    StreamStep::Stall => {
                        futures::future::pending::<()>().await;
                        continue;
                    }
                };
                if matches!(item, Ok(StreamEvent::Done(_)) | Err(_)) {
                    busy.take();
                }
                return Some((item, (steps, busy)));
            }
        });
        Ok(stream.boxed())
    }
}

#[expect(
    clippy::unnecessary_wraps,
    reason = "the signature of ProviderFactory::build"
)]
fn build_fake(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ConfigError> {
    Ok(Arc::new(FakeProvider::new(cfg.id)))
}

/// A factory for a fake provider with this id, key env variable, default model and
/// catalog TOML; its `build` makes an unscripted [`FakeProvider`].
pub const fn fake_factory(
    id: &'static str,
    key_env: &'static str,
    default_model: &'static str,
    catalog: &'static str,
    default_priority: u32,
) -> ProviderFactory {
    ProviderFactory {
        id,
        display_name: id,
        key_env,
        base_url_env: "",
        default_base_url: "http://127.0.0.1:9/v1",
        default_model,
        catalog,
        default_priority,
        docs_url: "",
        build: build_fake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn replays_script_then_fallback() {
        let fake = FakeProvider::new("f");
        fake.push(Reply::error(ErrorKind::Timeout));
        fake.push(Reply::text("hi").delay(Duration::from_secs(3)).model("m2"));
        let req = ChatRequest::from_user("x").with_model("m");
        let e = fake.chat(&req).await.unwrap_err();
        assert_eq!(e.provider, "f");
        let r = fake.chat(&req).await.unwrap();
        assert_eq!((r.text.as_str(), r.model.as_str()), ("hi", "m2"));
        assert_eq!(fake.chat(&req).await.unwrap().text, "ok");
        assert_eq!(fake.calls(), 3);
        fake.push(Reply::stream([
            StreamStep::delta("a"),
            StreamStep::fail(refused()),
        ]));
        let items: Vec<_> = fake.chat_stream(&req).await.unwrap().collect().await;
        assert_eq!(items.len(), 3);
        assert!(matches!(items[1], Ok(StreamEvent::Delta(ref t)) if t == "a"));
        assert!(items[2].as_ref().is_err_and(|e| e.provider == "f"));
    }
}
