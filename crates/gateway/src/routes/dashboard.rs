//! The dashboard: a page and its script and style, embedded in the binary, and the one
//! data endpoint they poll.
//!
//! `GET /` and `GET /dashboard/app.{js,css}` hold no data and are always open (the page
//! asks for a client key when the data endpoint answers 401). `GET /dashboard/api/state`
//! is protected like every other data route.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::recorder::{ChartMinute, RequestRecord, unix_ms};
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const APP_CSS: &str = include_str!("dashboard/app.css");

/// The page loads only its own files; nothing inline, nothing from elsewhere.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// `GET /`: the dashboard page.
pub(crate) async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// `GET /dashboard/app.js`.
pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_JS,
    )
        .into_response()
}

/// `GET /dashboard/app.css`.
pub(crate) async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_CSS,
    )
        .into_response()
}

/// What the page polls.
#[derive(Serialize)]
struct DashboardState {
    /// Server time, so countdowns do not depend on the browser's clock.
    now_ms: u64,
    /// The quota and health report (per provider and per route).
    status: llmpool::QuotaStatus,
    /// Each provider's day-reset time zone.
    zones: BTreeMap<&'static str, String>,
    /// The last requests, newest first.
    requests: Vec<RequestRecord>,
    /// Per-minute counts of the last hour, oldest first.
    minutes: Vec<ChartMinute>,
    /// Requests since the gateway started.
    total: u64,
    /// Whether prompt excerpts are kept.
    keep_prompts: bool,
}

/// `GET /dashboard/api/state`.
pub(crate) async fn data(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = state.handler.get_quota_status().await?;
    let snapshot = state.recorder.snapshot();
    let body = DashboardState {
        now_ms: unix_ms(),
        status,
        zones: state.zones.clone(),
        requests: snapshot.requests,
        minutes: snapshot.minutes,
        total: snapshot.total,
        keep_prompts: snapshot.keep_prompts,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
