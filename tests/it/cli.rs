//! The CLI: `status --json`, `chat`, and exit codes (0 ok, 1 no provider answered,
//! 2 usage or configuration error).

use wiremock::ResponseTemplate;

use crate::harness::fixtures;
use crate::harness::{P, Setup};

#[tokio::test]
async fn status_json_has_the_seed_shape() {
    let s = Setup::new().await.keyed(&[P::Groq, P::Gemini]);
    let out = s.cli(&["status", "--json"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let q: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON on stdout");
    // Every compiled-in provider is listed, keyed or not (thirteen crates by default).
    assert_eq!(q["total_providers"], 13);
    assert_eq!(
        q["quota_status"].as_object().map(serde_json::Map::len),
        Some(13),
        "{q}"
    );
    assert_eq!(q["available_providers"], 2, "{q}");
    assert!(q["failed_providers"].is_array());
    for p in P::ALL {
        let ps = &q["quota_status"][p.id()];
        let keyed = matches!(p, P::Groq | P::Gemini);
        assert_eq!(ps["api_key_available"], keyed, "{}: {ps}", p.id());
        assert!(ps["calls_today"].is_u64(), "{ps}");
    }
    // No upstream is called for a status.
    for p in P::ALL {
        assert!(s.up.requests(p).await.is_empty());
    }

    let out = s.cli(&["status"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for p in P::ALL {
        assert!(out.stdout.contains(p.id()), "{}", out.stdout);
    }
    assert!(
        out.stdout.contains("2 of 13 providers available"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn keys_come_from_a_dotenv_file_in_the_working_directory() {
    let s = Setup::new().await.keyed(&[P::Cohere]);
    std::fs::write(
        s.dir().join(".env"),
        format!(
            "# keys\n{}={}\nCOHERE_API_KEY=overridden-by-the-environment\n",
            P::Gemini.key_env(),
            P::Gemini.key()
        ),
    )
    .unwrap();
    s.up.serve_ok(P::Gemini).await;
    s.up.serve_ok(P::Cohere).await;
    let out = s.cli(&["status", "--json"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let q: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        q["quota_status"]["gemini"]["api_key_available"], true,
        "{q}"
    );
    assert_eq!(
        q["quota_status"]["cohere"]["api_key_available"], true,
        "{q}"
    );
    assert_eq!(q["quota_status"]["groq"]["api_key_available"], false, "{q}");
    // The key from .env reaches Gemini (its mock checks the header).
    let out = s.cli(&["chat", "hi"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim_end(), fixtures::ok_text(P::Gemini));
    // The environment's Cohere key wins over the file's.
    s.write_toml(
        &crate::harness::TEST_TOML
            .replace("[providers.gemini]", "[providers.gemini]\nenabled = false"),
    );
    let out = s.cli(&["chat", "hi"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim_end(), fixtures::ok_text(P::Cohere));
}

#[tokio::test]
async fn chat_prints_the_answer() {
    let s = Setup::new().await;
    s.up.serve_ok(P::Groq).await;
    let out = s.cli(&["chat", "what", "is", "new?"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim_end(), fixtures::ok_text(P::Groq));
    let sent = s.up.bodies(P::Groq).await;
    let last = sent[0]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["content"], "what is new?");
}

#[tokio::test]
async fn interactive_chat_keeps_the_history_between_lines() {
    let s = Setup::new().await.keyed(&[P::Groq]);
    s.up.on(P::Groq, false)
        .respond_with(fixtures::openai_answer("first answer"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(s.up.server(P::Groq))
        .await;
    s.up.on(P::Groq, false)
        .respond_with(fixtures::openai_answer("second answer"))
        .mount(s.up.server(P::Groq))
        .await;
    let out = s
        .cli_stdin(
            &["chat", "--user", "ada"],
            "first question\n\nsecond question\n/quit\nignored\n",
        )
        .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "first answer\nsecond answer\n");
    let sent = s.up.bodies(P::Groq).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    let contents: Vec<&str> = sent[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents[contents.len() - 3..],
        ["first question", "first answer", "second question"]
    );
}

#[tokio::test]
async fn translate_sends_one_batch_and_prints_one_line_per_text() {
    let s = Setup::new().await.keyed(&[P::Groq]);
    s.up.on(P::Groq, false)
        .respond_with(fixtures::openai_answer(r#"{"1": "Bonjour", "2": "Merci"}"#))
        .mount(s.up.server(P::Groq))
        .await;
    let out = s
        .cli(&["translate", "--to", "French", "Hello", "Thanks"])
        .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "Bonjour\nMerci\n");
    // Lines from stdin; a blank line passes through untouched.
    let out = s
        .cli_stdin(&["translate", "--to", "French"], "Hello\n\nThanks\n")
        .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "Bonjour\n\nMerci\n");
    let sent = s.up.bodies(P::Groq).await;
    assert_eq!(sent.len(), 2, "one upstream call per batch: {sent:?}");
    let user = sent[0]["messages"].as_array().unwrap().last().unwrap();
    let numbered: serde_json::Value =
        serde_json::from_str(user["content"].as_str().unwrap()).unwrap();
    assert_eq!(numbered, serde_json::json!({"1": "Hello", "2": "Thanks"}));
    assert!(
        sent[0]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("French")
    );
}

#[tokio::test]
async fn chat_exits_1_when_every_provider_fails() {
    let s = Setup::new().await;
    for p in P::ALL {
        s.up.serve_error(p, ResponseTemplate::new(500).set_body_string("boom"))
            .await;
    }
    let out = s.cli(&["chat", "hello"]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("All providers failed"),
        "{}",
        out.stderr
    );
    for p in P::ALL {
        assert!(out.stderr.contains(p.id()), "{}", out.stderr);
    }
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[tokio::test]
async fn chat_exits_1_when_no_provider_is_available() {
    let s = Setup::new().await.keyed(&[]);
    let out = s.cli(&["chat", "hello"]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("No available providers"),
        "{}",
        out.stderr
    );
    for p in P::ALL {
        assert!(out.stderr.contains(&p.key_env()), "{}", out.stderr);
    }
}

#[tokio::test]
async fn config_and_usage_errors_exit_2() {
    let s = Setup::new().await;
    s.write_toml("retry_attempts = 1\nretry_atempts = 3\n");
    let path = s.config_path().display().to_string();
    for args in [
        &["chat", "hello"][..],
        &["status", "--json"],
        &["serve", "--addr", "127.0.0.1:0"],
    ] {
        let out = s.cli(args).await;
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains(&path), "names the file: {}", out.stderr);
        assert!(
            out.stderr.contains("retry_atempts"),
            "names the key: {}",
            out.stderr
        );
        assert!(out.stderr.contains("unknown"), "says why: {}", out.stderr);
    }

    s.write_toml("timeout_secs = 0\n");
    let out = s.cli(&["chat", "hello"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("timeout_secs"), "{}", out.stderr);
    assert!(out.stderr.contains("at least 1 second"), "{}", out.stderr);

    let out = s.cli(&["chat", "--no-such-flag"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    let out = s.cli(&["status", "--help"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("--json"), "{}", out.stdout);
    for p in P::ALL {
        assert!(s.up.requests(p).await.is_empty());
    }
}
