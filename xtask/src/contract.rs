//! `cargo xtask contract`: runs every provider crate's contract suite with snapshots
//! frozen, so a new provider crate is covered without editing this file.

use std::path::Path;

use anyhow::{Result, bail};

use crate::util;

/// Runs `cargo test -p llmpool-provider-<id> --test contract` for every provider crate
/// with `INSTA_UPDATE=no`, then fails on any pending `*.snap.new`.
pub(crate) fn run(root: &Path) -> Result<()> {
    let ids = util::provider_ids(root)?;
    run_ids_in(root, &ids, &[])
}

/// Runs the contract suites of these providers in the workspace at `root`.
pub(crate) fn run_ids_in(
    root: &Path,
    ids: &[String],
    extra_env: &[(String, String)],
) -> Result<()> {
    if ids.is_empty() {
        bail!("no provider crates found under crates/provider-*");
    }
    let mut env = vec![
        ("INSTA_UPDATE".to_owned(), "no".to_owned()),
        ("INSTA_FORCE_PASS".to_owned(), "0".to_owned()),
        ("CI".to_owned(), "true".to_owned()),
    ];
    env.extend(extra_env.iter().cloned());
    let mut args = vec!["test".to_owned()];
    for id in ids {
        let crate_dir = root.join("crates").join(format!("provider-{id}"));
        if !crate_dir.join("tests").join("contract.rs").is_file() {
            bail!(
                "provider `{id}` has no tests/contract.rs; every provider needs a contract suite"
            );
        }
        args.push("-p".to_owned());
        args.push(format!("llmpool-provider-{id}"));
    }
    args.extend(["--test".to_owned(), "contract".to_owned()]);
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    util::cargo(root, &arg_refs, &env)?;
    let pending = pending_snapshots(&root.join("crates"))?;
    if !pending.is_empty() {
        bail!(
            "snapshots changed and were not reviewed:\n  {}",
            pending.join("\n  ")
        );
    }
    println!(
        "xtask contract: {} provider(s) passed: {}",
        ids.len(),
        ids.join(", ")
    );
    Ok(())
}

fn pending_snapshots(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "new")
                && path.to_string_lossy().ends_with(".snap.new")
            {
                found.push(path.display().to_string());
            }
        }
    }
    found.sort();
    Ok(found)
}
