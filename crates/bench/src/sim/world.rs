//! Thirteen simulated providers that enforce the free-tier limits of
//! `shared/providers/README.md` §2 the way the real ones do, and answer a refused call
//! with the [`ErrorKind`] and [`RateLimitSnapshot`] that the real provider crate reads
//! from the real 429 (its body and headers, written out in [`Rejection::wire`]).
//!
//! | provider | buckets (real scope) | windows | 429 signals (as the crate reads them) |
//! | --- | --- | --- | --- |
//! | groq | per model (organization) | RPM 30, TPM 8,000 rolling 60 s; RPD 1,000, TPD 200,000 rolling 24 h | `retry-after`; "per day" → `QuotaExhausted{now + wait}`, else `RateLimited{wait}`; headers: requests per day, tokens per minute |
//! | cerebras (trial) | per model | RPM 5, TPM 30,000 rolling 60 s; 1 M tokens per hour and per day, rolling | reset headers (float s); "per day" → `QuotaExhausted`, else `RateLimited{reset}`; tokens-minute headers |
//! | gemini | per model (project); 3-flash-preview and 3.5-flash share one | RPM and input TPM rolling 60 s, RPD per Pacific day | no headers; `PerDay` → `QuotaExhausted{next Pacific midnight}`, `PerMinute` → `RateLimited{retryDelay}` |
//! | openrouter | the account, across every `:free` model | RPM 20 rolling, RPD 50 per UTC day | daily: `QuotaExhausted{X-RateLimit-Reset}` + requests-day window; per minute: `RateLimited{Retry-After}` |
//! | cohere (trial key) | RPM 20 per model; 1,000 calls a month per key | rolling minute, UTC month | monthly: `QuotaExhausted{next month}`; per minute: `RateLimited{60 s}`; success headers: monthly limit, per-minute limit/remaining |
//! | mistral | the organisation | 1 request/s, RPM 60, TPM 500,000 rolling; 1 B tokens per UTC month (Experiment plan) | one 429 body (code 1300); `x-ratelimit-remaining-tokens-month: 0` → `QuotaExhausted{1st of next month}`; room left in the minute → `RateLimited{1 s}`, else `{60 s}`; headers: request and token minute (no reset) |
//! | nvidia | the account | RPM 40 rolling | bare problem JSON, no headers → `RateLimited{60 s}` |
//! | cloudflare | the account, all models | 10,000 Neurons per UTC day (each model's Neuron rates per token) | v4 envelope code 3036 → `QuotaExhausted{next 00:00 UTC}` |
//! | zai | the key | one call in flight; a daily cap per China day (number unpublished: [`ZAI_ASSUMED_DAILY_REQUESTS`]) | 1302 → `RateLimited{2 s}`; 1304 → `QuotaExhausted{next midnight UTC+8}` |
//! | ollama-cloud | the account | one call in flight; monthly starter credits (amount unpublished: [`OLLAMA_ASSUMED_MONTHLY_REQUESTS`]) | "monthly usage limit" → `QuotaExhausted{a day later}` (re-probe); a second call → `RateLimited{2 s}` |
//! | huggingface | the account | 300 requests a UTC month (the catalog's reading of < $0.10) | **402** → `QuotaExhausted{1st of next month}` |
//! | kilo (keyless) | the egress IP | 200 per rolling hour, 10,000 per rolling 24 h | 429 `rate_limit_exceeded` → `RateLimited{60 s}`; **401** `promotion_limit_reached` → `QuotaExhausted{24 h later}` |
//! | ovhcloud (keyless) | (egress IP, model) | RPM 2 rolling | 429 with `ratelimit-{limit,remaining,reset}` → `RateLimited{reset}` |
//!
//! The error handed to the router is written out here, beside the wire it comes from; a
//! test replays every refusal the simulator writes (each provider, each window) through the
//! real provider crate over loopback and fails when the crate reads anything else, so this
//! copy cannot drift from the crates unnoticed.
//!
//! Every call also fails at random (1 % `Transient{503}`, 0.5 % never answered, which the
//! caller's timeout turns into `Timeout`) and takes a per-provider log-normal latency.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use llmpool_core::{
    ChatRequest, ChatResponse, ChatStream, Clock, ErrorKind, FinishReason, Provider, ProviderError,
    ProviderFactory, RateLimitSnapshot, StreamEnd, StreamEvent, Usage, Window,
};

use super::limits::{Counter, Kind, Limit, Span, Unit};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// Chance that an admitted call fails with a 503.
pub const SERVER_ERROR_RATE: f64 = 0.01;
/// Chance that an admitted call never answers.
pub const TIMEOUT_RATE: f64 = 0.005;

/// How long a refusal or an unknown model takes to come back.
const QUICK: Latency = Latency {
    median_ms: 90.0,
    sigma: 0.3,
};
/// How long a random 503 takes.
const SERVER_ERROR_LATENCY: Latency = Latency {
    median_ms: 300.0,
    sigma: 0.5,
};

/// A provider's latency: log-normal with this median and spread.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Median in milliseconds.
    pub median_ms: f64,
    /// Standard deviation of the log.
    pub sigma: f64,
}

impl Latency {
    fn sample(self, rng: &mut StdRng) -> Duration {
        // Box-Muller: one standard normal from two uniforms.
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random_range(0.0..1.0);
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        Duration::from_secs_f64((self.median_ms * (self.sigma * z).exp()).min(120_000.0) / 1000.0)
    }
}

/// One bucket of limits and the models it covers (`*` = every model).
#[derive(Debug, Clone)]
pub struct BucketSpec {
    /// Name, for reports.
    pub name: &'static str,
    /// Models counted in it.
    pub models: Vec<&'static str>,
    /// Its limits.
    pub limits: Vec<Limit>,
}

/// How a provider writes its 429s and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Groq.
    Groq,
    /// Cerebras.
    Cerebras,
    /// Gemini.
    Gemini,
    /// OpenRouter.
    OpenRouter,
    /// Cohere.
    Cohere,
    /// NVIDIA NIM: bare problem-JSON 429, no headers.
    Nvidia,
    /// Mistral: one 429 body, told apart by its `x-ratelimit-*` headers.
    Mistral,
    /// Cloudflare Workers AI: v4 envelope, code 3036 at the daily Neuron wall.
    Cloudflare,
    /// Z.ai: business codes 1302 (concurrency) and 1304 (daily).
    Zai,
    /// OVHcloud's anonymous lane: 429 with `ratelimit-*` headers.
    Ovhcloud,
    /// Hugging Face router: 402 when the monthly credits are spent.
    HuggingFace,
    /// Ollama Cloud: monthly usage limit, one request in flight.
    OllamaCloud,
    /// Kilo Gateway: 429 hourly, 401 `promotion_limit_reached` daily.
    Kilo,
}

/// One simulated provider.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    /// The real provider's factory (id, catalog, priority).
    pub factory: &'static ProviderFactory,
    /// Its wire style.
    pub style: Style,
    /// Its buckets.
    pub buckets: Vec<BucketSpec>,
    /// Answer latency.
    pub latency: Latency,
    /// Requests served at once for the key or account (`None`: no such limit).
    pub max_in_flight: Option<u64>,
    /// Neurons per million prompt and completion tokens, by model (Cloudflare; the first
    /// entry prices models not listed).
    pub neuron_rates: Vec<(&'static str, f64, f64)>,
    /// Keyless: its quota belongs to the egress IP and it is used only when opted in.
    pub keyless: bool,
}

