//! `cargo xtask tidy`: every member has crate docs, workspace lints and (crates) a README,
//! and a root `cargo build --release` links nothing test-only into the `llmpool` binary.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

/// Features that exist for tests only: a root build must not enable them.
const TEST_FEATURES: &[(&str, &str)] = &[
    ("tokio", "test-util"),
    ("llmpool-core", "testkit"),
    ("llmpool-openai-compat", "testkit"),
];

/// Packages that exist for tests and measurements only: a root build must not compile them.
const TEST_PACKAGES: &[&str] = &[
    "llmpool-bench",
    "llmpool-testkit",
    "wiremock",
    "insta",
    "criterion",
];

/// The package whose binary ships; the graph checked must contain it.
const PRODUCT: &str = "llmpool-cli";

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
    problems.extend(product_graph_problems(&root_build_graph(root)?));
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

/// What a plain `cargo build --release` at the root compiles (the default members, normal
/// dependencies, features unified as that build unifies them), one node per line:
/// `tokio v1.48.0` or `tokio feature "time"`.
fn root_build_graph(root: &Path) -> Result<String> {
    let output = Command::new(util::cargo_bin())
        .args(["tree", "-e", "normal,features", "--prefix", "none"])
        .current_dir(root)
        .output()
        .context("cannot run cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).context("cargo tree printed invalid UTF-8")
}

/// The test-only features and packages found in `tree` (the output of
/// [`root_build_graph`]); also a problem when the product package is absent, so an empty
/// or unexpected graph does not pass.
fn product_graph_problems(tree: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut has_product = false;
    for line in tree.lines() {
        let mut words = line.split_whitespace();
        let (Some(package), Some(second)) = (words.next(), words.next()) else {
            continue;
        };
        if second == "feature" {
            let feature = words.next().unwrap_or_default().trim_matches('"');
            if TEST_FEATURES.contains(&(package, feature)) {
                problems.push(format!(
                    "root build: `{package}` feature `{feature}` (test-only) reaches the `llmpool` binary's build; \
                     keep it in dev-dependencies or out of `default-members`"
                ));
            }
        } else if second.starts_with('v') {
            has_product |= package == PRODUCT;
            if TEST_PACKAGES.contains(&package) {
                problems.push(format!(
                    "root build: test-only package `{package}` is compiled by `cargo build` at the root; \
                     keep it in dev-dependencies or out of `default-members`"
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    if !has_product {
        problems.push(format!(
            "root build: `{PRODUCT}` is not in the root build graph (is it still a default member?)"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "llmpool-cli v0.1.0 (/w/crates/cli)\n\
        tokio feature \"default\"\n\
        tokio v1.48.0\n\
        tokio feature \"time\" (*)\n\
        tokio-util v0.7.16\n\
        llmpool-core feature \"default\" (command-line)\n";

    #[test]
    fn a_clean_graph_passes() {
        assert_eq!(product_graph_problems(CLEAN), Vec::<String>::new());
    }

    #[test]
    fn test_util_of_tokio_is_caught_once() {
        let tree = format!("{CLEAN}tokio feature \"test-util\"\ntokio feature \"test-util\" (*)\n");
        let problems = product_graph_problems(&tree);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("`tokio` feature `test-util`"),
            "{problems:?}"
        );
    }

    #[test]
    fn test_packages_and_testkit_features_are_caught() {
        let tree = format!(
            "{CLEAN}wiremock v0.6.5\nllmpool-bench v0.1.0 (/w/crates/bench)\nllmpool-core feature \"testkit\"\n"
        );
        let problems = product_graph_problems(&tree);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("`wiremock`")));
        assert!(problems.iter().any(|p| p.contains("`llmpool-bench`")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("`llmpool-core` feature `testkit`"))
        );
    }

    #[test]
    fn a_feature_of_another_package_with_a_test_name_passes() {
        let tree = format!("{CLEAN}other feature \"test-util\"\n");
        assert_eq!(product_graph_problems(&tree), Vec::<String>::new());
    }

    #[test]
    fn a_graph_without_the_product_fails() {
        let problems = product_graph_problems("tokio v1.48.0\n");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("`llmpool-cli`"), "{problems:?}");
    }
}
