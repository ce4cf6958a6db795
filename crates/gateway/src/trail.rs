//! Route trails: what happened to one request, attempt by attempt.
//!
//! A trail is the `x-llmpool-trail` header, the `trail` field of a 502/503 error object,
//! a field of the request log line and a column of the dashboard's request list. It lists
//! each route in the order the router met it, comma-separated:
//!
//! ```text
//! groq/llama-3.3-70b-versatile:rate_limited,cerebras/llama3.1-8b:ok
//! gemini/gemini-2.5-flash:skipped:quota
//! ```
//!
//! An entry is `provider/model:outcome`. The outcome is `ok`, an error kind (`rate_limited`,
//! `quota`, `timeout`, `transient`, `unauthorized`, …) or `skipped:<reason>` for a route
//! the router passed over without calling it. A route whose model cannot serve the
//! request is `skipped:<capability>` (`tools`, `json_schema`, `json_object`, `vision`,
//! `reasoning`, `context_window`, `max_output_tokens`); those come first, as the router
//! passes over them before it calls any route:
//!
//! ```text
//! groq/llama-3.1-8b-instant:skipped:tools,cerebras/gpt-oss-120b:ok
//! ```
//!
//! A failed request's trail reads the same: its capability skips, then each failed
//! attempt with the model of its route (the router names it on each error).
//!
//! Model ids may hold `/` and `:` themselves (`meta-llama/llama-3.3-70b-instruct:free`),
//! so a reader splits the provider at the first `/` and the outcome at the last `:`
//! (`skipped:` being the one two-part outcome). When the model of a failed attempt is not
//! known (an error made outside the router), the entry is `provider:outcome`.

use std::fmt::Write as _;

use llmpool::{Attempt, ErrorKindLabel, ProviderError, SkippedRoute, Unavailable};

/// The outcome word for an attempt that ended with `error` (`None` = answered).
pub(crate) fn outcome(error: Option<ErrorKindLabel>) -> &'static str {
    match error {
        None => "ok",
        // The spec's short word: a spent daily or monthly window.
        Some(ErrorKindLabel::QuotaExhausted) => "quota",
        Some(label) => label.as_str(),
    }
}

/// The trail of a request's attempts, in order.
pub(crate) fn from_attempts(attempts: &[Attempt]) -> String {
    let mut trail = String::with_capacity(attempts.len() * 48);
    for a in attempts {
        push_entry(&mut trail, a.provider, Some(&a.model), outcome(a.error));
    }
    trail
}

/// The trail of an answered request: the routes passed over because their model cannot
/// serve it, then its attempts.
pub(crate) fn answered(skipped: &[SkippedRoute], attempts: &[Attempt]) -> String {
    if skipped.is_empty() {
        return from_attempts(attempts);
    }
    let mut trail = skips(skipped);
    for a in attempts {
        push_entry(&mut trail, a.provider, Some(&a.model), outcome(a.error));
    }
    trail
}

/// `provider/model:skipped:<capability>` for each route passed over for a capability.
pub(crate) fn skips(skipped: &[SkippedRoute]) -> String {
    let mut trail = String::with_capacity(skipped.len() * 56);
    for s in skipped {
        push_entry(&mut trail, s.provider, Some(&s.model), "skipped:");
        trail.push_str(s.missing.capability());
    }
    trail
}

/// The trail of a failed request: the routes passed over for a capability, then what its
/// error says (see [`from_error`]).
pub(crate) fn failed(skipped: &[SkippedRoute], e: &llmpool::Error) -> String {
    let after_skips = from_error(e);
    if skipped.is_empty() {
        return after_skips;
    }
    let mut trail = skips(skipped);
    if !after_skips.is_empty() {
        trail.push(',');
        trail.push_str(&after_skips);
    }
    trail
}

/// The trail of a failed request: one entry per provider error, then the routes skipped
/// without a call (read from the router's `AllBusy` report, the only place skips are
/// visible today).
pub(crate) fn from_error(e: &llmpool::Error) -> String {
    let mut trail = String::new();
    let errors: &[ProviderError] = match e {
        llmpool::Error::AllProvidersFailed(errors) | llmpool::Error::DeadlineExceeded(errors) => {
            errors
        }
        llmpool::Error::ContentFiltered(pe) => std::slice::from_ref(&**pe),
        llmpool::Error::NoAvailableProviders(Unavailable::AllBusy { details, .. }) => {
            for line in details {
                push_skips(&mut trail, line);
            }
            &[]
        }
        llmpool::Error::NoAvailableProviders(_)
        | llmpool::Error::InvalidRequest(_)
        | llmpool::Error::Store(_)
        | llmpool::Error::Config(_) => &[],
    };
    for pe in errors {
        push_entry(
            &mut trail,
            pe.provider,
            pe.model.as_deref(),
            outcome(Some(pe.kind.label())),
        );
    }
    trail
}

fn push_entry(trail: &mut String, provider: &str, model: Option<&str>, outcome: &str) {
    if !trail.is_empty() {
        trail.push(',');
    }
    trail.push_str(provider);
    if let Some(model) = model.filter(|m| !m.is_empty()) {
        trail.push('/');
        trail.push_str(model);
    }
    trail.push(':');
    trail.push_str(outcome);
}

