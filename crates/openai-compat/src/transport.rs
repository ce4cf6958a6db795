//! The upstream HTTP skeleton every provider crate goes through, written once.
//!
//! - [`Upstream`]: one key's endpoint, built (and checked) once from its config: the
//!   client, the URL, the auth header (marked sensitive), the extra headers, the
//!   per-attempt timeout, the clock and key scrubbing; [`Upstream::post_json`] returns a
//!   whole [`Reply`], [`Upstream::open_stream`] a head and a body to stream (or the
//!   failed [`Reply`]);
//! - [`fallback_kind`]: the one status-code table every provider falls back to when its
//!   own error body says nothing more specific;
//! - helpers: transport-failure mapping, header parsing, SSE body streams, error-body
//!   excerpts.
//!
//! Provider crates keep only their wire formats and quirks: building the body, reading
//! the answer, classifying their own error bodies.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use llmpool_core::{ConfigError, ErrorKind, ProviderConfig, ProviderError};
use reqwest::header::HeaderMap;

use crate::sse::{SseDecoder, SseItem};

mod fallback;
mod upstream;

pub use fallback::fallback_kind;
pub use upstream::{
    Auth, Body, Endpoint, Head, Opened, RateLimitParser, Reply, Scrubber, Upstream,
};

/// The `User-Agent` every provider request carries.
pub const USER_AGENT: &str = concat!("llmpool/", env!("CARGO_PKG_VERSION"));

/// Builds the HTTP client for one provider config: rustls, the config's connect timeout,
/// keep-alive pooling, no redirects (an API answering a POST with a redirect is an error
/// to see, not to follow with the key; following also cost a copy of every request). The
/// whole-request timeout is applied per call by [`Upstream`] (streams are timed by the router
/// instead).
pub(crate) fn build_client(cfg: &ProviderConfig) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(cfg.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| ConfigError::new(cfg.id, "http_client", e.to_string()))
}

/// `cfg`'s endpoint at `path`, parsed once: a base URL that is not http(s) is a config
/// error naming it.
pub(crate) fn endpoint_url(cfg: &ProviderConfig, path: &str) -> Result<reqwest::Url, ConfigError> {
    reqwest::Url::parse(&cfg.endpoint(path))
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .ok_or_else(|| {
            ConfigError::new(
                cfg.id,
                "base_url",
                format!("`{}` is not a valid http(s) URL", cfg.base_url),
            )
        })
}

/// Sends a request and maps transport failures (timeout, refused, reset) to error kinds.
/// The error never carries the URL (providers that put keys in URLs would leak them).
pub(crate) async fn send(
    provider: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, ProviderError> {
    request
        .send()
        .await
        .map_err(|e| transport_error(provider, e))
}

/// Maps a reqwest error to a [`ProviderError`]: timeouts to [`ErrorKind::Timeout`],
/// everything else below HTTP to [`ErrorKind::Network`].
pub(crate) fn transport_error(provider: &'static str, err: reqwest::Error) -> ProviderError {
    let err = err.without_url();
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_decode() {
        ErrorKind::InvalidResponse
    } else {
        ErrorKind::Network(Box::new(err))
    };
    ProviderError::new(provider, kind)
}

/// Reads a whole body, mapping read failures like [`send`] does.
pub(crate) async fn read_body(
    provider: &'static str,
    response: reqwest::Response,
) -> Result<Bytes, ProviderError> {
    response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, e))
}

/// A header's value as text, when present and visible ASCII.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A header parsed as an unsigned integer.
pub fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    let text = header(headers, name)?;
    text.parse::<u64>().ok().or_else(|| {
        // Some providers send counts as floats ("14399.0").
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked finite and non-negative; counts are far below 2^53"
                )]
                let n = f as u64;
                n
            })
    })
}

/// A header parsed as a provider duration (seconds, `2m59.56s`, `43s`, …).
pub fn header_duration(headers: &HeaderMap, name: &str) -> Option<Duration> {
    header(headers, name).and_then(llmpool_core::parse_duration)
}

/// `retry-after` as seconds (the only form providers send; an HTTP date is ignored).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_duration(headers, "retry-after")
}

/// The body of an SSE response as decoded items. Transport failures mid-body become an
/// `Err` item; the stream ends when the body ends.
pub(crate) fn sse_items(
    provider: &'static str,
    response: reqwest::Response,
) -> BoxStream<'static, Result<SseItem, ProviderError>> {
    let body = response.bytes_stream();
    futures::stream::unfold(
        (
            body,
            SseDecoder::new(),
            std::collections::VecDeque::new(),
            false,
        ),
        move |(mut body, mut decoder, mut queue, mut ended)| async move {
            loop {
                if let Some(item) = queue.pop_front() {
                    return Some((Ok(item), (body, decoder, queue, ended)));
                }
                if ended {
                    return None;
                }
                match body.next().await {
                    Some(Ok(chunk)) => queue.extend(decoder.push(&chunk)),
                    Some(Err(e)) => {
                        ended = true;
                        return Some((
                            Err(transport_error(provider, e)),
                            (body, decoder, queue, ended),
                        ));
                    }
                    None => {
                        ended = true;
                        queue.extend(decoder.finish());
                    }
                }
            }
        },
    )
    .boxed()
}

/// Text of an error body for messages: trimmed, whitespace collapsed, at most 500 chars,
/// HTML reduced to a note (Cloudflare pages are long and useless in logs).
pub fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.starts_with('<') {
        return "non-JSON (HTML) error page".to_owned();
    }
    let collapsed: String = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn header_helpers_parse_provider_formats() {
        let mut h = HeaderMap::new();
        h.insert("x-remaining", HeaderValue::from_static("14399.0"));
        h.insert("x-reset", HeaderValue::from_static("2m59.56s"));
        h.insert("retry-after", HeaderValue::from_static(" 7 "));
        assert_eq!(header_u64(&h, "x-remaining"), Some(14_399));
        assert_eq!(
            header_duration(&h, "x-reset"),
            Some(Duration::from_millis(179_560))
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        assert_eq!(header_u64(&h, "missing"), None);
    }

    #[test]
    fn html_bodies_are_summarised() {
        assert_eq!(
            body_excerpt(b"  <html>cloudflare</html>"),
            "non-JSON (HTML) error page"
        );
        assert_eq!(body_excerpt(b"{\n \"a\":  1}"), "{ \"a\": 1}");
    }
}
