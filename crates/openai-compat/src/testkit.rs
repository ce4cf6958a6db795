//! Helpers for the unit tests of the OpenAI-compatible provider crates' hooks: a header
//! map from pairs and the kind a hooks table gives a plain HTTP error. Enabled by the
//! `testkit` feature (no dependencies of its own), for dev-dependencies only. The
//! contract-test harness (wiremock upstreams, snapshot views) is in `llmpool-testkit`.

use chrono::{DateTime, Utc};
use llmpool_core::ErrorKind;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::hooks::{CompatHooks, ErrorContext};
use crate::wire::ErrorBody;

/// A header map of these pairs, as a provider's `HeaderMap`-reading functions take it
/// (a later pair of one name replaces an earlier one).
pub fn header_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_static(value));
    }
    map
}

/// The kind `hooks` gives a plain (not embedded) HTTP error: `status` with `body` and
/// `headers` at `now`, the headers parsed by `hooks.rate_limits` first, as the provider
/// does.
pub fn classify(
    hooks: &CompatHooks,
    status: u16,
    body: &str,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> ErrorKind {
    let body = ErrorBody::parse(body.as_bytes());
    let rate_limits = (hooks.rate_limits)(headers, now);
    (hooks.classify)(&ErrorContext {
        status,
        http_status: status,
        embedded: false,
        body: &body,
        headers,
        rate_limits: &rate_limits,
        now,
    })
}
