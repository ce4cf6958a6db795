//! A simulated day of free-tier traffic for a chat bot, in virtual time.
//!
//! The offered load is a [`trace`]: by default 40,000 chat requests over 24 hours
//! following a daily curve, with bursts of 50 requests within 10 seconds. Thirteen
//! [`world`] providers enforce the real free-tier limits and answer refusals with each
//! provider's own signals. Each [`Lineup`] is the set of keys a user holds: the first
//! five alone, every sign-up that needs no card, and the same with the keyless lanes
//! opted in. Each scenario replays the same trace against fresh providers
//! on a paused tokio clock (a day passes in seconds) and a [`TokioClock`] wall clock
//! starting at midnight UTC, so Gemini's day ends at Pacific midnight in the middle of it:
//!
//! - llmpool's real [`Router`] with each strategy (in-memory store, default settings);
//! - the baseline: the original handler's plain approach, providers in fixed order
//!   (Groq, Cerebras, Gemini, OpenRouter, Cohere) with their default model, the next one
//!   after any error, no local counting, no header reading, the same 30 s timeout.
//!
//! Everything random (trace, latencies, failures, the router's jitter) comes from one
//! seed, so a run is reproducible.

pub mod limits;
pub mod trace;
pub mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use llmpool_core::{
    ChatRequest, Clock, Error, KeyedClient, MemoryStore, Message, Provider, ProviderSetup, Router,
    Settings, StateStore, Strategy, TokioClock, mask_key,
};

use self::trace::{Arrival, TraceConfig};
use self::world::{CallStats, ProviderSpec, SimProvider};

/// The start of the simulated day: midnight UTC, 16:00 the day before in California.
pub const DEFAULT_START: &str = "2026-11-03T00:00:00Z";

/// Timeout of one upstream call, for llmpool (its default) and the baseline alike.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Who routes the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scenario {
    /// llmpool's router with this strategy.
    Llmpool(Strategy),
    /// The original handler's fixed-order fallback.
    Baseline,
}

impl Scenario {
    /// Every scenario: the baseline, then each strategy.
    pub const ALL: [Scenario; 5] = [
        Scenario::Baseline,
        Scenario::Llmpool(Strategy::Priority),
        Scenario::Llmpool(Strategy::RoundRobin),
        Scenario::Llmpool(Strategy::LeastUsed),
        Scenario::Llmpool(Strategy::Latency),
    ];

    /// A short name for tables.
    pub fn name(self) -> String {
        match self {
            Self::Llmpool(s) => format!("llmpool {}", s.as_str()),
            Self::Baseline => "baseline (seed handler)".to_owned(),
        }
    }
}

/// Providers that need a card on file to sign up (Cerebras' $5 trial since 2026-08-17):
/// not among the free sign-ups.
pub const CARD_REQUIRED: &[&str] = &["cerebras"];

/// The original five providers.
pub const FIRST_FIVE: &[&str] = &["groq", "cerebras", "gemini", "openrouter", "cohere"];

/// Which keys the simulated user holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Lineup {
    /// The original five providers alone (Cerebras on its trial key).
    FirstFive,
    /// Every provider a sign-up without a card gives a key for; keyless lanes off.
    FreeSignups,
    /// The same, with the keyless lanes (OVHcloud, Kilo) opted in.
    FreeSignupsKeyless,
}

impl Lineup {
    /// Every lineup.
    pub const ALL: [Lineup; 3] = [
        Lineup::FirstFive,
        Lineup::FreeSignups,
        Lineup::FreeSignupsKeyless,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::FirstFive => "first five",
            Self::FreeSignups => "all free sign-ups",
            Self::FreeSignupsKeyless => "all free sign-ups + keyless",
        }
    }

    /// Its command-line name.
    pub fn arg(self) -> &'static str {
        match self {
            Self::FirstFive => "first-five",
            Self::FreeSignups => "free",
            Self::FreeSignupsKeyless => "free-keyless",
        }
    }

    /// Whether the user of this lineup holds `spec`'s key (or opted in to its lane).
    pub fn includes(self, spec: &ProviderSpec) -> bool {
        let id = spec.factory.id;
        match self {
            Self::FirstFive => FIRST_FIVE.contains(&id),
            Self::FreeSignups => !CARD_REQUIRED.contains(&id) && !spec.keyless,
            Self::FreeSignupsKeyless => !CARD_REQUIRED.contains(&id),
        }
    }

    /// Its providers: the first five in the original handler's order, the others by
    /// default priority (the order the baseline walks them in).
    pub fn providers(self) -> Vec<ProviderSpec> {
        let mut specs: Vec<ProviderSpec> = world::providers()
            .into_iter()
            .filter(|s| self.includes(s))
            .collect();
        if self != Self::FirstFive {
            specs.sort_by_key(|s| s.factory.default_priority);
        }
        specs
    }
}

