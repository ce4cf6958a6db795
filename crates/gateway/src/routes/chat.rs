//! `POST /v1/chat/completions`: one-shot and streamed, any upstream format in, OpenAI out.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use llmpool::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ErrorResponse};
use llmpool::{Attempt, ChatResponse, RoutedEvent, ToolCallDelta};

use crate::error::{ApiError, TRAIL_HEADER};
use crate::recorder::{RequestRecord, prompt_excerpt, unix_ms};
use crate::sse;
use crate::state::AppState;
use crate::trail;

const ENDPOINT: &str = "chat_completions";

/// Handles one chat completion request.
pub(crate) async fn completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (req, include_usage, limit_param) = match parse(&state, body) {
        Ok(parsed) => parsed,
        Err(e) => {
            state
                .metrics
                .record(ENDPOINT, "rejected", started.elapsed(), &[]);
            return e.into_response();
        }
    };
    // Routed requests record their own outcome (success or failure) exactly once.
    let asked = Asked::new(&state, &req, started, limit_param);
    let result = if req.stream {
        stream(&state, req, include_usage, asked).await
    } else {
        one_shot(&state, req, asked).await
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The request, whether it asked for a usage chunk, and the name of the token-limit
/// field it sent (`max_completion_tokens` wins over `max_tokens`, as in the conversion).
fn parse(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<(llmpool::ChatRequest, bool, &'static str), ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(state.max_body_bytes)
        } else {
            ApiError::invalid_request(
                format!("cannot read the request body: {}", rejection.body_text()),
                None,
            )
        }
    })?;
    let mut de = serde_json::Deserializer::from_slice(&body);
    let wire: ChatCompletionRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let param = (path != ".").then_some(path);
        let message = match &param {
            Some(p) => format!("invalid request body at `{p}`: {inner}"),
            None => format!("invalid request body: {inner}"),
        };
        ApiError::invalid_request(message, param.as_deref())
    })?;
    // Bytes after the JSON value are a broken body, not something to ignore.
    de.end()
        .map_err(|e| ApiError::invalid_request(format!("invalid request body: {e}"), None))?;
    let req = wire.to_core().map_err(|e| {
        ApiError::invalid_request(
            format!("invalid request body at `{}`: {}", e.param, e.reason),
            Some(&e.param),
        )
    })?;
    let include_usage = wire.stream_options.is_some_and(|o| o.include_usage);
    let limit_param = if wire.max_completion_tokens.is_none() && wire.max_tokens.is_some() {
        "max_tokens"
    } else {
        "max_completion_tokens"
    };
    Ok((req, include_usage, limit_param))
}

