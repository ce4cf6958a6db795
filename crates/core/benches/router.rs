//! The router's own cost: one routing decision (plan, quota check-and-count, call,
//! health and ledger updates) over 5 and 50 providers whose upstream answers at once
//! (testkit's `FakeProvider`), and the ledger's check-and-count on the in-memory store.
//! Run with `cargo bench -p llmpool-core`.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that fails should stop loudly"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use llmpool_core::testkit::{FakeProvider, fake_factory};
use llmpool_core::{
    ChatRequest, CounterCheck, KeyedClient, MemoryStore, Provider, ProviderFactory, ProviderSetup,
    Router, Settings, StateStore, SystemClock,
};

const CATALOG: &str = "[[models]]\nid = \"m\"\nrpm = 1000000000\nrpd = 1000000000\ntpm = 1000000000000\ntpd = 1000000000000\n";

/// A router over `n` fake providers, each with one model and one key.
fn router(n: usize) -> Router {
    let setups = (0..n)
        .map(|i| {
            let id: &'static str = Box::leak(format!("p{i:02}").into_boxed_str());
            let key_env: &'static str = Box::leak(format!("P{i:02}_API_KEY").into_boxed_str());
            let priority = u32::try_from(i).unwrap();
            let factory: &'static ProviderFactory =
                Box::leak(Box::new(fake_factory(id, key_env, "m", CATALOG, priority)));
            let fake: Arc<dyn Provider> = Arc::new(FakeProvider::new(id));
            ProviderSetup {
                factory,
                clients: vec![KeyedClient {
                    key_label: format!("***{i:04}"),
                    provider: fake,
                }],
            }
        })
        .collect();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    Router::new(&Settings::default(), setups, store, Arc::new(SystemClock)).unwrap()
}

/// The checks the ledger makes for one request: requests per minute (a 10 s sub-bucket
/// and the 6 before it), day and month, tokens per minute (likewise) and day.
fn ledger_checks() -> Vec<CounterCheck> {
    let route = "groq/openai/gpt-oss-120b@***cdef";
    let check = |tag: &str, window: &str, cost: u64, previous: &[u64]| CounterCheck {
        key: format!("llmpool:q:{route}:{tag}:{window}"),
        limit: u64::MAX / 2,
        cost,
        ttl: Duration::from_secs(130),
        previous: previous
            .iter()
            .map(|p| (format!("llmpool:q:{route}:{tag}:{p}"), 1.0))
            .collect(),
    };
    let earlier: Vec<u64> = (1..=6).map(|back| 176_474_070 - back).collect();
    vec![
        check("rpm", "176474070", 1, &earlier),
        check("rpd", "2026-11-27", 1, &[]),
        check("rpmonth", "2026-11", 1, &[]),
        check("tpm", "176474070", 700, &earlier),
        check("tpd", "2026-11-27", 700, &[]),
    ]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("core");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [5, 50] {
        let router = router(n);
        let req = ChatRequest::from_user("Invent a holiday and describe it in one sentence.");
        group.bench_function(format!("route_one_request/{n}_providers"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(router.chat(req.clone()).await.unwrap()) });
        });
    }
    let store = MemoryStore::new();
    let checks = ledger_checks();
    group.bench_function("ledger_try_acquire/memory", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(store.try_acquire(&checks).await.unwrap()) });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
