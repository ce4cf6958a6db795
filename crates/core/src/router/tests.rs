//! Router behaviour with scripted providers on paused tokio time.

mod bounded;
mod capabilities;
mod failover;
mod pacing;
mod shared;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::*;
use crate::clock::TokioClock;
use crate::config::{ProviderSettings, Strategy};
use crate::error::{ErrorKind, ErrorKindLabel, ProviderError, Unavailable};
use crate::provider::mask_key;
use crate::ratelimit::{RateLimitSnapshot, Window};
use crate::store::MemoryStore;
use crate::testkit::{FakeProvider, Reply, StreamStep, fake_factory, refused};
use crate::types::Message;

pub(crate) static GROQ: ProviderFactory = fake_factory(
    "groq",
    "GROQ_API_KEY",
    "g1",
    "[[models]]\nid = \"g1\"\n[[models]]\nid = \"g2\"\n",
    1,
);
pub(crate) static CEREBRAS: ProviderFactory = fake_factory(
    "cerebras",
    "CEREBRAS_API_KEY",
    "c1",
    "[[models]]\nid = \"c1\"\n",
    2,
);
pub(crate) static GEMINI: ProviderFactory = fake_factory(
    "gemini",
    "GEMINI_API_KEY",
    "gm1",
    "day_reset_tz = \"America/Los_Angeles\"\n[[models]]\nid = \"gm1\"\nprefill = true\n",
    3,
);
pub(crate) static OPENROUTER: ProviderFactory = fake_factory(
    "openrouter",
    "OPENROUTER_API_KEY",
    "openai/gpt-oss-20b:free",
    "[shared]\nrpd = 50\nrpm = 20\n[[models]]\nid = \"openai/gpt-oss-20b:free\"\n",
    4,
);
pub(crate) static COHERE: ProviderFactory = fake_factory(
    "cohere",
    "COHERE_API_KEY",
    "co1",
    "[shared]\nrpmonth = 1000\n[[models]]\nid = \"co1\"\nrpm = 20\n",
    5,
);

const ALL: [&ProviderFactory; 5] = [&GROQ, &CEREBRAS, &GEMINI, &OPENROUTER, &COHERE];

pub(crate) struct H {
    pub(crate) router: Router,
    pub(crate) fakes: HashMap<&'static str, Arc<FakeProvider>>,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) clock: Arc<TokioClock>,
}

impl H {
    pub(crate) fn fake(&self, id: &str) -> &FakeProvider {
        &self.fakes[id]
    }

    pub(crate) fn calls(&self, id: &str) -> usize {
        self.fakes.get(id).map_or(0, |f| f.calls())
    }

    /// A second router on the same store and clock (a restarted process).
    pub(crate) fn restart(&self, settings: &Settings) -> Router {
        let setups = setups(&self.fakes);
        Router::new(settings, setups, self.store.clone(), self.clock.clone()).unwrap()
    }
}

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

pub(crate) fn key_label(id: &str) -> String {
    mask_key(&format!("{id}-test-key-000000-{id}"))
}

fn setups(fakes: &HashMap<&'static str, Arc<FakeProvider>>) -> Vec<ProviderSetup> {
    ALL.iter()
        .map(|f| ProviderSetup {
            factory: f,
            clients: fakes
                .get(f.id)
                .map(|fake| {
                    vec![KeyedClient {
                        key_label: key_label(f.id),
                        provider: fake.clone() as Arc<dyn Provider>,
                    }]
                })
                .unwrap_or_default(),
        })
        .collect()
}

pub(crate) fn settings() -> Settings {
    Settings {
        store: "memory".to_owned(),
        ..Settings::default()
    }
}

pub(crate) fn harness_at(settings: &Settings, keys: &[&'static str], start: &str) -> H {
    let clock = Arc::new(TokioClock::starting_at(at(start)));
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let fakes: HashMap<_, _> = keys
        .iter()
        .map(|id| (*id, Arc::new(FakeProvider::new(id))))
        .collect();
    let router = Router::new(settings, setups(&fakes), store.clone(), clock.clone()).unwrap();
    router.reseed(7);
    H {
        router,
        fakes,
        store,
        clock,
    }
}

pub(crate) fn harness(settings: &Settings, keys: &[&'static str]) -> H {
    harness_at(settings, keys, "2026-03-07T12:00:00Z")
}

pub(crate) fn req() -> ChatRequest {
    ChatRequest::from_user("hello")
}

fn tried(attempts: &[crate::types::Attempt]) -> Vec<(&'static str, Option<ErrorKindLabel>)> {
    attempts.iter().map(|a| (a.provider, a.error)).collect()
}

fn with_provider(mut s: Settings, id: &str, f: impl FnOnce(&mut ProviderSettings)) -> Settings {
    f(s.providers.entry(id.to_owned()).or_default());
    s
}

const G: Option<ErrorKindLabel> = None;

#[tokio::test(start_paused = true)]
async fn order_of_tries_follows_priority_and_retries_transient() {
    use ErrorKindLabel::{InvalidResponse, Transient};
    let s = Settings {
        retry_attempts: 2,
        circuit_failures: 10,
        ..settings()
    };
    let h = harness(&s, &["groq", "cerebras", "gemini"]);
    let transient = Reply::error(ErrorKind::Transient { status: Some(503) });
    h.fake("groq").push_n(&transient, 6);
    h.fake("cerebras")
        .push(Reply::error(ErrorKind::InvalidResponse));
    h.fake("gemini").push(Reply::text("hi").model("gm1-2026"));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "gemini");
    assert_eq!(r.model, "gm1-2026", "the upstream's model is reported");
    assert_eq!(
        tried(&r.attempts),
        vec![
            ("groq", Some(Transient)),
            ("groq", Some(Transient)),
            ("groq", Some(Transient)),
            ("groq", Some(Transient)),
            ("groq", Some(Transient)),
            ("groq", Some(Transient)),
            ("cerebras", Some(InvalidResponse)),
            ("gemini", G),
        ]
    );
    // Both groq models were tried, each with two retries; the model is set per route.
    let models: Vec<_> = h
        .fake("groq")
        .requests()
        .iter()
        .map(|r| r.model.clone().unwrap())
        .collect();
    assert_eq!(models, ["g1", "g1", "g1", "g2", "g2", "g2"]);

    // A priority override reorders providers.
    let s = with_provider(settings(), "cerebras", |p| p.priority = Some(0));
    let h = harness(&s, &["groq", "cerebras"]);
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
}

#[tokio::test(start_paused = true)]
async fn explicit_route_chain_overrides_order() {
    let s = Settings {
        routes: Some(vec!["gemini/gm1".into(), "groq/g2".into()]),
        ..settings()
    };
    let h = harness(&s, &["groq", "cerebras", "gemini"]);
    h.fake("gemini")
        .push(Reply::error(ErrorKind::Transient { status: Some(500) }).delay(Duration::ZERO));
    h.fake("gemini")
        .push_n(&Reply::error(ErrorKind::Transient { status: Some(500) }), 2);
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "g2"));
    assert_eq!(h.calls("cerebras"), 0);
}