fn completion_id() -> String {
    format!(
        "chatcmpl-{:024x}",
        rand::random::<u128>() & ((1u128 << 96) - 1)
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `x-llmpool-provider`, `x-llmpool-attempts`, `x-llmpool-trail`, and
/// `x-llmpool-dropped-params` when the answering route left out request fields that do not
/// change the answer's meaning (see `llmpool::is_droppable`).
fn routing_headers(
    headers: &mut HeaderMap,
    provider: &str,
    attempts: usize,
    trail: Option<HeaderValue>,
    dropped: &[String],
) {
    if let Ok(v) = HeaderValue::from_str(provider) {
        headers.insert("x-llmpool-provider", v);
    }
    headers.insert("x-llmpool-attempts", HeaderValue::from(attempts));
    if let Some(v) = trail {
        headers.insert(TRAIL_HEADER, v);
    }
    if !dropped.is_empty()
        && let Ok(v) = HeaderValue::from_str(&dropped.join(", "))
    {
        headers.insert("x-llmpool-dropped-params", v);
    }
}

/// What the dashboard keeps of a request before it is routed.
struct Asked {
    model: String,
    /// What the request needs from a model: the routes passed over for it are in a
    /// failed request's trail (the router's error does not carry them).
    needs: llmpool::Needs,
    /// The token-limit field the client sent: what a 400 about the output cap names.
    limit_param: &'static str,
    prompt: Option<String>,
    stream: bool,
    started: Instant,
}

impl Asked {
    fn new(
        state: &AppState,
        req: &llmpool::ChatRequest,
        started: Instant,
        limit_param: &'static str,
    ) -> Self {
        Self {
            model: req.model.clone().unwrap_or_else(|| "auto".to_owned()),
            needs: req.needs(),
            limit_param,
            prompt: prompt_excerpt(&state.recorder, req),
            stream: req.stream,
            started,
        }
    }

    fn answered(
        self,
        provider: &'static str,
        skips: &str,
        attempts: &[Attempt],
        usage: Option<llmpool::Usage>,
    ) -> RequestRecord {
        let mut trail = trail::from_attempts(attempts);
        if !skips.is_empty() {
            trail = format!("{skips},{trail}");
        }
        self.finish(Some(provider), "ok", 200, trail, attempts.len(), usage)
    }

    fn finish(
        self,
        provider: Option<&'static str>,
        outcome: &'static str,
        status: u16,
        trail: String,
        attempts: usize,
        usage: Option<llmpool::Usage>,
    ) -> RequestRecord {
        let latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::debug!(model = %self.model, provider, outcome, status, trail = %trail, latency_ms, "chat request");
        RequestRecord {
            at_ms: unix_ms(),
            model: self.model,
            provider,
            outcome,
            status,
            stream: self.stream,
            trail,
            attempts,
            latency_ms,
            prompt_tokens: usage.map(|u| u.prompt_tokens),
            completion_tokens: usage.map(|u| u.completion_tokens),
            prompt: self.prompt,
        }
    }
}

/// The record of a stream cut after its first delta: the attempts until the first delta,
/// then the failures of the continuation.
fn cut_stream_record(
    asked: Asked,
    head_trail: &str,
    head_attempts: usize,
    e: &llmpool::Error,
) -> RequestRecord {
    let mut full = head_trail.to_owned();
    let tail = trail::from_error(e);
    if !tail.is_empty() {
        if !full.is_empty() {
            full.push(',');
        }
        full.push_str(&tail);
    }
    let n = failed_attempts(e).len() + head_attempts;
    // The status line (200) was sent before the stream was cut.
    asked.finish(None, error_outcome(e), 200, full, n, None)
}

/// A streamed answer not yet recorded. Dropped before its end (the client went away), it
/// records the request as `client_closed` with the trail known so far, so the
/// dashboard's list never loses a request.
struct PendingStream {
    asked: Option<Asked>,
    recorder: std::sync::Arc<crate::recorder::Recorder>,
    head_trail: String,
    head_attempts: usize,
    /// The routes passed over for a capability, as trail entries.
    skips: String,
}

impl PendingStream {
    fn answered(
        &mut self,
        provider: &'static str,
        attempts: &[Attempt],
        usage: Option<llmpool::Usage>,
    ) {
        if let Some(asked) = self.asked.take() {
            self.recorder
                .record(asked.answered(provider, &self.skips, attempts, usage));
        }
    }

    fn cut(&mut self, e: &llmpool::Error) {
        if let Some(asked) = self.asked.take() {
            let record = cut_stream_record(asked, &self.head_trail, self.head_attempts, e);
            self.recorder.record(record);
        }
    }
}

impl Drop for PendingStream {
    fn drop(&mut self) {
        if let Some(asked) = self.asked.take() {
            let trail = std::mem::take(&mut self.head_trail);
            let record = asked.finish(None, "client_closed", 200, trail, self.head_attempts, None);
            self.recorder.record(record);
        }
    }
}

/// The answer to a routed request that failed, with its trail (the routes passed over
/// for a capability, then what the error says), recorded.
async fn routed_error(state: &AppState, asked: Asked, e: llmpool::Error) -> ApiError {
    let skipped = match &e {
        llmpool::Error::InvalidRequest(_)
        | llmpool::Error::Store(_)
        | llmpool::Error::Config(_) => Vec::new(),
        llmpool::Error::NoAvailableProviders(_)
        | llmpool::Error::AllProvidersFailed(_)
        | llmpool::Error::ContentFiltered(_)
        | llmpool::Error::DeadlineExceeded(_) => {
            state
                .handler
                .router()
                .passed_over(&asked.model, asked.needs)
                .await
        }
    };
    let trail = trail::failed(&skipped, &e);
    let attempts = failed_attempts(&e).len();
    let outcome = error_outcome(&e);
    // The router knows the limit, not which of the two fields carried it.
    let limit_field = match &e {
        llmpool::Error::NoAvailableProviders(llmpool::Unavailable::Unsupported {
            missing: missing @ llmpool::Missing::MaxOutputTokens { .. },
            ..
        }) => Some(missing.field()),
        _ => None,
    };
    let mut api = ApiError::from(e);
    if let Some(named) = limit_field {
        api = api.renaming_param(named, asked.limit_param);
    }
    let record = asked.finish(
        None,
        outcome,
        api.status.as_u16(),
        trail.clone(),
        attempts,
        None,
    );
    state.recorder.record(record);
    api.with_trail(trail)
}

async fn one_shot(
    state: &AppState,
    req: llmpool::ChatRequest,
    asked: Asked,
) -> Result<Response, ApiError> {
    let started = asked.started;
    let outcome: Result<ChatResponse, llmpool::Error> = state.handler.chat(req).await;
    match outcome {
        Ok(resp) => {
            state
                .metrics
                .record(ENDPOINT, "ok", started.elapsed(), &resp.attempts);
            let body = ChatCompletion::from_core(&resp, completion_id(), unix_now());
            let mut response = axum::Json(body).into_response();
            let trail = trail::answered(&resp.skipped, &resp.attempts);
            routing_headers(
                response.headers_mut(),
                resp.provider,
                resp.attempts.len(),
                HeaderValue::from_str(&trail).ok(),
                &resp.dropped_params,
            );
            let n = resp.attempts.len();
            let record = asked.finish(Some(resp.provider), "ok", 200, trail, n, resp.usage);
            state.recorder.record(record);
            Ok(response)
        }
        Err(e) => {
            state.metrics.record(
                ENDPOINT,
                error_outcome(&e),
                started.elapsed(),
                &failed_attempts(&e),
            );
            Err(routed_error(state, asked, e).await)
        }
    }
}

/// Attempts of a failed request, for metrics.
fn failed_attempts(e: &llmpool::Error) -> Vec<Attempt> {
    let attempt = |pe: &llmpool::ProviderError| Attempt {
        provider: pe.provider,
        model: pe.model.clone().unwrap_or_default(),
        error: Some(pe.kind.label()),
        message: None,
        latency: std::time::Duration::ZERO,
    };
    match e {
        llmpool::Error::AllProvidersFailed(errors) | llmpool::Error::DeadlineExceeded(errors) => {
            errors.iter().map(attempt).collect()
        }
        // The refusing provider's attempt failed too, by kind `content_filtered`.
        llmpool::Error::ContentFiltered(pe) => vec![attempt(pe)],
        llmpool::Error::NoAvailableProviders(_)
        | llmpool::Error::InvalidRequest(_)
        | llmpool::Error::Store(_)
        | llmpool::Error::Config(_) => Vec::new(),
    }
}

fn error_outcome(e: &llmpool::Error) -> &'static str {
    match e {
        llmpool::Error::NoAvailableProviders(_) => "no_available_providers",
        llmpool::Error::AllProvidersFailed(_) => "all_providers_failed",
        llmpool::Error::ContentFiltered(_) => "content_filtered",
        llmpool::Error::InvalidRequest(_) => "invalid_request",
        llmpool::Error::DeadlineExceeded(_) => "deadline_exceeded",
        llmpool::Error::Store(_) | llmpool::Error::Config(_) => "internal_error",
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one pipeline from the routed stream to SSE frames; its pieces are named types"
)]
async fn stream(
    state: &AppState,
    req: llmpool::ChatRequest,
    include_usage: bool,
    asked: Asked,
) -> Result<Response, ApiError> {
    let started = asked.started;
    // For a usage chunk when the upstream reports none (OpenAI's clients read it whenever
    // they asked for it): the same estimate the ledger charges, from the text's length.
    let prompt_estimate = asked.needs.prompt_tokens;
    let routed = match state.handler.router().chat_stream(req).await {
        Ok(s) => s,
        Err(e) => {
            state.metrics.record(
                ENDPOINT,
                error_outcome(&e),
                started.elapsed(),
                &failed_attempts(&e),
            );
            return Err(routed_error(state, asked, e).await);
        }
    };
    let provider = routed.provider();
    let attempts = routed.attempts().len();
    // The header carries the attempts until the first delta; the dashboard records the
    // whole trail (continuations included) when the stream ends.
    let head_trail = trail::answered(routed.skipped(), routed.attempts());
    let head_value = HeaderValue::from_str(&head_trail).ok();
    let mut pending = PendingStream {
        asked: Some(asked),
        recorder: state.recorder.clone(),
        head_trail,
        head_attempts: attempts,
        skips: trail::skips(routed.skipped()),
    };
    let dropped = routed.dropped_params().to_vec();
    let model = routed.model().to_owned();
    let mut pieces = Pieces {
        id: completion_id(),
        created: unix_now(),
        chars: 0,
    };
    let metrics = state.metrics.clone();
    let first = ChatCompletionChunk::role(&pieces.id, pieces.created, &model);
    let events = futures::stream::once(async move { chunk_event(&first) }).chain(routed.scan(
        Some(model),
        move |model, item| {
            let out = match item {
                Ok(RoutedEvent::Delta(text)) => pieces.text(model.as_deref(), text),
                Ok(RoutedEvent::Reasoning(text)) => pieces.reasoning(model.as_deref(), text),
                Ok(RoutedEvent::ToolCall(call)) => pieces.tool_call(model.as_deref(), &call),
                Ok(RoutedEvent::Done {
                    finish_reason,
                    usage,
                    model: done_model,
                    attempts,
                    provider: done_provider,
                }) => {
                    metrics.record(ENDPOINT, "ok", started.elapsed(), &attempts);
                    pending.answered(done_provider, &attempts, usage);
                    let (id, created) = (&pieces.id, pieces.created);
                    let mut out = vec![chunk_event(&ChatCompletionChunk::finish(
                        id,
                        created,
                        &done_model,
                        finish_reason.as_ref(),
                    ))];
                    if include_usage {
                        let usage = usage.unwrap_or_else(|| {
                            llmpool::Usage::new(
                                prompt_estimate,
                                llmpool::estimate_tokens(pieces.chars),
                            )
                        });
                        out.push(chunk_event(&ChatCompletionChunk::usage_only(
                            id,
                            created,
                            &done_model,
                            usage,
                        )));
                    }
                    out.push(sse::event("[DONE]"));
                    *model = None;
                    // The last frames go out together anyway: one buffer.
                    Bytes::from(out.concat())
                }
                Err(e) => {
                    // An explicit error event, and no [DONE]: a cut stream must never
                    // look like a complete one.
                    tracing::warn!(error = %e, "stream failed after the first delta");
                    metrics.record(
                        ENDPOINT,
                        error_outcome(&e),
                        started.elapsed(),
                        &failed_attempts(&e),
                    );
                    pending.cut(&e);
                    let api: ApiError = e.into();
                    *model = None;
                    error_event(&api.body)
                }
            };
            // One frame per event: no list and no inner stream per token piece.
            futures::future::ready(Some(out))
        },
    ));
    let mut response = sse::response(events.boxed());
    routing_headers(
        response.headers_mut(),
        provider,
        attempts,
        head_value,
        &dropped,
    );
    Ok(response)
}

/// The chunks of one streamed answer: its id and time, and the characters sent so far
/// (for the usage estimate when the upstream reports none).
struct Pieces {
    id: String,
    created: u64,
    chars: u64,
}

impl Pieces {
    fn count(&mut self, text: &str) {
        let n = u64::try_from(text.chars().count()).unwrap_or(0);
        self.chars = self.chars.saturating_add(n);
    }

    fn text(&mut self, model: Option<&str>, text: String) -> Bytes {
        self.count(&text);
        let m = model.unwrap_or_default();
        chunk_event(&ChatCompletionChunk::text(&self.id, self.created, m, text))
    }

    fn reasoning(&mut self, model: Option<&str>, text: String) -> Bytes {
        self.count(&text);
        let m = model.unwrap_or_default();
        chunk_event(&ChatCompletionChunk::reasoning(
            &self.id,
            self.created,
            m,
            text,
        ))
    }

    fn tool_call(&mut self, model: Option<&str>, call: &ToolCallDelta) -> Bytes {
        self.count(&call.arguments);
        let m = model.unwrap_or_default();
        chunk_event(&ChatCompletionChunk::tool_call(
            &self.id,
            self.created,
            m,
            call,
        ))
    }
}

fn chunk_event(chunk: &ChatCompletionChunk) -> Bytes {
    sse::json_event(chunk)
}

fn error_event(body: &ErrorResponse) -> Bytes {
    sse::json_event(body)
}
