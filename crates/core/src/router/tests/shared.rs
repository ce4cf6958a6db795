//! Limits shared by several models: key-wide `[shared]` windows and model buckets.

use super::*;
use crate::catalog::Limits;
use crate::status::HealthState;

/// OpenRouter-like: one account-wide budget for every free model.
static SHARED_RPD: ProviderFactory = fake_factory(
    "openrouter",
    "OPENROUTER_API_KEY",
    "m1",
    "[shared]\nrpm = 20\nrpd = 50\n\
     [[models]]\nid = \"m1\"\n[[models]]\nid = \"m2\"\n[[models]]\nid = \"m3\"\n",
    4,
);

/// Gemini-like: `x` and `y` count in one bucket, `z` on its own.
static BUCKETED: ProviderFactory = fake_factory(
    "gemini",
    "GEMINI_API_KEY",
    "x",
    "day_reset_tz = \"America/Los_Angeles\"\n\
     [[models]]\nid = \"x\"\nbucket = \"xy\"\nrpd = 3\n\
     [[models]]\nid = \"y\"\nbucket = \"xy\"\nrpd = 3\n\
     [[models]]\nid = \"z\"\nrpd = 3\n",
    3,
);

/// Cohere-like: 20 a minute per model, 1,000 a month for the key.
static MONTHLY: ProviderFactory = fake_factory(
    "cohere",
    "COHERE_API_KEY",
    "c1",
    "[shared]\nrpmonth = 1000\n\
     [[models]]\nid = \"c1\"\nrpm = 20\n[[models]]\nid = \"c2\"\nrpm = 20\n\
     [[models]]\nid = \"c3\"\nrpm = 20\n",
    5,
);

struct Pool {
    router: Router,
    store: Arc<MemoryStore>,
    /// One fake per (provider, key), in setup order.
    fakes: Vec<(&'static str, Arc<FakeProvider>)>,
}

impl Pool {
    fn calls(&self, provider: &str) -> usize {
        self.fakes
            .iter()
            .filter(|(id, _)| *id == provider)
            .map(|(_, f)| f.calls())
            .sum()
    }

    /// Models called on `provider`, in order.
    fn models(&self, provider: &str) -> Vec<String> {
        self.fakes
            .iter()
            .filter(|(id, _)| *id == provider)
            .flat_map(|(_, f)| f.requests())
            .filter_map(|r| r.model)
            .collect()
    }

    async fn answered(&self, n: usize) -> usize {
        self.answered_for(n, &["auto"]).await
    }