impl ProviderSpec {
    /// Neurons a call of `prompt` and `completion` tokens to `model` costs.
    pub fn neurons(&self, model: &str, prompt: u64, completion: u64) -> u64 {
        let rates = self
            .neuron_rates
            .iter()
            .find(|(m, _, _)| *m == model)
            .or_else(|| self.neuron_rates.first());
        rates.map_or(0, |(_, input, output)| {
            #[expect(clippy::cast_precision_loss, reason = "token counts far below 2^52")]
            let n = (prompt as f64 * input + completion as f64 * output) / 1e6;
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a small positive number of Neurons"
            )]
            let n = n.ceil() as u64;
            n
        })
    }
}

fn rolling(kind: Kind, unit: Unit, d: Duration, max: u64) -> Limit {
    Limit::new(kind, unit, Span::Rolling(d), max)
}

fn per_model(models: &[&'static str], limits: &[Limit]) -> Vec<BucketSpec> {
    models
        .iter()
        .map(|m| BucketSpec {
            name: m,
            models: vec![m],
            limits: limits.to_vec(),
        })
        .collect()
}

/// The thirteen providers with the limits of `shared/providers/README.md` §2: the first
/// five (Oct 2026), then the second wave (Dec 2026).
#[expect(
    clippy::too_many_lines,
    reason = "five providers' limits, written out as data"
)]
pub fn providers() -> Vec<ProviderSpec> {
    let la = chrono_tz::America::Los_Angeles;
    let groq = [
        rolling(Kind::Rpm, Unit::Requests, MINUTE, 30),
        rolling(Kind::Tpm, Unit::Tokens, MINUTE, 8_000),
        rolling(Kind::Rpd, Unit::Requests, DAY, 1_000),
        rolling(Kind::Tpd, Unit::Tokens, DAY, 200_000),
    ];
    let cerebras = [
        rolling(Kind::Rpm, Unit::Requests, MINUTE, 5),
        rolling(Kind::Tpm, Unit::Tokens, MINUTE, 30_000),
        rolling(Kind::Tph, Unit::Tokens, HOUR, 1_000_000),
        rolling(Kind::Tpd, Unit::Tokens, DAY, 1_000_000),
    ];
    // Gemini's TPM quota is `GenerateContentInputTokensPerModelPerMinute`: input tokens.
    let gemini = |rpm: u64, rpd: u64, tpm: u64| {
        vec![
            rolling(Kind::Rpm, Unit::Requests, MINUTE, rpm),
            rolling(Kind::Tpm, Unit::InputTokens, MINUTE, tpm),
            Limit::new(Kind::Rpd, Unit::Requests, Span::Day(la), rpd),
        ]
    };
    let mut gemini_buckets = vec![
        BucketSpec {
            name: "gemini-3.1-flash-lite",
            models: vec!["gemini-3.1-flash-lite"],
            limits: gemini(15, 500, 250_000),
        },
        BucketSpec {
            name: "gemini-2.5-flash",
            models: vec!["gemini-2.5-flash"],
            limits: gemini(5, 20, 250_000),
        },
        BucketSpec {
            name: "gemini-3-flash (shared)",
            models: vec!["gemini-3-flash-preview", "gemini-3.5-flash"],
            limits: gemini(5, 20, 250_000),
        },
        BucketSpec {
            name: "gemini-3.6-flash",
            models: vec!["gemini-3.6-flash"],
            // Only the RPD of 20 is seen in live 429s; the 3-flash RPM is assumed.
            limits: gemini(5, 20, 250_000),
        },
        BucketSpec {
            name: "gemini-2.5-flash-lite",
            models: vec!["gemini-2.5-flash-lite"],
            limits: gemini(10, 20, 250_000),
        },
    ];
    for m in [
        "gemma-3-27b-it",
        "gemma-3-12b-it",
        "gemma-3-4b-it",
        "gemma-3-1b-it",
    ] {
        gemini_buckets.push(BucketSpec {
            name: m,
            models: vec![m],
            limits: gemini(30, 14_400, 15_000),
        });
    }
    let cohere_models = [
        "command-a-03-2025",
        "command-r7b-12-2024",
        "command-a-plus-05-2026",
        "command-a-reasoning-08-2025",
        "command-r-plus-08-2024",
        "command-r-08-2024",
        "command-a-translate-08-2025",
        "command-a-vision-07-2025",
        "north-mini-code-1-0",
    ];
    let mut cohere_buckets = per_model(
        &cohere_models,
        &[rolling(Kind::Rpm, Unit::Requests, MINUTE, 20)],
    );
    cohere_buckets.push(BucketSpec {
        name: "trial key (monthly)",
        models: vec!["*"],
        limits: vec![Limit::new(
            Kind::Rpmonth,
            Unit::Requests,
            Span::Month,
            1_000,
        )],
    });
    let mut out = vec![
        ProviderSpec {
            factory: &llmpool_provider_groq::FACTORY,
            style: Style::Groq,
            buckets: per_model(
                &[
                    "openai/gpt-oss-120b",
                    "openai/gpt-oss-20b",
                    "qwen/qwen3.8-27b",
                ],
                &groq,
            ),
            latency: Latency {
                median_ms: 450.0,
                sigma: 0.5,
            },
            max_in_flight: None,
            neuron_rates: Vec::new(),
            keyless: false,
        },
        ProviderSpec {
            factory: &llmpool_provider_cerebras::FACTORY,
            style: Style::Cerebras,
            buckets: per_model(&["gpt-oss-120b", "qwen-3.8-27b"], &cerebras),
            latency: Latency {
                median_ms: 300.0,
                sigma: 0.5,
            },
            max_in_flight: None,
            neuron_rates: Vec::new(),
            keyless: false,
        },
        ProviderSpec {
            factory: &llmpool_provider_gemini::FACTORY,
            style: Style::Gemini,
            buckets: gemini_buckets,
            latency: Latency {
                median_ms: 1_100.0,
                sigma: 0.5,
            },
            max_in_flight: None,
            neuron_rates: Vec::new(),
            keyless: false,
        },
        ProviderSpec {
            factory: &llmpool_provider_openrouter::FACTORY,
            style: Style::OpenRouter,
            buckets: vec![BucketSpec {
                name: "account (all :free models)",
                models: vec!["*"],
                limits: vec![
                    rolling(Kind::Rpm, Unit::Requests, MINUTE, 20),
                    Limit::new(Kind::Rpd, Unit::Requests, Span::Day(Tz::UTC), 50),
                ],
            }],
            latency: Latency {
                median_ms: 2_500.0,
                sigma: 0.6,
            },
            max_in_flight: None,
            neuron_rates: Vec::new(),
            keyless: false,
        },
        ProviderSpec {
            factory: &llmpool_provider_cohere::FACTORY,
            style: Style::Cohere,
            buckets: cohere_buckets,
            latency: Latency {
                median_ms: 1_300.0,
                sigma: 0.5,
            },
            max_in_flight: None,
            neuron_rates: Vec::new(),
            keyless: false,
        },
    ];
    out.extend(second_wave());
    out
}

/// An account- or IP-wide bucket: every model counts in it.
fn whole(name: &'static str, limits: Vec<Limit>) -> BucketSpec {
    BucketSpec {
        name,
        models: vec!["*"],
        limits,
    }
}