#[tokio::test(start_paused = true)]
async fn long_retry_after_cools_the_route_until_then() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq").push(Reply::error(ErrorKind::RateLimited {
        retry_after: Some(Duration::from_secs(60)),
    }));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 1);
    for _ in 0..5 {
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    }
    assert_eq!(h.calls("groq"), 1, "no call to groq before the retry-after");
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
}

#[tokio::test(start_paused = true)]
async fn short_retry_after_is_waited_out_on_the_same_route() {
    let h = harness(&settings(), &["groq", "cerebras"]);
    let limited = ProviderError::new("groq", ErrorKind::RateLimited { retry_after: None })
        .with_rate_limits(RateLimitSnapshot {
            retry_after: Some(Duration::from_secs(3)),
            ..RateLimitSnapshot::default()
        });
    h.fake("groq").push(Reply::provider_error(limited));
    let start = tokio::time::Instant::now();
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "groq");
    assert_eq!(h.calls("groq"), 2);
    assert_eq!(h.calls("cerebras"), 0);
    assert!(start.elapsed() >= Duration::from_secs(3));
    assert_eq!(
        tried(&r.attempts),
        vec![("groq", Some(ErrorKindLabel::RateLimited)), ("groq", G)]
    );
}

#[tokio::test(start_paused = true)]
async fn reset_headers_block_the_route_until_reset() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::text("last one").rate_limits(RateLimitSnapshot {
            requests_minute: Window {
                limit: Some(30),
                remaining: Some(0),
                reset_after: Some(Duration::from_secs(7)),
            },
            ..RateLimitSnapshot::default()
        }));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
}

#[tokio::test(start_paused = true)]
async fn quota_exhausted_parks_until_the_daily_reset() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness_at(&s, &["groq", "cerebras"], "2026-03-07T22:00:00Z");
    h.fake("groq")
        .push(Reply::error(ErrorKind::QuotaExhausted { until: None }));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    tokio::time::advance(Duration::from_secs(2 * 3600 - 1)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
}

#[tokio::test(start_paused = true)]
async fn bad_key_and_billing_disable_the_key() {
    let h = harness(&settings(), &["groq", "cerebras", "gemini"]);
    h.fake("groq").push(Reply::error(ErrorKind::Unauthorized));
    h.fake("cerebras")
        .push(Reply::error(ErrorKind::PaymentRequired));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "gemini");
    // Both models of groq share the key: the second model was not tried.
    assert_eq!((h.calls("groq"), h.calls("cerebras")), (1, 1));
    tokio::time::advance(Duration::from_secs(10 * 24 * 3600)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "gemini");
    assert_eq!((h.calls("groq"), h.calls("cerebras")), (1, 1));
    // A restarted process remembers (the key is the same).
    let again = h.restart(&settings());
    assert_eq!(again.chat(req()).await.unwrap().provider, "gemini");
    assert_eq!(h.calls("groq"), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_requests_move_on_and_are_never_resent_unchanged() {
    use ErrorKindLabel::{BadRequest, ContextTooLong};
    let h = harness(&settings(), &["groq", "cerebras"]);
    h.fake("groq").push(Reply::error(ErrorKind::BadRequest));
    h.fake("groq").push(Reply::error(ErrorKind::ContextTooLong));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "cerebras");
    assert_eq!(
        tried(&r.attempts),
        vec![
            ("groq", Some(BadRequest)),
            ("groq", Some(ContextTooLong)),
            ("cerebras", G)
        ]
    );
    let models: Vec<_> = h
        .fake("groq")
        .requests()
        .into_iter()
        .map(|r| r.model.unwrap())
        .collect();
    assert_eq!(models, ["g1", "g2"], "each route got the request once");
    // Not a health problem: groq is used again by the next request.
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
}

#[tokio::test(start_paused = true)]
async fn model_not_found_parks_that_route_only() {
    let h = harness(&settings(), &["groq", "cerebras"]);
    h.fake("groq").push(Reply::error(ErrorKind::ModelNotFound));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "g2"));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.model, "g2", "g1 stays parked");
    tokio::time::advance(Duration::from_secs(24 * 3600)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().model, "g1");
}

