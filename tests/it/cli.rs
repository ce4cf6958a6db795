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
    assert_eq!(q["total_providers"], 5);
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
        out.stdout.contains("2 of 5 providers available"),
        "{}",
        out.stdout
    );
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