/// Z.ai's daily cap (code 1304) has no published number; this is the simulation's
/// assumption, per key, counted per China day.
pub const ZAI_ASSUMED_DAILY_REQUESTS: u64 = 1_000;
/// Ollama Cloud's "starter usage credits" are GPU time of an unpublished amount; this is
/// the simulation's assumption, in requests, per account and month.
pub const OLLAMA_ASSUMED_MONTHLY_REQUESTS: u64 = 1_000;

/// The eight second-wave providers (`shared/providers/README.md` §2, Dec 2026) with each
/// crate's catalog limits; keyless ones (OVHcloud, Kilo) count per egress IP.
#[expect(
    clippy::too_many_lines,
    reason = "eight providers' limits, written out as data"
)]
fn second_wave() -> Vec<ProviderSpec> {
    let spec = |factory: &'static ProviderFactory,
                style: Style,
                buckets: Vec<BucketSpec>,
                median_ms: f64| ProviderSpec {
        factory,
        style,
        buckets,
        latency: Latency {
            median_ms,
            sigma: 0.5,
        },
        max_in_flight: None,
        neuron_rates: Vec::new(),
        keyless: false,
    };
    let shanghai = chrono_tz::Asia::Shanghai;
    let mut cloudflare = spec(
        &llmpool_provider_cloudflare::FACTORY,
        Style::Cloudflare,
        vec![whole(
            "account (10,000 Neurons a UTC day)",
            // The 300 RPM of older docs never binds before the Neurons and has no
            // recorded 429, so it is left out.
            vec![Limit::new(
                Kind::Npd,
                Unit::Neurons,
                Span::Day(Tz::UTC),
                10_000,
            )],
        )],
        1_500.0,
    );
    cloudflare.neuron_rates = vec![
        ("@cf/openai/gpt-oss-120b", 31_818.0, 68_182.0),
        ("@cf/google/gemma-4-26b-a4b-it", 9_091.0, 27_273.0),
        (
            "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
            26_668.0,
            204_805.0,
        ),
    ];
    let mut zai = spec(
        &llmpool_provider_zai::FACTORY,
        Style::Zai,
        vec![whole(
            "key (daily cap, assumed)",
            vec![Limit::new(
                Kind::Rpd,
                Unit::Requests,
                Span::Day(shanghai),
                ZAI_ASSUMED_DAILY_REQUESTS,
            )],
        )],
        3_000.0,
    );
    zai.max_in_flight = Some(1);
    let mut ollama = spec(
        &llmpool_provider_ollama_cloud::FACTORY,
        Style::OllamaCloud,
        vec![whole(
            "account (starter credits, assumed)",
            vec![Limit::new(
                Kind::Rpmonth,
                Unit::Requests,
                Span::Month,
                OLLAMA_ASSUMED_MONTHLY_REQUESTS,
            )],
        )],
        3_000.0,
    );
    ollama.max_in_flight = Some(1);
    let mut ovhcloud = spec(
        &llmpool_provider_ovhcloud::FACTORY,
        Style::Ovhcloud,
        per_model(
            &[
                "gpt-oss-120b",
                "Qwen3.8-27B",
                "Meta-Llama-3_3-70B-Instruct",
                "gpt-oss-20b",
            ],
            &[rolling(Kind::Rpm, Unit::Requests, MINUTE, 2)],
        ),
        1_500.0,
    );
    ovhcloud.keyless = true;
    let mut kilo = spec(
        &llmpool_provider_kilo::FACTORY,
        Style::Kilo,
        vec![whole(
            "egress IP (anonymous)",
            vec![
                rolling(Kind::Rph, Unit::Requests, HOUR, 200),
                rolling(Kind::Rpd, Unit::Requests, DAY, 10_000),
            ],
        )],
        2_500.0,
    );
    kilo.keyless = true;
    vec![
        spec(
            &llmpool_provider_mistral::FACTORY,
            Style::Mistral,
            vec![whole(
                "organisation (Experiment plan)",
                vec![
                    rolling(Kind::Rps, Unit::Requests, Duration::from_secs(1), 1),
                    rolling(Kind::Rpm, Unit::Requests, MINUTE, 60),
                    rolling(Kind::Tpm, Unit::Tokens, MINUTE, 500_000),
                    Limit::new(Kind::Tpmonth, Unit::Tokens, Span::Month, 1_000_000_000),
                ],
            )],
            600.0,
        ),
        spec(
            &llmpool_provider_nvidia::FACTORY,
            Style::Nvidia,
            vec![whole(
                "account",
                vec![rolling(Kind::Rpm, Unit::Requests, MINUTE, 40)],
            )],
            700.0,
        ),
        cloudflare,
        zai,
        ollama,
        spec(
            &llmpool_provider_huggingface::FACTORY,
            Style::HuggingFace,
            vec![whole(
                "account (< $0.10 a month)",
                vec![Limit::new(Kind::Rpmonth, Unit::Requests, Span::Month, 300)],
            )],
            1_200.0,
        ),
        kilo,
        ovhcloud,
    ]
}

/// What one simulated provider saw.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CallStats {
    /// Calls received.
    pub calls: u64,
    /// Answers given.
    pub answered: u64,
    /// 429s sent.
    pub rate_limited: u64,
    /// Random 503s.
    pub server_errors: u64,
    /// Calls never answered.
    pub timeouts: u64,
    /// Calls for a model it does not serve.
    pub unknown_model: u64,
    /// 429s by `bucket/window` that was full.
    pub rate_limited_by: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct State {
    buckets: Vec<(BucketSpec, Vec<Counter>)>,
    /// Admitted calls not answered yet.
    in_flight: u64,
    rng: StdRng,
    stats: CallStats,
}

/// A refused call, as the upstream writes it and as the provider crate reads it.
#[derive(Debug)]
pub struct Rejection {
    /// The window that was full.
    pub kind: Kind,
    /// How long until it has room.
    pub wait: Duration,
    /// Status, headers and body of the refusal the real provider sends (a 429, Hugging
    /// Face's 402, Kilo's 401).
    pub wire: (u16, Vec<(String, String)>, String),
    /// What the real provider crate makes of it.
    pub error: ProviderError,
}

