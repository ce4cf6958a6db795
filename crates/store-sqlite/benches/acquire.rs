//! `try_acquire` on the SQLite store: one call at a time (a commit per call) and 64 in
//! flight (group commit); and a gateway request's pair of calls (acquire, then usage
//! reconcile), one at a time and 64 in flight.
//! Run with `cargo bench -p llmpool-store-sqlite`.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that fails should stop loudly"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;

use llmpool_core::StateStore;
use llmpool_core::testkit::ledger_like_checks;
use llmpool_store_sqlite::SqliteStore;

const IN_FLIGHT: u64 = 64;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(SqliteStore::open(dir.path().join("bench.db")))
        .unwrap();
    let checks = ledger_like_checks();

    let mut group = c.benchmark_group("sqlite");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.throughput(Throughput::Elements(1));
    group.bench_function("try_acquire/one_at_a_time", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(store.try_acquire(&checks).await.unwrap()) });
    });
    group.bench_function("request/acquire_then_reconcile", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(store.try_acquire(&checks).await.unwrap());
            store
                .add("groq:llama:tpm:1001", -200, Duration::from_secs(120))
                .await
                .unwrap();
        });
    });

    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function("try_acquire/64_in_flight", |b| {
        b.to_async(&rt).iter(|| async {
            let calls = (0..IN_FLIGHT).map(|_| store.try_acquire(&checks));
            black_box(join_all(calls).await)
        });
    });
    group.bench_function("request/64_in_flight", |b| {
        b.to_async(&rt).iter(|| async {
            let requests = (0..IN_FLIGHT).map(|_| async {
                black_box(store.try_acquire(&checks).await.unwrap());
                store
                    .add("groq:llama:tpm:1001", -200, Duration::from_secs(120))
                    .await
                    .unwrap();
            });
            join_all(requests).await
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
