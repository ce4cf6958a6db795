//! The HTTP routes.

mod chat;
mod info;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

use crate::auth::require_key;
use crate::state::AppState;

/// The gateway's axum router. `/health` is always open; everything else needs a client
/// key when `LLMPOOL_API_KEYS` is set.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    let protected = Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/models", get(info::models))
        .route("/v1/quota", get(info::quota))
        .route("/metrics", get(info::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .route("/health", get(info::health))
        .merge(protected)
        .fallback(info::not_found)
        .method_not_allowed_fallback(info::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
