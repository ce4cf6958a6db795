//! `POST /v1/chat/completions`: one-shot and streamed, any upstream format in, OpenAI out.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use llmpool::core::router::RoutedEvent;
use llmpool::core::{Attempt, ChatResponse, ToolCallDelta};
use llmpool_openai_compat::wire::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ErrorResponse,
};

use crate::error::ApiError;
use crate::sse;
use crate::state::AppState;

const ENDPOINT: &str = "chat_completions";

/// Handles one chat completion request.
pub(crate) async fn completions(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (req, include_usage) = match parse(&state, body) {
        Ok(parsed) => parsed,
        Err(e) => {
            state
                .metrics
                .record(ENDPOINT, "rejected", started.elapsed(), &[]);
            return e.into_response();
        }
    };
    // Routed requests record their own outcome (success or failure) exactly once.
    let result = if req.stream {
        stream(&state, req, include_usage, started).await
    } else {
        one_shot(&state, req, started).await
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn parse(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<(llmpool::ChatRequest, bool), ApiError> {
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
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let wire: ChatCompletionRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let param = (path != ".").then_some(path);
        let message = match &param {
            Some(p) => format!("invalid request body at `{p}`: {inner}"),
            None => format!("invalid request body: {inner}"),
        };
        ApiError::invalid_request(message, param.as_deref())
    })?;
    let req = wire.to_core().map_err(|e| {
        ApiError::invalid_request(
            format!("invalid request body at `{}`: {}", e.param, e.reason),
            Some(&e.param),
        )
    })?;
    let include_usage = wire.stream_options.is_some_and(|o| o.include_usage);
    Ok((req, include_usage))
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

/// `x-llmpool-provider`, `x-llmpool-attempts`, and `x-llmpool-dropped-params` when the
/// answering route left out request fields that do not change the answer's meaning (see
/// `llmpool::core::is_droppable`).
fn routing_headers(headers: &mut HeaderMap, provider: &str, attempts: usize, dropped: &[String]) {
    if let Ok(v) = HeaderValue::from_str(provider) {
        headers.insert("x-llmpool-provider", v);
    }
    headers.insert("x-llmpool-attempts", HeaderValue::from(attempts));
    if !dropped.is_empty()
        && let Ok(v) = HeaderValue::from_str(&dropped.join(", "))
    {
        headers.insert("x-llmpool-dropped-params", v);
    }
}

async fn one_shot(
    state: &AppState,
    req: llmpool::ChatRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    let outcome: Result<ChatResponse, llmpool::Error> = state.handler.chat(req).await;
    match outcome {
        Ok(resp) => {
            state
                .metrics
                .record(ENDPOINT, "ok", started.elapsed(), &resp.attempts);
            let body = ChatCompletion::from_core(&resp, completion_id(), unix_now());
            let mut response = axum::Json(body).into_response();
            routing_headers(
                response.headers_mut(),
                resp.provider,
                resp.attempts.len(),
                &resp.dropped_params,
            );
            Ok(response)
        }
        Err(e) => {
            state.metrics.record(
                ENDPOINT,
                error_outcome(&e),
                started.elapsed(),
                &failed_attempts(&e),
            );
            Err(e.into())
        }
    }
}

/// Attempts of a failed request, for metrics.
fn failed_attempts(e: &llmpool::Error) -> Vec<Attempt> {
    let attempt = |pe: &llmpool::core::ProviderError| Attempt {
        provider: pe.provider,
        model: String::new(),
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

async fn stream(
    state: &AppState,
    req: llmpool::ChatRequest,
    include_usage: bool,
    started: Instant,
) -> Result<Response, ApiError> {
    // For a usage chunk when the upstream reports none (OpenAI's clients read it whenever
    // they asked for it): the same estimate the ledger charges, from the text's length.
    let prompt_estimate = req.estimated_prompt_tokens();
    let routed = match state.handler.router().chat_stream(req).await {
        Ok(s) => s,
        Err(e) => {
            state.metrics.record(
                ENDPOINT,
                error_outcome(&e),
                started.elapsed(),
                &failed_attempts(&e),
            );
            return Err(e.into());
        }
    };
    let (provider, attempts) = (routed.provider(), routed.attempts().len());
    let dropped = routed.dropped_params().to_vec();
    let model = routed.model().to_owned();
    let mut pieces = Pieces {
        id: completion_id(),
        created: unix_now(),
        chars: 0,
    };
    let metrics = state.metrics.clone();
    let first = ChatCompletionChunk::role(&pieces.id, pieces.created, &model);
    let events = futures::stream::once(async move { chunk_event(&first) }).chain(
        routed
            .scan(Some(model), move |model, item| {
                let out = match item {
                    Ok(RoutedEvent::Delta(text)) => vec![pieces.text(model.as_deref(), text)],
                    Ok(RoutedEvent::Reasoning(text)) => {
                        vec![pieces.reasoning(model.as_deref(), text)]
                    }
                    Ok(RoutedEvent::ToolCall(call)) => {
                        vec![pieces.tool_call(model.as_deref(), &call)]
                    }
                    Ok(RoutedEvent::Done {
                        finish_reason,
                        usage,
                        model: done_model,
                        attempts,
                        ..
                    }) => {
                        metrics.record(ENDPOINT, "ok", started.elapsed(), &attempts);
                        let (id, created) = (&pieces.id, pieces.created);
                        let mut out = vec![chunk_event(&ChatCompletionChunk::finish(
                            id,
                            created,
                            &done_model,
                            finish_reason.as_ref(),
                        ))];
                        if include_usage {
                            let usage = usage.unwrap_or_else(|| {
                                llmpool::core::Usage::new(
                                    prompt_estimate,
                                    llmpool::core::estimate_tokens(pieces.chars),
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
                        out
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
                        let api: ApiError = e.into();
                        *model = None;
                        vec![error_event(&api.body)]
                    }
                };
                futures::future::ready(Some(futures::stream::iter(out)))
            })
            .flatten(),
    );
    let mut response = sse::response(events.boxed());
    routing_headers(response.headers_mut(), provider, attempts, &dropped);
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
    sse::event(&serde_json::to_string(chunk).unwrap_or_default())
}

fn error_event(body: &ErrorResponse) -> Bytes {
    sse::event(&serde_json::to_string(body).unwrap_or_default())
}
