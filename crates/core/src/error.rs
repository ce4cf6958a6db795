//! Error kinds: what went wrong upstream, in terms the router can act on.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::capability::Missing;
use crate::ratelimit::RateLimitSnapshot;

/// A boxed error from a lower layer (HTTP client, I/O).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a provider call ended in. The router's reaction to each is one
/// exhaustive `match`; this enum is deliberately not `#[non_exhaustive]`, so that a new
/// kind breaks every match until it is handled.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// A short-window limit (per minute) was hit; wait, then the same route works again.
    #[error("rate limited")]
    RateLimited {
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// A daily or monthly quota is spent; the route is parked until it resets.
    #[error("quota exhausted")]
    QuotaExhausted {
        /// When the quota resets, when known.
        until: Option<DateTime<Utc>>,
    },
    /// The key is missing, wrong, expired or revoked.
    #[error("unauthorized")]
    Unauthorized,
    /// The account needs billing (credits spent, trial over).
    #[error("payment required")]
    PaymentRequired,
    /// The request was malformed for this provider.
    #[error("bad request")]
    BadRequest,
    /// The model does not exist, was retired, or has no free tier.
    #[error("model not found")]
    ModelNotFound,
    /// The prompt does not fit the model's context window.
    #[error("context too long")]
    ContextTooLong,
    /// The provider refused the content (safety policy).
    #[error("content filtered")]
    ContentFiltered,
    /// The upstream failed in a way that may pass (5xx, overload, mid-stream error).
    #[error("transient upstream failure")]
    Transient {
        /// HTTP status, when there was one.
        status: Option<u16>,
    },
    /// No answer (or no next chunk) in time.
    #[error("timed out")]
    Timeout,
    /// Connecting or reading failed below HTTP (refused, reset, DNS).
    #[error("network failure")]
    Network(#[source] BoxError),
    /// The upstream answered something we could not use (bad JSON, no choices).
    #[error("invalid response")]
    InvalidResponse,
}

impl ErrorKind {
    /// The kind without its payload, for labels and reports.
    pub fn label(&self) -> ErrorKindLabel {
        match self {
            Self::RateLimited { .. } => ErrorKindLabel::RateLimited,
            Self::QuotaExhausted { .. } => ErrorKindLabel::QuotaExhausted,
            Self::Unauthorized => ErrorKindLabel::Unauthorized,
            Self::PaymentRequired => ErrorKindLabel::PaymentRequired,
            Self::BadRequest => ErrorKindLabel::BadRequest,
            Self::ModelNotFound => ErrorKindLabel::ModelNotFound,
            Self::ContextTooLong => ErrorKindLabel::ContextTooLong,
            Self::ContentFiltered => ErrorKindLabel::ContentFiltered,
            Self::Transient { .. } => ErrorKindLabel::Transient,
            Self::Timeout => ErrorKindLabel::Timeout,
            Self::Network(_) => ErrorKindLabel::Network,
            Self::InvalidResponse => ErrorKindLabel::InvalidResponse,
        }
    }
}

/// [`ErrorKind`] without payload: a stable snake_case name for metrics, JSON and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKindLabel {
    /// See [`ErrorKind::RateLimited`].
    RateLimited,
    /// See [`ErrorKind::QuotaExhausted`].
    QuotaExhausted,
    /// See [`ErrorKind::Unauthorized`].
    Unauthorized,
    /// See [`ErrorKind::PaymentRequired`].
    PaymentRequired,
    /// See [`ErrorKind::BadRequest`].
    BadRequest,
    /// See [`ErrorKind::ModelNotFound`].
    ModelNotFound,
    /// See [`ErrorKind::ContextTooLong`].
    ContextTooLong,
    /// See [`ErrorKind::ContentFiltered`].
    ContentFiltered,
    /// See [`ErrorKind::Transient`].
    Transient,
    /// See [`ErrorKind::Timeout`].
    Timeout,
    /// See [`ErrorKind::Network`].
    Network,
    /// See [`ErrorKind::InvalidResponse`].
    InvalidResponse,
}

impl ErrorKindLabel {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::QuotaExhausted => "quota_exhausted",
            Self::Unauthorized => "unauthorized",
            Self::PaymentRequired => "payment_required",
            Self::BadRequest => "bad_request",
            Self::ModelNotFound => "model_not_found",
            Self::ContextTooLong => "context_too_long",
            Self::ContentFiltered => "content_filtered",
            Self::Transient => "transient",
            Self::Timeout => "timeout",
            Self::Network => "network",
            Self::InvalidResponse => "invalid_response",
        }
    }
}

