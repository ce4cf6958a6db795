//! The OpenAI-compatible HTTP gateway of llmpool.
//!
//! Any OpenAI SDK talks to llmpool by changing only its base URL:
//!
//! - `POST /v1/chat/completions`: the OpenAI request schema. `model` = `auto` (or absent)
//!   routes by policy; a provider id (`groq`) pins that provider; `provider/model` pins a
//!   route; a bare model id routes to the providers listing it; `[aliases]` in
//!   `llmpool.toml` maps any client model name (`gpt-4o-mini`) to one of those. Answers
//!   carry `x-llmpool-provider`, `x-llmpool-attempts` and `x-llmpool-trail` (each attempt
//!   as `provider/model:outcome`, see the `trail` module; also in a 5xx body's
//!   `error.trail` and in the `chat request` debug log line). `stream: true` answers
//!   `text/event-stream` with `chat.completion.chunk` events and `data: [DONE]` whatever
//!   the upstream's format; a stream cut after its first delta ends with an error event
//!   and no `[DONE]`.
//! - `GET /v1/models`, `GET /v1/quota` (the seed-shaped status JSON), `GET /health`,
//!   `GET /metrics` (Prometheus text).
//! - `GET /`: the dashboard (page, script and style embedded in the binary), polling
//!   `GET /dashboard/api/state` (status, the last 200 requests, the last hour per minute).
//!   Prompts are kept in that list only with `LLMPOOL_DASHBOARD_KEEP_PROMPTS=1`.
//!
//! Errors use OpenAI's body `{"error": {"message", "type", "code"}}`: 400 invalid JSON or
//! schema (naming the field), 401 missing client key, 404 unknown model or provider,
//! 405 a known path with another method, 413 body over `max_body_bytes`, 503 no provider available (with `retry-after` when the
//! earliest reset is known), 502 all providers failed (each cause listed), 504 deadline.
//! Upstream keys never appear in a response or a log line.
//!
//! With `LLMPOOL_API_KEYS` set, every route but `/health` and the dashboard's static files
//! needs
//! `Authorization: Bearer <one of them>`; `serve` refuses a non-loopback address without
//! keys unless told `--insecure-no-auth`.

mod auth;
mod error;
mod metrics;
mod recorder;
mod routes;
mod serve;
mod sse;
mod state;
mod trail;

pub use auth::{key_matches, parse_client_keys};
pub use error::ApiError;
pub use metrics::Metrics;
pub use recorder::Recorder;
pub use routes::router;
pub use serve::{Gateway, ServeError, ServeOptions, shutdown_signal};
pub use state::{AppState, Shared};
