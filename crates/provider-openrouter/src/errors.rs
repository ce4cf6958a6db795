//! OpenRouter's error classification, where it differs from the generic OpenAI one.
//!
//! | OpenRouter says | kind |
//! | --- | --- |
//! | 400 "… is not a valid model ID" (or `availability.code: model_not_found`) | `ModelNotFound` |
//! | 402 `limit_source: openrouter_in_flight_budget` | `RateLimited` for `Retry-After`: in-flight spending settles |
//! | 402 otherwise (`openrouter_credits`, negative balance) | `PaymentRequired` |
//! | 403 with moderation or guardrail wording/metadata, or without a more specific reason | `ContentFiltered` |
//! | 403 about permissions, or an HTML page | `Unauthorized`; about a region or country: `BadRequest` |
//! | 429 `limit_source: openrouter_free_tier_daily` / "free-models-per-day" | `QuotaExhausted` until `X-RateLimit-Reset` (epoch ms; header, else `error.metadata.headers`, else next UTC midnight) |
//! | 429 otherwise (`upstream_provider_shared_pool`, "free-models-per-min") | `RateLimited` for `Retry-After` |
//! | `metadata.error_type` `context_length_exceeded`, `token_limit_exceeded`, `max_tokens_exceeded` | `ContextTooLong` |
//! | everything else | the generic table (401 → `Unauthorized`, 404 → `ModelNotFound`, 408/502/503 → `Transient`, context wording in `metadata.raw` → `ContextTooLong`, …) |
//!
//! Errors inside a 200 (body or stream) reach this function with the status OpenRouter
//! wrote in `error.code`.

use chrono::{DateTime, Utc};
use llmpool_core::{ErrorKind, next_utc_midnight};
use llmpool_openai_compat::hooks::{default_classify, is_content_policy};
use llmpool_openai_compat::transport::header_u64;
use llmpool_openai_compat::{ErrorBody, ErrorContext};

use crate::limits::epoch_millis;

/// Classifies an OpenRouter failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    let limit_source = body.metadata_str("limit_source");
    // The typed `metadata.error_type` says "too long" whatever the message reads.
    if matches!(
        body.metadata_str("error_type"),
        Some("context_length_exceeded" | "token_limit_exceeded" | "max_tokens_exceeded")
    ) {
        return ErrorKind::ContextTooLong;
    }
    match ctx.status {
        400 if body.mentions("is not a valid model id")
            || availability(body) == Some("model_not_found") =>
        {
            ErrorKind::ModelNotFound
        }
        402 if limit_source == Some("openrouter_in_flight_budget")
            || body.metadata_str("reason") == Some("in_flight_budget_exhausted") =>
        {
            ErrorKind::RateLimited {
                retry_after: ctx.retry_after(),
            }
        }
        403 => forbidden(body),
        // The model has endpoints, just none for what this request asks (tools, images,
        // a response format): the request does not fit this route, the model is fine.
        404 if body.mentions("no endpoints found that support")
            || body.mentions("no endpoints found that can handle") =>
        {
            ErrorKind::BadRequest
        }
        429 if limit_source == Some("openrouter_free_tier_daily")
            || body.mentions("free-models-per-day") =>
        {
            ErrorKind::QuotaExhausted {
                until: Some(daily_reset(ctx)),
            }
        }
        _ => default_classify(ctx),
    }
}

/// `error.availability.code` (model-availability failures).
fn availability(body: &ErrorBody) -> Option<&str> {
    body.metadata
        .as_ref()?
        .get("availability")?
        .get("code")?
        .as_str()
}

/// OpenRouter answers 403 for moderation flags and guardrails, and more rarely for
/// permissions or regions.
fn forbidden(body: &ErrorBody) -> ErrorKind {
    let moderation = is_content_policy(body)
        || body
            .metadata
            .as_ref()
            .is_some_and(|m| m.get("reasons").is_some() || m.get("flagged_input").is_some())
        || body.mentions_any(&["moderation", "flagged", "guardrail", "blocked"]);
    if moderation {
        ErrorKind::ContentFiltered
    } else if body.is_html || body.mentions_any(&["permission", "not allowed to use this key"]) {
        ErrorKind::Unauthorized
    } else if body.mentions_any(&["region", "country"]) {
        ErrorKind::BadRequest
    } else {
        ErrorKind::ContentFiltered
    }
}

