//! `llmpool init`: a commented `llmpool.toml` with every setting at its default, and a
//! `.env` template naming every compiled-in provider's key variable and where to get a key.
//! Existing files are never overwritten.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;

/// Every setting with its default, commented (a test parses it back to the defaults).
const SETTINGS_TEMPLATE: &str = include_str!("init/llmpool.toml");

/// Where a person gets a free key, per provider id; others point to their API docs.
const SIGN_UP: [(&str, &str); 5] = [
    ("groq", "https://console.groq.com/keys"),
    ("cerebras", "https://cloud.cerebras.ai"),
    ("gemini", "https://aistudio.google.com/apikey"),
    ("openrouter", "https://openrouter.ai/keys"),
    ("cohere", "https://dashboard.cohere.com/api-keys"),
];

/// What `init` did with one file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    Created,
    KeptExisting,
}

/// The `.env` template: one commented line per provider key variable.
pub(crate) fn env_template(factories: &[&llmpool::ProviderFactory]) -> String {
    let mut out = String::from(
        "# .env — llmpool reads this file from the working directory. One key per provider is\n\
         # enough; several keys (comma-separated) each get their own free quota.\n\
         # Never commit this file.\n",
    );
    for f in factories {
        let page = SIGN_UP
            .iter()
            .find(|(id, _)| *id == f.id)
            .map_or(f.docs_url, |(_, page)| page);
        let _ = write!(
            out,
            "\n# {} — get a key at {page}\n# {}=\n# {}=   (optional: another endpoint)\n",
            f.display_name, f.key_env, f.base_url_env
        );
    }
    out.push_str(
        "\n# Client keys the gateway (`llmpool serve`) requires, comma-separated; unset = no auth\n\
         # (then it serves only a loopback address).\n# LLMPOOL_API_KEYS=\n",
    );
    out
}

/// Writes `contents` to `path` unless a file is there already (checked atomically).
fn write_new(path: &Path, contents: &str) -> anyhow::Result<Written> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(contents.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(Written::Created)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Written::KeptExisting),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Writes both files into `dir` and says what happened to each.
pub(crate) fn run(dir: &Path) -> anyhow::Result<()> {
    let env = env_template(&llmpool::providers());
    for (name, contents) in [("llmpool.toml", SETTINGS_TEMPLATE), (".env", env.as_str())] {
        let path = dir.join(name);
        match write_new(&path, contents)? {
            Written::Created => println!("wrote {}", path.display()),
            Written::KeptExisting => {
                println!("kept {} (it exists; not overwritten)", path.display());
            }
        }
    }
    println!("next: put at least one key in .env, then `llmpool keys check` and `llmpool serve`");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_template_is_every_default() {
        let parsed: llmpool::Settings = toml::from_str(SETTINGS_TEMPLATE).unwrap();
        assert_eq!(parsed, llmpool::Settings::default());
        // Every top-level setting is written out (set or commented), so none is hidden.
        let defaults = toml::Table::try_from(llmpool::Settings::default()).unwrap();
        let mut keys: Vec<String> = defaults.keys().cloned().collect();
        // `routes` defaults to none, so it is not serialized; it must still be shown.
        keys.push("routes".to_owned());
        for key in &keys {
            let set = SETTINGS_TEMPLATE.contains(&format!("\n{key} = "));
            let commented = SETTINGS_TEMPLATE.contains(&format!("\n# {key} = "))
                || SETTINGS_TEMPLATE.contains(&format!("\n[{key}]"))
                || SETTINGS_TEMPLATE.contains(&format!("\n# [{key}."));
            assert!(set || commented, "`{key}` is missing from the template");
        }
    }

    /// The commented `model_capabilities` example is valid once uncommented.
    #[test]
    fn the_capabilities_example_parses_when_uncommented() {
        let start = SETTINGS_TEMPLATE
            .find("# [providers.groq.model_capabilities.")
            .expect("the template shows model_capabilities");
        let block = SETTINGS_TEMPLATE[start..]
            .lines()
            .take_while(|l| *l != "#")
            .map(|l| l.trim_start_matches("# "))
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: llmpool::Settings = toml::from_str(&block).unwrap();
        let over = parsed.providers["groq"]
            .capabilities_for("openai/gpt-oss-20b")
            .copied()
            .unwrap();
        assert_eq!(over.json_schema, Some(false));
        assert_eq!(over.context_window, Some(65_536));
    }

    #[test]
    fn the_env_template_names_every_key_variable() {
        let text = env_template(&llmpool::providers());
        for f in llmpool::providers() {
            assert!(
                text.contains(&format!("# {}=\n", f.key_env)),
                "{}",
                f.key_env
            );
        }
        assert!(text.contains("https://aistudio.google.com/apikey"));
    }

    #[test]
    fn existing_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        std::fs::write(&path, "mine").unwrap();
        assert_eq!(write_new(&path, "new").unwrap(), Written::KeptExisting);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
        let fresh = dir.path().join("y.toml");
        assert_eq!(write_new(&fresh, "new").unwrap(), Written::Created);
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "new");
    }
}