/// What happened to one offered request.
#[derive(Debug, Clone)]
struct Record {
    provider: Option<&'static str>,
    failure: Option<String>,
    /// Time spent before the answering attempt began (failed attempts and waits).
    added: Duration,
}

/// The figures of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Which keys the user holds.
    pub lineup: String,
    /// Scenario name.
    pub scenario: String,
    /// Requests offered.
    pub offered: usize,
    /// Requests answered.
    pub served: usize,
    /// Requests the caller saw fail, by reason.
    pub failures: BTreeMap<String, usize>,
    /// Upstream calls made.
    pub upstream_calls: u64,
    /// 429s the upstreams answered.
    pub upstream_429s: u64,
    /// Upstream calls that did not produce the answer (429s, errors, timeouts, and any
    /// call beyond the one that answered).
    pub wasted_calls: u64,
    /// Mean time added by fallback before the answering attempt, over served requests.
    pub added_latency_mean_ms: f64,
    /// 99th percentile of the same.
    pub added_latency_p99_ms: f64,
    /// Served requests per provider.
    pub share: BTreeMap<String, usize>,
    /// served / min(offered, theoretical capacity).
    pub capacity_used: f64,
    /// What each upstream saw.
    pub upstream: BTreeMap<String, CallStats>,
}

/// Everything a run needs.
#[derive(Debug, Clone, Serialize)]
pub struct SimConfig {
    /// The trace.
    pub trace: TraceConfig,
    /// Wall-clock start of the day.
    pub start: DateTime<Utc>,
    /// Scenarios to run.
    pub scenarios: Vec<Scenario>,
    /// Lineups to run each scenario with.
    pub lineups: Vec<Lineup>,
}

/// Theoretical capacity of every free tier together over the trace's span, in requests of
/// the trace's mean size: per bucket, the tightest of its limits times the windows the
/// span touches (a fixed day crossing midnight counts twice); a provider-wide bucket caps
/// the sum of its models' buckets.
pub fn capacity(
    specs: &[ProviderSpec],
    start: DateTime<Utc>,
    span: Duration,
    mean_tokens: f64,
    mean_prompt_tokens: f64,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let cap_of = |b: &world::BucketSpec| {
            b.limits
                .iter()
                .map(|l| {
                    let c = limits::Counter::new(*l);
                    #[expect(clippy::cast_precision_loss, reason = "small counts")]
                    let per_window = match l.unit {
                        limits::Unit::Requests => l.max as f64,
                        limits::Unit::Tokens => l.max as f64 / mean_tokens.max(1.0),
                        limits::Unit::InputTokens => l.max as f64 / mean_prompt_tokens.max(1.0),
                        limits::Unit::Neurons => {
                            // At the default model's rates.
                            let per_call = spec.neuron_rates.first().map_or(1.0, |(_, i, o)| {
                                (mean_prompt_tokens * i
                                    + (mean_tokens - mean_prompt_tokens).max(0.0) * o)
                                    / 1e6
                            });
                            l.max as f64 / per_call.max(1e-9)
                        }
                    };
                    #[expect(clippy::cast_precision_loss, reason = "small counts")]
                    let windows = c.windows_in(start, span) as f64;
                    per_window * windows
                })
                .fold(f64::INFINITY, f64::min)
        };
        let (wide, own): (Vec<_>, Vec<_>) =
            spec.buckets.iter().partition(|b| b.models.contains(&"*"));
        let sum: f64 = if own.is_empty() {
            f64::INFINITY
        } else {
            own.iter().map(|b| cap_of(b)).sum()
        };
        let total = wide.iter().map(|b| cap_of(b)).fold(sum, f64::min);
        out.insert(spec.factory.id.to_owned(), total);
    }
    out
}

