//! Read-only routes: models, quota, health, metrics, and the 404 fallback.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /health`: 200 while the process serves.
pub(crate) async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /v1/quota`: the seed-shaped status JSON.
pub(crate) async fn quota(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = state.handler.get_quota_status().await?;
    Ok(Json(status).into_response())
}

/// `GET /v1/models`: `auto`, then one entry per provider/model that has a key, with what
/// its model can do (`capabilities`, an extra field OpenAI's clients ignore; `null` where
/// unknown). The providers that are off are not models: they are listed with the reason
/// under the extra top-level `llmpool.providers_off`.
pub(crate) async fn models(State(state): State<AppState>) -> impl IntoResponse {
    let mut data =
        vec![json!({"id": "auto", "object": "model", "created": 0, "owned_by": "llmpool"})];
    for (provider, model, capabilities) in state.handler.router().models() {
        data.push(json!({
            "id": format!("{provider}/{model}"),
            "object": "model",
            "created": 0,
            "owned_by": provider,
            "capabilities": capabilities,
        }));
    }
    let off: Vec<_> = state
        .handler
        .availability()
        .iter()
        .filter_map(|a| {
            Some(json!({
                "id": a.id,
                "config_only": a.config_only,
                "reason": a.off_reason.as_deref()?,
            }))
        })
        .collect();
    Json(json!({"object": "list", "data": data, "llmpool": {"providers_off": off}}))
}

/// `GET /metrics`: Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let status = state.handler.get_quota_status().await.ok();
    let body = state.metrics.render(status.as_ref());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Any other path: 404 in OpenAI's shape.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for `{}`", uri.path()),
        "invalid_request_error",
        "not_found",
    )
}

/// A known path with another method: 405 in OpenAI's shape (axum's own has no body).
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method `{method}` is not allowed on `{}`", uri.path()),
        "invalid_request_error",
        "method_not_allowed",
    )
}
