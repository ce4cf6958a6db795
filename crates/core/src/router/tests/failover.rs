//! Issue 11, points 2 and 3 on a virtual clock: a prompt refused as too long only goes to
//! a larger window (or ends at once as `ContextTooLong`), routes too small for it are
//! skipped without a call, and a provider is back in use within 30 s of recovering from a
//! transient outage of any length.

use super::*;

/// Three models: two of Groq's 131,072-token window, one larger.
static WINDOWS: ProviderFactory = fake_factory(
    "groq",
    "GROQ_API_KEY",
    "w1",
    "[[models]]\nid = \"w1\"\ncontext_window = 131072\n\
     [[models]]\nid = \"w2\"\ncontext_window = 131072\n\
     [[models]]\nid = \"w3\"\ncontext_window = 262144\n",
    1,
);
/// Gemini's window.
static HUGE: ProviderFactory = fake_factory(
    "gemini",
    "GEMINI_API_KEY",
    "h1",
    "[[models]]\nid = \"h1\"\ncontext_window = 1048576\n",
    2,
);
/// A model whose window the catalog does not state.
static UNSTATED: ProviderFactory = fake_factory(
    "cohere",
    "COHERE_API_KEY",
    "u1",
    "[[models]]\nid = \"u1\"\n",
    3,
);

struct W {
    router: Router,
    groq: Arc<FakeProvider>,
    gemini: Arc<FakeProvider>,
    cohere: Arc<FakeProvider>,
}

/// A router over [`WINDOWS`], and [`HUGE`] and [`UNSTATED`] when asked (with a key).
fn windows(settings: &Settings, huge: bool, unstated: bool) -> W {
    let groq = Arc::new(FakeProvider::new("groq"));
    let gemini = Arc::new(FakeProvider::new("gemini"));
    let cohere = Arc::new(FakeProvider::new("cohere"));
    let keyed = |on: bool, id: &'static str, fake: &Arc<FakeProvider>| {
        if on {
            vec![KeyedClient {
                key_label: key_label(id),
                provider: fake.clone() as Arc<dyn Provider>,
            }]
        } else {
            vec![]
        }
    };
    let setups = vec![
        ProviderSetup {
            factory: &WINDOWS,
            clients: keyed(true, "groq", &groq),
        },
        ProviderSetup {
            factory: &HUGE,
            clients: keyed(huge, "gemini", &gemini),
        },
        ProviderSetup {
            factory: &UNSTATED,
            clients: keyed(unstated, "cohere", &cohere),
        },
    ];
    let clock = Arc::new(TokioClock::starting_at(at("2026-03-07T12:00:00Z")));
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let router = Router::new(settings, setups, store, clock).unwrap();
    router.reseed(7);
    W {
        router,
        groq,
        gemini,
        cohere,
    }
}

fn models(fake: &FakeProvider) -> Vec<String> {
    fake.requests()
        .into_iter()
        .map(|r| r.model.unwrap_or_default())
        .collect()
}

/// A prompt of about `tokens` tokens by the router's estimate.
fn prompt_of(tokens: u64) -> ChatRequest {
    let chars = usize::try_from(tokens * 4).unwrap();
    let r = ChatRequest::from_user("x".repeat(chars));
    assert!(r.estimated_prompt_tokens() >= tokens);
    r
}