    /// `n` concurrent requests, the i-th for `targets[i % len]`; how many were answered.
    async fn answered_for(&self, n: usize, targets: &[&str]) -> usize {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let router = self.router.clone();
                let target = targets[i % targets.len()].to_owned();
                tokio::spawn(async move { router.chat(req().with_model(target)).await.is_ok() })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        ok
    }
}

/// A router over these factories, each with `keys` keys (plus a keyed `cerebras`
/// fallback, tried last, when `fallback` is set).
fn pool(
    settings: &Settings,
    factories: &[(&'static ProviderFactory, usize)],
    fallback: bool,
) -> Pool {
    let clock = Arc::new(TokioClock::starting_at(at("2026-03-07T12:00:00Z")));
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let mut fakes = Vec::new();
    let mut setups = Vec::new();
    let mut all: Vec<(&'static ProviderFactory, usize)> = factories.to_vec();
    let mut settings = settings.clone();
    if fallback {
        all.push((&CEREBRAS, 1));
        settings
            .providers
            .entry("cerebras".to_owned())
            .or_default()
            .priority = Some(99);
    }
    for (factory, keys) in all {
        let mut clients = Vec::new();
        for k in 0..keys {
            let fake = Arc::new(FakeProvider::new(factory.id));
            fakes.push((factory.id, Arc::clone(&fake)));
            clients.push(KeyedClient {
                key_label: format!("***{k:04}"),
                provider: fake as Arc<dyn Provider>,
            });
        }
        setups.push(ProviderSetup { factory, clients });
    }
    let router = Router::new(&settings, setups, store.clone(), clock).unwrap();
    router.reseed(7);
    Pool {
        router,
        store,
        fakes,
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_over_several_models_never_pass_a_shared_limit() {
    // `openrouter/unlisted` is a model the catalog does not list.
    let settings = || with_provider(settings(), "openrouter", |p| p.allow_unknown_models = true);
    // Daily: 3 models, no limit of their own, 50 a day for the key together.
    let p = pool(&settings(), &[(&SHARED_RPD, 1)], false);
    for f in &p.fakes {
        f.1.set_fallback(Reply::text("ok").delay(Duration::from_millis(30)));
    }
    // Spread over a day's minutes so that only the daily window can bind, and over the
    // three models and the automatic choice.
    let targets = [
        "openrouter/m1",
        "openrouter/m2",
        "m3",
        "auto",
        "openrouter/unlisted",
    ];
    let mut ok = 0;
    for _ in 0..20 {
        ok += p.answered_for(15, &targets).await;
        tokio::time::advance(Duration::from_secs(120)).await;
    }
    assert_eq!(ok, 50);
    assert_eq!(p.calls("openrouter"), 50);
    let models = p.models("openrouter");
    for model in ["m1", "m2", "m3", "unlisted"] {
        assert!(models.iter().any(|m| m == model), "{model} was called");
    }

    // Per minute, hundreds at once: 20 for the key, whatever the models and strategy.
    let strategies = [
        Strategy::Priority,
        Strategy::RoundRobin,
        Strategy::LeastUsed,
    ];
    for strategy in strategies {
        let s = Settings {
            strategy,
            ..settings()
        };
        let p = pool(&s, &[(&SHARED_RPD, 1)], false);
        assert_eq!(p.answered_for(300, &targets).await, 20, "{strategy:?}");
        assert_eq!(p.calls("openrouter"), 20);
    }

    // Two keys are two accounts: 20 each.
    let p = pool(&settings(), &[(&SHARED_RPD, 2)], false);
    assert_eq!(p.answered_for(300, &targets).await, 40);

    // Explicit routes over all three models obey the same shared window.
    let s = Settings {
        routes: Some(vec![
            "openrouter/m3".into(),
            "openrouter/m2".into(),
            "openrouter/m1".into(),
            "openrouter/unlisted".into(),
        ]),
        ..settings()
    };
    let p = pool(&s, &[(&SHARED_RPD, 1)], false);
    assert_eq!(p.answered(300).await, 20);
    assert_eq!(p.calls("openrouter"), 20);
}

#[tokio::test(start_paused = true)]
async fn settings_raise_or_set_a_shared_limit() {
    // An account with credits: the provider-level key has always meant the account.
    let s = with_provider(settings(), "openrouter", |p| p.rpm = Some(30));
    let p = pool(&s, &[(&SHARED_RPD, 1)], false);
    assert_eq!(p.answered(300).await, 30);
    // The `shared` table wins over it.
    let s = with_provider(settings(), "openrouter", |p| {
        p.rpm = Some(30);
        p.shared.rpm = Some(12);
    });
    let p = pool(&s, &[(&SHARED_RPD, 1)], false);
    assert_eq!(p.answered(300).await, 12);
    // A shared table on a provider whose catalog has none.
    let s = with_provider(settings(), "gemini", |p| p.shared.rpd = Some(4));
    let p = pool(&s, &[(&BUCKETED, 1)], false);
    assert_eq!(p.answered(100).await, 4);
}

#[tokio::test(start_paused = true)]
async fn bucket_models_count_together() {
    let p = pool(&settings(), &[(&BUCKETED, 1)], false);
    // x takes the bucket's 3, y finds the bucket full, z has its own 3.
    assert_eq!(p.answered(20).await, 6);
    let models = p.models("gemini");
    assert_eq!(models.iter().filter(|m| *m == "x").count(), 3);
    assert_eq!(models.iter().filter(|m| *m == "y").count(), 0);
    assert_eq!(models.iter().filter(|m| *m == "z").count(), 3);
    match p.router.chat(req().with_model("y")).await.unwrap_err() {
        Error::NoAvailableProviders(Unavailable::AllBusy { until, .. }) => {
            assert_eq!(until, Some(at("2026-03-08T08:00:00Z")));
        }
        other => panic!("{other:?}"),
    }

    let status = p.router.quota_status().await.unwrap();
    let g = &status.quota_status["gemini"];
    // The bucket counts once: 3 (x and y together) + 3 (z).
    assert_eq!((g.calls_today, g.max_daily), (6, Some(6)));
    let figures: Vec<_> = g
        .routes
        .iter()
        .map(|r| {
            (
                r.model.as_str(),
                r.bucket.as_deref(),
                r.calls_today,
                r.available,
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            ("x", Some("xy"), 3, false),
            ("y", Some("xy"), 3, false),
            ("z", None, 3, false)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_quota_error_parks_the_whole_bucket() {
    let p = pool(&settings(), &[(&BUCKETED, 1)], true);
    let gemini = &p.fakes[0].1;
    gemini.push(Reply::error(ErrorKind::QuotaExhausted { until: None }));
    // x is exhausted upstream: y (same bucket) is not tried, z is.
    let r = p.router.chat(req()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("gemini", "z"));
    assert_eq!(p.models("gemini"), ["x", "z"]);
    let r = p.router.chat(req().with_model("y")).await.unwrap_err();
    assert!(
        matches!(
            r,
            Error::NoAvailableProviders(Unavailable::AllBusy { ref details, .. })
                if details == &["gemini: y: quota exhausted until 2026-03-08T08:00:00+00:00"]
        ),
        "{r:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn shared_headers_block_every_model_of_the_key() {
    let p = pool(&settings(), &[(&SHARED_RPD, 1)], true);
    let openrouter = &p.fakes[0].1;
    // OpenRouter's account-wide per-minute window says: nothing left for 30 s.
    openrouter.push(
        Reply::error(ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        })
        .rate_limits(RateLimitSnapshot {
            requests_minute: Window {
                limit: Some(20),
                remaining: Some(0),
                reset_after: Some(Duration::from_secs(30)),
            },
            ..RateLimitSnapshot::default()
        }),
    );
    let r = p
        .router
        .chat(req().with_model("openrouter"))
        .await
        .unwrap_err();
    assert!(matches!(r, Error::AllProvidersFailed(_)), "{r:?}");
    assert_eq!(p.models("openrouter"), ["m1"], "m2 and m3 are not tried");
    let r = p.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "cerebras");
    let status = p.router.quota_status().await.unwrap();
    let parked: Vec<_> = status.quota_status["openrouter"]
        .routes
        .iter()
        .map(|r| (r.state, r.cooldown_until.as_deref()))
        .collect();
    assert_eq!(
        parked,
        [(HealthState::RateLimited, Some("2026-03-07T12:00:30Z")); 3]
    );
    tokio::time::advance(Duration::from_secs(30)).await;
    let r = p.router.chat(req()).await.unwrap();
    assert_eq!(r.provider, "openrouter");

    // A route's own window blocks that route only (no shared limit for tokens).
    let p = pool(&settings(), &[(&SHARED_RPD, 1)], false);
    p.fakes[0]
        .1
        .push(Reply::text("ok").rate_limits(RateLimitSnapshot {
            tokens_minute: Window {
                limit: Some(1000),
                remaining: Some(0),
                reset_after: Some(Duration::from_secs(30)),
            },
            ..RateLimitSnapshot::default()
        }));
    p.router.chat(req()).await.unwrap();
    let r = p.router.chat(req()).await.unwrap();
    assert_eq!(r.model, "m2");
    let status = p.router.quota_status().await.unwrap();
    let scope_of_m2 = status.quota_status["openrouter"].routes[1].state;
    assert_eq!(scope_of_m2, HealthState::Healthy);
}

#[tokio::test(start_paused = true)]
async fn status_counts_shared_limits_once() {
    let p = pool(
        &settings(),
        &[(&SHARED_RPD, 1), (&MONTHLY, 1), (&BUCKETED, 0)],
        false,
    );
    for _ in 0..4 {
        p.router
            .chat(req().with_model("openrouter/m2"))
            .await
            .unwrap();
    }
    p.router
        .chat(req().with_model("openrouter/m3"))
        .await
        .unwrap();
    for model in ["c1", "c2", "c2"] {
        p.router.chat(req().with_model(model)).await.unwrap();
    }
    let status = p.router.quota_status().await.unwrap();

    let or = &status.quota_status["openrouter"];
    // One account: 50 a day and 20 a minute, not 3 × 50 and 3 × 20.
    assert_eq!((or.calls_today, or.max_daily), (5, Some(50)));
    assert_eq!((or.calls_this_minute, or.max_per_minute), (5, Some(20)));
    // Routes show their own figures: no limit of their own, their own calls.
    let own: Vec<_> = or
        .routes
        .iter()
        .map(|r| (r.model.as_str(), r.calls_today, r.max_daily))
        .collect();
    assert_eq!(own, [("m1", 0, None), ("m2", 4, None), ("m3", 1, None)]);

    let co = &status.quota_status["cohere"];
    // 20 a minute per model (summed), 1,000 a month for the key (once).
    assert_eq!((co.calls_this_minute, co.max_per_minute), (3, Some(60)));
    assert_eq!((co.calls_this_month, co.max_monthly), (3, Some(1000)));
    assert_eq!(co.max_daily, None);
    assert_eq!(co.routes[1].calls_this_month, 2);
    assert_eq!(co.routes[1].max_monthly, None);

    // Without a key: what one key would get, a bucket counted once.
    let g = &status.quota_status["gemini"];
    assert!(!g.api_key_available);
    assert_eq!(g.max_daily, Some(6));

    // Two keys are two quotas; a smaller sum of the models' own limits caps the shared one.
    let s = with_provider(settings(), "openrouter", |p| {
        p.shared.rpd = Some(1000);
        p.model_limits.insert(
            "m1".into(),
            Limits {
                rpd: Some(100),
                ..Limits::default()
            },
        );
    });
    let p = pool(&s, &[(&SHARED_RPD, 2)], false);
    let status = p.router.quota_status().await.unwrap();
    assert_eq!(status.quota_status["openrouter"].max_daily, Some(2000));
    let s = with_provider(s, "openrouter", |p| {
        p.rpd = Some(100);
        p.shared.rpd = Some(1000);
    });
    let p = pool(&s, &[(&SHARED_RPD, 2)], false);
    let status = p.router.quota_status().await.unwrap();
    assert_eq!(
        status.quota_status["openrouter"].max_daily,
        Some(600),
        "2 keys × min(1000, 3 × 100)"
    );
}

#[tokio::test(start_paused = true)]
async fn calls_counted_per_route_before_an_upgrade_still_count() {
    // An older llmpool counted today's OpenRouter calls per model: 30 + 20 of the
    // account's 50, and Gemini's x and y separately: 2 + 1 of their bucket's 3.
    let p = pool(&settings(), &[(&SHARED_RPD, 1), (&BUCKETED, 1)], false);
    let day = Duration::from_secs(86_400);
    for (key, value) in [
        ("llmpool:q:openrouter/m1@***0000:rpd:2026-03-07", 30),
        ("llmpool:q:openrouter/m2@***0000:rpd:2026-03-07", 20),
        ("llmpool:q:gemini/x@***0000:rpd:2026-03-07", 2),
        ("llmpool:q:gemini/y@***0000:rpd:2026-03-07", 1),
    ] {
        p.store.set_counter(key, value, day).await.unwrap();
    }
    let status = p.router.quota_status().await.unwrap();
    let or = &status.quota_status["openrouter"];
    assert_eq!(
        (or.calls_today, or.max_daily, or.available),
        (50, Some(50), false)
    );
    assert_eq!(status.quota_status["gemini"].calls_today, 3);
    for model in ["openrouter", "x", "y"] {
        let e = p.router.chat(req().with_model(model)).await.unwrap_err();
        assert!(
            matches!(e, Error::NoAvailableProviders(_)),
            "{model}: {e:?}"
        );
    }
    p.router.chat(req().with_model("z")).await.unwrap();
    assert_eq!(p.calls("openrouter"), 0);
    assert_eq!(p.models("gemini"), ["z"]);
}