fn request(arrival: &Arrival) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are a friendly assistant in a group chat."),
            Message::user(arrival.message()),
        ],
        max_tokens: Some(arrival.max_tokens),
        ..ChatRequest::default()
    }
}

fn failure_reason(e: &Error) -> String {
    match e {
        Error::NoAvailableProviders(_) => {
            "no available providers (all cooling down or out of quota)".to_owned()
        }
        Error::AllProvidersFailed(errors) => {
            let mut kinds: Vec<&str> = errors.iter().map(|e| e.kind.label().as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            format!("all providers failed ({})", kinds.join(", "))
        }
        Error::DeadlineExceeded(_) => "deadline exceeded".to_owned(),
        Error::ContentFiltered(_) => "content filtered".to_owned(),
        Error::InvalidRequest(_) => "invalid request".to_owned(),
        Error::Store(_) => "store error".to_owned(),
        Error::Config(_) => "config error".to_owned(),
    }
}

async fn baseline(providers: &[Arc<SimProvider>], req: ChatRequest) -> Record {
    let started = tokio::time::Instant::now();
    let mut kinds: Vec<&'static str> = Vec::new();
    for p in providers {
        let mut upstream = req.clone();
        upstream.model = Some(p.spec().factory.default_model.to_owned());
        let attempt = tokio::time::Instant::now();
        match tokio::time::timeout(CALL_TIMEOUT, p.chat(&upstream)).await {
            Ok(Ok(_)) => {
                return Record {
                    provider: Some(p.spec().factory.id),
                    failure: None,
                    added: attempt - started,
                };
            }
            Ok(Err(e)) => kinds.push(e.kind.label().as_str()),
            Err(_) => kinds.push("timeout"),
        }
    }
    kinds.sort_unstable();
    kinds.dedup();
    Record {
        provider: None,
        failure: Some(format!("all providers failed ({})", kinds.join(", "))),
        added: Duration::ZERO,
    }
}

async fn routed(router: &Router, req: ChatRequest) -> Record {
    let started = tokio::time::Instant::now();
    match router.chat(req).await {
        Ok(r) => {
            let total = started.elapsed();
            let last = r.attempts.last().map_or(Duration::ZERO, |a| a.latency);
            Record {
                provider: Some(r.provider),
                failure: None,
                added: total.saturating_sub(last),
            }
        }
        Err(e) => Record {
            provider: None,
            failure: Some(failure_reason(&e)),
            added: Duration::ZERO,
        },
    }
}

/// Runs one scenario over `trace` on a fresh paused runtime.
pub fn run_scenario(
    scenario: Scenario,
    lineup: Lineup,
    trace: &[Arrival],
    cfg: &SimConfig,
    capacity_total: f64,
) -> anyhow::Result<ScenarioReport> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    runtime.block_on(async {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(cfg.start));
        let specs = lineup.providers();
        let providers: Vec<Arc<SimProvider>> = specs
            .into_iter()
            .zip(0_u64..)
            .map(|(spec, i)| {
                Arc::new(SimProvider::new(
                    spec,
                    Arc::clone(&clock),
                    cfg.trace.seed.wrapping_mul(31).wrapping_add(i),
                ))
            })
            .collect();
        let router = match scenario {
            Scenario::Llmpool(strategy) => {
                let settings = Settings {
                    strategy,
                    store: "memory".to_owned(),
                    ..Settings::default()
                };
                let setups = providers
                    .iter()
                    .map(|p| ProviderSetup {
                        factory: p.spec().factory,
                        clients: vec![KeyedClient {
                            key_label: mask_key(&format!(
                                "sim-{}-key-0123456789abcdef",
                                p.spec().factory.id
                            )),
                            provider: Arc::clone(p) as Arc<dyn Provider>,
                        }],
                    })
                    .collect();
                let store: Arc<dyn StateStore> =
                    Arc::new(MemoryStore::with_clock(Arc::clone(&clock)));
                let router = Router::new(&settings, setups, store, Arc::clone(&clock))?;
                router.reseed(cfg.trace.seed);
                Some(router)
            }
            Scenario::Baseline => None,
        };
        let records: Arc<Mutex<Vec<Record>>> =
            Arc::new(Mutex::new(Vec::with_capacity(trace.len())));
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(trace.len());
        for arrival in trace {
            tokio::time::sleep_until(start + arrival.at).await;
            let req = request(arrival);
            let records = Arc::clone(&records);
            let router = router.clone();
            let providers = providers.clone();
            tasks.push(tokio::spawn(async move {
                let record = match &router {
                    Some(router) => routed(router, req).await,
                    None => baseline(&providers, req).await,
                };
                records
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(record);
            }));
        }
        for t in tasks {
            t.await?;
        }
        let records = std::mem::take(&mut *records.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(summarize(
            scenario,
            lineup,
            trace.len(),
            &records,
            &providers,
            capacity_total,
        ))
    })
}