/// When the free daily cap resets: `X-RateLimit-Reset` (epoch ms) from the headers, else
/// from the copy in `error.metadata.headers`, else the next midnight UTC.
fn daily_reset(ctx: &ErrorContext<'_>) -> DateTime<Utc> {
    header_u64(ctx.headers, "x-ratelimit-reset")
        .or_else(|| {
            let copied = ctx.body.metadata.as_ref()?.get("headers")?;
            let value = copied
                .get("X-RateLimit-Reset")
                .or_else(|| copied.get("x-ratelimit-reset"))?;
            value
                .as_u64()
                .or_else(|| value.as_str()?.trim().parse().ok())
        })
        .and_then(epoch_millis)
        .filter(|at| *at > ctx.now)
        .unwrap_or_else(|| next_utc_midnight(ctx.now))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmpool_openai_compat::testkit::{self, header_map};

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn kind(
        status: u16,
        body: &str,
        headers: &[(&'static str, &'static str)],
        now: DateTime<Utc>,
    ) -> ErrorKind {
        testkit::classify(&crate::HOOKS, status, body, &header_map(headers), now)
    }

    const DAILY: &str = r#"{"error":{"message":"Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"50","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"1788825600000"},"limit_source":"openrouter_free_tier_daily"}}}"#;

    #[test]
    fn free_daily_cap_waits_for_the_reset_in_the_body_or_midnight() {
        let now = at("2026-09-07T18:00:00Z");
        let ErrorKind::QuotaExhausted { until } = kind(429, DAILY, &[], now) else {
            panic!("not quota");
        };
        assert_eq!(until, Some(at("2026-09-08T00:00:00Z")));
        let bare =
            r#"{"error":{"message":"Rate limit exceeded: free-models-per-day.","code":429}}"#;
        let ErrorKind::QuotaExhausted { until } = kind(429, bare, &[], at("2026-09-09T10:30:00Z"))
        else {
            panic!("not quota");
        };
        assert_eq!(until, Some(at("2026-09-10T00:00:00Z")));
    }

    #[test]
    fn in_flight_budget_is_a_short_wait_and_other_402s_need_billing() {
        let in_flight = r#"{"error":{"message":"This request would exceed your available credits given your current in-flight requests.","code":402,"metadata":{"reason":"in_flight_budget_exhausted","limit_source":"openrouter_in_flight_budget"}}}"#;
        let k = kind(402, in_flight, &[("retry-after", "3")], Utc::now());
        assert!(
            matches!(k, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3))
        );
        let credits = r#"{"error":{"message":"Insufficient credits.","code":402,"metadata":{"limit_source":"openrouter_credits"}}}"#;
        assert!(matches!(
            kind(402, credits, &[], Utc::now()),
            ErrorKind::PaymentRequired
        ));
    }

    #[test]
    fn forbidden_variants() {
        let now = Utc::now();
        let flagged = r#"{"error":{"code":403,"message":"Your input was flagged for \"harassment\".","metadata":{"reasons":["harassment"],"flagged_input":"..."}}}"#;
        assert!(matches!(
            kind(403, flagged, &[], now),
            ErrorKind::ContentFiltered
        ));
        let region = r#"{"error":{"code":403,"message":"This model is not available in your region.","metadata":{}}}"#;
        assert!(matches!(kind(403, region, &[], now), ErrorKind::BadRequest));
        assert!(matches!(
            kind(403, "<html>blocked</html>", &[], now),
            ErrorKind::Unauthorized
        ));
        let perm =
            r#"{"error":{"code":403,"message":"You do not have permission to use this model"}}"#;
        assert!(matches!(kind(403, perm, &[], now), ErrorKind::Unauthorized));
    }

    #[test]
    fn invalid_model_and_upstream_context() {
        let now = Utc::now();
        let invalid = r#"{"error":{"message":"openai/gpt-9 is not a valid model ID","code":400}}"#;
        assert!(matches!(
            kind(400, invalid, &[], now),
            ErrorKind::ModelNotFound
        ));
        let ctx = r#"{"error":{"message":"Provider returned error","code":400,"metadata":{"raw":"prompt is too long: 250000 tokens > 200000 maximum","provider_name":"Anthropic"}}}"#;
        assert!(matches!(
            kind(400, ctx, &[], now),
            ErrorKind::ContextTooLong
        ));
        // The typed error_type, with a message that does not say it.
        let typed = r#"{"error":{"message":"Request rejected","code":400,"metadata":{"error_type":"context_length_exceeded"}}}"#;
        assert!(matches!(
            kind(400, typed, &[], now),
            ErrorKind::ContextTooLong
        ));
        let other = r#"{"error":{"message":"Request rejected","code":400,"metadata":{"error_type":"invalid_request"}}}"#;
        assert!(matches!(kind(400, other, &[], now), ErrorKind::BadRequest));
    }
}
