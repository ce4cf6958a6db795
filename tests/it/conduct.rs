//! Failover conduct under faults (issue 11, "what it already does well"): Groq is played
//! by a misbehaving upstream ([`Unruly`]), Cerebras by its recorded fixtures, one model
//! per provider, `retry_attempts = 2` and short timeouts. Each test counts the upstream
//! calls, so that a blind retry or a missed failover fails it.

use serde_json::{Value, json};

use std::time::Duration;

use crate::harness::unruly::{
    Act, CONTENT_FILTERED, CONTEXT_LENGTH_EXCEEDED, Call, INTERNAL, UNAVAILABLE, Unruly, down_for,
    only,
};
use crate::harness::{Gateway, P, Resp, Setup, fixtures, hello};

/// Groq's one model in these tests.
const GROQ_MODEL: &str = "openai/gpt-oss-120b";

/// Short timeouts so that a hung upstream costs about two seconds; two retries of a
/// transient failure on the same route; short `Retry-After` waits (up to 2 s) are waited
/// out; a circuit opens after three transient failures in a row.
const CONDUCT_TOML: &str = r#"
retry_attempts = 2
max_retry_wait_secs = 2
timeout_secs = 2
ttft_timeout_secs = 2
stall_timeout_secs = 2
connect_timeout_secs = 1
deadline_secs = 30
cooldown_secs = 60
circuit_failures = 3

[providers.groq]
models = ["openai/gpt-oss-120b"]
[providers.cerebras]
models = ["gpt-oss-120b"]
"#;

/// A gateway whose Groq is `groq` and whose Cerebras serves its fixtures; only the
/// providers in `keyed` have a key.
struct World {
    groq: Unruly,
    setup: Setup,
    gw: Gateway,
}

impl World {
    async fn start(keyed: &[P], script: impl Fn(&Call) -> Act + Send + Sync + 'static) -> Self {
        Self::with_toml(CONDUCT_TOML, keyed, script).await
    }

    /// The same with this `llmpool.toml`; every provider but Groq serves its fixtures.
    async fn with_toml(
        toml: &str,
        keyed: &[P],
        script: impl Fn(&Call) -> Act + Send + Sync + 'static,
    ) -> Self {
        let groq = Unruly::start(script).await;
        let setup = Setup::new()
            .await
            .keyed(keyed)
            .var("GROQ_BASE_URL", &groq.base_url());
        setup.write_toml(toml);
        for p in [P::Cerebras, P::Gemini, P::OpenRouter, P::Cohere] {
            setup.up.serve_ok(p).await;
        }
        let gw = setup.serve().await;
        Self { groq, setup, gw }
    }

    /// Groq first, Cerebras as the fallback.
    async fn pair(script: impl Fn(&Call) -> Act + Send + Sync + 'static) -> Self {
        Self::start(&[P::Groq, P::Cerebras], script).await
    }

    async fn cerebras_calls(&self) -> usize {
        self.setup.up.requests(P::Cerebras).await.len()
    }

    /// `auto`, one-shot or streamed (with usage).
    async fn ask(&self, stream: bool) -> Resp {
        self.gw.chat(&request(stream)).await
    }
}

fn request(stream: bool) -> Value {
    let mut body = hello("auto");
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// The JSON events of a stream before `[DONE]`.
fn chunks(r: &Resp) -> Vec<Value> {
    r.sse_data()
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("bad event {d}: {e}")))
        .collect()
}

fn text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// Cerebras' recorded usage (the same in its one-shot and streamed fixtures).
fn cerebras_usage() -> Value {
    json!({"prompt_tokens": 84, "completion_tokens": 22, "total_tokens": 106})
}

