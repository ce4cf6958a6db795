//! `try_acquire` on the Redis store (one Lua script per call) against a private
//! `redis-server` on loopback: one call at a time and 64 in flight on one connection.
//! Run with `cargo bench -p llmpool-store-redis`; without a Redis it says so and stops.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that fails should stop loudly"
)]

#[expect(
    dead_code,
    reason = "the bench uses only `redis()` of the test support"
)]
#[path = "../tests/redis/server.rs"]
mod server;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;

use llmpool_core::StateStore;
use llmpool_core::testkit::ledger_like_checks;
use llmpool_store_redis::{RedisOptions, RedisStore};

const IN_FLIGHT: u64 = 64;

fn bench(c: &mut Criterion) {
    let Some(redis) = server::redis() else {
        eprintln!("no Redis: the Redis benchmarks did not run");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let options = RedisOptions::new().prefix(redis.prefix.clone());
    let store = rt
        .block_on(RedisStore::connect_with(&redis.url, options))
        .unwrap();
    let checks = ledger_like_checks();

    let mut group = c.benchmark_group("redis");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    group.bench_function("try_acquire/one_at_a_time", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(store.try_acquire(&checks).await.unwrap()) });
    });
    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function("try_acquire/64_in_flight", |b| {
        b.to_async(&rt).iter(|| async {
            let calls = (0..IN_FLIGHT).map(|_| store.try_acquire(&checks));
            black_box(join_all(calls).await)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
