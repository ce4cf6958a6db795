//! A crate outside the workspace that depends on the facade with
//! `default-features = false, features = ["mistral"]` registers exactly `mistral`: the
//! features pick the compiled-in providers, and nothing else slips in through `inventory`.

use std::process::Command;

use crate::harness::workspace_root;

const MAIN_RS: &str = r#"fn main() {
    let ids: Vec<&str> = llmpool::providers().iter().map(|f| f.id).collect();
    println!("providers={}", ids.join(","));
    println!("features={}", llmpool::enabled_provider_features().join(","));
}
"#;

#[test]
fn an_outside_crate_with_only_the_mistral_feature_registers_exactly_mistral() {
    let root = workspace_root();
    let dir = tempfile::tempdir().unwrap();
    let facade = root.join("crates").join("facade");
    let manifest = format!(
        "[package]\nname = \"outside\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nllmpool = {{ path = {path}, default-features = false, features = [\"mistral\"] }}\n\n\
         [workspace]\n",
        path = serde_json::Value::String(facade.display().to_string())
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src").join("main.rs"), MAIN_RS).unwrap();
    // The workspace's lock file: every version is already resolved, so nothing needs the
    // network (cargo only drops the entries this crate does not use).
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--offline"])
        .current_dir(dir.path())
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo run failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, ["providers=mistral", "features=mistral"], "{stdout}");
}
