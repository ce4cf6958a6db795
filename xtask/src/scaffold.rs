//! `cargo xtask new-provider NAME`: scaffolds a thin OpenAI-compatible provider crate
//! (factory, catalog, contract suite with fixtures) and wires it into the workspace
//! dependencies and the `llmpool`, `llmpool-gateway` and `llmpool-cli` features, so that
//! it builds, registers and is covered by `cargo xtask contract` with no other edit.

use std::path::Path;

use anyhow::{Context, Result, bail};

const CARGO_TOML: &str = include_str!("scaffold/cargo_toml.tmpl");
const LIB_RS: &str = include_str!("scaffold/lib_rs.tmpl");
const CATALOG: &str = include_str!("scaffold/catalog.tmpl");
const README: &str = include_str!("scaffold/readme.tmpl");
const CONTRACT: &str = include_str!("scaffold/contract.tmpl");
const CHAT_OK: &str = include_str!("scaffold/chat_ok.tmpl");
const CHAT_STREAM: &str = include_str!("scaffold/chat_stream.tmpl");

/// Marker lines in the facade's `lib.rs` after which the scaffold inserts its lines.
pub(crate) const REEXPORT_MARKER: &str = "// xtask new-provider: re-exports";
pub(crate) const FEATURE_MARKER: &str = "// xtask new-provider: features";

/// Creates `crates/provider-<name>` and wires it in.
pub(crate) fn new_provider(root: &Path, name: &str) -> Result<()> {
    validate(name)?;
    let dir = root.join("crates").join(format!("provider-{name}"));
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let fill = |t: &str| {
        t.replace("{ident}", &ident(name))
            .replace("{id}", name)
            .replace("{ID}", &env_prefix(name))
            .replace("{Name}", &display_name(name))
            .replace("{base_url}", &format!("https://api.{name}.invalid/v1"))
    };
    let files = [
        ("Cargo.toml", CARGO_TOML),
        ("README.md", README),
        ("catalog.toml", CATALOG),
        ("src/lib.rs", LIB_RS),
        ("tests/contract.rs", CONTRACT),
        ("tests/fixtures/chat_ok.json", CHAT_OK),
        ("tests/fixtures/chat_stream.sse", CHAT_STREAM),
    ];
    for (rel, template) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, fill(template))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    wire_in(root, name)?;
    println!(
        "created crates/provider-{name} and the `{name}` feature (llmpool, llmpool-gateway, llmpool-cli).\n\
         next: real base URL, models and limits in catalog.toml, CompatHooks for its headers and errors,\n\
         and one contract test per documented error row; `cargo xtask contract` already runs it."
    );
    Ok(())
}

fn validate(name: &str) -> Result<()> {
    // Words of lowercase letters and digits joined by single hyphens (`ollama-cloud`): the
    // hyphen is kept in the id, feature and config key, and becomes `_` in the Rust crate
    // name and the env prefix (`OLLAMA_CLOUD_API_KEY`).
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !ok {
        bail!(
            "provider name `{name}` must be lowercase ASCII letters and digits, starting with a letter, words joined by single hyphens (it becomes the feature, config key and {{NAME}}_API_KEY prefix)"
        );
    }
    if [
        "core", "facade", "gateway", "cli", "sqlite", "redis", "default",
    ]
    .contains(&name)
    {
        bail!("`{name}` is reserved");
    }
    Ok(())
}

/// The Rust identifier of an id: `ollama-cloud` → `ollama_cloud` (crate `llmpool_provider_ollama_cloud`).
fn ident(name: &str) -> String {
    name.replace('-', "_")
}

/// The env-variable prefix of an id: `ollama-cloud` → `OLLAMA_CLOUD`.
fn env_prefix(name: &str) -> String {
    ident(name).to_ascii_uppercase()
}

