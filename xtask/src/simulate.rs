//! `cargo xtask simulate [ARGS]`: builds and runs `llmpool-simulate` (release), which
//! plays a day of free-tier traffic through llmpool's router in virtual time and writes
//! `target/bench/simulate-<date>.json` and `.md`: each scenario with each lineup of keys
//! (the first five alone, all free sign-ups, with the keyless lanes too) and a table of
//! requests served per provider. Arguments are passed on (`--help`).

use std::path::Path;

use anyhow::Result;

use crate::util;

/// Runs the simulation binary with `args`.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let out = root.join("target").join("bench");
    std::fs::create_dir_all(&out)?;
    let date = util::today();
    let mut cargo_args = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        "llmpool-bench",
        "--bin",
        "llmpool-simulate",
        "--",
    ];
    let json = out.join(format!("simulate-{date}.json"));
    let md = out.join(format!("simulate-{date}.md"));
    let json_s = json.display().to_string();
    let md_s = md.display().to_string();
    let has_out = args.iter().any(|a| a == "--json" || a == "--markdown");
    if !has_out {
        cargo_args.extend(["--json", &json_s, "--markdown", &md_s]);
    }
    cargo_args.extend(args.iter().map(String::as_str));
    util::cargo(root, &cargo_args, &[])
}
