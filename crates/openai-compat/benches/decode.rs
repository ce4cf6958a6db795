//! Decoding costs on the hot path of every OpenAI-compatible provider: a 20-chunk SSE
//! answer (SSE framing plus each chunk's JSON), and the classification of a Groq 429
//! body with its headers (tolerant body read, rate-limit headers, generic rules).
//! Run with `cargo bench -p llmpool-openai-compat`.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that fails should stop loudly"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use llmpool_openai_compat::hooks::{default_classify, default_rate_limits};
use llmpool_openai_compat::sse::{SseDecoder, SseItem};
use llmpool_openai_compat::{ChatCompletionChunk, ErrorBody, ErrorContext, HeaderMap, HeaderValue};

/// A 20-chunk answer as Groq streams it, split into network-sized pieces.
fn stream() -> Vec<Vec<u8>> {
    let mut text = String::new();
    for i in 0..20 {
        let _ = write!(
            text,
            "data: {{\"id\":\"chatcmpl-7eb08824-fb8d-47af-a1f0-3aa786f2d1f3\",\"object\":\"chat.completion.chunk\",\"created\":1770770839,\"model\":\"openai/gpt-oss-120b\",\"system_fingerprint\":\"fp_f8b414701e\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" word{i}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        );
    }
    text.push_str("data: {\"id\":\"chatcmpl-7eb08824\",\"object\":\"chat.completion.chunk\",\"created\":1770770839,\"model\":\"openai/gpt-oss-120b\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":45,\"completion_tokens\":20,\"total_tokens\":65}}\n\ndata: [DONE]\n\n");
    text.as_bytes().chunks(512).map(<[u8]>::to_vec).collect()
}

const GROQ_429: &str = r#"{"error":{"message":"Rate limit reached for model `openai/gpt-oss-20b` in organization `org_01xxxxxxxxxxxxxxxxxxxxxxxx` service tier `on_demand` on tokens per minute (TPM): Limit 8000, Used 7713, Requested 1203. Please try again in 6.87s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}}"#;

fn groq_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("retry-after", "7"),
        ("x-ratelimit-limit-requests", "1000"),
        ("x-ratelimit-limit-tokens", "8000"),
        ("x-ratelimit-remaining-requests", "941"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-requests", "1h24m57.6s"),
        ("x-ratelimit-reset-tokens", "6.87s"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("openai_compat");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    let pieces = stream();
    group.throughput(Throughput::Elements(20));
    group.bench_function("sse_decode/20_chunks", |b| {
        b.iter(|| {
            let mut decoder = SseDecoder::new();
            let mut text = 0;
            for piece in &pieces {
                for item in decoder.push(piece) {
                    if let SseItem::Event { data, .. } = item
                        && data != "[DONE]"
                    {
                        let chunk: ChatCompletionChunk = serde_json::from_str(&data).unwrap();
                        text += chunk.choices.len();
                    }
                }
            }
            black_box(text)
        });
    });

    group.throughput(Throughput::Elements(1));
    let headers = groq_headers();
    group.bench_function("classify_429/groq_tpm", |b| {
        b.iter(|| {
            let now = Utc::now();
            let body = ErrorBody::parse(black_box(GROQ_429.as_bytes()));
            let rate_limits = default_rate_limits(&headers, now);
            let ctx = ErrorContext {
                status: 429,
                http_status: 429,
                embedded: false,
                body: &body,
                headers: &headers,
                rate_limits: &rate_limits,
                now,
            };
            black_box(default_classify(&ctx))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
