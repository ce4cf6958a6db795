//! The HTTP routes.

mod chat;
mod dashboard;
mod info;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

use crate::auth::require_key;
use crate::state::AppState;

/// The gateway's axum router. `/health` and the dashboard's page, script and style are
/// always open; everything else (the dashboard's data included) needs a client key when
/// `LLMPOOL_API_KEYS` is set.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    let protected = Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/models", get(info::models))
        .route("/v1/quota", get(info::quota))
        .route("/metrics", get(info::metrics))
        .route("/dashboard/api/state", get(dashboard::data))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .route("/health", get(info::health))
        .route("/", get(dashboard::index))
        .route("/dashboard/app.js", get(dashboard::script))
        .route("/dashboard/app.css", get(dashboard::style))
        .merge(protected)
        .fallback(info::not_found)
        .method_not_allowed_fallback(info::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