/// Checks that `r` is Cerebras' complete answer: its provider header, its model, its
/// text and its usage, one-shot or streamed.
fn assert_cerebras_answered(r: &Resp, stream: bool) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("cerebras"), "{r:?}");
    let model = fixtures::ok_model(P::Cerebras).expect("cerebras names its model");
    if stream {
        let data = r.sse_data();
        assert_eq!(
            data.last().map(String::as_str),
            Some("[DONE]"),
            "{}",
            r.body
        );
        let chunks = chunks(r);
        for c in &chunks {
            assert_eq!(c["model"], model.as_str(), "{c}");
        }
        let cerebras = fixtures::of(P::Cerebras).stream;
        assert_eq!(
            text(&chunks),
            fixtures::stream_text(P::Cerebras, cerebras),
            "{}",
            r.body
        );
        let last = chunks.last().expect("events");
        assert_eq!(last["usage"], cerebras_usage(), "{}", r.body);
    } else {
        let body = r.json();
        assert_eq!(body["model"], model.as_str(), "{body}");
        assert_eq!(
            body["choices"][0]["message"]["content"],
            fixtures::ok_text(P::Cerebras),
            "{body}"
        );
        assert_eq!(body["usage"], cerebras_usage(), "{body}");
    }
}

/// Checks that `r` is Groq's complete recorded answer.
fn assert_groq_answered(r: &Resp, stream: bool) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("groq"), "{r:?}");
    if stream {
        assert_eq!(
            r.sse_data().last().map(String::as_str),
            Some("[DONE]"),
            "{}",
            r.body
        );
        assert_eq!(
            text(&chunks(r)),
            fixtures::stream_text(P::Groq, fixtures::of(P::Groq).stream),
            "{}",
            r.body
        );
    } else {
        assert_eq!(
            r.json()["choices"][0]["message"]["content"],
            fixtures::ok_text(P::Groq),
            "{}",
            r.body
        );
    }
}

/// One request (one-shot, then streamed) against a fresh gateway whose Groq follows
/// `script`: the answer comes from Cerebras after exactly `groq_calls` calls to Groq.
async fn fails_over<S>(script: impl Fn() -> S, groq_calls: usize)
where
    S: Fn(&Call) -> Act + Send + Sync + 'static,
{
    for stream in [false, true] {
        let w = World::pair(script()).await;
        let r = w.ask(stream).await;
        assert_cerebras_answered(&r, stream);
        assert_eq!(
            w.groq.calls(GROQ_MODEL),
            groq_calls,
            "stream={stream}: {:?}",
            w.groq.received()
        );
        assert_eq!(w.groq.total(), groq_calls, "{:?}", w.groq.received());
        assert!(
            w.groq.received().iter().all(|c| c.stream == stream),
            "{:?}",
            w.groq.received()
        );
        assert_eq!(w.cerebras_calls().await, 1, "stream={stream}");
        assert_eq!(
            r.header("x-llmpool-attempts"),
            Some((groq_calls + 1).to_string().as_str()),
            "stream={stream}"
        );
    }
}

#[tokio::test]
async fn a_timed_out_attempt_fails_over_after_one_call() {
    fails_over(|| only(GROQ_MODEL, Act::Hang), 1).await;
}

#[tokio::test]
async fn a_slow_first_token_fails_over_after_one_call() {
    fails_over(
        || only(GROQ_MODEL, Act::FirstTokenAfter(Duration::from_secs(8))),
        1,
    )
    .await;
}

#[tokio::test]
async fn a_context_length_refusal_fails_over_after_one_call() {
    fails_over(
        || only(GROQ_MODEL, Act::status(400, CONTEXT_LENGTH_EXCEEDED)),
        1,
    )
    .await;
}

/// A persistent 503: the first call and `retry_attempts` retries, then the fallback.
#[tokio::test]
async fn a_persistent_503_fails_over_after_bounded_retries() {
    // An outage longer than the test.
    fails_over(
        || down_for(Duration::from_secs(600), Act::status(503, UNAVAILABLE)),
        3,
    )
    .await;
}

/// A persistent 429 with a short `Retry-After`: waited out `retry_attempts` times on the
/// same route, then the fallback.
#[tokio::test]
async fn a_persistent_short_429_fails_over_after_bounded_waits() {
    fails_over(|| only(GROQ_MODEL, Act::rate_limited(1)), 3).await;
}

/// A 429 whose `Retry-After` is longer than `max_retry_wait_secs` is not waited for.
#[tokio::test]
async fn a_long_429_fails_over_at_once() {
    fails_over(|| only(GROQ_MODEL, Act::rate_limited(30)), 1).await;
}

