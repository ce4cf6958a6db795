//! The router's state is bounded by its configuration: unknown pinned models are refused
//! or kept in a bounded cache, and persisted state is read when the router is built.

use super::*;
use crate::error::StoreError;
use crate::store::{Acquire, CounterCheck, StateStore};

fn one_off_len(router: &Router, provider: &str) -> usize {
    router.inner.one_off.get(provider).map_or(0, |cache| {
        cache.lock().unwrap_or_else(PoisonError::into_inner).len()
    })
}

#[tokio::test(start_paused = true)]
async fn an_unknown_pinned_model_is_refused_naming_the_known_ones() {
    let h = harness(&settings(), &["groq", "cerebras"]);
    let e = h
        .router
        .chat(req().with_model("groq/brand-new"))
        .await
        .unwrap_err();
    let message = e.to_string();
    assert_eq!(
        unavailable(e),
        Unavailable::UnknownModel {
            requested: "groq/brand-new".to_owned(),
            provider: "groq",
            known: vec!["g1".to_owned(), "g2".to_owned()],
        }
    );
    assert!(message.contains("`g1`, `g2`"), "{message}");
    assert!(message.contains("allow_unknown_models"), "{message}");
    let e = h
        .router
        .chat_stream(req().with_model("groq/brand-new"))
        .await
        .unwrap_err();
    assert!(matches!(unavailable(e), Unavailable::UnknownModel { .. }));
    assert_eq!(h.calls("groq"), 0);
    assert_eq!(h.calls("cerebras"), 0, "a pinned route does not fall back");
    assert_eq!(one_off_len(&h.router, "groq"), 0);
    // Known models still answer.
    let r = h.router.chat(req().with_model("groq/g2")).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "g2"));
}