impl fmt::Display for ErrorKindLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed provider call: which provider, what kind, and what the upstream said.
#[derive(Debug, thiserror::Error)]
#[error("provider `{provider}` failed")]
pub struct ProviderError {
    /// Provider id.
    pub provider: &'static str,
    /// The model of the route that failed: providers leave it `None`, and the router
    /// fills it as it records the failure, so that a failed request's trail names each
    /// route as an answered one does.
    pub model: Option<String>,
    /// What went wrong.
    #[source]
    pub kind: ErrorKind,
    /// HTTP status of the failed response, when there was one.
    pub status: Option<u16>,
    /// The upstream's own message (trimmed, never containing a key), for logs and reports.
    pub message: Option<String>,
    /// Rate-limit headers that came with the failure (429s often carry them). Boxed so
    /// that `ProviderError` stays small: it travels in every `Result` of every provider
    /// call, and the snapshot alone is larger than the rest of the error together.
    pub rate_limits: Box<RateLimitSnapshot>,
}

impl ProviderError {
    /// An error of `kind` from `provider` with no further detail.
    pub fn new(provider: &'static str, kind: ErrorKind) -> Self {
        Self {
            provider,
            model: None,
            kind,
            status: None,
            message: None,
            rate_limits: Box::default(),
        }
    }

    /// Attach the model of the route that failed, unless one is set already.
    #[must_use]
    pub fn with_model(mut self, model: &str) -> Self {
        if self.model.is_none() {
            self.model = Some(model.to_owned());
        }
        self
    }

    /// Attach the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Attach the upstream message, trimmed to 500 characters.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let trimmed = message.trim();
        self.message = Some(if trimmed.chars().count() > 500 {
            let mut s: String = trimmed.chars().take(500).collect();
            s.push('…');
            s
        } else {
            trimmed.to_owned()
        });
        self
    }

    /// Attach rate-limit headers.
    #[must_use]
    pub fn with_rate_limits(mut self, rate_limits: RateLimitSnapshot) -> Self {
        *self.rate_limits = rate_limits;
        self
    }

    /// Removes `secret` from the upstream message, should an upstream (or a proxy in front
    /// of it) echo a key back. Every provider passes its key through this before an error
    /// leaves the crate.
    #[must_use]
    pub fn redact_secret(mut self, secret: &str) -> Self {
        if let Some(message) = &mut self.message
            && let std::borrow::Cow::Owned(clean) = redact_secret(message, secret)
        {
            *message = clean;
        }
        self
    }

    /// One line for logs and reports: `kind (status): message`.
    pub fn summary(&self) -> String {
        let mut s = self.kind.label().as_str().to_owned();
        if let Some(status) = self.status {
            s.push_str(" (");
            s.push_str(&status.to_string());
            s.push(')');
        }
        if let Some(message) = &self.message {
            s.push_str(": ");
            s.push_str(message);
        }
        s
    }
}