/// A simulated provider implementing [`Provider`] on the tokio clock.
#[derive(Debug)]
pub struct SimProvider {
    spec: ProviderSpec,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl SimProvider {
    /// A provider with empty counters; `seed` drives its latencies and failures.
    pub fn new(spec: ProviderSpec, clock: Arc<dyn Clock>, seed: u64) -> Self {
        let buckets = spec
            .buckets
            .iter()
            .map(|b| {
                (
                    b.clone(),
                    b.limits.iter().copied().map(Counter::new).collect(),
                )
            })
            .collect();
        Self {
            spec,
            clock,
            state: Mutex::new(State {
                buckets,
                in_flight: 0,
                rng: StdRng::seed_from_u64(seed),
                stats: CallStats::default(),
            }),
        }
    }

    /// The spec.
    pub fn spec(&self) -> &ProviderSpec {
        &self.spec
    }

    /// What it saw so far.
    pub fn stats(&self) -> CallStats {
        self.lock().stats.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn id(&self) -> &'static str {
        self.spec.factory.id
    }

    /// Decides a call now: admitted (with its usage and header snapshot), refused, or a
    /// random failure; and how long the upstream takes to say so.
    fn decide(&self, req: &ChatRequest) -> (Duration, Outcome) {
        let now = self.clock.now();
        let model = req.model.clone().unwrap_or_default();
        let prompt = req.estimated_prompt_tokens();
        let completion = completion_tokens(req);
        let tokens = prompt + completion;
        let neurons = self.spec.neurons(&model, prompt, completion);
        let cost = |unit: Unit| match unit {
            Unit::Requests => 1,
            Unit::Tokens => tokens,
            Unit::InputTokens => prompt,
            Unit::Neurons => neurons,
        };
        let mut state = self.lock();
        state.stats.calls += 1;
        let indices: Vec<usize> = state
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, (b, _))| b.models.iter().any(|m| *m == "*" || *m == model))
            .map(|(i, _)| i)
            .collect();
        if indices.is_empty() {
            state.stats.unknown_model += 1;
            let d = QUICK.sample(&mut state.rng);
            let e = ProviderError::new(self.id(), ErrorKind::ModelNotFound)
                .with_status(404)
                .with_message(format!("model `{model}` not found"));
            return (d, Outcome::Fail(e));
        }
        // The tightest full window decides the 429: quota windows first, as providers
        // name the day when both the day and the minute are spent.
        let mut full: Option<(Kind, Duration, &'static str)> = None;
        for &i in &indices {
            let name = state.buckets[i].0.name;
            for c in &mut state.buckets[i].1 {
                let cost = cost(c.limit.unit);
                if let Some(wait) = c.wait_for(now, cost)
                    && full.is_none_or(|(k, _, _)| c.limit.kind < k)
                {
                    full = Some((c.limit.kind, wait, name));
                }
            }
        }
        // Then one request at a time (Z.ai, Ollama): a second one in flight is refused.
        if full.is_none()
            && self
                .spec
                .max_in_flight
                .is_some_and(|max| state.in_flight >= max)
        {
            full = Some((Kind::Concurrency, Duration::ZERO, "in flight"));
        }
        if let Some((kind, wait, bucket)) = full {
            state.stats.rate_limited += 1;
            *state
                .stats
                .rate_limited_by
                .entry(format!("{bucket}/{kind:?}"))
                .or_insert(0) += 1;
            let snapshot = self.snapshot(&mut state, &indices, now);
            let rejection = self.reject(kind, wait, now, snapshot);
            let d = QUICK.sample(&mut state.rng);
            return (d, Outcome::Fail(rejection.error));
        }
        let roll: f64 = state.rng.random_range(0.0..1.0);
        if roll < SERVER_ERROR_RATE {
            state.stats.server_errors += 1;
            let d = SERVER_ERROR_LATENCY.sample(&mut state.rng);
            let e = ProviderError::new(self.id(), ErrorKind::Transient { status: Some(503) })
                .with_status(503)
                .with_message("the model is overloaded, please try again later");
            return (d, Outcome::Fail(e));
        }
        for &i in &indices {
            for c in &mut state.buckets[i].1 {
                let cost = cost(c.limit.unit);
                c.add(now, cost);
            }
        }
        // The call now holds its slot until it answers (released by `Slot`).
        state.in_flight += 1;
        if roll < SERVER_ERROR_RATE + TIMEOUT_RATE {
            state.stats.timeouts += 1;
            return (Duration::from_secs(600), Outcome::Hang);
        }
        state.stats.answered += 1;
        let snapshot = self.snapshot(&mut state, &indices, now);
        let d = self.spec.latency.sample(&mut state.rng);
        (
            d,
            Outcome::Answer(Box::new(ChatResponse {
                text: "simulated answer".to_owned(),
                finish_reason: Some(FinishReason::Stop),
                usage: Some(Usage::new(prompt, completion)),
                provider: self.id(),
                model,
                latency: d,
                rate_limits: snapshot,
                ..ChatResponse::default()
            })),
        )
    }

    /// The headers a provider sends with an answer (or a 429), as its crate parses them.
    fn snapshot(
        &self,
        state: &mut State,
        indices: &[usize],
        now: DateTime<Utc>,
    ) -> RateLimitSnapshot {
        let mut window = |kind: Kind| -> Window {
            for &i in indices {
                for c in &mut state.buckets[i].1 {
                    if c.limit.kind == kind {
                        return Window {
                            limit: Some(c.limit.max),
                            remaining: Some(c.remaining(now)),
                            reset_after: Some(c.reset_after(now)),
                        };
                    }
                }
            }
            Window::default()
        };
        match self.spec.style {
            // x-ratelimit-*-requests is the day, *-tokens the minute.
            Style::Groq => RateLimitSnapshot {
                requests_day: window(Kind::Rpd),
                tokens_minute: window(Kind::Tpm),
                ..RateLimitSnapshot::default()
            },
            // Trial accounts: the tokens-minute headers (no request-per-day limit).
            Style::Cerebras => RateLimitSnapshot {
                tokens_minute: window(Kind::Tpm),
                ..RateLimitSnapshot::default()
            },
            // Gemini sends none; OpenRouter only on its own 429s (added there); the
            // second wave sends none but Mistral and OVHcloud (rule 12).
            Style::Gemini
            | Style::OpenRouter
            | Style::Nvidia
            | Style::Cloudflare
            | Style::Zai
            | Style::HuggingFace
            | Style::OllamaCloud
            | Style::Kilo => RateLimitSnapshot::default(),
            // Plain integers, no reset times: the request and token minute.
            Style::Mistral => {
                let no_reset = |w: Window| Window {
                    reset_after: None,
                    ..w
                };
                RateLimitSnapshot {
                    requests_minute: no_reset(window(Kind::Rpm)),
                    tokens_minute: no_reset(window(Kind::Tpm)),
                    ..RateLimitSnapshot::default()
                }
            }
            // `ratelimit-{limit,remaining,reset}` of the (IP, model) minute.
            Style::Ovhcloud => RateLimitSnapshot {
                requests_minute: window(Kind::Rpm),
                ..RateLimitSnapshot::default()
            },
            // Trial keys: the monthly limit (no remaining) and the per-minute pair.
            Style::Cohere => {
                let minute = window(Kind::Rpm);
                let month = window(Kind::Rpmonth);
                RateLimitSnapshot {
                    requests_minute: Window {
                        limit: minute.limit,
                        remaining: minute.remaining,
                        reset_after: None,
                    },
                    requests_month: Window {
                        limit: month.limit,
                        remaining: None,
                        reset_after: None,
                    },
                    ..RateLimitSnapshot::default()
                }
            }
        }
    }