#[tokio::test(start_paused = true)]
async fn models_of_the_catalog_routes_and_aliases_can_be_pinned() {
    let mut s = with_provider(settings(), "groq", |p| p.models = Some(vec!["g1".into()]));
    s.aliases.insert("ghost".into(), "groq/g9".into());
    s.routes = Some(vec!["cerebras/c7".into()]);
    let h = harness(&s, &["groq", "cerebras"]);
    let r = h.router.chat(req().with_model("ghost")).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "g9"));
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("cerebras", "c7"));
    let r = h
        .router
        .chat(req().with_model("cerebras/c7"))
        .await
        .unwrap();
    assert_eq!(r.model, "c7");
    // A model of the catalog that `models` leaves out can be pinned, not chosen.
    let r = h.router.chat(req().with_model("groq/g2")).await.unwrap();
    assert_eq!(r.model, "g2");
    let r = h.router.chat(req().with_model("groq")).await.unwrap();
    assert_eq!(r.model, "g1");
    // Still no model outside the catalog and the settings; all of those are named.
    let e = h
        .router
        .chat(req().with_model("groq/g8"))
        .await
        .unwrap_err();
    match unavailable(e) {
        Unavailable::UnknownModel { known, .. } => assert_eq!(known, ["g1", "g2", "g9"]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn one_off_routes_are_kept_in_a_bounded_cache() {
    let s = with_provider(settings(), "groq", |p| p.allow_unknown_models = true);
    let h = harness(&s, &["groq"]);
    // Learned limits for every one-off route, so each one leaves state behind.
    let learned = RateLimitSnapshot {
        requests_day: Window {
            limit: Some(500),
            remaining: Some(400),
            reset_after: Some(Duration::from_secs(3600)),
        },
        ..RateLimitSnapshot::default()
    };
    h.router.chat(req()).await.unwrap();
    let health_before = h.router.inner.health.held();
    let ledger_before = h.router.inner.ledger.held();
    let cap = ONE_OFF_ROUTES_PER_PROVIDER;
    for n in 0..3 * cap {
        h.fake("groq").push(Reply::text("ok").rate_limits(learned));
        let model = format!("groq/m-{n}");
        let r = h.router.chat(req().with_model(&model)).await.unwrap();
        assert_eq!(r.model, format!("m-{n}"));
        assert!(one_off_len(&h.router, "groq") <= cap);
    }
    assert_eq!(one_off_len(&h.router, "groq"), cap);
    // At most `cap` one-off routes' worth of state: their route health (a loaded marker)
    // and their learned limits.
    assert!(
        h.router.inner.health.held() <= health_before + cap,
        "{} > {health_before} + {cap}",
        h.router.inner.health.held()
    );
    assert_eq!(h.router.inner.ledger.held(), ledger_before + cap);
    // The most recent names are still there, the oldest are gone and come back on use.
    let cache_has = |model: &str| {
        h.router.inner.one_off["groq"]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(model)
    };
    assert!(cache_has(&format!("m-{}", 3 * cap - 1)));
    assert!(!cache_has("m-0"));
    h.router.chat(req().with_model("groq/m-0")).await.unwrap();
    assert!(cache_has("m-0"));
    assert_eq!(one_off_len(&h.router, "groq"), cap);
    // The report lists configured routes only.
    let status = h.router.quota_status().await.unwrap();
    let models: Vec<&str> = status.quota_status["groq"]
        .routes
        .iter()
        .map(|r| r.model.as_str())
        .collect();
    assert_eq!(models, ["g1", "g2"]);
}

/// A store whose reads fail (an unreadable database, a Redis that refuses reads).
#[derive(Debug)]
struct UnreadableStore(MemoryStore);

fn unreadable() -> StoreError {
    StoreError::new("get", "database disk image is malformed")
}

#[async_trait::async_trait]
impl StateStore for UnreadableStore {
    async fn try_acquire(&self, checks: &[CounterCheck]) -> Result<Acquire, StoreError> {
        self.0.try_acquire(checks).await
    }
    async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<(), StoreError> {
        self.0.add(key, delta, ttl).await
    }
    async fn set_counter(&self, key: &str, value: u64, ttl: Duration) -> Result<(), StoreError> {
        self.0.set_counter(key, value, ttl).await
    }
    async fn counters(&self, _keys: &[String]) -> Result<Vec<u64>, StoreError> {
        Err(unreadable())
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.0.put(key, value, ttl).await
    }
    async fn get(&self, _key: &str) -> Result<Option<String>, StoreError> {
        Err(unreadable())
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key).await
    }
    async fn append_history(
        &self,
        user: &str,
        messages: &[Message],
        max_turns: usize,
    ) -> Result<(), StoreError> {
        self.0.append_history(user, messages, max_turns).await
    }
    async fn history(&self, user: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
        self.0.history(user, limit).await
    }
    async fn clear_history(&self, user: &str) -> Result<(), StoreError> {
        self.0.clear_history(user).await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_store_stops_the_build() {
    let clock = Arc::new(TokioClock::starting_at(at("2026-03-07T12:00:00Z")));
    let store = Arc::new(UnreadableStore(MemoryStore::with_clock(clock.clone())));
    let fakes: HashMap<_, _> = [("groq", Arc::new(FakeProvider::new("groq")))].into();
    let e = Router::build(&settings(), setups(&fakes), store.clone(), clock.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e:?}");
    assert_eq!(
        error_chain(&e),
        "state store failed: loading the persisted state failed: get failed: \
         database disk image is malformed"
    );
    // Even with no key configured, provider health is read at start-up.
    let e = Router::build(&settings(), setups(&HashMap::new()), store, clock)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e:?}");
    assert_eq!(fakes["groq"].calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn build_loads_persisted_state_before_the_first_request() {
    let h = harness(&settings(), &["groq"]);
    h.fake("groq").push(Reply::error(ErrorKind::Unauthorized));
    h.router.chat(req().with_model("groq")).await.unwrap_err();
    // A restarted process, built the product's way, knows the key is bad at once.
    let router = Router::build(
        &settings(),
        setups(&h.fakes),
        h.store.clone(),
        h.clock.clone(),
    )
    .await
    .unwrap();
    assert!(router.inner.loaded.initialized());
    let status = router.quota_status().await.unwrap();
    assert_eq!(
        status.quota_status["groq"].state,
        crate::status::HealthState::DisabledBadKey
    );
}