/// One `AllBusy` detail line, `provider: model: reason[ until T], model: reason…`, as
/// `provider/model:skipped:<reason>` entries.
fn push_skips(trail: &mut String, line: &str) {
    let Some((provider, rest)) = line.split_once(": ") else {
        return;
    };
    for part in rest.split(", ") {
        let Some((model, reason)) = part.split_once(": ") else {
            continue;
        };
        let reason = reason.split(" until ").next().unwrap_or(reason);
        let _ = write!(
            trail,
            "{}{provider}/{model}:skipped:{}",
            if trail.is_empty() { "" } else { "," },
            skip_word(reason)
        );
    }
}

/// The router's skip descriptions as single words.
fn skip_word(description: &str) -> &'static str {
    match description {
        "key rejected (unauthorized)" => "bad_key",
        "key needs billing" => "payment_required",
        "circuit open after repeated failures" => "circuit_open",
        "half-open, a trial request is in flight" => "probing",
        "rate limited" => "rate_limited",
        "quota exhausted" => "quota",
        "model unavailable" => "parked",
        "at its limit of requests in flight" => "in_flight",
        _ => "unavailable",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmpool::ErrorKind;

    use super::*;

    fn attempt(provider: &'static str, model: &str, error: Option<ErrorKindLabel>) -> Attempt {
        Attempt {
            provider,
            model: model.to_owned(),
            error,
            message: None,
            latency: Duration::from_millis(5),
        }
    }

    #[test]
    fn capability_skips_come_first() {
        let skipped = [
            SkippedRoute {
                provider: "groq",
                model: "llama".to_owned(),
                missing: llmpool::Missing::Tools,
            },
            SkippedRoute {
                provider: "gemini",
                model: "gemma".to_owned(),
                missing: llmpool::Missing::ContextWindow {
                    needed: 10,
                    window: 5,
                },
            },
        ];
        let trail = answered(&skipped, &[attempt("cerebras", "gpt", None)]);
        assert_eq!(
            trail,
            "groq/llama:skipped:tools,gemini/gemma:skipped:context_window,cerebras/gpt:ok"
        );
        assert_eq!(
            answered(&[], &[attempt("cerebras", "gpt", None)]),
            "cerebras/gpt:ok"
        );
    }

    #[test]
    fn attempts_in_order() {
        let trail = from_attempts(&[
            attempt("groq", "llama", Some(ErrorKindLabel::RateLimited)),
            attempt("gemini", "flash", Some(ErrorKindLabel::QuotaExhausted)),
            attempt("openrouter", "meta/llama:free", None),
        ]);
        assert_eq!(
            trail,
            "groq/llama:rate_limited,gemini/flash:quota,openrouter/meta/llama:free:ok"
        );
        assert_eq!(from_attempts(&[]), "");
    }

    #[test]
    fn failures_name_the_provider() {
        let e = llmpool::Error::AllProvidersFailed(vec![
            ProviderError::new("groq", ErrorKind::Timeout),
            ProviderError::new("cohere", ErrorKind::Unauthorized),
        ]);
        assert_eq!(from_error(&e), "groq:timeout,cohere:unauthorized");
        // The router names the model of each failed route: the entry reads like a success.
        let e = llmpool::Error::AllProvidersFailed(vec![
            ProviderError::new("groq", ErrorKind::Timeout).with_model("llama-3.3"),
            ProviderError::new("openrouter", ErrorKind::RateLimited { retry_after: None })
                .with_model("meta/llama:free"),
        ]);
        assert_eq!(
            from_error(&e),
            "groq/llama-3.3:timeout,openrouter/meta/llama:free:rate_limited"
        );
    }

    #[test]
    fn a_failure_trail_starts_with_the_capability_skips() {
        let skipped = [SkippedRoute {
            provider: "groq",
            model: "llama".to_owned(),
            missing: llmpool::Missing::Vision,
        }];
        let e = llmpool::Error::AllProvidersFailed(vec![
            ProviderError::new("gemini", ErrorKind::Timeout).with_model("flash"),
        ]);
        assert_eq!(
            failed(&skipped, &e),
            "groq/llama:skipped:vision,gemini/flash:timeout"
        );
        assert_eq!(failed(&[], &e), "gemini/flash:timeout");
        let none = llmpool::Error::NoAvailableProviders(Unavailable::NoKeys { env_vars: vec![] });
        assert_eq!(failed(&skipped, &none), "groq/llama:skipped:vision");
    }

    #[test]
    fn skips_from_the_busy_report() {
        let e = llmpool::Error::NoAvailableProviders(Unavailable::AllBusy {
            until: None,
            details: vec![
                "cerebras: c1: rate limited until 2026-03-07T12:01:30+00:00, c2: quota exhausted"
                    .to_owned(),
                "groq: llama: key rejected (unauthorized)".to_owned(),
                "odd line".to_owned(),
            ],
        });
        assert_eq!(
            from_error(&e),
            "cerebras/c1:skipped:rate_limited,cerebras/c2:skipped:quota,groq/llama:skipped:bad_key"
        );
        let none = llmpool::Error::NoAvailableProviders(Unavailable::NoKeys { env_vars: vec![] });
        assert_eq!(from_error(&none), "");
    }
}