    /// The 429 for a full window, and what the provider crate reads from it.
    #[expect(clippy::too_many_lines, reason = "one arm per provider's 429 format")]
    fn reject(
        &self,
        kind: Kind,
        wait: Duration,
        now: DateTime<Utc>,
        snapshot: RateLimitSnapshot,
    ) -> Rejection {
        let after =
            |d: Duration| now + chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
        let id = self.id();
        let secs = wait.as_secs_f64();
        let (headers, body, error_kind, rate_limits, message): (
            Vec<(String, String)>,
            String,
            ErrorKind,
            RateLimitSnapshot,
            String,
        ) = match self.spec.style {
            Style::Groq => {
                let (name, tag) = match kind {
                    Kind::Rpd => ("requests per day", "RPD"),
                    Kind::Tpd => ("tokens per day", "TPD"),
                    Kind::Tpm => ("tokens per minute", "TPM"),
                    _ => ("requests per minute", "RPM"),
                };
                let message = format!(
                    "Rate limit reached for model `m` in organization `org_sim` service tier `on_demand` on {name} ({tag}): Limit 0, Used 0, Requested 1. Please try again in {secs:.3}s."
                );
                // `retry-after` is whole seconds, rounded up.
                let retry =
                    Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
                let kind = if kind.is_quota() {
                    ErrorKind::QuotaExhausted {
                        until: Some(after(retry)),
                    }
                } else {
                    ErrorKind::RateLimited {
                        retry_after: Some(retry),
                    }
                };
                let body = serde_json::json!({"error": {"message": message, "type": "requests", "code": "rate_limit_exceeded"}}).to_string();
                let rl = RateLimitSnapshot {
                    retry_after: Some(retry),
                    ..snapshot
                };
                (
                    vec![("retry-after".into(), retry.as_secs().to_string())],
                    body,
                    kind,
                    rl,
                    message,
                )
            }
            Style::Cerebras => {
                let hourly = kind == Kind::Tph;
                let (message, code) = match kind {
                    Kind::Tpd => (
                        "Tokens per day limit exceeded - too many tokens processed.",
                        "token_quota_exceeded",
                    ),
                    Kind::Tph => (
                        "Tokens per hour limit exceeded - too many tokens processed.",
                        "token_quota_exceeded",
                    ),
                    Kind::Tpm => (
                        "Tokens per minute limit exceeded - too many tokens processed.",
                        "token_quota_exceeded",
                    ),
                    _ => (
                        "Requests per minute limit exceeded - too many requests sent.",
                        "request_quota_exceeded",
                    ),
                };
                let kind = if kind.is_quota() {
                    // No retry-after: the day window's reset header is not sent on trial
                    // keys, so the crate falls back to the tokens-day reset, i.e. none.
                    ErrorKind::QuotaExhausted {
                        until: Some(after(wait)),
                    }
                } else if kind == Kind::Tph {
                    ErrorKind::RateLimited {
                        retry_after: Some(wait),
                    }
                } else {
                    // "requests per minute" and the token minute both read the
                    // tokens-minute reset header.
                    ErrorKind::RateLimited {
                        retry_after: snapshot
                            .tokens_minute
                            .reset_after
                            .filter(|d| *d > Duration::ZERO),
                    }
                };
                let body = serde_json::json!({"message": message, "type": "too_many_requests_error", "param": "quota", "code": code}).to_string();
                let mut headers = vec![(
                    "x-ratelimit-reset-tokens-minute".into(),
                    format!(
                        "{:.6}",
                        snapshot
                            .tokens_minute
                            .reset_after
                            .unwrap_or_default()
                            .as_secs_f64()
                    ),
                )];
                let mut rl = snapshot;
                if kind_is_day(&kind) {
                    headers.push(("retry-after".into(), wait.as_secs().to_string()));
                    rl.retry_after = Some(Duration::from_secs(wait.as_secs()));
                }
                if hourly {
                    // What the crate reads the hour's wait from (no `retry-after` then).
                    headers.push((
                        "x-ratelimit-reset-tokens-hour".into(),
                        format!("{:.6}", wait.as_secs_f64()),
                    ));
                }
                (headers, body, kind, rl, message.to_owned())
            }
            Style::Gemini => {
                let quota_id = if kind == Kind::Rpd {
                    "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
                } else if kind == Kind::Tpm {
                    "GenerateContentInputTokensPerModelPerMinute-FreeTier"
                } else {
                    "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
                };
                let message =
                    "You exceeded your current quota, please check your plan and billing details."
                        .to_owned();
                let kind = if kind == Kind::Rpd {
                    ErrorKind::QuotaExhausted {
                        until: Some(after(wait)),
                    }
                } else {
                    ErrorKind::RateLimited {
                        retry_after: Some(Duration::from_secs(wait.as_secs().max(1))),
                    }
                };
                let body = serde_json::json!({"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": quota_id}]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{}s", wait.as_secs().max(1))}
                ]}}).to_string();
                (
                    Vec::new(),
                    body,
                    kind,
                    RateLimitSnapshot::default(),
                    message,
                )
            }
            Style::OpenRouter => {
                let reset_ms = after(wait).timestamp_millis();
                if kind == Kind::Rpd {
                    let message = "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day".to_owned();
                    let body = serde_json::json!({"error": {"message": message, "code": 429, "metadata": {"headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset_ms.to_string()}, "limit_source": "openrouter_free_tier_daily"}}}).to_string();
                    let rl = RateLimitSnapshot {
                        requests_day: Window {
                            limit: Some(50),
                            remaining: Some(0),
                            reset_after: Some(wait),
                        },
                        ..RateLimitSnapshot::default()
                    };
                    let headers = vec![
                        ("x-ratelimit-limit".into(), "50".into()),
                        ("x-ratelimit-remaining".into(), "0".into()),
                        ("x-ratelimit-reset".into(), reset_ms.to_string()),
                    ];
                    (
                        headers,
                        body,
                        ErrorKind::QuotaExhausted {
                            until: Some(after(wait)),
                        },
                        rl,
                        message,
                    )
                } else {
                    let message = "Rate limit exceeded: free-models-per-min.".to_owned();
                    let body =
                        serde_json::json!({"error": {"message": message, "code": 429}}).to_string();
                    (
                        Vec::new(),
                        body,
                        ErrorKind::RateLimited { retry_after: None },
                        RateLimitSnapshot::default(),
                        message,
                    )
                }
            }
            Style::Nvidia => {
                // Problem JSON with no `detail` and no headers: the crate cools the
                // (key, model) down for its default minute.
                let body = r#"{"status":429,"title":"Too Many Requests"}"#.to_owned();
                (
                    Vec::new(),
                    body,
                    ErrorKind::RateLimited {
                        retry_after: Some(Duration::from_secs(60)),
                    },
                    RateLimitSnapshot::default(),
                    "Too Many Requests".to_owned(),
                )
            }
            Style::Mistral => {
                // One body (code 1300); the headers say which window it was.
                let minute = snapshot.requests_minute;
                let tokens = snapshot.tokens_minute;
                let month_remaining = if kind == Kind::Tpmonth {
                    0
                } else {
                    1_000_000_000
                };
                let mut headers = vec![(
                    "x-ratelimit-limit-tokens-month".to_owned(),
                    "1000000000".to_owned(),
                )];
                headers.push((
                    "x-ratelimit-remaining-tokens-month".into(),
                    month_remaining.to_string(),
                ));
                for (name, value) in [
                    ("x-ratelimit-limit-req-minute", minute.limit),
                    ("x-ratelimit-remaining-req-minute", minute.remaining),
                    ("x-ratelimit-limit-tokens-minute", tokens.limit),
                    ("x-ratelimit-remaining-tokens-minute", tokens.remaining),
                ] {
                    if let Some(v) = value {
                        headers.push((name.into(), v.to_string()));
                    }
                }
                let error_kind = if kind == Kind::Tpmonth {
                    ErrorKind::QuotaExhausted {
                        until: Some(after(wait)),
                    }
                } else if minute.remaining.is_some_and(|n| n > 0) {
                    // The per-second burst: the minute still has room.
                    ErrorKind::RateLimited {
                        retry_after: Some(Duration::from_secs(1)),
                    }
                } else {
                    ErrorKind::RateLimited {
                        retry_after: Some(Duration::from_secs(60)),
                    }
                };
                let message = "Rate limit exceeded".to_owned();
                let body = serde_json::json!({"object": "error", "message": message, "type": "rate_limited", "param": null, "code": "1300", "raw_status_code": 429}).to_string();
                (headers, body, error_kind, snapshot, message)
            }
            Style::Cloudflare => {
                let message = "You have used up your daily free allocation of 10,000 neurons. Please upgrade to Cloudflare's Workers Paid plan if you would like to continue usage.".to_owned();
                let body = serde_json::json!({"result": null, "success": false, "errors": [{"code": 3036, "message": message}], "messages": []}).to_string();
                (
                    Vec::new(),
                    body,
                    ErrorKind::QuotaExhausted {
                        until: Some(after(wait)),
                    },
                    RateLimitSnapshot::default(),
                    message,
                )
            }
            Style::Zai => {
                let (code, message, error_kind) = if kind == Kind::Rpd {
                    (
                        "1304",
                        "this API has reached today's call limit",
                        // Until the next midnight in China (UTC+8).
                        ErrorKind::QuotaExhausted {
                            until: Some(after(wait)),
                        },
                    )
                } else {
                    (
                        "1302",
                        "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits",
                        ErrorKind::RateLimited {
                            retry_after: Some(Duration::from_secs(2)),
                        },
                    )
                };
                let body =
                    serde_json::json!({"error": {"code": code, "message": message}}).to_string();
                (
                    Vec::new(),
                    body,
                    error_kind,
                    RateLimitSnapshot::default(),
                    message.to_owned(),
                )
            }
            Style::Ovhcloud => {
                // No body was ever captured; the headers carry the wait, whole seconds.
                let reset =
                    Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
                let message = "Too Many Requests".to_owned();
                let body = serde_json::json!({"error": message}).to_string();
                let limit = snapshot.requests_minute.limit.unwrap_or(2);
                let headers = vec![
                    ("ratelimit-limit".to_owned(), limit.to_string()),
                    ("ratelimit-remaining".to_owned(), "0".to_owned()),
                    ("ratelimit-reset".to_owned(), reset.as_secs().to_string()),
                ];
                let rl = RateLimitSnapshot {
                    requests_minute: Window {
                        limit: Some(limit),
                        remaining: Some(0),
                        reset_after: Some(reset),
                    },
                    ..RateLimitSnapshot::default()
                };
                (
                    headers,
                    body,
                    ErrorKind::RateLimited {
                        retry_after: Some(reset),
                    },
                    rl,
                    message,
                )
            }
            Style::HuggingFace => {
                // 402, the whole account until next month (1st, 00:00 UTC assumed).
                let message = "You have depleted your monthly included credits. Purchase pre-paid credits to continue using Inference Providers. Alternatively, subscribe to PRO to get 20x more included usage.".to_owned();
                let body = serde_json::json!({"error": message}).to_string();
                (
                    Vec::new(),
                    body,
                    ErrorKind::QuotaExhausted {
                        until: Some(after(wait)),
                    },
                    RateLimitSnapshot::default(),
                    message,
                )
            }
            Style::OllamaCloud => {
                let (message, error_kind) = if kind == Kind::Rpmonth {
                    (
                        "you (someuser) have reached your monthly usage limit, upgrade for higher limits: https://ollama.com/upgrade",
                        // The month runs from the signup date, unknown to the crate: it
                        // re-probes a day later.
                        ErrorKind::QuotaExhausted {
                            until: Some(after(DAY)),
                        },
                    )
                } else {
                    // A second request in flight (body not captured).
                    (
                        "too many concurrent requests",
                        ErrorKind::RateLimited {
                            retry_after: Some(Duration::from_secs(2)),
                        },
                    )
                };
                let body = if kind == Kind::Rpmonth {
                    serde_json::json!({"error": {"message": message, "type": "api_error", "param": null, "code": null}})
                } else {
                    serde_json::json!({"error": message})
                }
                .to_string();
                (
                    Vec::new(),
                    body,
                    error_kind,
                    RateLimitSnapshot::default(),
                    message.to_owned(),
                )
            }
            Style::Kilo => {
                if kind == Kind::Rpd {
                    // 401, not Auth: 10,000 requests per rolling 24 h per egress IP.
                    let message = "Sign up for free to continue and explore 500 other models. Takes 2 minutes, no credit card required. Or come back later.".to_owned();
                    let body = serde_json::json!({"error": {"code": "PROMOTION_MODEL_LIMIT_REACHED", "message": message}, "error_type": "promotion_limit_reached"}).to_string();
                    (
                        Vec::new(),
                        body,
                        ErrorKind::QuotaExhausted {
                            until: Some(after(DAY)),
                        },
                        RateLimitSnapshot::default(),
                        message,
                    )
                } else {
                    let message = "Rate limit exceeded".to_owned();
                    let body = serde_json::json!({"error": message, "error_type": "rate_limit_exceeded", "message": "Free model usage limit reached. Please try again later or upgrade to a paid model."}).to_string();
                    (
                        Vec::new(),
                        body,
                        ErrorKind::RateLimited {
                            retry_after: Some(Duration::from_secs(60)),
                        },
                        RateLimitSnapshot::default(),
                        message,
                    )
                }
            }
            Style::Cohere => {
                let (message, kind) = if kind == Kind::Rpmonth {
                    (
                        "You are using a Trial key, which is limited to 1000 API calls / month. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'.".to_owned(),
                        ErrorKind::QuotaExhausted { until: Some(after(wait)) },
                    )
                } else {
                    (
                        "You are using a Trial key, which is limited to 20 API calls / minute. Please wait and try again later.".to_owned(),
                        ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(60)) },
                    )
                };
                let body = serde_json::json!({"id": "sim", "message": message}).to_string();
                (
                    Vec::new(),
                    body,
                    kind,
                    RateLimitSnapshot::default(),
                    message,
                )
            }
        };
        // Hugging Face's monthly wall is a 402, Kilo's daily one a 401; the rest are 429s.
        let status = match (self.spec.style, kind) {
            (Style::HuggingFace, _) => 402,
            (Style::Kilo, Kind::Rpd) => 401,
            _ => 429,
        };
        let error = ProviderError::new(id, error_kind)
            .with_status(status)
            .with_message(message)
            .with_rate_limits(rate_limits);
        Rejection {
            kind,
            wait,
            wire: (status, headers, body),
            error,
        }
    }
}

