//! Small helpers: running cargo, finding the workspace and its provider crates.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of this crate's directory).
pub(crate) fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}

/// The cargo that runs us (so toolchain overrides are respected).
pub(crate) fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Prints a step banner.
pub(crate) fn step(name: &str) {
    println!("\n==> xtask: {name}");
}

/// Runs `cargo <args>` in `root` with extra environment; fails on a non-zero exit.
pub(crate) fn cargo(root: &Path, args: &[&str], env: &[(String, String)]) -> Result<()> {
    let mut cmd = Command::new(cargo_bin());
    cmd.args(args).current_dir(root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// Runs a command, failing with its command line when it exits non-zero.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Provider crates: `crates/provider-<id>` directories holding a Cargo.toml.
pub(crate) fn provider_ids(root: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).context("reading crates/")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_prefix("provider-")
            && entry.path().join("Cargo.toml").is_file()
        {
            ids.push(id.to_owned());
        }
    }
    ids.sort();
    Ok(ids)
}