#[tokio::test(start_paused = true)]
async fn content_refusals_are_surfaced_not_routed_around() {
    let h = harness(&settings(), &["groq", "cerebras"]);
    h.fake("groq").push(Reply::provider_error(
        ProviderError::new("groq", ErrorKind::ContentFiltered)
            .with_status(400)
            .with_message("content_policy_violation"),
    ));
    match h.router.chat(req()).await {
        Err(Error::ContentFiltered(e)) => {
            assert_eq!(e.provider, "groq");
            assert_eq!(e.message.as_deref(), Some("content_policy_violation"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(h.calls("cerebras"), 0);

    let s = Settings {
        content_filter_fallback: true,
        ..settings()
    };
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::error(ErrorKind::ContentFiltered));
    h.fake("groq")
        .push(Reply::error(ErrorKind::ContentFiltered));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
}

#[tokio::test(start_paused = true)]
async fn timeouts_move_on_without_retry() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::text("late").delay(Duration::from_secs(45)));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "cerebras");
    assert_eq!(h.calls("groq"), 1);
    assert_eq!(r.attempts[0].error, Some(ErrorKindLabel::Timeout));
    assert_eq!(r.attempts[0].latency, Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_does_not_answer_is_left_for_the_rest_of_the_request() {
    use ErrorKindLabel::{Network, Timeout, Unauthorized};
    // groq has two models (g1, g2); after g1 times out, cerebras comes next.
    let h = harness(&settings(), &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::text("late").delay(Duration::from_secs(45)));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "cerebras");
    assert_eq!(
        tried(&r.attempts),
        vec![("groq", Some(Timeout)), ("cerebras", G)]
    );
    assert_eq!(h.calls("groq"), 1);

    // Its other models come last, when no other provider can serve.
    let h = harness(&settings(), &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::text("late").delay(Duration::from_secs(45)));
    h.fake("cerebras")
        .push(Reply::error(ErrorKind::Unauthorized));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "g2"));
    assert_eq!(
        tried(&r.attempts),
        vec![
            ("groq", Some(Timeout)),
            ("cerebras", Some(Unauthorized)),
            ("groq", G)
        ]
    );

    // The same after a refused connection (retries exhausted).
    let s = Settings {
        retry_attempts: 0,
        ..settings()
    };
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq").push(Reply::error(refused()));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(
        tried(&r.attempts),
        vec![("groq", Some(Network)), ("cerebras", G)]
    );

    // An error that names one model still moves to the provider's next model.
    let h = harness(&settings(), &["groq", "cerebras"]);
    h.fake("groq").push(Reply::error(ErrorKind::ModelNotFound));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "g2"));

    // And for streams: a first token that does not come in time.
    let h = harness(&settings(), &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::text("late").delay(Duration::from_secs(45)));
    let stream = h.router.chat_stream(req()).await.unwrap();
    assert_eq!(stream.provider(), "cerebras");
    assert_eq!(h.calls("groq"), 1);
}

#[tokio::test(start_paused = true)]
async fn refused_connections_are_retried_and_give_the_slot_back() {
    let s = Settings {
        retry_attempts: 1,
        ..with_provider(settings(), "groq", |p| {
            p.models = Some(vec!["g1".into()]);
            p.rpd = Some(10);
        })
    };
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq").push(Reply::error(refused()));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "groq");
    assert_eq!(
        tried(&r.attempts),
        vec![("groq", Some(ErrorKindLabel::Network)), ("groq", G)]
    );
    let status = h.router.quota_status().await.unwrap();
    assert_eq!(status.quota_status["groq"].calls_today, 1);
}

#[tokio::test(start_paused = true)]
async fn deadline_bounds_the_whole_request() {
    let s = Settings {
        deadline_secs: 40,
        timeout_secs: 30,
        ..settings()
    };
    let h = harness(&s, &["groq", "cerebras", "gemini"]);
    let slow = Reply::text("late").delay(Duration::from_secs(100));
    for id in ["groq", "cerebras", "gemini"] {
        h.fake(id).set_fallback(slow.clone());
    }
    let start = tokio::time::Instant::now();
    match h.router.chat(req()).await {
        Err(Error::DeadlineExceeded(errors)) => {
            assert_eq!(errors.len(), 2);
            assert!(errors.iter().all(|e| matches!(e.kind, ErrorKind::Timeout)));
        }
        other => panic!("expected the deadline, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(40));
    // groq/g1 took its 30 s; a provider that does not answer is left, so cerebras got
    // the 10 s left (not groq/g2); nothing else was tried.
    assert_eq!(h.calls("groq"), 1);
    assert_eq!(h.calls("cerebras"), 1);
}

/// The deadline running out inside the last route's attempt is still the deadline (504),
/// not "all providers failed" (502).
#[tokio::test(start_paused = true)]
async fn deadline_inside_the_last_attempt_is_the_deadline() {
    let s = Settings {
        deadline_secs: 40,
        timeout_secs: 30,
        retry_attempts: 0,
        ..with_provider(settings(), "groq", |p| {
            p.models = Some(vec!["g1".into(), "g2".into()]);
        })
    };
    let h = harness(&s, &["groq"]);
    h.fake("groq")
        .set_fallback(Reply::text("late").delay(Duration::from_secs(100)));
    let start = tokio::time::Instant::now();
    // g1 takes its 30 s; g2, the last route, gets the 10 s left and runs out with them.
    match h.router.chat(req()).await {
        Err(Error::DeadlineExceeded(errors)) => {
            assert_eq!(errors.len(), 2);
            assert!(errors.iter().all(|e| matches!(e.kind, ErrorKind::Timeout)));
        }
        other => panic!("expected the deadline, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(40));
}

#[tokio::test(start_paused = true)]
async fn all_failed_lists_each_cause() {
    let s = Settings {
        retry_attempts: 0,
        ..with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]))
    };
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::error(ErrorKind::Transient { status: Some(502) }));
    h.fake("cerebras")
        .push(Reply::error(ErrorKind::InvalidResponse));
    let e = h.router.chat(req()).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "All providers failed: groq: transient; cerebras: invalid_response"
    );
}