/// Groq fails every other call with `first`; each request is answered by Groq on its
/// second call, and Cerebras is never asked.
async fn retried_on_the_same_route(first: Act) -> World {
    let w = World::pair(move |c| if c.n % 2 == 0 { first.clone() } else { Act::Ok }).await;
    for (i, stream) in [false, true].into_iter().enumerate() {
        let r = w.ask(stream).await;
        assert_groq_answered(&r, stream);
        assert_eq!(r.header("x-llmpool-attempts"), Some("2"), "stream={stream}");
        assert_eq!(
            w.groq.calls(GROQ_MODEL),
            2 * (i + 1),
            "stream={stream}: {:?}",
            w.groq.received()
        );
    }
    assert_eq!(w.cerebras_calls().await, 0);
    w
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_on_the_same_route() {
    let w = retried_on_the_same_route(Act::rate_limited(1)).await;
    // Waited out: each retry came no sooner than the 1 s the 429 asked for (a lower
    // bound on the wait, which a slow machine cannot break).
    let at: Vec<Duration> = w.groq.received().iter().map(|r| r.at).collect();
    for pair in at.chunks(2) {
        let gap = pair[1].checked_sub(pair[0]).unwrap_or_default();
        assert!(gap >= Duration::from_secs(1), "{at:?}");
    }
}

#[tokio::test]
async fn a_single_500_is_retried_on_the_same_route() {
    retried_on_the_same_route(Act::status(500, INTERNAL)).await;
}

#[tokio::test]
async fn a_reset_connection_is_retried_on_the_same_route() {
    retried_on_the_same_route(Act::Reset).await;
}

/// A content-policy refusal is the caller's answer: returned at once, one-shot or
/// streamed, without asking Groq again or Cerebras at all.
#[tokio::test]
async fn a_content_refusal_is_returned_at_once() {
    let w = World::pair(|_| Act::status(400, CONTENT_FILTERED)).await;
    for (i, stream) in [false, true].into_iter().enumerate() {
        let r = w.ask(stream).await;
        let e = r.error(400);
        assert_eq!(e["code"], "content_filter", "stream={stream}: {e}");
        assert!(r.message().contains("groq"), "{e}");
        assert_eq!(w.groq.calls(GROQ_MODEL), i + 1, "stream={stream}");
    }
    assert_eq!(w.cerebras_calls().await, 0);
}

/// A malformed event inside Groq's stream is skipped: the rest arrives and the stream
/// ends with `[DONE]`, from Groq, in one call.
#[tokio::test]
async fn a_malformed_chunk_inside_a_stream_is_skipped() {
    let w = World::pair(|_| Act::Malformed).await;
    let r = w.ask(true).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("groq"));
    let data = r.sse_data();
    assert_eq!(
        data.last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        r.body
    );
    assert_eq!(data.iter().filter(|d| *d == "[DONE]").count(), 1);
    let chunks = chunks(&r);
    assert!(
        chunks.iter().all(|c| c.get("error").is_none()),
        "{}",
        r.body
    );
    let expected = fixtures::stream_text(P::Groq, fixtures::GROQ_STREAM_MALFORMED);
    assert!(!expected.is_empty());
    assert!(
        !expected.contains("broken"),
        "the malformed event is not text"
    );
    assert_eq!(text(&chunks), expected, "{}", r.body);
    assert_eq!(w.groq.calls(GROQ_MODEL), 1);
    assert_eq!(w.cerebras_calls().await, 0);
}

/// A stream that breaks after its first token (the connection reset mid-body), with
/// nothing to continue it: the token, then an error event, and no `[DONE]`.
#[tokio::test]
async fn a_stream_cut_after_its_first_token_ends_with_an_error_event() {
    let w = World::start(&[P::Groq], |c| if c.stream { Act::Cut } else { Act::Ok }).await;
    let r = w.ask(true).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("groq"));
    let data = r.sse_data();
    assert!(
        !data.iter().any(|d| d == "[DONE]"),
        "a cut stream must not end like a complete one: {}",
        r.body
    );
    let last: Value = serde_json::from_str(data.last().expect("events")).expect("JSON event");
    assert!(last["error"]["message"].is_string(), "last event {last}");
    let before: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("JSON event"))
        .collect();
    assert_eq!(text(&before), "Int", "{}", r.body);
    assert!(
        before
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null()),
        "{}",
        r.body
    );
    assert_eq!(w.groq.calls(GROQ_MODEL), 1, "{:?}", w.groq.received());
}

mod rows;