fn display_name(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn edit(path: &Path, f: impl FnOnce(&str) -> Result<String>) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let new = f(&text).with_context(|| format!("editing {}", path.display()))?;
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

/// Inserts `line` after the last line starting with `prefix`.
fn insert_after_last(text: &str, prefix: &str, line: &str) -> Result<String> {
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .rposition(|l| l.starts_with(prefix))
        .with_context(|| format!("no line starts with `{prefix}`"))?;
    lines.insert(at + 1, line);
    Ok(lines.join("\n") + "\n")
}

/// Adds `"name"` to the `default = [...]` feature list and a feature line after it.
fn add_feature(text: &str, name: &str, feature_line: &str) -> Result<String> {
    let mut out = Vec::new();
    let mut done = false;
    for line in text.lines() {
        if !done && line.starts_with("default = [") && line.ends_with(']') {
            out.push(format!("{}, \"{name}\"]", &line[..line.len() - 1]));
            out.push(feature_line.to_owned());
            done = true;
        } else {
            out.push(line.to_owned());
        }
    }
    if !done {
        bail!("no one-line `default = [...]` feature list");
    }
    Ok(out.join("\n") + "\n")
}

fn wire_in(root: &Path, name: &str) -> Result<()> {
    edit(&root.join("Cargo.toml"), |t| {
        let t = insert_after_last(
            t,
            "    \"crates/provider-",
            &format!("    \"crates/provider-{name}\","),
        )?;
        insert_after_last(
            &t,
            "llmpool-provider-",
            &format!(
                "llmpool-provider-{name} = {{ path = \"crates/provider-{name}\", version = \"0.1.0\" }}"
            ),
        )
    })?;
    let facade = root.join("crates/facade");
    edit(&facade.join("Cargo.toml"), |t| {
        let t = add_feature(
            t,
            name,
            &format!("{name} = [\"dep:llmpool-provider-{name}\"]"),
        )?;
        insert_after_last(
            &t,
            "llmpool-provider-",
            &format!("llmpool-provider-{name} = {{ workspace = true, optional = true }}"),
        )
    })?;
    edit(&facade.join("src/lib.rs"), |t| {
        let t = insert_after_last(
            t,
            REEXPORT_MARKER,
            &format!(
                "#[cfg(feature = \"{name}\")]\npub use llmpool_provider_{id} as {id};",
                id = ident(name)
            ),
        )?;
        insert_after_last(
            &t,
            &format!("    {FEATURE_MARKER}"),
            &format!(
                "    if cfg!(feature = \"{name}\") {{\n        features.push(\"{name}\");\n    }}"
            ),
        )
    })?;
    edit(&root.join("crates/gateway/Cargo.toml"), |t| {
        add_feature(t, name, &format!("{name} = [\"llmpool/{name}\"]"))
    })?;
    edit(&root.join("crates/cli/Cargo.toml"), |t| {
        add_feature(t, name, &format!("{name} = [\"llmpool-gateway/{name}\"]"))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;
    use crate::util;

    /// Copies the workspace's sources (not `target/`, not `.git/`) into `to`.
    fn copy_workspace(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name == "target" || name == ".git" || name.to_string_lossy().ends_with(".db") {
                continue;
            }
            let (src, dst) = (entry.path(), to.join(&name));
            if entry.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&dst).unwrap();
                copy_workspace(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }

    fn cargo(dir: &Path, target: &Path, args: &[&str]) {
        let status = Command::new(util::cargo_bin())
            .args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target)
            .env_remove("CARGO_MAKEFLAGS")
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cargo {args:?} failed in the scaffolded workspace"
        );
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "Example",
            "my_provider",
            "9lives",
            "core",
            "-x",
            "x-",
            "a--b",
            "a-B",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        validate("example2").unwrap();
        validate("ollama-cloud").unwrap();
    }

    #[test]
    fn hyphenated_ids_become_rust_and_env_names() {
        assert_eq!(ident("ollama-cloud"), "ollama_cloud");
        assert_eq!(env_prefix("ollama-cloud"), "OLLAMA_CLOUD");
        assert_eq!(env_prefix("groq"), "GROQ");
        let lib =
            "#[cfg(feature = \"groq\")]\npub use x as groq;\n// xtask new-provider: re-exports\n";
        let features = format!("fn f() {{\n    {FEATURE_MARKER}\n}}\n");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("crates/facade/src")).unwrap();
        std::fs::create_dir_all(root.join("crates/gateway")).unwrap();
        std::fs::create_dir_all(root.join("crates/cli")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\ndefault-members = [\n    \"crates/provider-groq\",\n]\n[workspace.dependencies]\nllmpool-provider-groq = { path = \"crates/provider-groq\" }\n",
        )
        .unwrap();
        let feature_toml = "[features]\ndefault = [\"groq\"]\n[dependencies]\nllmpool-provider-groq = { workspace = true, optional = true }\n";
        std::fs::write(root.join("crates/facade/Cargo.toml"), feature_toml).unwrap();
        std::fs::write(root.join("crates/gateway/Cargo.toml"), feature_toml).unwrap();
        std::fs::write(root.join("crates/cli/Cargo.toml"), feature_toml).unwrap();
        std::fs::write(
            root.join("crates/facade/src/lib.rs"),
            format!("{lib}{features}"),
        )
        .unwrap();
        new_provider(root, "ollama-cloud").unwrap();
        let lib = std::fs::read_to_string(root.join("crates/facade/src/lib.rs")).unwrap();
        assert!(
            lib.contains("pub use llmpool_provider_ollama_cloud as ollama_cloud;"),
            "{lib}"
        );
        assert!(lib.contains("features.push(\"ollama-cloud\");"), "{lib}");
        let facade = std::fs::read_to_string(root.join("crates/facade/Cargo.toml")).unwrap();
        assert!(
            facade.contains("ollama-cloud = [\"dep:llmpool-provider-ollama-cloud\"]"),
            "{facade}"
        );
        let crate_dir = root.join("crates/provider-ollama-cloud");
        let lib_rs = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
        assert!(lib_rs.contains("\"OLLAMA_CLOUD_API_KEY\""), "{lib_rs}");
        assert!(
            lib_rs.contains("const ID: &str = \"ollama-cloud\";"),
            "{lib_rs}"
        );
        let contract = std::fs::read_to_string(crate_dir.join("tests/contract.rs")).unwrap();
        assert!(
            contract.contains("use llmpool_provider_ollama_cloud::FACTORY;"),
            "{contract}"
        );
    }

    /// The promise: `new-provider example` builds, registers and is covered by
    /// `cargo xtask contract` with no other edit. Runs in a copy of the workspace, so the
    /// example never lands in the real tree; its own target dir (kept between runs under
    /// the real `target/`) avoids waiting on the outer cargo's lock.
    #[test]
    fn scaffolded_provider_builds_registers_and_is_contract_tested() {
        let root = util::workspace_root().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path();
        copy_workspace(&root, ws);
        new_provider(ws, "example").unwrap();
        assert!(
            new_provider(ws, "example").is_err(),
            "a second scaffold must not overwrite"
        );

        let ids = util::provider_ids(ws).unwrap();
        assert!(ids.contains(&"example".to_owned()), "{ids:?}");
        let target: PathBuf = root.join("target").join("xtask-scaffold");
        // Covered by the contract runner, through the same code path `cargo xtask contract` uses.
        crate::contract::run_ids_in(
            ws,
            &["example".to_owned()],
            &[("CARGO_TARGET_DIR".to_owned(), target.display().to_string())],
        )
        .unwrap();
        // Builds alone and registers: the facade's feature test sees exactly `example`.
        cargo(
            ws,
            &target,
            &["test", "-p", "llmpool-provider-example", "--lib"],
        );
        cargo(
            ws,
            &target,
            &[
                "test",
                "-p",
                "llmpool",
                "--no-default-features",
                "--features",
                "example",
                "--test",
                "features",
            ],
        );
        let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("    \"crates/provider-example\",\n"),
            "not a default member: {manifest}"
        );
        let gateway = std::fs::read_to_string(ws.join("crates/gateway/Cargo.toml")).unwrap();
        assert!(
            gateway.contains("example = [\"llmpool/example\"]"),
            "{gateway}"
        );
        let cli = std::fs::read_to_string(ws.join("crates/cli/Cargo.toml")).unwrap();
        assert!(
            cli.contains("example = [\"llmpool-gateway/example\"]"),
            "{cli}"
        );
    }
}