#[tokio::test(start_paused = true)]
async fn unavailable_says_why() {
    let h = harness(&settings(), &[]);
    match h.router.chat(req()).await.unwrap_err() {
        Error::NoAvailableProviders(Unavailable::NoKeys { env_vars }) => assert_eq!(
            env_vars,
            [
                "GROQ_API_KEY",
                "CEREBRAS_API_KEY",
                "GEMINI_API_KEY",
                "OPENROUTER_API_KEY",
                "COHERE_API_KEY"
            ]
        ),
        other => panic!("{other:?}"),
    }
    let h = harness(&settings(), &["cerebras"]);
    match h.router.chat(req().with_model("groq")).await.unwrap_err() {
        Error::NoAvailableProviders(Unavailable::NoKeys { env_vars }) => {
            assert_eq!(env_vars, ["GROQ_API_KEY"]);
        }
        other => panic!("{other:?}"),
    }
    match h.router.chat(req().with_model("gpt-4o")).await.unwrap_err() {
        Error::NoAvailableProviders(Unavailable::NoMatchingRoute { requested }) => {
            assert_eq!(requested, "gpt-4o");
        }
        other => panic!("{other:?}"),
    }
    h.fake("cerebras")
        .push(Reply::error(ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(90)),
        }));
    h.router.chat(req()).await.unwrap_err();
    let e = h.router.chat(req()).await.unwrap_err();
    match &e {
        Error::NoAvailableProviders(Unavailable::AllBusy { until, details }) => {
            assert_eq!(*until, Some(at("2026-03-07T12:01:30Z")));
            assert_eq!(
                details,
                &["cerebras: c1: rate limited until 2026-03-07T12:01:30+00:00"]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().starts_with("No available providers"));
}

fn unavailable(e: Error) -> Unavailable {
    match e {
        Error::NoAvailableProviders(u) => u,
        other => panic!("{other:?}"),
    }
}

fn no_keys(vars: &[&'static str]) -> Unavailable {
    Unavailable::NoKeys {
        env_vars: vars.to_vec(),
    }
}

fn no_route(requested: &str) -> Unavailable {
    Unavailable::NoMatchingRoute {
        requested: requested.to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn targets_are_resolved_before_keys_are_checked() {
    let mut s = settings();
    s.aliases.insert("fast".into(), "cerebras".into());
    s.aliases.insert("ghost".into(), "groq/g9".into());
    let h = harness(&s, &[]);
    let ask = |model: &'static str| {
        let router = h.router.clone();
        async move { unavailable(router.chat(req().with_model(model)).await.unwrap_err()) }
    };
    // Nothing compiled in serves these: 404-like, whatever keys are set.
    assert_eq!(ask("nope/x").await, no_route("nope/x"));
    assert_eq!(ask("gpt-4o").await, no_route("gpt-4o"));
    // Known targets without a key name exactly the variables that would serve them.
    assert_eq!(ask("groq").await, no_keys(&["GROQ_API_KEY"]));
    assert_eq!(ask("g2").await, no_keys(&["GROQ_API_KEY"]));
    assert_eq!(ask("groq/brand-new").await, no_keys(&["GROQ_API_KEY"]));
    assert_eq!(ask("fast").await, no_keys(&["CEREBRAS_API_KEY"]));
    assert_eq!(ask("ghost").await, no_keys(&["GROQ_API_KEY"]));
    assert_eq!(
        ask("openai/gpt-oss-20b:free").await,
        no_keys(&["OPENROUTER_API_KEY"])
    );
    assert_eq!(
        ask("auto").await,
        no_keys(&[
            "GROQ_API_KEY",
            "CEREBRAS_API_KEY",
            "GEMINI_API_KEY",
            "OPENROUTER_API_KEY",
            "COHERE_API_KEY"
        ])
    );
    // Another provider's key does not turn a known model into an unknown one.
    let h = harness(&s, &["cerebras"]);
    let e = h.router.chat(req().with_model("g2")).await.unwrap_err();
    assert_eq!(unavailable(e), no_keys(&["GROQ_API_KEY"]));
    let e = h.router.chat(req().with_model("nope/x")).await.unwrap_err();
    assert_eq!(unavailable(e), no_route("nope/x"));
    let e = h
        .router
        .chat_stream(req().with_model("nope/x"))
        .await
        .unwrap_err();
    assert_eq!(unavailable(e), no_route("nope/x"));
    assert_eq!(h.calls("cerebras"), 0);

    // A provider disabled in the settings serves nothing, keyed or not.
    let s = with_provider(settings(), "groq", |p| p.enabled = Some(false));
    let h = harness(&s, &["groq", "cerebras"]);
    for model in ["groq", "g1", "groq/g1"] {
        let e = h.router.chat(req().with_model(model)).await.unwrap_err();
        assert_eq!(unavailable(e), no_route(model));
    }
    assert_eq!(h.calls("groq"), 0);

    // An explicit chain of providers without keys says which keys it needs.
    let s = Settings {
        routes: Some(vec!["gemini/gm1".into(), "groq/g2".into()]),
        ..settings()
    };
    let h = harness(&s, &["cerebras"]);
    let e = h.router.chat(req()).await.unwrap_err();
    assert_eq!(unavailable(e), no_keys(&["GEMINI_API_KEY", "GROQ_API_KEY"]));
    assert_eq!(h.calls("cerebras"), 0, "a chain is not widened");
}

#[tokio::test(start_paused = true)]
async fn targeting_by_provider_route_model_and_alias() {
    let mut s = settings();
    s.aliases.insert("fast".into(), "cerebras".into());
    // `groq/brand-new` below is a model the catalog does not list.
    s.providers
        .entry("groq".into())
        .or_default()
        .allow_unknown_models = true;
    let h = harness(&s, &["groq", "cerebras", "openrouter"]);
    let r = h.router.chat(req().with_model("openrouter")).await.unwrap();
    assert_eq!(r.provider, "openrouter");
    let r = h
        .router
        .chat(req().with_model("openrouter/openai/gpt-oss-20b:free"))
        .await
        .unwrap();
    assert_eq!(
        (r.provider, r.model.as_str()),
        ("openrouter", "openai/gpt-oss-20b:free")
    );
    // A model id alone (containing a slash, not a provider prefix).
    let r = h
        .router
        .chat(req().with_model("openai/gpt-oss-20b:free"))
        .await
        .unwrap();
    assert_eq!(r.provider, "openrouter");
    let r = h.router.chat(req().with_model("g2")).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "g2"));
    assert_eq!(
        h.router
            .chat(req().with_model("fast"))
            .await
            .unwrap()
            .provider,
        "cerebras"
    );
    assert_eq!(
        h.router
            .chat(req().with_model("auto"))
            .await
            .unwrap()
            .provider,
        "groq"
    );
    // A one-off route: a model the catalog does not list (allow_unknown_models).
    let r = h
        .router
        .chat(req().with_model("groq/brand-new"))
        .await
        .unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "brand-new"));
    assert_eq!(
        h.fake("groq").requests().last().unwrap().model.as_deref(),
        Some("brand-new")
    );
}