fn summarize(
    scenario: Scenario,
    lineup: Lineup,
    offered: usize,
    records: &[Record],
    providers: &[Arc<SimProvider>],
    capacity_total: f64,
) -> ScenarioReport {
    let mut failures = BTreeMap::new();
    let mut share = BTreeMap::new();
    let mut added: Vec<Duration> = Vec::new();
    for r in records {
        match (r.provider, &r.failure) {
            (Some(p), _) => {
                *share.entry(p.to_owned()).or_insert(0) += 1;
                added.push(r.added);
            }
            (None, Some(f)) => *failures.entry(f.clone()).or_insert(0) += 1,
            (None, None) => *failures.entry("unknown".to_owned()).or_insert(0) += 1,
        }
    }
    added.sort_unstable();
    let served = added.len();
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and milliseconds far below 2^52"
    )]
    let mean = if served == 0 {
        0.0
    } else {
        added.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / served as f64
    };
    let p99 = added
        .get((served * 99).div_ceil(100).saturating_sub(1))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let upstream = world::stats_of(providers);
    let calls: u64 = upstream.values().map(|s| s.calls).sum();
    let r429: u64 = upstream.values().map(|s| s.rate_limited).sum();
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let capacity_used = served as f64 / (offered as f64).min(capacity_total).max(1.0);
    ScenarioReport {
        lineup: lineup.name().to_owned(),
        scenario: scenario.name(),
        offered,
        served,
        failures,
        upstream_calls: calls,
        upstream_429s: r429,
        wasted_calls: calls.saturating_sub(u64::try_from(served).unwrap_or(u64::MAX)),
        added_latency_mean_ms: mean,
        added_latency_p99_ms: p99,
        share,
        capacity_used,
        upstream: upstream
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    }
}

/// The whole run: every scenario, with the capacity figures.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    /// The configuration.
    pub config: SimConfig,
    /// Mean prompt + completion tokens of the trace's requests.
    pub mean_tokens: f64,
    /// Theoretical capacity per provider over the span (concurrency caps not counted).
    pub capacity: BTreeMap<String, f64>,
    /// Their sum over each lineup's providers.
    pub capacity_total: BTreeMap<String, f64>,
    /// One report per scenario.
    pub scenarios: Vec<ScenarioReport>,
}

/// Runs every configured scenario.
pub fn run(cfg: &SimConfig) -> anyhow::Result<SimReport> {
    let trace = trace::generate(&cfg.trace);
    #[expect(clippy::cast_precision_loss, reason = "token counts far below 2^52")]
    let mean_tokens =
        trace.iter().map(|a| a.total_tokens() as f64).sum::<f64>() / trace.len().max(1) as f64;
    let span = Duration::from_secs(cfg.trace.hours * 3600);
    #[expect(clippy::cast_precision_loss, reason = "token counts far below 2^52")]
    let mean_prompt_tokens =
        trace.iter().map(|a| a.prompt_tokens() as f64).sum::<f64>() / trace.len().max(1) as f64;
    let capacity = capacity(
        &world::providers(),
        cfg.start,
        span,
        mean_tokens,
        mean_prompt_tokens,
    );
    let mut capacity_total = BTreeMap::new();
    let mut scenarios = Vec::new();
    for &lineup in &cfg.lineups {
        let total: f64 = lineup
            .providers()
            .iter()
            .filter_map(|s| capacity.get(s.factory.id))
            .sum();
        capacity_total.insert(lineup.name().to_owned(), total);
        for &s in &cfg.scenarios {
            scenarios.push(run_scenario(s, lineup, &trace, cfg, total)?);
        }
    }
    Ok(SimReport {
        config: cfg.clone(),
        mean_tokens,
        capacity,
        capacity_total,
        scenarios,
    })
}