fn kind_is_day(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::QuotaExhausted { .. })
}

/// The completion length the trace decided for a request: its message starts with
/// `[c=N]` (so every scenario gets the same answer lengths); 200 when it does not.
pub fn completion_tokens(req: &ChatRequest) -> u64 {
    req.messages
        .last()
        .and_then(|m| m.content.as_text()?.strip_prefix("[c="))
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(200)
}

/// An admitted call's place among the calls in flight, given back when dropped.
struct Slot<'a> {
    provider: &'a SimProvider,
    held: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.held {
            let mut state = self.provider.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Answer(Box<ChatResponse>),
    Fail(ProviderError),
    Hang,
}

#[async_trait::async_trait]
impl Provider for SimProvider {
    fn id(&self) -> &'static str {
        self.spec.factory.id
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let (delay, outcome) = self.decide(req);
        // Admitted calls hold a slot until answered, or until the caller gives up.
        let _slot = Slot {
            provider: self,
            held: matches!(outcome, Outcome::Answer(_) | Outcome::Hang),
        };
        tokio::time::sleep(delay).await;
        match outcome {
            Outcome::Answer(r) => Ok(*r),
            Outcome::Fail(e) => Err(e),
            Outcome::Hang => {
                // The caller's timeout ends this; the bound keeps a forgotten call finite.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(ProviderError::new(self.spec.factory.id, ErrorKind::Timeout))
            }
        }
    }

    async fn chat_stream(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let response = self.chat(req).await?;
        let events = vec![
            Ok(StreamEvent::Started {
                rate_limits: response.rate_limits,
                model: Some(response.model.clone()),
            }),
            Ok(StreamEvent::Delta(response.text)),
            Ok(StreamEvent::Done(StreamEnd {
                finish_reason: response.finish_reason,
                usage: response.usage,
                model: Some(response.model),
            })),
        ];
        Ok(Box::pin(futures::stream::iter(events)))
    }
}

