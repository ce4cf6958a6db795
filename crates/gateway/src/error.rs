//! Every failure the gateway answers, mapped once to OpenAI's error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use llmpool::Error;
use llmpool::core::Unavailable;
use llmpool_openai_compat::wire::ErrorResponse;

/// An error answer: status, OpenAI error body, optional `retry-after` seconds.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `{"error": {"message", "type", "code"}}` (boxed: errors are rare, results common).
    pub body: Box<ErrorResponse>,
    /// Seconds until a retry makes sense, when known.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, message, OpenAI `type` and `code`.
    pub fn new(status: StatusCode, message: impl Into<String>, kind: &str, code: &str) -> Self {
        Self {
            status,
            body: Box::new(ErrorResponse::new(message, kind).with_code(code)),
            retry_after: None,
        }
    }

    /// 400 for a request the gateway cannot accept, naming the field.
    pub fn invalid_request(message: impl Into<String>, param: Option<&str>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            message,
            "invalid_request_error",
            "invalid_request",
        );
        if let Some(param) = param {
            e.body = Box::new(e.body.with_param(param));
        }
        e
    }

    /// 401 for a missing or wrong client key.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "missing or invalid API key: send `Authorization: Bearer <key>` with one of LLMPOOL_API_KEYS",
            "authentication_error",
            "invalid_api_key",
        )
    }

    /// 413 for a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes (max_body_bytes)"),
            "invalid_request_error",
            "request_too_large",
        )
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match &err {
            Error::NoAvailableProviders(Unavailable::NoMatchingRoute { requested }) => Self::new(
                StatusCode::NOT_FOUND,
                format!(
                    "model `{requested}` matches no configured provider or route; GET /v1/models lists them"
                ),
                "invalid_request_error",
                "model_not_found",
            ),
            Error::NoAvailableProviders(why) => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    err.to_string(),
                    "service_unavailable",
                    "no_available_providers",
                );
                if let Unavailable::AllBusy {
                    until: Some(until), ..
                } = why
                {
                    let secs = (*until - chrono_now()).num_seconds().max(1);
                    e.retry_after = u64::try_from(secs).ok();
                }
                e
            }
            // Every route refused the request itself (a field it cannot honour, a body it
            // rejects): the client's request is at fault, and each route says why.
            Error::AllProvidersFailed(errors)
                if !errors.is_empty()
                    && errors
                        .iter()
                        .all(|e| matches!(e.kind, llmpool::core::ErrorKind::BadRequest)) =>
            {
                let reasons: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.provider,
                            e.message.as_deref().unwrap_or("bad request")
                        )
                    })
                    .collect();
                Self::invalid_request(
                    format!(
                        "no configured route can serve this request ({})",
                        reasons.join("; ")
                    ),
                    None,
                )
            }
            Error::AllProvidersFailed(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                err.to_string(),
                "upstream_error",
                "all_providers_failed",
            ),
            Error::DeadlineExceeded(_) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                err.to_string(),
                "upstream_error",
                "deadline_exceeded",
            ),
            Error::ContentFiltered(inner) => {
                let detail = inner
                    .message
                    .as_deref()
                    .unwrap_or("the provider refused the content");
                Self::new(
                    StatusCode::BAD_REQUEST,
                    format!("{err}: {detail}"),
                    "invalid_request_error",
                    "content_filter",
                )
            }
            Error::InvalidRequest(_) => Self::invalid_request(err.to_string(), None),
            Error::Store(_) | Error::Config(_) => {
                tracing::error!(error = %err, source = ?std::error::Error::source(&err), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error: {err}"),
                    "server_error",
                    "internal_error",
                )
            }
        }
    }
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() || self.status == StatusCode::NOT_FOUND {
            tracing::warn!(status = self.status.as_u16(), message = %self.body.error.message, "request failed");
        } else {
            tracing::debug!(status = self.status.as_u16(), message = %self.body.error.message, "request rejected");
        }
        let mut response = (self.status, axum::Json(*self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
