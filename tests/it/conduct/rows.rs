//! Issue 11's table, row by row, against local upstreams that misbehave that way: Groq
//! (played by [`Unruly`](crate::harness::unruly::Unruly)) with its three catalog models
//! where the row says so. Each test asserts the "should" column.

use std::time::{Duration, Instant};

use super::{CONDUCT_TOML, World, assert_cerebras_answered};
use crate::harness::P;
use crate::harness::unruly::{Act, CONTEXT_LENGTH_EXCEEDED, UNAVAILABLE, down_for};

/// Groq's three catalog models, all of the same 131,072-token window.
fn three_groq_models(toml: &str) -> String {
    let three = r#"models = ["openai/gpt-oss-120b", "openai/gpt-oss-20b", "qwen/qwen3.8-27b"]"#;
    toml.replace(r#"models = ["openai/gpt-oss-120b"]"#, three)
}

/// Rows 1 and 2: after one timeout (of the whole attempt, or of the first token) the
/// request goes to the next provider at once, not to Groq's other models.
async fn leaves_the_provider_after_one_timeout(act: Act) {
    for stream in [false, true] {
        let act = act.clone();
        let w = World::with_toml(
            &three_groq_models(CONDUCT_TOML),
            &[P::Groq, P::Cerebras],
            move |_| act.clone(),
        )
        .await;
        let r = w.ask(stream).await;
        assert_cerebras_answered(&r, stream);
        // should: one call to Groq (whatever the model), then Cerebras.
        assert_eq!(
            w.groq.total(),
            1,
            "stream={stream}: {:?}",
            w.groq.received()
        );
        assert_eq!(w.cerebras_calls().await, 1, "stream={stream}");
        assert_eq!(r.header("x-llmpool-attempts"), Some("2"), "stream={stream}");
        // The route's health records the timeout.
        let q = w.gw.get("/v1/quota").await.json();
        assert!(
            q["quota_status"]["groq"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("timeout")),
            "{q}"
        );
    }
}

/// Row 1: accepts requests and never answers, on each of its three models.
#[tokio::test]
async fn row1_a_provider_that_never_answers_is_left_after_one_timeout() {
    leaves_the_provider_after_one_timeout(Act::Hang).await;
}

/// Row 2: stream headers at once, the first token only after 20 s.
#[tokio::test]
async fn row2_a_provider_without_a_first_token_is_left_after_one_timeout() {
    leaves_the_provider_after_one_timeout(Act::FirstTokenAfter(Duration::from_secs(20))).await;
}

/// Row 3, with a larger window elsewhere: after Groq's refusal the request goes to
/// Gemini (1,048,576 tokens), never to Groq's other models (131,072, not larger).
#[tokio::test]
async fn row3_too_long_goes_only_to_a_larger_window() {
    for stream in [false, true] {
        let w = World::with_toml(
            &three_groq_models(CONDUCT_TOML),
            &[P::Groq, P::Gemini],
            |_| Act::status(400, CONTEXT_LENGTH_EXCEEDED),
        )
        .await;
        let r = w.ask(stream).await;
        assert_eq!(r.status, 200, "stream={stream}: {}", r.body);
        assert_eq!(r.header("x-llmpool-provider"), Some("gemini"), "{r:?}");
        assert_eq!(
            w.groq.total(),
            1,
            "stream={stream}: {:?}",
            w.groq.received()
        );
        assert_eq!(w.setup.up.requests(P::Gemini).await.len(), 1);
    }
}

/// Row 3, with no larger window anywhere: 400 `context_length_exceeded` at once (after
/// Groq's one refusal), naming the largest window configured; never a 502.
#[tokio::test]
async fn row3_too_long_with_no_larger_window_is_a_400_at_once() {
    for stream in [false, true] {
        let w = World::with_toml(&three_groq_models(CONDUCT_TOML), &[P::Groq], |_| {
            Act::status(400, CONTEXT_LENGTH_EXCEEDED)
        })
        .await;
        let r = w.ask(stream).await;
        let e = r.error(400);
        assert_eq!(e["code"], "context_length_exceeded", "stream={stream}: {e}");
        let message = r.message();
        assert!(
            message.contains("131072") || message.contains("131,072"),
            "the largest window configured: {message}"
        );
        assert_eq!(
            w.groq.total(),
            1,
            "stream={stream}: {:?}",
            w.groq.received()
        );
    }
}

/// Cooldowns at their defaults; one model per provider; Cerebras above its Free Trial's
/// 5 requests per minute, so that it can take every request of the outage.
const RECOVERY_TOML: &str = r#"
retry_attempts = 2
timeout_secs = 3
deadline_secs = 30

[providers.groq]
models = ["openai/gpt-oss-120b"]
[providers.cerebras]
models = ["gpt-oss-120b"]
rpm = 60
"#;

/// Row 4: Groq answers 503 for `outage`, then recovers; one request every 4 s (about
/// 95 s of real time for the 60 s outage). Every
/// request is answered; during the outage at most one trial per cooldown reaches Groq;
/// Groq answers again within 30 s of its recovery.
async fn back_within_30_s_of_recovery(outage: Duration) {
    let started = Instant::now();
    let w = World::with_toml(
        RECOVERY_TOML,
        &[P::Groq, P::Cerebras],
        down_for(outage, Act::status(503, UNAVAILABLE)),
    )
    .await;
    let give_up = outage + Duration::from_secs(45);
    let mut tick = tokio::time::interval(Duration::from_secs(4));
    let mut back = None;
    while started.elapsed() < give_up {
        tick.tick().await;
        let r = w.ask(false).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.header("x-llmpool-provider") == Some("groq") {
            back = w.groq.received().last().map(|c| c.at);
            break;
        }
    }
    let calls = w.groq.received();
    let back = back.unwrap_or_else(|| panic!("Groq was never used again: {calls:?}"));
    assert!(back >= outage, "answered during the outage: {calls:?}");
    assert!(
        back <= outage + Duration::from_secs(30),
        "back {:?} after its recovery: {calls:?}",
        back.checked_sub(outage)
    );
    // The first request's call and its two retries, then at most one trial per
    // cooldown (`cooldown_secs` = 5 by default; a longer cooldown only makes fewer).
    let trials = calls.iter().filter(|c| c.at < outage).count();
    let bound = 3 + usize::try_from(outage.as_secs() / 5).unwrap_or(usize::MAX);
    assert!(
        trials <= bound,
        "{trials} calls during the outage: {calls:?}"
    );
}

#[tokio::test]
async fn row4_back_on_the_preferred_provider_within_30_s_after_a_60_s_outage() {
    back_within_30_s_of_recovery(Duration::from_secs(60)).await;
}

// The 5-minute outage (six minutes of real time) is driven on a virtual clock instead,
// with the same assertions (every request answered, at most one trial per cooldown during
// the outage, back within 30 s of the recovery) and more (other outage lengths, request
// rates of one every 1 to 5 s, timeouts and refused connections):
// `a_recovered_provider_is_back_within_30_s_whatever_the_outage` in
// `crates/core/src/router/tests/failover.rs`.
