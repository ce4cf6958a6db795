//! Client authentication: `Authorization: Bearer <key>` against `LLMPOOL_API_KEYS`.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Parses `LLMPOOL_API_KEYS` (comma-separated; blanks ignored).
pub fn parse_client_keys(value: &str) -> Vec<SecretString> {
    value
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| SecretString::from(k.to_owned()))
        .collect()
}

/// True when `presented` equals one of `keys`. Every key is compared, each in constant
/// time over its contents, so timing reveals neither which key matched nor how much of it.
pub fn key_matches(keys: &[SecretString], presented: &str) -> bool {
    let presented = presented.as_bytes();
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        matched |= key.expose_secret().as_bytes().ct_eq(presented);
    }
    matched.into()
}

/// Middleware: passes requests through when no client keys are configured, else needs a
/// matching bearer token.
pub(crate) async fn require_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.client_keys.is_empty() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(token) if key_matches(&state.client_keys, token) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_exact_keys() {
        let keys = parse_client_keys(" alpha-key-1 , ,beta-key-2");
        assert_eq!(keys.len(), 2);
        assert!(key_matches(&keys, "beta-key-2"));
        assert!(!key_matches(&keys, "beta-key-"));
        assert!(!key_matches(&keys, "beta-key-22"));
        assert!(!key_matches(&keys, ""));
        assert!(!key_matches(&[], "anything"));
    }
}
