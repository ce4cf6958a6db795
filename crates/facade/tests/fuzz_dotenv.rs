//! Fuzz target: `.env`. Files of `KEY=value` lines in every form dotenv allows (quoted,
//! `export`, comments, continuation), damaged lines, and arbitrary bytes are read by
//! `Config::from_env` from the working directory. Whatever the file: no panic; a refusal
//! is a `ConfigError` at `.env` that says where, never what: the API key planted on
//! every line appears in no error.
//!
//! Its own test binary: it changes the working directory, which no other test may see.
//! Short bounded runs here; `cargo xtask fuzz --secs N` runs them longer.

use llmpool::Config;
use llmpool_testkit::fuzz;
use proptest::prelude::*;

/// Planted on every line; no error may show it.
const SECRET: &str = "gsk_fuzzsecret0123456789abcdef";

fn line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("GROQ_API_KEY".to_owned()),
        Just("CEREBRAS_API_KEY".to_owned()),
        Just("LLMPOOL_CLIENT_KEYS".to_owned()),
        "[A-Za-z_][A-Za-z0-9_]{0,8}",
        fuzz::text(6),
    ];
    let form = prop::sample::select(vec![
        "{k}={v}",
        "{k} = \"{v}\"",
        "export {k}='{v}'",
        "{k}=\"{v}",
        "{k}={v} # comment",
        "# {k}={v}",
        "{k}",
        "={v}",
        "{k}=\"{v}\\\n{v}\"",
        "{k}=${{{k}}}{v}",
    ]);
    (key, form, fuzz::text(8)).prop_map(|(k, form, noise)| {
        form.replace("{{", "\u{1}")
            .replace("}}", "\u{2}")
            .replace("{k}", &k)
            .replace("{v}", &format!("{SECRET}{noise}"))
            .replace('\u{1}', "{")
            .replace('\u{2}', "}")
    })
}

fn files() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(line(), 0..6).prop_map(|l| l.join("\n").into_bytes()),
        1 => fuzz::bytes(128).prop_map(|mut b| {
            b.extend_from_slice(format!("\nGROQ_API_KEY={SECRET}\n").as_bytes());
            b
        }),
    ]
}

#[test]
fn fuzz_dotenv_files() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    fuzz::run(256, &files(), |bytes| {
        std::fs::write(".env", &bytes).unwrap();
        match Config::from_env() {
            Ok(config) => {
                let _ = config.var("GROQ_API_KEY");
            }
            Err(e) => {
                let shown = format!("{e} {e:?}");
                assert!(!shown.contains(SECRET), "the key leaked into {shown}");
                assert!(
                    !e.key.trim().is_empty() && !e.reason.trim().is_empty(),
                    "{e:?}"
                );
            }
        }
    });
}
