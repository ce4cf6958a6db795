//! `cargo xtask fuzz --secs N`: the workspace's fuzz targets (property tests named
//! `fuzz_*`, see `llmpool_core::testkit::fuzz`) run in rounds until `N` seconds have
//! passed, each round with a new seed and as many cases as the time left allows.
//!
//! `cargo test` runs every target briefly with a fixed seed; this runs them long, on
//! inputs `cargo test` never tries. A failure stops the run and prints the command that
//! reproduces it (same seed, same case count); its minimized input belongs in a
//! regression test.

use std::path::{Path, PathBuf};
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
    "llmpool-provider-nvidia",
    "llmpool-provider-mistral",
    "llmpool-provider-cloudflare",
    "llmpool-provider-zai",
    "llmpool-provider-ovhcloud",
    "llmpool-provider-huggingface",
    "llmpool-provider-ollama-cloud",
    "llmpool-provider-kilo",
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
    let binaries = build(root)?;

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
        if budget.saturating_sub(started.elapsed()) < MIN_ROUND {
            break;
        }
        round += 1;
        let seed = base_seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(round);
        let round_start = Instant::now();
        let mut ran = Vec::new();
        for binary in &binaries {
            ran.extend(run_binary(binary, seed, cases)?);
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

/// One test executable of a fuzzed package.
#[derive(Debug)]
struct TestBinary {
    package: String,
    path: PathBuf,
    /// The package's directory: cargo runs tests there, and so do we.
    dir: PathBuf,
}

/// Builds the test executables of [`PACKAGES`] in one cargo call (one feature
/// resolution, so nothing is rebuilt per package) and lists them.
fn build(root: &Path) -> Result<Vec<TestBinary>> {
    let mut args = vec!["test", "--no-run", "--tests", "--message-format=json"];
    for p in PACKAGES {
        args.extend(["-p", p]);
    }
    let output = Command::new(util::cargo_bin())
        .args(&args)
        .current_dir(root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo test --no-run")?;
    if !output.status.success() {
        bail!("building the fuzz targets failed");
    }
    let binaries = test_binaries(&String::from_utf8_lossy(&output.stdout));
    if binaries.is_empty() {
        bail!("cargo built no test executable for {PACKAGES:?}");
    }
    Ok(binaries)
}

/// The test executables named in cargo's JSON messages.
fn test_binaries(messages: &str) -> Vec<TestBinary> {
    messages
        .lines()
        .filter_map(|line| {
            let msg: serde_json::Value = serde_json::from_str(line).ok()?;
            if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
                return None;
            }
            let path = PathBuf::from(msg["executable"].as_str()?);
            let manifest = PathBuf::from(msg["manifest_path"].as_str()?);
            let id = msg["package_id"].as_str()?;
            // `path+file:///…/crates/core#llmpool-core@0.1.0`; without a name there (the
            // directory is the package name: `…/xtask#0.1.0`), the directory's name.
            let package = id
                .rsplit_once('#')
                .and_then(|(_, tail)| tail.split_once('@').map(|(name, _)| name.to_owned()))
                .or_else(|| {
                    manifest
                        .parent()?
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })?;
            Some(TestBinary {
                package,
                path,
                dir: manifest.parent()?.to_path_buf(),
            })
        })
        .collect()
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

/// Runs one executable's fuzz targets; returns the names of those that ran.
fn run_binary(binary: &TestBinary, seed: u64, cases: u64) -> Result<Vec<String>> {
    let output = Command::new(&binary.path)
        .arg("fuzz_")
        .current_dir(&binary.dir)
        .env("LLMPOOL_FUZZ_SEED", seed.to_string())
        .env("LLMPOOL_FUZZ_CASES", cases.to_string())
        .env("RUST_BACKTRACE", "0")
        .output()
        .with_context(|| format!("cannot run {}", binary.path.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        println!("{stdout}");
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        bail!(
            "a fuzz target of {package} failed; reproduce with\n  LLMPOOL_FUZZ_SEED={seed} LLMPOOL_FUZZ_CASES={cases} cargo test -p {package} --tests -- fuzz_",
            package = binary.package,
        );
    }
    Ok(passed_targets(&binary.package, &stdout))
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
    fn test_binaries_are_read_from_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/core#llmpool-core@0.1.0","manifest_path":"/w/crates/core/Cargo.toml","profile":{"test":true},"executable":"/w/target/debug/deps/fuzz-1"}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/crates/core#llmpool-core@0.1.0","manifest_path":"/w/crates/core/Cargo.toml","profile":{"test":false},"executable":null}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        let found = test_binaries(messages);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].package, "llmpool-core");
        assert_eq!(found[0].path, PathBuf::from("/w/target/debug/deps/fuzz-1"));
        assert_eq!(found[0].dir, PathBuf::from("/w/crates/core"));
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
