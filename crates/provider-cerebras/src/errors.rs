//! Cerebras' error classification, where it differs from the generic OpenAI one.
//!
//! | Cerebras says | kind |
//! | --- | --- |
//! | code `queue_exceeded` (429, "high traffic") | `Transient`: Cerebras' capacity, not your quota |
//! | 429 (or code `*_quota_exceeded`), message "per day" | `QuotaExhausted` until now + `retry-after`, else the day window's reset |
//! | 429, message "per hour" | `RateLimited` for `retry-after`, else `x-ratelimit-reset-tokens-hour` |
//! | 429, anything else ("per minute") | `RateLimited` for `retry-after`, else the minute window's reset |
//! | everything else | the generic table (401/403 → `Unauthorized`, 402 → `PaymentRequired`, 404 → `ModelNotFound`, 5xx → `Transient`, …) |
//!
//! `code` alone does not tell minute from day (`token_quota_exceeded` is both), and
//! `param: "quota"` names a field, not a spent quota; only the message tells the window.

use std::time::Duration;

use llmpool_core::ErrorKind;
use llmpool_openai_compat::ErrorContext;
use llmpool_openai_compat::hooks::default_classify;
use llmpool_openai_compat::transport::header_duration;

/// Classifies a Cerebras failure.
pub(crate) fn classify(ctx: &ErrorContext<'_>) -> ErrorKind {
    let body = ctx.body;
    if body.code_is(&["queue_exceeded"]) {
        return ErrorKind::Transient {
            status: (ctx.status >= 400).then_some(ctx.status),
        };
    }
    let quota_code = body.code_is(&["request_quota_exceeded", "token_quota_exceeded"]);
    if ctx.status != 429 && !quota_code {
        return default_classify(ctx);
    }
    let limits = ctx.rate_limits;
    if body.mentions("per day") {
        let wait = ctx
            .retry_after()
            .or(limits.tokens_day.reset_after)
            .or(limits.requests_day.reset_after);
        return ErrorKind::QuotaExhausted {
            until: wait.map(|w| ctx.after(w)),
        };
    }
    let window_reset = if body.mentions("per hour") {
        header_duration(ctx.headers, "x-ratelimit-reset-tokens-hour")
    } else if body.mentions("requests per minute") {
        limits
            .requests_minute
            .reset_after
            .or(limits.tokens_minute.reset_after)
    } else {
        limits.tokens_minute.reset_after
    };
    ErrorKind::RateLimited {
        // A reset of 0 s means the bucket is already full again: no useful wait.
        retry_after: ctx
            .retry_after()
            .or(window_reset.filter(|d| *d > Duration::ZERO)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use llmpool_openai_compat::testkit::{self, header_map};

    use super::*;

    fn kind(
        status: u16,
        body: &str,
        headers: &[(&'static str, &'static str)],
    ) -> (ErrorKind, DateTime<Utc>) {
        let now = Utc::now();
        let k = testkit::classify(&crate::HOOKS, status, body, &header_map(headers), now);
        (k, now)
    }

    const TPD: &str = r#"{"message":"Tokens per day limit exceeded - too many tokens processed.","type":"too_many_tokens_error","param":"quota","code":"token_quota_exceeded"}"#;
    const TPM: &str = r#"{"message":"Tokens per minute limit exceeded - too many tokens processed.","type":"too_many_tokens_error","param":"quota","code":"token_quota_exceeded"}"#;

    #[test]
    fn day_is_quota_until_the_day_reset() {
        let (k, now) = kind(429, TPD, &[("x-ratelimit-reset-requests-day", "3600.5")]);
        let ErrorKind::QuotaExhausted { until: Some(until) } = k else {
            panic!("{k:?}");
        };
        assert_eq!((until - now).num_milliseconds(), 3_600_500);
    }

    #[test]
    fn minute_waits_for_the_token_bucket_and_ignores_a_zero_reset() {
        let (k, _) = kind(429, TPM, &[("x-ratelimit-reset-tokens-minute", "11.5")]);
        assert!(
            matches!(k, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_millis(11_500))
        );
        let (k, _) = kind(429, TPM, &[("x-ratelimit-reset-tokens-minute", "0.0")]);
        assert!(matches!(k, ErrorKind::RateLimited { retry_after: None }));
    }

    #[test]
    fn queue_is_transient_and_others_are_generic() {
        let queue = r#"{"message":"We're experiencing high traffic right now! Please try again soon.","type":"too_many_requests_error","param":"queue","code":"queue_exceeded"}"#;
        assert!(matches!(
            kind(429, queue, &[]).0,
            ErrorKind::Transient { status: Some(429) }
        ));
        assert!(matches!(
            kind(403, r#"{"detail":"Not authenticated"}"#, &[]).0,
            ErrorKind::Unauthorized
        ));
        assert!(matches!(kind(402, "{}", &[]).0, ErrorKind::PaymentRequired));
    }
}
