//! `cargo xtask tidy`: every member has crate docs, workspace lints and (crates) a README.

use std::path::Path;

use anyhow::{Result, bail};

/// Checks every workspace member; lists every problem before failing.
pub(crate) fn run(root: &Path) -> Result<()> {
    let mut members: Vec<(std::path::PathBuf, bool)> = Vec::new();
    for entry in std::fs::read_dir(root.join("crates"))? {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file() {
            members.push((path, true));
        }
    }
    members.push((root.join("xtask"), false));
    members.push((root.join("tests"), false));
    members.sort();
    let mut problems = Vec::new();
    for (dir, needs_readme) in &members {
        let name = dir.strip_prefix(root).unwrap_or(dir).display().to_string();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
        if !manifest.contains("[lints]\nworkspace = true") {
            problems.push(format!(
                "{name}: Cargo.toml lacks `[lints] workspace = true`"
            ));
        }
        if *needs_readme && !dir.join("README.md").is_file() {
            problems.push(format!("{name}: no README.md"));
        }
        let roots = ["src/lib.rs", "src/main.rs"];
        let mut found = false;
        for file in roots {
            let path = dir.join(file);
            if let Ok(text) = std::fs::read_to_string(&path) {
                found = true;
                let first = text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_default();
                if !first.starts_with("//!") {
                    problems.push(format!(
                        "{name}/{file}: does not open with `//!` crate docs"
                    ));
                }
            }
        }
        if !found {
            problems.push(format!("{name}: no src/lib.rs or src/main.rs"));
        }
    }
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    println!("xtask tidy: {} members ok", members.len());
    Ok(())
}