/// The report as Markdown: one row per scenario, then failures and shares.
pub fn markdown(report: &SimReport) -> String {
    let mut md = String::new();
    let t = &report.config.trace;
    let _ = writeln!(
        md,
        "## Simulated day: {} requests over {} h ({} bursts of {} in {} s), seed {}, start {}\n",
        t.requests,
        t.hours,
        t.bursts,
        t.burst_size,
        t.burst_secs,
        t.seed,
        report.config.start.to_rfc3339()
    );
    let caps: Vec<String> = report
        .capacity
        .iter()
        .map(|(k, v)| format!("{k} {v:.0}"))
        .collect();
    let totals: Vec<String> = report
        .capacity_total
        .iter()
        .map(|(k, v)| format!("{k} {v:.0}"))
        .collect();
    let _ = writeln!(
        md,
        "Theoretical capacity of the free tiers over the span (requests of the trace's mean size, {:.0} tokens; concurrency caps not counted): {} ({}).\n",
        report.mean_tokens,
        totals.join(", "),
        caps.join(", ")
    );
    md.push_str("| keys held | scenario | served | failed | upstream calls | refusals provoked | wasted calls | added latency mean ms | p99 ms | capacity used |\n");
    md.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for s in &report.scenarios {
        let failed: usize = s.failures.values().sum();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} % |",
            s.lineup,
            s.scenario,
            s.served,
            failed,
            s.upstream_calls,
            s.upstream_429s,
            s.wasted_calls,
            s.added_latency_mean_ms,
            s.added_latency_p99_ms,
            s.capacity_used * 100.0
        );
    }
    served_table(&mut md, report);
    md.push_str("\nShare of served requests and failures by reason:\n\n");
    for s in &report.scenarios {
        #[expect(clippy::cast_precision_loss, reason = "counts")]
        let shares: Vec<String> = s
            .share
            .iter()
            .map(|(k, v)| format!("{k} {:.1} %", *v as f64 * 100.0 / s.served.max(1) as f64))
            .collect();
        let fails: Vec<String> = s
            .failures
            .iter()
            .map(|(k, v)| format!("{v} × {k}"))
            .collect();
        let _ = writeln!(
            md,
            "- **{} / {}**: {}{}",
            s.lineup,
            s.scenario,
            shares.join(", "),
            if fails.is_empty() {
                String::new()
            } else {
                format!("; failures: {}", fails.join("; "))
            }
        );
    }
    md
}