/// `text` with every occurrence of `secret` replaced by `[REDACTED]` (secrets shorter
/// than 8 characters are left alone: replacing them would mangle ordinary words).
pub fn redact_secret<'a>(text: &'a str, secret: &str) -> std::borrow::Cow<'a, str> {
    if secret.len() >= 8 && text.contains(secret) {
        std::borrow::Cow::Owned(text.replace(secret, "[REDACTED]"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Why no provider could even be tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unavailable {
    /// No provider has a key configured (names the env variables to set).
    NoKeys {
        /// Env variables that would enable a provider.
        env_vars: Vec<&'static str>,
    },
    /// Every provider with a key is disabled, cooling down or out of quota.
    AllBusy {
        /// Earliest moment one of them is expected back, when known.
        until: Option<DateTime<Utc>>,
        /// One line per provider saying why it is skipped.
        details: Vec<String>,
    },
    /// The request pinned a provider or model that is not configured.
    NoMatchingRoute {
        /// What the caller asked for.
        requested: String,
    },
    /// The request pinned a model of a provider (`<provider>/<model>`) that neither its
    /// catalog nor its `models` setting lists, and the provider does not set
    /// `allow_unknown_models`.
    UnknownModel {
        /// What the caller asked for.
        requested: String,
        /// The provider it names.
        provider: &'static str,
        /// The provider's known models, in order.
        known: Vec<String>,
    },
    /// The prompt is too long for every route that could take it: each was refused as
    /// too long, or its context window is smaller than the prompt's estimate, or not
    /// larger than the window of a route that refused it.
    ContextTooLong {
        /// The prompt's estimated size in tokens (about four characters a token).
        estimated_tokens: u64,
        /// The largest context window configured, in tokens, when any is known.
        largest_window: Option<u64>,
    },
    /// No route the request could use can serve what it needs (tools, a JSON format,
    /// images, reasoning, its output cap): each lacks a capability by its catalog or the
    /// settings' `model_capabilities`. The gateway's 400 `unsupported_capability`.
    Unsupported {
        /// What the first route lacked (routes in the order they would have been tried).
        missing: Missing,
        /// Configured models (`provider/model`, any enabled provider with a key) that
        /// have that capability, in base order, so the caller can pin one.
        capable: Vec<String>,
    },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKeys { env_vars } => {
                write!(f, "no API key is set; set one of {}", env_vars.join(", "))
            }
            Self::AllBusy { until, details } => {
                f.write_str("every configured provider is cooling down, out of quota or disabled")?;
                if let Some(until) = until {
                    write!(f, " until {}", until.to_rfc3339())?;
                }
                if !details.is_empty() {
                    write!(f, " ({})", details.join("; "))?;
                }
                Ok(())
            }
            Self::NoMatchingRoute { requested } => {
                write!(f, "no configured route matches `{requested}`")
            }
            Self::UnknownModel {
                requested,
                provider,
                known,
            } => write!(
                f,
                "`{requested}`: provider `{provider}` has no such model; its models are {} \
                 (set `allow_unknown_models = true` under `[providers.{provider}]` to pass \
                 other names through)",
                known_list(known)
            ),
            Self::ContextTooLong {
                estimated_tokens,
                largest_window,
            } => {
                write!(
                    f,
                    "the prompt (about {estimated_tokens} tokens, estimated) is too long for \
                     every route that could take it"
                )?;
                match largest_window {
                    Some(w) => write!(f, "; the largest context window configured is {w} tokens"),
                    None => f.write_str("; no configured model states its context window"),
                }
            }
            Self::Unsupported { missing, capable } => {
                write!(
                    f,
                    "no route that this request may use can serve `{}`: it needs {missing}",
                    missing.field()
                )?;
                if capable.is_empty() {
                    write!(f, "; no configured model has `{}`", missing.capability())
                } else {
                    write!(
                        f,
                        "; configured models with `{}`: {} (pin one with `model`)",
                        missing.capability(),
                        capable.join(", ")
                    )
                }
            }
        }
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "none".to_owned()
    } else {
        known
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The error a caller of the router (or of the facade) sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing could be tried. The message starts with the seed's wording.
    #[error("No available providers: {0}")]
    NoAvailableProviders(Unavailable),
    /// Every route tried failed; each failure is listed.
    #[error("All providers failed: {}", summarize(.0))]
    AllProvidersFailed(Vec<ProviderError>),
    /// The provider refused the content; not routed around by default.
    #[error("content refused by provider `{}`", .0.provider)]
    ContentFiltered(Box<ProviderError>),
    /// The request itself is invalid for every route (e.g. no messages).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The overall deadline passed.
    #[error("request deadline exceeded after {} attempt(s)", .0.len())]
    DeadlineExceeded(Vec<ProviderError>),
    /// The state store failed.
    #[error("state store failed")]
    Store(#[from] StoreError),
    /// Configuration is invalid.
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
}

fn summarize(errors: &[ProviderError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.provider, e.summary()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Invalid configuration: names where, which key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: `{key}`: {reason}")]
pub struct ConfigError {
    /// File (or `environment`, or a provider id) where the bad value came from.
    pub location: String,
    /// The setting.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A config error at `location` for `key`.
    pub fn new(
        location: impl Into<String>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            location: location.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A state store failure.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed")]
pub struct StoreError {
    /// What the store was doing.
    pub operation: &'static str,
    /// The backend's error.
    #[source]
    pub source: BoxError,
}

impl StoreError {
    /// Wrap a backend error.
    pub fn new(operation: &'static str, source: impl Into<BoxError>) -> Self {
        Self {
            operation,
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_wording_is_kept() {
        let e = Error::NoAvailableProviders(Unavailable::NoKeys {
            env_vars: vec!["GROQ_API_KEY"],
        });
        assert!(e.to_string().starts_with("No available providers"));
        let e = Error::AllProvidersFailed(vec![
            ProviderError::new("groq", ErrorKind::Timeout),
            ProviderError::new("gemini", ErrorKind::Transient { status: Some(503) })
                .with_status(503)
                .with_message("overloaded"),
        ]);
        assert_eq!(
            e.to_string(),
            "All providers failed: groq: timeout; gemini: transient (503): overloaded"
        );
    }

    /// Errors travel in every `Result` of the provider and router paths; clippy's
    /// `result_large_err` threshold is 128 bytes, and no crate may need an exception.
    #[test]
    fn errors_stay_small() {
        assert!(
            size_of::<ProviderError>() <= 128,
            "ProviderError is {} bytes",
            size_of::<ProviderError>()
        );
        assert!(
            size_of::<Error>() <= 128,
            "Error is {} bytes",
            size_of::<Error>()
        );
        let snapshot = RateLimitSnapshot {
            retry_after: Some(Duration::from_secs(7)),
            ..RateLimitSnapshot::default()
        };
        let e = ProviderError::new("x", ErrorKind::BadRequest).with_rate_limits(snapshot);
        assert_eq!(*e.rate_limits, snapshot);
        assert_eq!(e.rate_limits.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn secrets_are_redacted_from_messages() {
        let e = ProviderError::new("x", ErrorKind::Unauthorized)
            .with_message("key sk-live-12345678 is invalid; sk-live-12345678")
            .redact_secret("sk-live-12345678");
        assert_eq!(
            e.message.as_deref(),
            Some("key [REDACTED] is invalid; [REDACTED]")
        );
        assert_eq!(redact_secret("a short key", "short"), "a short key");
    }

    #[test]
    fn long_messages_are_trimmed() {
        let e = ProviderError::new("x", ErrorKind::BadRequest).with_message("a".repeat(900));
        assert_eq!(e.message.unwrap().chars().count(), 501);
    }
}
