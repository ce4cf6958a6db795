//! Every failure the gateway answers, mapped once to OpenAI's error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use llmpool::Error;
use llmpool::Unavailable;
use llmpool::openai::ErrorResponse;

/// The `error.code` of a 400 for a request that needs a capability (tools, a JSON
/// format, images, reasoning, an output cap) no route it may use has.
pub(crate) const UNSUPPORTED_CAPABILITY: &str = "unsupported_capability";

/// The route trail header on every routed answer.
pub(crate) const TRAIL_HEADER: &str = "x-llmpool-trail";

/// An error answer: status, OpenAI error body, optional `retry-after` seconds.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `{"error": {"message", "type", "code"}}` (boxed: errors are rare, results common).
    pub body: Box<ErrorResponse>,
    /// Seconds until a retry makes sense, when known.
    pub retry_after: Option<u64>,
    /// The route trail of a routed request (see the `x-llmpool-trail` header); answered
    /// as that header and, on a 5xx, as `error.trail` in the body.
    pub trail: Option<String>,
}

impl ApiError {
    /// An error with this status, message, OpenAI `type` and `code`.
    pub fn new(status: StatusCode, message: impl Into<String>, kind: &str, code: &str) -> Self {
        Self {
            status,
            body: Box::new(ErrorResponse::new(message, kind).with_code(code)),
            retry_after: None,
            trail: None,
        }
    }

    /// The same error carrying a route trail (an empty trail is left out).
    #[must_use]
    pub fn with_trail(mut self, trail: String) -> Self {
        self.trail = (!trail.is_empty()).then_some(trail);
        self
    }

    /// The same error naming the request field at fault (`error.param`).
    #[must_use]
    pub fn with_param(mut self, param: &str) -> Self {
        self.body = Box::new(self.body.with_param(param));
        self
    }

    /// The same error naming `sent` where it names the field `named` (in `error.param`
    /// and in the message): a 400 about the output cap names the token-limit field the
    /// client sent (`max_tokens` or `max_completion_tokens`).
    #[must_use]
    pub(crate) fn renaming_param(mut self, named: &str, sent: &str) -> Self {
        if named != sent {
            let error = &mut self.body.error;
            error.message = error
                .message
                .replace(&format!("`{named}`"), &format!("`{sent}`"));
            if error.param.as_deref() == Some(named) {
                error.param = Some(sent.to_owned());
            }
        }
        self
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

impl ApiError {
    /// 503 for a state store out of reach (Redis down, a call past its time limit): the
    /// request may well succeed in a moment, and nothing was sent upstream.
    fn store_unavailable(err: &Error) -> Self {
        tracing::error!(error = %err, source = ?std::error::Error::source(err), "state store unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("state store unavailable: {}", error_chain(err)),
            "service_unavailable",
            "store_unavailable",
        );
        e.retry_after = Some(1);
        e
    }

    /// The answer when nothing could be tried: a 404 for a name nothing serves, a 400 for
    /// a request no route can serve (too long, a capability missing), else a 503.
    fn unavailable(err: &Error, why: &Unavailable) -> Self {
        match why {
            Unavailable::NoMatchingRoute { requested } => Self::new(
                StatusCode::NOT_FOUND,
                format!(
                    "model `{requested}` matches no configured provider or route; GET /v1/models lists them"
                ),
                "invalid_request_error",
                "model_not_found",
            ),
            Unavailable::UnknownModel { .. } => Self::new(
                StatusCode::NOT_FOUND,
                why.to_string(),
                "invalid_request_error",
                "model_not_found",
            ),
            Unavailable::ContextTooLong { .. } => Self::new(
                StatusCode::BAD_REQUEST,
                format!("{why}; shorten the conversation"),
                "invalid_request_error",
                "context_length_exceeded",
            ),
            // What the request needs (tools, a JSON format, images, …) no route it may use
            // can do: the client's to change (or pin one of the models named).
            Unavailable::Unsupported { missing, .. } => Self::new(
                StatusCode::BAD_REQUEST,
                why.to_string(),
                "invalid_request_error",
                UNSUPPORTED_CAPABILITY,
            )
            .with_param(missing.field()),
            Unavailable::NoKeys { .. } | Unavailable::AllBusy { .. } => {
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
        }
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match &err {
            Error::NoAvailableProviders(why) => Self::unavailable(&err, why),
            // Every route refused the request itself (a field it cannot honour, a body it
            // rejects): the client's request is at fault, and each route says why.
            Error::AllProvidersFailed(errors)
                if !errors.is_empty()
                    && errors
                        .iter()
                        .all(|e| matches!(e.kind, llmpool::ErrorKind::BadRequest)) =>
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
            // The state store is out of reach (Redis down, a call past its time limit): the
            // request may well succeed in a moment, and nothing was sent upstream.
            Error::Store(_) => Self::store_unavailable(&err),
            Error::Config(_) => {
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

/// `err` and its causes, `: `-separated (each layer names its own part only).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let trail = self.trail.as_deref().unwrap_or_default();
        if self.status.is_server_error() || self.status == StatusCode::NOT_FOUND {
            tracing::warn!(status = self.status.as_u16(), message = %self.body.error.message, trail, "request failed");
        } else {
            tracing::debug!(status = self.status.as_u16(), message = %self.body.error.message, trail, "request rejected");
        }
        let mut response = match &self.trail {
            // OpenAI's clients ignore unknown fields of the error object.
            Some(trail) if self.status.is_server_error() => {
                let mut body = serde_json::to_value(&*self.body).unwrap_or_default();
                if let Some(error) = body.get_mut("error").and_then(|e| e.as_object_mut()) {
                    error.insert("trail".to_owned(), serde_json::Value::from(trail.as_str()));
                }
                (self.status, axum::Json(body)).into_response()
            }
            _ => (self.status, axum::Json(*self.body)).into_response(),
        };
        if let Some(value) = self
            .trail
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            response.headers_mut().insert(TRAIL_HEADER, value);
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmpool::StoreError;

    #[test]
    fn a_store_failure_is_a_503_naming_the_store() {
        let err = Error::Store(StoreError::new("redis call", "connection refused"));
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.retry_after, Some(1));
        let message = &api.body.error.message;
        assert!(
            message.starts_with(
                "state store unavailable: state store failed: redis call failed: connection refused"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_prompt_too_long_everywhere_is_a_400_naming_the_sizes() {
        let err = Error::NoAvailableProviders(Unavailable::ContextTooLong {
            estimated_tokens: 150_000,
            largest_window: Some(131_072),
        });
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        let body = serde_json::to_value(&*api.body).unwrap();
        assert_eq!(body["error"]["code"], "context_length_exceeded", "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        let message = &api.body.error.message;
        assert!(
            message.contains("150000") && message.contains("131072"),
            "{message}"
        );
        assert_eq!(api.retry_after, None);
    }

    #[test]
    fn a_capability_no_route_has_is_a_400_naming_field_and_models() {
        let err = Error::NoAvailableProviders(Unavailable::Unsupported {
            missing: llmpool::Missing::Tools,
            capable: vec![
                "groq/openai/gpt-oss-120b".to_owned(),
                "cohere/command-a-03-2025".to_owned(),
            ],
        });
        let api = ApiError::from(err);
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        let body = serde_json::to_value(&*api.body).unwrap();
        assert_eq!(body["error"]["code"], UNSUPPORTED_CAPABILITY, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(body["error"]["param"], "tools", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`tools`")
                && message.contains("groq/openai/gpt-oss-120b, cohere/command-a-03-2025"),
            "{message}"
        );
        assert_eq!(api.retry_after, None);
    }
}
