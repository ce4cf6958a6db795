//! One request's walk over its routes: admission, quota, the call under its timeout, and
//! the reaction to each error kind (one exhaustive `match`).

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, ProviderError};
use crate::health::{Disabled, ProbeGuard, Skip, SkipReason};
use crate::ledger::settle::{Grant, Reservation, never_reached_upstream};
use crate::ledger::{Ledger, Scope};
use crate::ratelimit::RateLimitSnapshot;
use crate::router::in_flight::{IN_FLIGHT_RETRY, Permit};
use crate::router::inner::{Ctx, Inner};
use crate::router::route::Route;
use crate::types::{Attempt, ChatRequest, ChatResponse};

/// How long a route whose rate limit gave no retry-after is left alone.
const DEFAULT_RATE_LIMIT_COOLDOWN: Duration = Duration::from_secs(60);
/// How long a route whose model was not found is parked.
const MODEL_NOT_FOUND_PARK: Duration = Duration::from_secs(24 * 3600);
/// First backoff after a transient failure; doubles per retry, plus up to 50 % jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// What a walk calls on each route: a one-shot chat ([`Chat`]) or a stream until its
/// first delta (`router::stream::FirstDelta`).
pub(crate) trait Call {
    /// What a successful call gives.
    type Output;
    /// Whether the upstream request asks for a stream.
    const STREAM: bool;
    /// Calls `route` with `upstream`, within `budget` (what is left of the attempt's
    /// timeout and the request's deadline).
    fn call(
        &self,
        route: &Route,
        upstream: &ChatRequest,
        budget: Duration,
    ) -> impl Future<Output = Result<Self::Output, ProviderError>> + Send;
    /// What the answer's headers said about rate limits.
    fn rate_limits(output: &Self::Output) -> &RateLimitSnapshot;
}

/// `Provider::chat` under the attempt's timeout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chat;

impl Call for Chat {
    type Output = ChatResponse;
    const STREAM: bool = false;

    async fn call(
        &self,
        route: &Route,
        upstream: &ChatRequest,
        budget: Duration,
    ) -> Result<ChatResponse, ProviderError> {
        match tokio::time::timeout(budget, route.client.chat(upstream)).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::new(route.provider, ErrorKind::Timeout)
                .with_message(format!("no answer within {} s", budget.as_secs()))),
        }
    }

    fn rate_limits(output: &ChatResponse) -> &RateLimitSnapshot {
        &output.rate_limits
    }
}

/// The answering attempt.
#[derive(Debug)]
pub(crate) struct Won<T> {
    pub(crate) value: T,
    pub(crate) route: Arc<Route>,
    pub(crate) reservation: Reservation,
    /// The route's in-flight slots: held while the answer is read (a stream's whole
    /// life), released when dropped.
    pub(crate) permit: Permit,
}

/// What the walk does after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Try the same route again after this pause.
    Again(Duration),
    /// Move on to the next route.
    Next,
    /// Move on without counting the failure as the caller's error (a rejected prefill).
    Quiet,
    /// Stop and return the failure to the caller.
    Surface,
}

/// How health sees a failure.
#[derive(Debug, Clone, Copy)]
struct Verdict {
    /// Counts against the success rate and toward opening the circuit.
    transient: bool,
}

