//! Decoding a `generateContent` answer (JSON to text, finish reason and usage), the
//! per-answer cost of the Gemini provider beyond HTTP. Run with
//! `cargo bench -p llmpool-provider-gemini`.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that fails should stop loudly"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

/// A realistic answer: a few sentences, usage with thoughts, model version.
const BODY: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Luminaria is a spring festival of light, held on the equinox when day and night stand in balance. Families hang paper lanterns, share a meal at dusk and write one wish for the coming season on a strip of rice paper, which they fold into the lantern before lighting it."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":45,"candidatesTokenCount":58,"totalTokenCount":120,"promptTokensDetails":[{"modality":"TEXT","tokenCount":45}],"thoughtsTokenCount":17},"modelVersion":"gemini-3.1-flash-lite","responseId":"FugfaZasF6ra2roP_9i9KQ"}"#;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemini");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("decode_generate_content", |b| {
        b.iter(|| {
            black_box(
                llmpool_provider_gemini::decode_generate_content(
                    black_box(BODY.as_bytes()),
                    "gemini-3.1-flash-lite",
                )
                .unwrap(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