#[tokio::test(start_paused = true)]
async fn daily_quota_resets_at_pacific_midnight_across_dst() {
    let s = with_provider(settings(), "gemini", |p| p.rpd = Some(2));
    // 23:00 PST on Saturday 2026-03-07; DST starts at 02:00 on Sunday 2026-03-08.
    let h = harness_at(&s, &["gemini"], "2026-03-08T07:00:00Z");
    for _ in 0..2 {
        h.router.chat(req()).await.unwrap();
    }
    match h.router.chat(req()).await.unwrap_err() {
        Error::NoAvailableProviders(Unavailable::AllBusy { until, .. }) => {
            assert_eq!(until, Some(at("2026-03-08T08:00:00Z")));
        }
        other => panic!("{other:?}"),
    }
    tokio::time::advance(Duration::from_secs(3599)).await;
    assert!(h.router.chat(req()).await.is_err());
    tokio::time::advance(Duration::from_secs(1)).await;
    h.router.chat(req()).await.unwrap();
    h.router.chat(req()).await.unwrap();
    // Sunday is a 23-hour day in Los Angeles: the next reset is 07:00 UTC, not 08:00.
    match h.router.chat(req()).await.unwrap_err() {
        Error::NoAvailableProviders(Unavailable::AllBusy { until, .. }) => {
            assert_eq!(until, Some(at("2026-03-09T07:00:00Z")));
        }
        other => panic!("{other:?}"),
    }
    let status = h.router.quota_status().await.unwrap();
    assert_eq!(
        status.quota_status["gemini"].resets_at.as_deref(),
        Some("2026-03-09T07:00:00Z")
    );
    tokio::time::advance(Duration::from_secs(23 * 3600 - 1)).await;
    assert!(h.router.chat(req()).await.is_err());
    tokio::time::advance(Duration::from_secs(1)).await;
    h.router.chat(req()).await.unwrap();
    assert_eq!(h.calls("gemini"), 5);
}

#[tokio::test(start_paused = true)]
async fn circuit_opens_half_opens_and_closes() {
    let s = Settings {
        retry_attempts: 0,
        circuit_failures: 3,
        cooldown_secs: 5,
        ..with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]))
    };
    let h = harness(&s, &["groq", "cerebras"]);
    let down = Reply::error(ErrorKind::Transient { status: Some(503) });
    h.fake("groq").set_fallback(down);
    for _ in 0..3 {
        assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    }
    assert_eq!(h.calls("groq"), 3);
    let status = h.router.quota_status().await.unwrap();
    assert_eq!(
        status.quota_status["groq"].state,
        crate::status::HealthState::CircuitOpen
    );
    assert_eq!(status.failed_providers, ["groq"]);
    // Open: no call at all.
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 3);
    // Half-open after the cooldown: one trial request, which fails and reopens (10 s).
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 4);
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 4);
    // The provider recovers; within 30 s of the first failure it carries traffic again.
    h.fake("groq").set_fallback(Reply::text("back"));
    tokio::time::advance(Duration::from_secs(10)).await;
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "groq");
    assert_eq!(r.text, "back");
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
    let status = h.router.quota_status().await.unwrap();
    assert_eq!(
        status.quota_status["groq"].state,
        crate::status::HealthState::Healthy
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_exactly_one_request_through() {
    let s = Settings {
        retry_attempts: 0,
        circuit_failures: 1,
        ..with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]))
    };
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::error(ErrorKind::Transient { status: None }));
    h.router.chat(req()).await.unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    h.fake("groq")
        .push(Reply::text("slow trial").delay(Duration::from_secs(2)));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let router = h.router.clone();
            tokio::spawn(async move { router.chat(req()).await.unwrap().provider })
        })
        .collect();
    let mut providers = Vec::new();
    for t in tasks {
        providers.push(t.await.unwrap());
    }
    assert_eq!(providers.iter().filter(|p| **p == "groq").count(), 1);
    assert_eq!(h.calls("groq"), 2);
}

async fn distribution(h: &H, n: usize) -> HashMap<&'static str, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let r = h.router.chat(req()).await.unwrap();
        *counts.entry(r.provider).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(start_paused = true)]