/// Requests served per provider and the day's total, one column per lineup: llmpool's
/// `priority` strategy where it ran, else the first scenario run with that lineup.
fn served_table(md: &mut String, report: &SimReport) {
    let mut columns: Vec<&ScenarioReport> = Vec::new();
    for s in &report.scenarios {
        match columns.iter().position(|c| c.lineup == s.lineup) {
            None => columns.push(s),
            Some(i) if s.scenario == Scenario::Llmpool(Strategy::Priority).name() => {
                columns[i] = s;
            }
            Some(_) => {}
        }
    }
    if columns.is_empty() {
        return;
    }
    md.push_str("\nRequests served per provider:\n\n| provider | capacity |");
    for c in &columns {
        let _ = write!(md, " {} ({}) |", c.lineup, c.scenario);
    }
    md.push_str("\n| --- | ---: |");
    for _ in &columns {
        md.push_str(" ---: |");
    }
    md.push('\n');
    for spec in world::providers() {
        let id = spec.factory.id;
        let cap = report.capacity.get(id).copied().unwrap_or_default();
        let _ = write!(md, "| {id} | {cap:.0} |");
        for c in &columns {
            if c.upstream.contains_key(id) {
                let _ = write!(md, " {} |", c.share.get(id).copied().unwrap_or(0));
            } else {
                md.push_str(" — |");
            }
        }
        md.push('\n');
    }
    md.push_str("| **day's total** | |");
    for c in &columns {
        let _ = write!(md, " **{}** of {} |", c.served, c.offered);
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> SimConfig {
        SimConfig {
            trace: TraceConfig {
                requests: 1_500,
                hours: 2,
                bursts: 4,
                burst_size: 50,
                burst_secs: 10,
                seed,
            },
            start: DEFAULT_START.parse().unwrap(),
            scenarios: vec![Scenario::Baseline, Scenario::Llmpool(Strategy::Priority)],
            lineups: Lineup::ALL.to_vec(),
        }
    }

    #[test]
    fn a_run_is_deterministic_for_its_seed() {
        let a = serde_json::to_string(&run(&small(1)).unwrap()).unwrap();
        let b = serde_json::to_string(&run(&small(1)).unwrap()).unwrap();
        assert_eq!(a, b);
        let c = serde_json::to_string(&run(&small(2)).unwrap()).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn every_request_is_accounted_for() {
        let report = run(&small(3)).unwrap();
        for s in &report.scenarios {
            let failed: usize = s.failures.values().sum();
            assert_eq!(s.served + failed, s.offered, "{}", s.scenario);
            assert_eq!(s.share.values().sum::<usize>(), s.served);
            let answered: u64 = s.upstream.values().map(|u| u.answered).sum();
            // Every served request was answered by an upstream.
            assert!(answered >= s.served as u64, "{}", s.scenario);
        }
    }

    #[test]
    fn lineups_hold_the_keys_a_user_can_get() {
        let ids = |l: Lineup| -> Vec<&str> { l.providers().iter().map(|s| s.factory.id).collect() };
        assert_eq!(ids(Lineup::FirstFive), FIRST_FIVE);
        let free = ids(Lineup::FreeSignups);
        assert_eq!(free.len(), 10, "{free:?}");
        assert!(!free.contains(&"cerebras") && !free.contains(&"kilo"));
        let keyless = ids(Lineup::FreeSignupsKeyless);
        assert_eq!(keyless.len(), 12, "{keyless:?}");
        assert!(keyless.contains(&"ovhcloud") && keyless.contains(&"kilo"));
        // By default priority, so the baseline walks them in that order.
        assert_eq!(free[0], "groq");
    }

    #[test]
    fn the_served_table_has_every_provider_and_the_total() {
        let mut cfg = small(4);
        cfg.scenarios = vec![Scenario::Llmpool(Strategy::Priority)];
        let report = run(&cfg).unwrap();
        let md = markdown(&report);
        for spec in world::providers() {
            assert!(
                md.contains(&format!("| {} |", spec.factory.id)),
                "{}: {md}",
                spec.factory.id
            );
        }
        assert!(md.contains("day's total"), "{md}");
        let free = report
            .scenarios
            .iter()
            .find(|s| s.lineup == Lineup::FreeSignups.name())
            .unwrap();
        assert!(
            free.share
                .keys()
                .all(|p| p != "cerebras" && p != "kilo" && p != "ovhcloud")
        );
    }

    #[test]
    fn capacity_counts_two_pacific_days_and_caps_accounts() {
        let start: DateTime<Utc> = DEFAULT_START.parse().unwrap();
        let cap = capacity(
            &world::providers(),
            start,
            Duration::from_secs(86_400),
            500.0,
            300.0,
        );
        // OpenRouter: 50 a day for the whole account, whatever the models.
        assert!((cap["openrouter"] - 50.0).abs() < 1e-9, "{cap:?}");
        // Cohere: the monthly 1,000 caps 9 models × 20 RPM.
        assert!((cap["cohere"] - 1000.0).abs() < 1e-9, "{cap:?}");
        // Groq: 3 models × 1,000 RPD (200,000 TPD / 500 = 400 binds first).
        assert!((cap["groq"] - 1200.0).abs() < 1e-9, "{cap:?}");
        // Second wave: NVIDIA's 40 a minute for the account, Hugging Face's 300 a month,
        // Kilo's 10,000 per rolling day per IP (its 200 an hour allows 4,800).
        assert!((cap["nvidia"] - 40.0 * 1440.0).abs() < 1e-9, "{cap:?}");
        assert!((cap["huggingface"] - 300.0).abs() < 1e-9, "{cap:?}");
        assert!((cap["kilo"] - 4_800.0).abs() < 1e-9, "{cap:?}");
        // Cloudflare: 10,000 Neurons at gpt-oss-120b's rates for 300 in + 200 out.
        let per_call = (300.0 * 31_818.0 + 200.0 * 68_182.0) / 1e6;
        assert!(
            (cap["cloudflare"] - 10_000.0 / per_call).abs() < 1e-6,
            "{cap:?}"
        );
        // Gemini's RPD windows are Pacific days: a UTC day touches two.
        assert!(cap["gemini"] > 2.0 * 500.0);
    }
}
