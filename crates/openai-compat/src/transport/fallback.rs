//! The one status-code table every provider falls back to when its own error body says
//! nothing more specific.

use std::time::Duration;

use llmpool_core::ErrorKind;

/// The kind of a failure known only by its HTTP status; `retry_after` is the wait the
/// response asked for (its `retry-after` header, or one written in the body).
///
/// Providers first read their own bodies (Gemini's `status` names, Groq's per-day 429s,
/// Cohere's monthly cap, context-length wording…) and call this only for what those do
/// not decide. The readings, with why where the three former copies disagreed:
///
/// | status | kind | why |
/// | --- | --- | --- |
/// | 401, 403 | `Unauthorized` | the key is missing, wrong or not allowed |
/// | 402 | `PaymentRequired` | billing, not a limit that resets by waiting |
/// | 404 | `ModelNotFound` | unknown model (a provider whose 404 can mean a bad path says so from its body) |
/// | 429 | `RateLimited { retry_after }` | a short window; day and month walls are read from bodies |
/// | 408, 425, 498, 499, 500, 502–599 | `Transient` | timeouts, cancellations, capacity and server failures: may pass on retry |
/// | 501 | `BadRequest` | "not implemented" is about this request (a feature the server does not offer); retrying it unchanged cannot help, another route may take it (DESIGN: `BadRequest` → try next). Cohere documents 501 as "feature not implemented"; it used to be `Transient` in the OpenAI-compatible and Gemini tables |
/// | 413 | `BadRequest` | the payload is too large: the request must change (DESIGN's error table lists 413 under `BadRequest`; Groq's 413 is a request bigger than the TPM limit, OVHcloud's and Cloudflare's a body over the size cap). A body that says the *context* is too long is read as `ContextTooLong` by the provider before this table. Gemini used to read a bare 413 as `ContextTooLong` |
/// | 400, 422, other 4xx | `BadRequest` | the request is wrong for this route |
/// | 1xx, 2xx, 3xx | `InvalidResponse` | redirects are never followed (the key would go with them) and nothing else below 400 is an answer an API gives to a failed call: a misconfigured base URL or a moved API, which retrying with backoff cannot fix. The OpenAI-compatible table used to read these as `Transient` |
/// | anything else | `InvalidResponse` | not an HTTP status a server should send |
pub fn fallback_kind(status: u16, retry_after: Option<Duration>) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        402 => ErrorKind::PaymentRequired,
        404 => ErrorKind::ModelNotFound,
        429 => ErrorKind::RateLimited { retry_after },
        408 | 425 | 498 | 499 | 500 | 502..=599 => ErrorKind::Transient {
            status: Some(status),
        },
        400..=499 | 501 => ErrorKind::BadRequest,
        _ => ErrorKind::InvalidResponse,
    }
}

#[cfg(test)]
mod tests {
    use llmpool_core::ErrorKindLabel;

    use super::*;

    fn label(status: u16) -> ErrorKindLabel {
        fallback_kind(status, None).label()
    }

    #[test]
    fn every_row_of_the_table() {
        let wait = Some(Duration::from_secs(7));
        assert!(matches!(
            fallback_kind(429, wait),
            ErrorKind::RateLimited { retry_after } if retry_after == wait
        ));
        assert!(matches!(
            fallback_kind(429, None),
            ErrorKind::RateLimited { retry_after: None }
        ));
        for status in [401, 403] {
            assert_eq!(label(status), ErrorKindLabel::Unauthorized, "{status}");
        }
        assert_eq!(label(402), ErrorKindLabel::PaymentRequired);
        assert_eq!(label(404), ErrorKindLabel::ModelNotFound);
        for status in [408, 425, 498, 499, 500, 502, 503, 504, 529, 599] {
            assert!(
                matches!(fallback_kind(status, None), ErrorKind::Transient { status: Some(s) } if s == status),
                "{status}"
            );
        }
        for status in [400, 405, 409, 410, 413, 415, 422, 451, 501] {
            assert_eq!(label(status), ErrorKindLabel::BadRequest, "{status}");
        }
        for status in [0, 100, 200, 204, 301, 302, 307, 308, 600, 999] {
            assert_eq!(label(status), ErrorKindLabel::InvalidResponse, "{status}");
        }
    }
}