async fn priority_strategy_always_takes_the_best() {
    let h = harness(&settings(), &["groq", "cerebras", "gemini"]);
    let counts = distribution(&h, 1000).await;
    assert_eq!(counts.get("groq"), Some(&1000));
}

#[tokio::test(start_paused = true)]
async fn round_robin_follows_weights() {
    let s = Settings {
        strategy: Strategy::RoundRobin,
        ..with_provider(
            with_provider(settings(), "groq", |p| p.weight = 3),
            "gemini",
            |p| p.weight = 2,
        )
    };
    let h = harness(&s, &["groq", "cerebras", "gemini"]);
    let counts = distribution(&h, 1200).await;
    assert_eq!(counts["groq"], 600);
    assert_eq!(counts["gemini"], 400);
    assert_eq!(counts["cerebras"], 200);
}

#[tokio::test(start_paused = true)]
async fn least_used_drains_evenly() {
    let mut s = Settings {
        strategy: Strategy::LeastUsed,
        ..settings()
    };
    for (id, rpd) in [("groq", 1500), ("cerebras", 500), ("gemini", 1000)] {
        s = with_provider(s, id, |p| {
            p.rpd = Some(rpd);
            p.models = None;
        });
    }
    s = with_provider(s, "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness_at(&s, &["groq", "cerebras", "gemini"], "2026-03-07T12:00:00Z");
    let counts = distribution(&h, 1000).await;
    let share = |id: &str, limit: f64| f64::from(u32::try_from(counts[id]).unwrap()) / limit;
    let used = [
        share("groq", 1500.0),
        share("cerebras", 500.0),
        share("gemini", 1000.0),
    ];
    let spread = used.iter().copied().fold(f64::MIN, f64::max)
        - used.iter().copied().fold(f64::MAX, f64::min);
    assert!(spread <= 0.05, "{counts:?} {used:?}");
}

#[tokio::test(start_paused = true)]
async fn latency_prefers_the_faster_provider() {
    let s = Settings {
        strategy: Strategy::Latency,
        ..settings()
    };
    let h = harness(&s, &["groq", "cerebras", "gemini"]);
    h.fake("groq")
        .set_fallback(Reply::text("slow").delay(Duration::from_millis(900)));
    h.fake("cerebras")
        .set_fallback(Reply::text("fast").delay(Duration::from_millis(100)));
    h.fake("gemini")
        .set_fallback(Reply::text("medium").delay(Duration::from_millis(400)));
    let counts = distribution(&h, 1000).await;
    let get = |id| counts.get(id).copied().unwrap_or(0);
    assert!(get("cerebras") > 600, "{counts:?}");
    assert!(get("gemini") > get("groq"), "{counts:?}");
    // Power of two choices: the fastest is not stampeded with every request.
    assert!(get("gemini") > 200, "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_never_exceed_a_limit() {
    let s = with_provider(settings(), "groq", |p| {
        p.models = Some(vec!["g1".into()]);
        p.rpd = Some(57);
    });
    let h = harness(&s, &["groq"]);
    h.fake("groq")
        .set_fallback(Reply::text("ok").delay(Duration::from_millis(30)));
    let tasks: Vec<_> = (0..400)
        .map(|_| {
            let router = h.router.clone();
            tokio::spawn(async move { router.chat(req()).await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 57);
    assert_eq!(h.calls("groq"), 57);

    // Per-minute limit (rolling window in 10 s sub-buckets) under the same load.
    let s = with_provider(settings(), "cerebras", |p| p.rpm = Some(12));
    let h = harness(&s, &["cerebras"]);
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let router = h.router.clone();
            tokio::spawn(async move { router.chat(req()).await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 12);
    assert_eq!(h.calls("cerebras"), 12);
}

#[tokio::test(start_paused = true)]
async fn routes_are_futures_that_can_be_sent() {
    fn assert_send<T: Send>(_: &T) {}
    let h = harness(&settings(), &["groq"]);
    let chat = h.router.chat(req());
    assert_send(&chat);
    let stream = h.router.chat_stream(req());
    assert_send(&stream);
    let status = h.router.quota_status();
    assert_send(&status);
}

async fn collect(stream: RoutedStream) -> (String, Vec<Result<RoutedEvent, Error>>) {
    let items: Vec<_> = stream.collect().await;
    let text = items
        .iter()
        .filter_map(|i| match i {
            Ok(RoutedEvent::Delta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    (text, items)
}

#[tokio::test(start_paused = true)]
async fn streams_fall_back_before_the_first_delta() {
    let s = Settings {
        circuit_failures: 10,
        ..settings()
    };
    let h = harness(&s, &["groq", "cerebras", "gemini"]);
    let transient = Reply::error(ErrorKind::Transient { status: Some(503) });
    h.fake("groq").push_n(&transient, 6);
    // Cerebras accepts, then fails before any text.
    h.fake("cerebras").push(Reply::stream([StreamStep::fail(
        ErrorKind::InvalidResponse,
    )]));
    h.fake("gemini").push(Reply::stream([
        StreamStep::delta("Hello"),
        StreamStep::delta(" world"),
        StreamStep::Done(crate::types::StreamEnd {
            finish_reason: Some(crate::types::FinishReason::Stop),
            usage: Some(crate::types::Usage::new(5, 2)),
            model: Some("gm1-001".into()),
        }),
    ]));
    let stream = h.router.chat_stream(req()).await.unwrap();
    assert_eq!(stream.provider(), "gemini");
    assert_eq!(stream.attempts().len(), 8);
    let (text, items) = collect(stream).await;
    assert_eq!(text, "Hello world");
    match items.last().unwrap() {
        Ok(RoutedEvent::Done {
            provider,
            model,
            usage,
            attempts,
            ..
        }) => {
            assert_eq!((*provider, model.as_str()), ("gemini", "gm1-001"));
            assert_eq!(usage.unwrap().total_tokens, 7);
            assert_eq!(attempts.len(), 8);
        }
        other => panic!("{other:?}"),
    }
    assert!(h.fake("gemini").requests()[0].stream);
}

#[tokio::test(start_paused = true)]
async fn stream_failures_before_the_first_delta_are_plain_errors() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq"]);
    h.fake("groq")
        .push(Reply::error(ErrorKind::ContentFiltered));
    assert!(matches!(
        h.router.chat_stream(req()).await,
        Err(Error::ContentFiltered(_))
    ));
    h.fake("groq")
        .set_fallback(Reply::error(ErrorKind::BadRequest));
    assert!(matches!(
        h.router.chat_stream(req()).await,
        Err(Error::AllProvidersFailed(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn cut_streams_continue_with_prefill_where_supported() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq", "cerebras", "gemini"]);
    h.fake("groq").push(Reply::stream([
        StreamStep::delta("Hel"),
        StreamStep::delta("lo"),
        StreamStep::fail(ErrorKind::Transient { status: None }),
    ]));
    h.fake("gemini").push(Reply::stream([
        StreamStep::delta(" wor"),
        StreamStep::delta("ld"),
        StreamStep::done(),
    ]));
    let stream = h.router.chat_stream(req()).await.unwrap();
    assert_eq!(stream.provider(), "groq");
    let (text, items) = collect(stream).await;
    assert_eq!(text, "Hello world");
    match items.last().unwrap() {
        Ok(RoutedEvent::Done {
            provider, attempts, ..
        }) => {
            assert_eq!(*provider, "gemini");
            assert_eq!(
                tried(attempts),
                vec![
                    ("groq", G),
                    ("groq", Some(ErrorKindLabel::Transient)),
                    ("gemini", G)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    // Cerebras does not take a prefill and was skipped; gemini got the text so far.
    assert_eq!(h.calls("cerebras"), 0);
    let sent = &h.fake("gemini").requests()[0];
    assert_eq!(
        sent.messages,
        vec![Message::user("hello"), Message::assistant("Hello")]
    );
}

#[tokio::test(start_paused = true)]
async fn cut_streams_without_a_prefill_route_end_with_an_error() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq").push(Reply::stream([
        StreamStep::delta("partial"),
        // The connection closes without a finish.
    ]));
    let stream = h.router.chat_stream(req()).await.unwrap();
    let (text, items) = collect(stream).await;
    assert_eq!(text, "partial");
    assert!(
        items
            .iter()
            .all(|i| !matches!(i, Ok(RoutedEvent::Done { .. }))),
        "a cut stream never ends like a complete one"
    );
    match items.last().unwrap() {
        Err(Error::AllProvidersFailed(errors)) => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].provider, "groq");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.calls("cerebras"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_prefill_is_remembered_and_not_surfaced() {
    let s = with_provider(
        with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()])),
        "cerebras",
        |p| p.prefill = Some(true),
    );
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq").push(Reply::stream([
        StreamStep::delta("partial"),
        StreamStep::fail(ErrorKind::Transient { status: None }),
    ]));
    h.fake("cerebras").push(Reply::error(ErrorKind::BadRequest));
    let stream = h.router.chat_stream(req()).await.unwrap();
    let (_, items) = collect(stream).await;
    match items.last().unwrap() {
        Err(Error::AllProvidersFailed(errors)) => {
            assert_eq!(
                errors.len(),
                1,
                "the prefill rejection is not the caller's error"
            );
            assert_eq!(errors[0].provider, "groq");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.calls("cerebras"), 1);
    // Next time cerebras is not asked to continue.
    h.fake("groq").push(Reply::stream([
        StreamStep::delta("again"),
        StreamStep::fail(ErrorKind::Transient { status: None }),
    ]));
    let stream = h.router.chat_stream(req()).await.unwrap();
    let (_, items) = collect(stream).await;
    assert!(items.last().unwrap().is_err());
    assert_eq!(h.calls("cerebras"), 1);
    // It still serves ordinary requests.
    h.fake("groq").push(Reply::error(ErrorKind::BadRequest));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
}

#[tokio::test(start_paused = true)]
async fn first_token_timeout_falls_back() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq").push(Reply::stream([
        StreamStep::Sleep(Duration::from_secs(11)),
        StreamStep::delta("too late"),
        StreamStep::done(),
    ]));
    let stream = h.router.chat_stream(req()).await.unwrap();
    assert_eq!(stream.provider(), "cerebras");
    assert_eq!(stream.attempts()[0].error, Some(ErrorKindLabel::Timeout));
    assert_eq!(stream.attempts()[0].latency, Duration::from_secs(10));
    let (text, items) = collect(stream).await;
    assert_eq!(text, "ok");
    assert!(matches!(items.last(), Some(Ok(RoutedEvent::Done { .. }))));
}

#[tokio::test(start_paused = true)]
async fn stalled_streams_are_cut_and_continued() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq", "gemini"]);
    h.fake("groq").push(Reply::stream([
        StreamStep::delta("one"),
        StreamStep::Sleep(Duration::from_secs(9)),
        StreamStep::delta(" two"),
        StreamStep::Stall,
    ]));
    h.fake("gemini").push(Reply::stream([
        StreamStep::delta(" three"),
        StreamStep::done(),
    ]));
    let start = tokio::time::Instant::now();
    let stream = h.router.chat_stream(req()).await.unwrap();
    let (text, items) = collect(stream).await;
    assert_eq!(text, "one two three");
    assert!(matches!(
        items.last(),
        Some(Ok(RoutedEvent::Done {
            provider: "gemini",
            ..
        }))
    ));
    assert_eq!(start.elapsed(), Duration::from_secs(19));
    let status = h.router.quota_status().await.unwrap();
    assert!(
        status.quota_status["groq"]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("timeout")
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_finishes_without_text_is_complete() {
    let h = harness(&settings(), &["groq"]);
    h.fake("groq").push(Reply::stream([StreamStep::done()]));
    let stream = h.router.chat_stream(req()).await.unwrap();
    let (text, items) = collect(stream).await;
    assert_eq!(text, "");
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0], Ok(RoutedEvent::Done { .. })));
}

#[tokio::test(start_paused = true)]
async fn usage_reconciles_the_token_estimate() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq"]);
    h.fake("groq")
        .push(Reply::text("x").usage(crate::types::Usage::new(40, 2)));
    h.router.chat(req()).await.unwrap();
    let status = h.router.quota_status().await.unwrap();
    assert_eq!(status.quota_status["groq"].tokens_today, 42);
}

#[tokio::test(start_paused = true)]
async fn cooldowns_survive_a_restart() {
    let s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    let h = harness(&s, &["groq", "cerebras"]);
    h.fake("groq").push(Reply::error(ErrorKind::RateLimited {
        retry_after: Some(Duration::from_secs(120)),
    }));
    h.router.chat(req()).await.unwrap();
    let again = h.restart(&s);
    assert_eq!(again.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.calls("groq"), 1);
    tokio::time::advance(Duration::from_secs(120)).await;
    assert_eq!(again.chat(req()).await.unwrap().provider, "groq");
}

#[test]
fn empty_requests_and_bad_settings_are_refused() {
    let bad = Settings {
        deadline_secs: 1,
        ..settings()
    };
    let clock = Arc::new(TokioClock::starting_at(at("2026-03-07T12:00:00Z")));
    let store = Arc::new(MemoryStore::new());
    let err = Router::new(&bad, setups(&HashMap::new()), store, clock).unwrap_err();
    assert_eq!(err.key, "deadline_secs");
}

#[tokio::test(start_paused = true)]
async fn several_keys_rotate_and_count_separately() {
    let clock = Arc::new(TokioClock::starting_at(at("2026-03-07T12:00:00Z")));
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let a = Arc::new(FakeProvider::new("groq"));
    let b = Arc::new(FakeProvider::new("groq"));
    let s = with_provider(settings(), "groq", |p| {
        p.models = Some(vec!["g1".into()]);
        p.rpd = Some(3);
    });
    let setups = vec![ProviderSetup {
        factory: &GROQ,
        clients: vec![
            KeyedClient {
                key_label: "***aaaa".into(),
                provider: a.clone(),
            },
            KeyedClient {
                key_label: "***bbbb".into(),
                provider: b.clone(),
            },
        ],
    }];
    let router = Router::new(&s, setups, store, clock).unwrap();
    for _ in 0..6 {
        router.chat(req()).await.unwrap();
    }
    assert_eq!((a.calls(), b.calls()), (3, 3));
    assert!(
        router.chat(req()).await.is_err(),
        "each key has its own 3 a day"
    );
    let status = router.quota_status().await.unwrap();
    let groq = &status.quota_status["groq"];
    assert_eq!((groq.calls_today, groq.max_daily), (6, Some(6)));
    let keys: Vec<_> = groq.routes.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["***aaaa", "***bbbb"]);
}