/// Every provider's stats, by id.
pub fn stats_of(providers: &[Arc<SimProvider>]) -> BTreeMap<&'static str, CallStats> {
    providers
        .iter()
        .map(|p| (p.spec.factory.id, p.stats()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmpool_core::{Message, TokioClock};

    fn spec(id: &str) -> ProviderSpec {
        providers()
            .into_iter()
            .find(|p| p.factory.id == id)
            .unwrap()
    }

    fn req(model: &str) -> ChatRequest {
        ChatRequest::new(vec![Message::user("[c=10] hello")]).with_model(model)
    }

    /// Calls until the first refusal of any status (random 5xx and hangs skipped).
    fn until_refused_any(p: &SimProvider, model: &str) -> (usize, ProviderError) {
        let mut answered = 0;
        for _ in 0..20_000 {
            match p.decide(&req(model)).1 {
                Outcome::Answer(_) => answered += 1,
                Outcome::Fail(e) if e.status != Some(503) => return (answered, e),
                Outcome::Fail(_) | Outcome::Hang => {}
            }
        }
        panic!("never refused");
    }

    /// Calls until the first 429 (random 5xx and hangs are skipped); returns the number
    /// of answers before it and the 429.
    fn until_refused(p: &SimProvider, model: &str) -> (usize, ProviderError) {
        let mut answered = 0;
        for _ in 0..20_000 {
            match p.decide(&req(model)).1 {
                Outcome::Answer(_) => answered += 1,
                Outcome::Fail(e) if e.status == Some(429) => return (answered, e),
                Outcome::Fail(_) | Outcome::Hang => {}
            }
        }
        panic!("never refused");
    }

    #[tokio::test(start_paused = true)]
    async fn groq_refuses_the_31st_call_of_a_minute_with_its_wait() {
        let clock = Arc::new(TokioClock::starting_at(DEFAULT_START_T.parse().unwrap()));
        let p = SimProvider::new(spec("groq"), clock, 1);
        let (answered, e) = until_refused(&p, "openai/gpt-oss-20b");
        assert!((29..=30).contains(&answered), "{answered}");
        assert!(
            matches!(e.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
            "{e:?}"
        );
        assert_eq!(e.rate_limits.requests_day.limit, Some(1000));
        // Another model of the organization has its own bucket.
        let (answered, _) = until_refused(&p, "openai/gpt-oss-120b");
        assert!(answered >= 29, "{answered}");
    }

    #[tokio::test(start_paused = true)]
    async fn openrouter_counts_fifty_a_day_across_models() {
        let clock = Arc::new(TokioClock::starting_at(DEFAULT_START_T.parse().unwrap()));
        let p = SimProvider::new(spec("openrouter"), clock, 2);
        let mut answered = 0;
        for i in 0..60 {
            let model = if i % 2 == 0 {
                "openrouter/free"
            } else {
                "openai/gpt-oss-20b:free"
            };
            // Stay under 20 per minute.
            tokio::time::advance(Duration::from_secs(4)).await;
            if let Outcome::Answer(_) = p.decide(&req(model)).1 {
                answered += 1;
            }
        }
        assert!((45..=50).contains(&answered), "{answered}");
        let (_, e) = until_refused(&p, "google/gemma-4-31b-it:free");
        let ErrorKind::QuotaExhausted { until: Some(until) } = e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(
            until,
            "2026-11-04T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(e.rate_limits.requests_day.remaining, Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn gemini_day_ends_at_pacific_midnight() {
        let clock = Arc::new(TokioClock::starting_at(DEFAULT_START_T.parse().unwrap()));
        let p = SimProvider::new(spec("gemini"), clock, 3);
        let mut answered = 0;
        for _ in 0..40 {
            tokio::time::advance(Duration::from_secs(15)).await;
            if let Outcome::Answer(_) = p.decide(&req("gemini-2.5-flash")).1 {
                answered += 1;
            }
        }
        assert!((17..=20).contains(&answered), "{answered}");
        let (_, e) = until_refused(&p, "gemini-2.5-flash");
        let ErrorKind::QuotaExhausted { until: Some(until) } = e.kind else {
            panic!("{e:?}")
        };
        // 2026-11-03 is after the DST change: PST, midnight is 08:00 UTC.
        assert_eq!(
            until,
            "2026-11-03T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(
            e.rate_limits.is_empty(),
            "Gemini sends no rate-limit headers"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cohere_monthly_cap_is_per_key() {
        let clock = Arc::new(TokioClock::starting_at(DEFAULT_START_T.parse().unwrap()));
        let p = SimProvider::new(spec("cohere"), clock, 4);
        let models = [
            "command-a-03-2025",
            "command-r7b-12-2024",
            "command-r-08-2024",
        ];
        for i in 0..1100 {
            if i % 50 == 0 {
                tokio::time::advance(Duration::from_secs(61)).await;
            }
            let _ = p.decide(&req(models[i % 3]));
        }
        let (_, e) = until_refused(&p, "command-a-plus-05-2026");
        assert!(matches!(e.kind, ErrorKind::QuotaExhausted { .. }), "{e:?}");
        assert!(p.stats().answered <= 1000);
    }

    const DEFAULT_START_T: &str = crate::sim::DEFAULT_START;

    #[tokio::test(start_paused = true)]
    async fn zai_serves_one_call_at_a_time_and_refuses_the_second_with_1302() {
        let clock = Arc::new(TokioClock::starting_at(DEFAULT_START_T.parse().unwrap()));
        // Seed 5 answers the first call (no random 503 or hang).
        let p = Arc::new(SimProvider::new(spec("zai"), clock, 5));
        let first = {
            let p = Arc::clone(&p);
            tokio::spawn(async move { p.chat(&req("glm-4.7-flash")).await })
        };
        tokio::task::yield_now().await;
        let second = p.chat(&req("glm-4.5-flash")).await.unwrap_err();
        assert_eq!(second.status, Some(429));
        assert!(
            matches!(second.kind, ErrorKind::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(2)),
            "{second:?}"
        );
        assert!(first.await.unwrap().is_ok());
        // The slot is free again once the first call answered.
        assert_eq!(p.lock().in_flight, 0);
        let (answered, e) = until_refused(&p, "glm-4.7-flash");
        // `decide` alone never gives the slot back: the second call is refused.
        assert_eq!(answered, 1, "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn cloudflare_spends_ten_thousand_neurons_a_utc_day_across_models() {
        let clock = Arc::new(TokioClock::starting_at(DEFAULT_START_T.parse().unwrap()));
        let p = SimProvider::new(spec("cloudflare"), clock, 6);
        // `[c=10] hello`: 2 prompt tokens (estimated) and 10 completion tokens, 1 Neuron
        // on either model once rounded up.
        let (answered, e) = until_refused(&p, "@cf/openai/gpt-oss-120b");
        assert!(answered > 9_000, "{answered}");
        let ErrorKind::QuotaExhausted { until: Some(until) } = e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(
            until,
            "2026-11-04T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // The whole account is spent: the other model is refused too.
        let (answered, _) = until_refused(&p, "@cf/google/gemma-4-26b-a4b-it");
        assert_eq!(answered, 0);
        // Neurons follow the model's rates: output costs more than input.
        let s = spec("cloudflare");
        assert_eq!(s.neurons("@cf/openai/gpt-oss-120b", 1_000, 500), 66);
        assert_eq!(s.neurons("@cf/google/gemma-4-26b-a4b-it", 1_000, 500), 23);
    }

    #[tokio::test(start_paused = true)]
    async fn kilo_and_huggingface_walls_are_a_401_and_a_402() {
        let clock = Arc::new(TokioClock::starting_at(DEFAULT_START_T.parse().unwrap()));
        let hf = SimProvider::new(spec("huggingface"), Arc::clone(&clock) as _, 7);
        let (answered, e) = until_refused_any(&hf, "openai/gpt-oss-20b:cheapest");
        assert!((285..=300).contains(&answered), "{answered}");
        assert_eq!(e.status, Some(402));
        assert!(
            matches!(e.kind, ErrorKind::QuotaExhausted { until: Some(u) } if u == "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()),
            "{e:?}"
        );
        let kilo = SimProvider::new(spec("kilo"), clock as _, 8);
        let (answered, e) = until_refused_any(&kilo, "kilo-auto/free");
        assert!((190..=200).contains(&answered), "{answered}");
        assert_eq!(e.status, Some(429), "the hourly limit first");
    }

    /// Every refusal the simulator writes (each provider, each window, the second call in
    /// flight), replayed through the
    /// real provider crate over loopback: the crate must read from the wire exactly the
    /// error the simulator hands the router, so the simulator's copy cannot drift from
    /// the crates. Waits are taken from the real clock, since the crates date with it.
    #[tokio::test]
    #[expect(
        clippy::too_many_lines,
        reason = "one replay with every field it compares"
    )]
    async fn every_simulated_429_is_what_the_real_crate_reads_from_its_wire() {
        use wiremock::matchers::any;
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let mut checked = 0;
        let mut providers_checked = std::collections::BTreeSet::new();
        let mut mismatched = Vec::new();
        for spec in providers() {
            let clock: Arc<dyn Clock> = Arc::new(llmpool_core::SystemClock);
            let p = SimProvider::new(spec.clone(), clock, 7);
            for (b, bucket) in spec.buckets.iter().enumerate() {
                let model = if bucket.models[0] == "*" {
                    spec.factory.default_model
                } else {
                    bucket.models[0]
                };
                // Each window of the bucket, and a second call in flight where one at a
                // time is the rule.
                let mut cases: Vec<(Kind, Option<Limit>)> =
                    bucket.limits.iter().map(|l| (l.kind, Some(*l))).collect();
                if b == 0 && spec.max_in_flight.is_some() {
                    cases.push((Kind::Concurrency, None));
                }
                for (limit_kind, limit) in cases {
                    let now = Utc::now();
                    let wait = match limit.map(|l| (l, l.span)) {
                        None => Duration::ZERO,
                        Some((_, Span::Rolling(_))) => Duration::from_millis(37_250),
                        Some((l, Span::Day(_) | Span::Month)) => Counter::new(l).reset_after(now),
                    };
                    let snapshot = {
                        let mut state = p.lock();
                        p.snapshot(&mut state, &[b], now)
                    };
                    let sim = p.reject(limit_kind, wait, now, snapshot);
                    let (status, headers, body) = sim.wire.clone();
                    let server = MockServer::start().await;
                    let mut reply = ResponseTemplate::new(status)
                        .set_body_raw(body.clone(), "application/json");
                    for (name, value) in &headers {
                        reply = reply.insert_header(name.as_str(), value.as_str());
                    }
                    Mock::given(any()).respond_with(reply).mount(&server).await;
                    let cfg = llmpool_core::ProviderConfig::new(spec.factory, "sim-key-0123456789")
                        .with_base_url(format!("{}/v1", server.uri()));
                    let real_provider = (spec.factory.build)(&cfg).unwrap();
                    let before = Utc::now();
                    let real = real_provider
                        .chat(&req(model))
                        .await
                        .expect_err("a refusal must fail the call");
                    let after = Utc::now();
                    let what = format!("{} {limit_kind:?} ({body})", spec.factory.id);
                    assert_eq!(real.status, Some(status), "{what}");
                    assert_eq!(
                        real.kind.label(),
                        sim.error.kind.label(),
                        "{what}: {real:?}"
                    );
                    assert_eq!(real.message, sim.error.message, "{what}");
                    match (&real.kind, &sim.error.kind) {
                        (
                            ErrorKind::RateLimited { retry_after: r },
                            ErrorKind::RateLimited { retry_after: s },
                        ) => assert_eq!(r, s, "{what}"),
                        (
                            ErrorKind::QuotaExhausted { until: r },
                            ErrorKind::QuotaExhausted { until: s },
                        ) => {
                            let (Some(r), Some(s)) = (r, s) else {
                                panic!("{what}: an end is known to one only: {r:?} {s:?}");
                            };
                            // The crate dates from its own reading of the clock, taken
                            // between `before` and `after`; the simulator's from `now`.
                            let slack = (after - now) + chrono::Duration::seconds(1);
                            assert!(
                                *r >= *s - slack && *r <= *s + slack,
                                "{what}: crate says {r}, simulator {s} (before {before})"
                            );
                        }
                        _ => panic!("{what}: {real:?} vs {:?}", sim.error),
                    }
                    // The simulator's error also carries the windows of its answers'
                    // headers, which its 429 wire leaves out; what the crate did read
                    // from the wire must agree.
                    let (r, s) = (&real.rate_limits, &sim.error.rate_limits);
                    assert_eq!(r.retry_after, s.retry_after, "{what}");
                    for (name, rw, sw) in [
                        ("requests_minute", r.requests_minute, s.requests_minute),
                        ("requests_day", r.requests_day, s.requests_day),
                        ("requests_month", r.requests_month, s.requests_month),
                        ("tokens_minute", r.tokens_minute, s.tokens_minute),
                        ("tokens_day", r.tokens_day, s.tokens_day),
                    ] {
                        let agree = rw.limit.is_none_or(|l| sw.limit == Some(l))
                            && rw.remaining.is_none_or(|n| sw.remaining == Some(n))
                            && rw.reset_after.is_none_or(|d| {
                                sw.reset_after
                                    .is_some_and(|e| d.abs_diff(e) <= Duration::from_secs(1))
                            });
                        if !agree {
                            mismatched
                                .push(format!("{what} {name}: crate {rw:?}, simulator {sw:?}"));
                        }
                    }
                    providers_checked.insert(spec.factory.id);
                    checked += 1;
                }
            }
        }
        assert!(checked >= 35, "only {checked} refusals checked");
        assert_eq!(providers_checked.len(), 13, "{providers_checked:?}");
        assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
    }
}
