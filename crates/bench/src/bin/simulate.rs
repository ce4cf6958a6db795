//! `llmpool-simulate`: a simulated day of free-tier traffic through llmpool's router and
//! through the original handler's plain fallback (see `llmpool_bench::sim`). Prints a
//! Markdown table; `--json` and `--markdown` also write the report to files.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;

use llmpool_bench::sim::trace::TraceConfig;
use llmpool_bench::sim::{DEFAULT_START, Lineup, Scenario, SimConfig, markdown, run};
use llmpool_core::Strategy;

/// Replays a trace of chat requests in virtual time against thirteen simulated free tiers.
#[derive(Debug, Parser)]
struct Args {
    /// Requests in the trace.
    #[arg(long, default_value_t = 40_000)]
    requests: usize,
    /// Hours the trace spans.
    #[arg(long, default_value_t = 24)]
    hours: u64,
    /// Bursts in the trace.
    #[arg(long, default_value_t = 48)]
    bursts: usize,
    /// Requests per burst.
    #[arg(long, default_value_t = 50)]
    burst_size: usize,
    /// Seconds a burst lasts.
    #[arg(long, default_value_t = 10)]
    burst_secs: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Wall-clock start of the simulated day (RFC 3339).
    #[arg(long, default_value = DEFAULT_START)]
    start: String,
    /// Scenarios: baseline, priority, round_robin, least_used, latency (default: all).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Keys held: first-five, free (every sign-up without a card), free-keyless (the
    /// same with OVHcloud's and Kilo's keyless lanes opted in) (default: all).
    #[arg(long, value_delimiter = ',')]
    lineups: Vec<String>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the Markdown report here.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

fn scenario(name: &str) -> anyhow::Result<Scenario> {
    Ok(match name {
        "baseline" => Scenario::Baseline,
        "priority" => Scenario::Llmpool(Strategy::Priority),
        "round_robin" => Scenario::Llmpool(Strategy::RoundRobin),
        "least_used" => Scenario::Llmpool(Strategy::LeastUsed),
        "latency" => Scenario::Llmpool(Strategy::Latency),
        other => bail!("unknown scenario `{other}`"),
    })
}

fn lineup(name: &str) -> anyhow::Result<Lineup> {
    Lineup::ALL
        .into_iter()
        .find(|l| l.arg() == name)
        .with_context(|| {
            format!("unknown lineup `{name}` (expected first-five, free or free-keyless)")
        })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.requests > 10_000_000 || args.hours > 24 * 31 {
        bail!("at most 10 million requests over at most 31 days");
    }
    let scenarios = if args.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenarios
            .iter()
            .map(|s| scenario(s))
            .collect::<Result<_, _>>()?
    };
    let lineups = if args.lineups.is_empty() {
        Lineup::ALL.to_vec()
    } else {
        args.lineups
            .iter()
            .map(|l| lineup(l))
            .collect::<Result<_, _>>()?
    };
    let cfg = SimConfig {
        lineups,
        trace: TraceConfig {
            requests: args.requests,
            hours: args.hours,
            bursts: args.bursts,
            burst_size: args.burst_size,
            burst_secs: args.burst_secs,
            seed: args.seed,
        },
        start: args
            .start
            .parse()
            .context("--start is not an RFC 3339 time")?,
        scenarios,
    };
    let started = std::time::Instant::now();
    let report = run(&cfg)?;
    let md = markdown(&report);
    println!("{md}");
    println!(
        "(simulated in {:.1} s of real time)",
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &md).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