fn too_long(e: Error) -> (u64, Option<u64>) {
    match e {
        Error::NoAvailableProviders(Unavailable::ContextTooLong {
            estimated_tokens,
            largest_window,
        }) => (estimated_tokens, largest_window),
        other => panic!("expected ContextTooLong, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn too_long_is_resent_only_to_a_larger_window() {
    let w = windows(&settings(), true, false);
    let refusal = Reply::error(ErrorKind::ContextTooLong);
    w.groq.set_fallback(refusal);
    let r = w.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "gemini");
    // w2 has the same window as w1: never asked; w3's is larger: asked once, refuses.
    assert_eq!(models(&w.groq), ["w1", "w3"]);
    assert_eq!(w.gemini.calls(), 1);
    // The same for a stream, before its first delta.
    let s = w.router.chat_stream(req()).await.unwrap();
    assert_eq!(s.provider(), "gemini");
    assert_eq!(models(&w.groq), ["w1", "w3", "w1", "w3"]);
    // A refusal is not a health problem: the next request starts on groq again.
    w.groq.set_fallback(Reply::text("fits"));
    assert_eq!(w.router.chat(req()).await.unwrap().provider, "groq");
}

#[tokio::test(start_paused = true)]
async fn too_long_with_no_larger_window_ends_at_once() {
    let only_same = with_provider(settings(), "groq", |p| {
        p.models = Some(vec!["w1".into(), "w2".into()]);
    });
    let w = windows(&only_same, false, false);
    w.groq.set_fallback(Reply::error(ErrorKind::ContextTooLong));
    let request = req();
    let estimate = request.estimated_prompt_tokens();
    let e = w.router.chat(request).await.unwrap_err();
    assert_eq!(too_long(e), (estimate, Some(131_072)));
    assert_eq!(models(&w.groq), ["w1"], "w2 is not larger: never asked");
    let e = w.router.chat_stream(req()).await.unwrap_err();
    assert_eq!(too_long(e).1, Some(131_072));
    assert_eq!(w.groq.calls(), 2);
    // The message names the estimate and the largest window.
    let text = Error::NoAvailableProviders(Unavailable::ContextTooLong {
        estimated_tokens: 150_000,
        largest_window: Some(131_072),
    })
    .to_string();
    assert!(text.contains("150000") && text.contains("131072"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn too_long_after_another_failure_is_not_a_context_error() {
    // Gemini (larger) is down: the request failed for that reason too, so it is not
    // reported as a prompt that fits nowhere.
    let only_w1 = with_provider(settings(), "groq", |p| p.models = Some(vec!["w1".into()]));
    let s = Settings {
        retry_attempts: 0,
        ..only_w1
    };
    let w = windows(&s, true, false);
    w.groq.set_fallback(Reply::error(ErrorKind::ContextTooLong));
    w.gemini
        .set_fallback(Reply::error(ErrorKind::Transient { status: Some(503) }));
    let e = w.router.chat(req()).await.unwrap_err();
    assert!(
        matches!(e, Error::AllProvidersFailed(ref v) if v.len() == 2),
        "{e:?}"
    );
    // Each failure names the model of the route that failed (for the error's trail).
    let Error::AllProvidersFailed(errors) = e else {
        unreachable!()
    };
    let routes: Vec<_> = errors
        .iter()
        .map(|e| (e.provider, e.model.as_deref()))
        .collect();
    assert_eq!(routes[0], ("groq", Some("w1")), "{routes:?}");
    assert_eq!(routes[1].0, "gemini");
    assert!(routes[1].1.is_some_and(|m| !m.is_empty()), "{routes:?}");
}

#[tokio::test(start_paused = true)]
async fn routes_clearly_too_small_are_skipped_without_a_call() {
    let w = windows(&settings(), true, true);
    // About 200,000 tokens: more than w1 and w2 hold, less than w3.
    let r = w.router.chat(prompt_of(200_000)).await.unwrap();
    assert_eq!(r.provider, "groq");
    assert_eq!(models(&w.groq), ["w3"]);
    assert_eq!(r.attempts.len(), 1, "no attempt on the smaller routes");
    // About 2,000,000 tokens: larger than every stated window. The route of unstated
    // window is tried (it may hold it); when it refuses, the answer comes at once.
    w.cohere
        .set_fallback(Reply::error(ErrorKind::ContextTooLong));
    let e = w.router.chat(prompt_of(2_000_000)).await.unwrap_err();
    let (estimate, largest) = too_long(e);
    assert!(estimate >= 2_000_000);
    assert_eq!(largest, Some(1_048_576));
    assert_eq!(
        (w.groq.calls(), w.gemini.calls(), w.cohere.calls()),
        (1, 0, 1)
    );
    // Without a route of unstated window: no upstream call at all.
    let w = windows(&settings(), true, false);
    let e = w
        .router
        .chat_stream(prompt_of(2_000_000))
        .await
        .unwrap_err();
    assert_eq!(too_long(e).1, Some(1_048_576));
    assert_eq!((w.groq.calls(), w.gemini.calls()), (0, 0));
    // A prompt that fits everything starts at the top as always.
    assert_eq!(w.router.chat(req()).await.unwrap().provider, "groq");
    assert_eq!(models(&w.groq), ["w1"]);
}

#[tokio::test(start_paused = true)]
async fn a_busy_larger_route_is_a_wait_not_a_context_error() {
    let only_w1 = with_provider(settings(), "groq", |p| p.models = Some(vec!["w1".into()]));
    let w = windows(&only_w1, true, false);
    // Gemini rate limited for a minute, then the prompt is refused by groq.
    w.gemini.push(Reply::error(ErrorKind::RateLimited {
        retry_after: Some(Duration::from_secs(60)),
    }));
    let _ = w
        .router
        .chat(ChatRequest::from_user("warm").with_model("gemini"))
        .await;
    w.groq.set_fallback(Reply::error(ErrorKind::ContextTooLong));
    let e = w.router.chat(req()).await.unwrap_err();
    assert!(
        matches!(e, Error::NoAvailableProviders(Unavailable::AllBusy { .. })),
        "{e:?}"
    );
}

/// One request every `every` while the provider fails with `kind` for `outage`, then
/// answers. Returns when groq answered, relative to the start, and the times of groq's
/// calls.
async fn outage_then_recovery(
    outage: Duration,
    every: Duration,
    kind: ErrorKind,
) -> (Duration, Vec<Duration>) {
    let s = Settings {
        retry_attempts: 2,
        timeout_secs: 3,
        ..with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]))
    };
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq").set_fallback(Reply::error(kind));
    let start = tokio::time::Instant::now();
    let mut calls = Vec::new();
    let mut recovered = false;
    loop {
        let now = start.elapsed();
        if !recovered && now >= outage {
            h.fake("groq").set_fallback(Reply::text("back"));
            recovered = true;
        }
        let before = h.calls("groq");
        let r = h.router.chat(req()).await.unwrap();
        for _ in before..h.calls("groq") {
            calls.push(now);
        }
        if r.provider == "groq" {
            return (now, calls);
        }
        assert!(
            now < outage + Duration::from_secs(120),
            "groq never used again: calls at {calls:?}"
        );
        tokio::time::sleep_until(start + now + every).await;
    }
}

/// How a provider fails during an outage.
type Fault = fn() -> ErrorKind;

#[tokio::test(start_paused = true)]
async fn a_recovered_provider_is_back_within_30_s_whatever_the_outage() {
    let cooldown = Duration::from_secs(settings().cooldown_secs);
    let down: Fault = || ErrorKind::Transient { status: Some(503) };
    let silent: Fault = || ErrorKind::Timeout;
    // The 60 s and 5 min outages of issue 11 at one request every 4 s, and lengths where a
    // growing cooldown would fall badly (a trial just before the recovery).
    let cases: [(u64, u64, Fault); 6] = [
        (60, 4, down),
        (300, 4, down),
        (170, 4, down),
        (325, 5, silent),
        (3400, 5, refused),
        (3400, 1, down),
    ];
    for (outage, every, kind) in cases {
        let outage = Duration::from_secs(outage);
        let every = Duration::from_secs(every);
        let (back, calls) = outage_then_recovery(outage, every, kind()).await;
        let case = format!(
            "{} for {outage:?}, a request every {every:?}: {calls:?}",
            kind().label()
        );
        assert!(back >= outage, "{case}");
        assert!(
            back <= outage + Duration::from_secs(30),
            "back at {back:?}; {case}"
        );
        // During the outage: the first request's attempts (the call and its retries),
        // then at most one trial per cooldown.
        let during: Vec<_> = calls.iter().filter(|c| **c < outage).collect();
        let first = during.iter().filter(|c| c.is_zero()).count();
        assert!(first <= 3, "{case}");
        let trials: Vec<_> = during.iter().filter(|c| !c.is_zero()).collect();
        for pair in trials.windows(2) {
            assert!(
                pair[1].saturating_sub(**pair[0]) >= cooldown,
                "two trials within a cooldown; {case}"
            );
        }
        assert!(
            trials.len() <= usize::try_from(outage.as_secs() / 5).unwrap(),
            "{case}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn long_waits_stay_for_what_has_a_known_end() {
    // A spent daily quota keeps its route parked until the reset, far past the transient
    // cap; a rejected key stays disabled.
    let one = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&one, &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::error(ErrorKind::QuotaExhausted { until: None }));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    tokio::time::advance(Duration::from_secs(600)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 1);
    let h = harness(&one, &["groq", "cerebras"]);
    h.fake("groq").push(Reply::error(ErrorKind::Unauthorized));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_first_cooldown_above_the_cap_is_accepted_and_does_not_grow() {
    // `cooldown_secs = 60` with `max_cooldown_secs` at its default (20) is a valid setting:
    // every cooldown is 60 s.
    let s = Settings {
        retry_attempts: 0,
        circuit_failures: 1,
        cooldown_secs: 60,
        ..with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]))
    };
    assert!(s.max_cooldown_secs < s.cooldown_secs);
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq")
        .set_fallback(Reply::error(ErrorKind::Transient { status: Some(503) }));
    for round in 1..=3 {
        assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
        assert_eq!(h.calls("groq"), round);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
        assert_eq!(h.calls("groq"), round, "no trial within the cooldown");
        tokio::time::advance(Duration::from_secs(1)).await;
    }
}
