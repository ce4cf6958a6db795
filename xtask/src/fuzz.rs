//! `cargo xtask fuzz --secs N`: the workspace's fuzz targets (property tests named
//! `fuzz_*`, see `llmpool_core::testkit::fuzz`) run in rounds until `N` seconds have
//! passed, each round with a new seed and as many cases as the time left allows.
//!
//! `cargo test` runs every target briefly with a fixed seed; this runs them long, on
//! inputs `cargo test` never tries. A failure stops the run and prints the command that
//! reproduces it (same seed, same case count); its minimized input belongs in a
//! regression test.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::util;

/// Packages holding fuzz targets (integration tests and unit tests named `fuzz_*`).
const PACKAGES: &[&str] = &[
    "llmpool-core",
    "llmpool-openai-compat",
    "llmpool-provider-groq",
    "llmpool-provider-cerebras",
    "llmpool-provider-openrouter",
    "llmpool-provider-gemini",
    "llmpool-provider-cohere",
    "llmpool-gateway",
    "llmpool",
];

/// Cases per target in the first round; later rounds are sized from measured speed.
const FIRST_ROUND_CASES: u64 = 300;
/// Most cases per target in one round (a failure is found and reported per round).
const MAX_ROUND_CASES: u64 = 200_000;
/// Below this many seconds left, no new round starts.
const MIN_ROUND: Duration = Duration::from_secs(3);

/// Runs the fuzz targets for `--secs N` seconds (default 60).
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let secs = parse_secs(args)?;
    util::step("fuzz: building the test binaries");
    let mut build = vec!["test", "--no-run", "--tests"];
    for p in PACKAGES {
        build.extend(["-p", p]);
    }
    util::cargo(root, &build, &[])?;

    util::step(&format!("fuzz: {secs} s"));
    let budget = Duration::from_secs(secs);
    let started = Instant::now();
    let base_seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let mut cases = FIRST_ROUND_CASES;
    let mut total_cases: u64 = 0;
    let mut targets: Vec<String> = Vec::new();
    let mut round: u64 = 0;
    loop {
        let left = budget.saturating_sub(started.elapsed());
        if left < MIN_ROUND {
            break;
        }
        round += 1;
        let seed = base_seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(round);
        let round_start = Instant::now();
        let mut ran = Vec::new();
        for package in PACKAGES {
            ran.extend(run_package(root, package, seed, cases)?);
        }
        let took = round_start.elapsed();
        let round_cases = cases * ran.len() as u64;
        total_cases += round_cases;
        println!(
            "round {round}: seed {seed}, {} targets x {cases} cases = {round_cases} cases in {:.1} s",
            ran.len(),
            took.as_secs_f64()
        );
        for t in ran {
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        cases = next_round_cases(cases, took, budget.saturating_sub(started.elapsed()));
        if cases == 0 {
            break;
        }
    }
    if targets.is_empty() {
        bail!("no fuzz target ran (no test named `fuzz_*` in {PACKAGES:?})");
    }
    println!("\nfuzz targets run ({}):", targets.len());
    for t in &targets {
        println!("  {t}");
    }
    println!(
        "fuzz: {round} rounds, {total_cases} cases in {:.1} s, no failure",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn parse_secs(args: &[String]) -> Result<u64> {
    match args {
        [] => Ok(60),
        [flag, value] if flag == "--secs" => value
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .with_context(|| format!("--secs needs a positive number of seconds, not `{value}`")),
        _ => bail!("usage: cargo xtask fuzz [--secs N]"),
    }
}

/// Cases per target for the next round: what fits the time left at the last round's
/// speed (with a margin for the per-package start-up), capped; 0 when nothing fits.
fn next_round_cases(cases: u64, took: Duration, left: Duration) -> u64 {
    if left < MIN_ROUND {
        return 0;
    }
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "case counts are far below 2^52; the estimate is positive and clamped below"
    )]
    let fit = {
        let per_case = took.as_secs_f64() / cases.max(1) as f64;
        (left.as_secs_f64() * 0.8 / per_case.max(1e-9)).max(0.0) as u64
    };
    fit.min(MAX_ROUND_CASES).min(cases.saturating_mul(8))
}

/// Runs one package's fuzz targets; returns the names of the targets that ran.
fn run_package(root: &Path, package: &str, seed: u64, cases: u64) -> Result<Vec<String>> {
    let output = Command::new(util::cargo_bin())
        .args(["test", "--tests", "-p", package, "--", "fuzz_"])
        .current_dir(root)
        .env("LLMPOOL_FUZZ_SEED", seed.to_string())
        .env("LLMPOOL_FUZZ_CASES", cases.to_string())
        .env("RUST_BACKTRACE", "0")
        .output()
        .with_context(|| format!("cannot run the fuzz targets of {package}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        println!("{stdout}");
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        bail!(
            "a fuzz target of {package} failed; reproduce with\n  LLMPOOL_FUZZ_SEED={seed} LLMPOOL_FUZZ_CASES={cases} cargo test -p {package} --tests -- fuzz_"
        );
    }
    Ok(passed_targets(package, &stdout))
}

/// `package::name` of each `test fuzz_… ... ok` line of libtest's output.
fn passed_targets(package: &str, stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| {
            let name = line.strip_prefix("test ")?.strip_suffix(" ... ok")?;
            let short = name.rsplit("::").next().unwrap_or(name);
            short
                .starts_with("fuzz_")
                .then(|| format!("{package}::{name}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_from_libtest_lines() {
        let out = "running 3 tests\ntest fuzz_a ... ok\ntest config::fuzz_tests::fuzz_b ... ok\ntest other ... ok\ntest fuzz_c ... FAILED\n";
        assert_eq!(
            passed_targets("p", out),
            vec!["p::fuzz_a", "p::config::fuzz_tests::fuzz_b"]
        );
    }

    #[test]
    fn rounds_fit_the_time_left() {
        // 100 cases took 1 s; 10 s left: 80% of the time at that speed is 800 cases.
        assert_eq!(
            next_round_cases(100, Duration::from_secs(1), Duration::from_secs(10)),
            800
        );
        assert_eq!(
            next_round_cases(100, Duration::from_secs(1), Duration::from_secs(2)),
            0
        );
        // Growth is capped per round.
        assert_eq!(
            next_round_cases(10, Duration::from_millis(10), Duration::from_secs(100)),
            80
        );
    }

    #[test]
    fn secs_are_parsed() {
        assert_eq!(parse_secs(&[]).unwrap_or(0), 60);
        assert_eq!(parse_secs(&["--secs".into(), "5".into()]).unwrap_or(0), 5);
        assert!(parse_secs(&["--secs".into(), "0".into()]).is_err());
        assert!(parse_secs(&["--sec".into()]).is_err());
    }
}