static SMALL_CTX: ProviderFactory = fake_factory(
    "groq",
    "GROQ_API_KEY",
    "a",
    "[[models]]\nid = \"a\"\ncontext_window = 8192\n[[models]]\nid = \"b\"\ncontext_window = 131072\n",
    1,
);
static BIG_CTX: ProviderFactory = fake_factory(
    "gemini",
    "GEMINI_API_KEY",
    "c",
    "[[models]]\nid = \"c\"\ncontext_window = 1048576\n",
    2,
);
static TINY_NO_KEY: ProviderFactory = fake_factory(
    "cohere",
    "COHERE_API_KEY",
    "d",
    "[[models]]\nid = \"d\"\ncontext_window = 512\n",
    3,
);

#[tokio::test(start_paused = true)]
async fn model_ids_and_min_context_cover_usable_routes_only() {
    let h = harness(&settings(), &["groq", "cohere"]);
    assert_eq!(
        h.router.model_ids(),
        vec![
            ("groq", "g1".to_owned()),
            ("groq", "g2".to_owned()),
            ("cohere", "co1".to_owned())
        ]
    );
    assert_eq!(h.router.min_context_window(), None);

    let client = |id: &'static str| KeyedClient {
        key_label: key_label(id),
        provider: Arc::new(FakeProvider::new(id)) as Arc<dyn Provider>,
    };
    let setups = vec![
        ProviderSetup {
            factory: &SMALL_CTX,
            clients: vec![client("groq")],
        },
        ProviderSetup {
            factory: &BIG_CTX,
            clients: vec![client("gemini")],
        },
        // No key: its tiny window must not shrink what conversations may hold.
        ProviderSetup {
            factory: &TINY_NO_KEY,
            clients: vec![],
        },
    ];
    let store = Arc::new(MemoryStore::new());
    let router = Router::new(
        &settings(),
        setups.clone(),
        store.clone(),
        Arc::new(crate::clock::SystemClock),
    )
    .unwrap();
    assert_eq!(router.min_context_window(), Some(8192));
    let only_b = with_provider(settings(), "groq", |p| p.models = Some(vec!["b".into()]));
    let router = Router::new(&only_b, setups, store, Arc::new(crate::clock::SystemClock)).unwrap();
    assert_eq!(router.min_context_window(), Some(131_072));
    assert_eq!(
        router.model_ids(),
        vec![("groq", "b".to_owned()), ("gemini", "c".to_owned())]
    );
}