impl Inner {
    /// Walks `routes` until `call` succeeds on one of them; `None` when none did (the
    /// reasons are in `ctx`).
    #[expect(
        clippy::too_many_lines,
        reason = "one loop that reads best in one piece"
    )]
    pub(crate) async fn walk<C: Call>(
        &self,
        req: &ChatRequest,
        routes: &mut std::collections::VecDeque<Arc<Route>>,
        ctx: &mut Ctx,
        call: &C,
    ) -> Result<Option<Won<C::Output>>, Error> {
        let tokens = Ledger::token_cost(req);
        while let Some(route) = routes.pop_front() {
            if ctx.passes_over(&route) {
                continue;
            }
            let upstream = route.request(req, &ctx.prefill, C::STREAM);
            let mut retries = 0_u32;
            let mut waits = 0_u32;
            loop {
                let now = Instant::now();
                if now >= ctx.deadline {
                    return Err(Error::DeadlineExceeded(std::mem::take(&mut ctx.errors)));
                }
                let mut guard = match self.health.admit(route.href()) {
                    Ok(guard) => guard,
                    Err(skip) => {
                        ctx.skipped.push((Arc::clone(&route), skip));
                        break;
                    }
                };
                // Before the ledger: a route at its in-flight limit is skipped without
                // taking a quota slot it would have to give back.
                let Some(permit) = route.in_flight.try_take() else {
                    tracing::debug!(route = %route.id, "requests in flight at the limit, skipped");
                    ctx.skipped.push((
                        Arc::clone(&route),
                        Skip {
                            reason: SkipReason::InFlight,
                            until: Some(after(self.clock.now(), IN_FLIGHT_RETRY)),
                        },
                    ));
                    break;
                };
                let reservation = match self.ledger.acquire(&route.quota(), tokens).await? {
                    Grant::Granted(r) => r,
                    Grant::Denied {
                        window,
                        until,
                        scope,
                    } => {
                        let reason = if window.is_quota() {
                            SkipReason::Exhausted
                        } else {
                            SkipReason::RateLimited
                        };
                        tracing::debug!(
                            route = %route.id,
                            reason = reason.describe(),
                            shared = matches!(scope, Scope::Key),
                            "quota full, skipped"
                        );
                        ctx.skipped.push((
                            Arc::clone(&route),
                            Skip {
                                reason,
                                until: Some(until),
                            },
                        ));
                        break;
                    }
                };
                let budget = self.settings.timeout().min(ctx.deadline - now);
                let started = Instant::now();
                let result = call.call(&route, &upstream, budget).await;
                let latency = started.elapsed();
                match result {
                    Ok(value) => {
                        self.observe(&route, C::rate_limits(&value)).await?;
                        self.health.success(route.href(), latency, &mut guard).await;
                        // Debug, not info: a line per answered request costs more CPU
                        // than routing it (see the Performance section of the README);
                        // failed attempts stay at info.
                        tracing::debug!(
                            provider = route.provider,
                            model = %route.model,
                            outcome = "ok",
                            latency_ms = latency_ms(latency),
                            "attempt"
                        );
                        ctx.attempts.push(Attempt {
                            provider: route.provider,
                            model: route.model.clone(),
                            error: None,
                            message: None,
                            latency,
                        });
                        return Ok(Some(Won {
                            value,
                            route,
                            reservation,
                            permit,
                        }));
                    }
                    Err(error) => {
                        let error = error.with_model(&route.model);
                        // The attempt is over: its slots are free before any pause.
                        drop(permit);
                        self.ledger.failed(&reservation, &error).await?;
                        let flow = self
                            .after_failure(&route, &error, latency, &mut guard, ctx, retries, waits)
                            .await?;
                        match flow {
                            Flow::Again(pause) => {
                                if matches!(error.kind, ErrorKind::RateLimited { .. }) {
                                    waits += 1;
                                } else {
                                    retries += 1;
                                }
                                ctx.errors.push(error);
                                drop(guard);
                                tokio::time::sleep(pause).await;
                            }
                            Flow::Next => {
                                if provider_in_trouble(&error) {
                                    demote(routes, route.provider);
                                }
                                ctx.errors.push(error);
                                break;
                            }
                            Flow::Quiet => break,
                            Flow::Surface => return Err(Error::ContentFiltered(Box::new(error))),
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// Records an attempt's failure and decides what follows.
    #[expect(
        clippy::too_many_arguments,
        reason = "the walk's loop state, passed once"
    )]
    #[expect(
        clippy::too_many_lines,
        reason = "the one exhaustive match over error kinds"
    )]
    pub(crate) async fn after_failure(
        &self,
        route: &Route,
        error: &ProviderError,
        latency: Duration,
        guard: &mut ProbeGuard,
        ctx: &mut Ctx,
        retries: u32,
        waits: u32,
    ) -> Result<Flow, Error> {
        let summary = error.summary();
        // Info, not warn: the caller's layer logs the request's final failure once.
        tracing::info!(
            provider = route.provider,
            model = %route.model,
            outcome = error.kind.label().as_str(),
            status = error.status,
            latency_ms = latency_ms(latency),
            "attempt failed"
        );
        ctx.attempts.push(Attempt {
            provider: route.provider,
            model: route.model.clone(),
            error: Some(error.kind.label()),
            message: error.message.clone(),
            latency,
        });
        self.observe(route, &error.rate_limits).await?;
        let now = self.clock.now();
        let remaining = ctx.deadline.saturating_duration_since(Instant::now());
        let (verdict, flow) = match &error.kind {
            ErrorKind::RateLimited { retry_after } => {
                let wait = retry_after.or(error.rate_limits.retry_after);
                let max_wait = Duration::from_secs(self.settings.max_retry_wait_secs);
                match wait {
                    Some(wait)
                        if wait <= max_wait
                            && wait < remaining
                            && waits < self.settings.retry_attempts.max(1) =>
                    {
                        (Verdict { transient: false }, Flow::Again(wait))
                    }
                    _ => {
                        let wait = wait.unwrap_or(DEFAULT_RATE_LIMIT_COOLDOWN);
                        self.block(route, Scope::Own, false, after(now, wait)).await;
                        (Verdict { transient: false }, Flow::Next)
                    }
                }
            }
            ErrorKind::QuotaExhausted { until } => {
                let until = until
                    .filter(|u| *u > now)
                    .unwrap_or_else(|| self.ledger.next_daily_reset(route.day));
                self.block(route, Scope::Own, true, until).await;
                (Verdict { transient: false }, Flow::Next)
            }
            ErrorKind::Unauthorized => {
                self.health
                    .disable_key(&route.key_id, Disabled::BadKey)
                    .await;
                (Verdict { transient: false }, Flow::Next)
            }
            ErrorKind::PaymentRequired => {
                self.health
                    .disable_key(&route.key_id, Disabled::PaymentRequired)
                    .await;
                (Verdict { transient: false }, Flow::Next)
            }
            ErrorKind::BadRequest => {
                if ctx.prefill.is_empty() {
                    (Verdict { transient: false }, Flow::Next)
                } else {
                    // A route that rejects a trailing assistant message does not continue
                    // streams; the rejection is not the caller's error.
                    self.health.mark_no_prefill(&route.id).await;
                    (Verdict { transient: false }, Flow::Quiet)
                }
            }
            ErrorKind::ContextTooLong => {
                // Never resent unchanged to a route whose window is not larger: the walk
                // skips those from now on (see `Fit`).
                ctx.fit.refused_by(route);
                (Verdict { transient: false }, Flow::Next)
            }
            ErrorKind::ModelNotFound => {
                self.health
                    .park(&route.id, after(now, MODEL_NOT_FOUND_PARK))
                    .await;
                (Verdict { transient: false }, Flow::Next)
            }
            ErrorKind::ContentFiltered => {
                if self.settings.content_filter_fallback {
                    (Verdict { transient: false }, Flow::Next)
                } else {
                    (Verdict { transient: false }, Flow::Surface)
                }
            }
            ErrorKind::Transient { .. } | ErrorKind::Network(_) => {
                let pause = self.backoff(retries);
                if retries < self.settings.retry_attempts && pause < remaining {
                    (Verdict { transient: true }, Flow::Again(pause))
                } else {
                    (Verdict { transient: true }, Flow::Next)
                }
            }
            ErrorKind::Timeout | ErrorKind::InvalidResponse => {
                (Verdict { transient: true }, Flow::Next)
            }
        };
        let open = self
            .health
            .failure(
                route.href(),
                &summary,
                verdict.transient,
                verdict.transient,
                guard,
            )
            .await;
        Ok(match flow {
            // The circuit just opened: no more tries here.
            Flow::Again(_) if open => Flow::Next,
            other => other,
        })
    }

    /// Applies rate-limit headers: learned limits and counters, and a block when a
    /// window reports nothing left (for every route counting in that window).
    pub(crate) async fn observe(
        &self,
        route: &Route,
        snapshot: &RateLimitSnapshot,
    ) -> Result<(), Error> {
        for block in self.ledger.observe(&route.quota(), snapshot).await? {
            self.block(route, block.scope, block.quota, block.until)
                .await;
        }
        Ok(())
    }

    /// Parks `route` and every route counting in the same windows of `scope` (the models
    /// of its bucket, or every model of its key) until `until`: exhausted when `quota`,
    /// else rate limited.
    async fn block(&self, route: &Route, scope: Scope, quota: bool, until: DateTime<Utc>) {
        for id in self.sharing(route, scope) {
            if quota {
                self.health.exhaust(&id, until).await;
            } else {
                self.health.rate_limit(&id, until).await;
            }
        }
    }

    fn backoff(&self, retries: u32) -> Duration {
        let base = BACKOFF_BASE.saturating_mul(2_u32.saturating_pow(retries.min(10)));
        let jitter: f64 = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_range(0.0..0.5);
        base.mul_f64(1.0 + jitter).min(Duration::from_secs(
            self.settings.max_retry_wait_secs.max(1),
        ))
    }

    /// A one-shot chat over the request's routes.
    pub(crate) async fn chat(&self, req: ChatRequest) -> Result<ChatResponse, Error> {
        if req.messages.is_empty() {
            return Err(Error::InvalidRequest(
                "the request has no messages".to_owned(),
            ));
        }
        let mut ctx = Ctx::new(Instant::now() + self.settings.deadline());
        let mut routes: std::collections::VecDeque<_> = self.plan(&req, &mut ctx).await?.into();
        let won = self.walk(&req, &mut routes, &mut ctx, &Chat).await?;
        let Some(won) = won else {
            return Err(ctx.take_error());
        };
        // The answer is in: its in-flight slots are free before the bookkeeping.
        drop(won.permit);
        let mut response = won.value;
        self.ledger
            .reconcile(&won.reservation, response.usage.as_ref())
            .await?;
        if response.model.is_empty() {
            response.model.clone_from(&won.route.model);
        }
        response.provider = won.route.provider;
        response.attempts = ctx.attempts;
        response.skipped = ctx.unfit;
        Ok(response)
    }
}

/// Whether a failure says the provider, not one model, is in trouble: no answer in time
/// (a whole attempt, a first token) or a refused connection. The rest of the request then
/// tries the other providers first.
fn provider_in_trouble(error: &ProviderError) -> bool {
    matches!(error.kind, ErrorKind::Timeout) || never_reached_upstream(error)
}

/// Moves the routes of `provider` behind every other route, keeping both orders.
fn demote(routes: &mut std::collections::VecDeque<Arc<Route>>, provider: &str) {
    let (same, others): (Vec<_>, Vec<_>) = routes.drain(..).partition(|r| r.provider == provider);
    routes.extend(others);
    routes.extend(same);
}

fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::TimeDelta::MAX)
}

pub(crate) fn latency_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
