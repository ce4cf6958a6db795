//! Project automation for the llmpool workspace: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks, on a fresh machine too (provisions what tests need);
//! - `test`: provision, then `cargo test --workspace`;
//! - `contract`: every `llmpool-provider-*` crate's contract suite, snapshots frozen;
//! - `new-provider NAME`: scaffold a registered provider crate with contract tests;
//! - `tidy`: README, crate docs and lint settings of every member;
//! - `bench gateway`: the gateway's overhead against a mock upstream, nginx as reference;
//! - `simulate`: a simulated day of free-tier traffic through the real router;
//! - `fuzz --secs N`: the fuzz targets (`fuzz_*` property tests) for N seconds.

mod bench;
mod contract;
mod fuzz;
mod provision;
mod scaffold;
mod simulate;
mod tidy;
mod util;

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask <ci | test | contract | tidy | new-provider NAME | bench gateway | simulate [ARGS] | fuzz [--secs N]>";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = util::workspace_root()?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("test") => test(&root, &args[1..]),
        Some("contract") => contract::run(&root),
        Some("tidy") => tidy::run(&root),
        Some("bench") => bench::run(&root, &args[1..]),
        Some("simulate") => simulate::run(&root, &args[1..]),
        Some("fuzz") => fuzz::run(&root, &args[1..]),
        Some("new-provider") => match args.get(1) {
            Some(name) => scaffold::new_provider(&root, name),
            None => bail!("new-provider needs a NAME\n{USAGE}"),
        },
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

/// Provision, then run the whole test suite.
fn test(root: &std::path::Path, extra: &[String]) -> Result<()> {
    let env = provision::run(root)?;
    let mut args = vec!["test", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    util::cargo(root, &args, &env)
}

/// Everything CI checks.
fn ci(root: &std::path::Path) -> Result<()> {
    let env = provision::run(root)?;
    util::step("format");
    util::cargo(root, &["fmt", "--all", "--", "--check"], &[])?;
    util::step("clippy");
    util::cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    util::step("tests");
    util::cargo(root, &["test", "--workspace"], &env)?;
    util::step("contract");
    contract::run(root)?;
    util::step("feature subsets");
    features(root)?;
    util::step("tidy");
    tidy::run(root)?;
    println!("xtask ci: all checks passed");
    Ok(())
}

/// The facade with no provider, each provider alone, and all of them.
fn features(root: &std::path::Path) -> Result<()> {
    let providers = util::provider_ids(root)?;
    util::cargo(
        root,
        &["check", "-p", "llmpool", "--no-default-features"],
        &[],
    )?;
    for id in &providers {
        util::cargo(
            root,
            &[
                "check",
                "-p",
                "llmpool",
                "--no-default-features",
                "--features",
                id,
            ],
            &[],
        )?;
    }
    util::cargo(root, &["check", "-p", "llmpool", "--all-features"], &[])
}
