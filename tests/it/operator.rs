//! Operator commands: `keys check` against upstreams that accept one key and reject
//! another, `init`, `status --watch`, the translation progress bar when piped, and
//! `LLMPOOL_LOG_FORMAT=json`.

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::{P, Setup, assert_no_secret};

const GOOD: &str = "groq-good-key-0123456789-aaaa";
const BAD: &str = "groq-bad-key-0123456789-bbbb";

#[tokio::test]
async fn keys_check_tells_valid_from_rejected_keys_without_spending_quota() {
    let s = Setup::new()
        .await
        .keyed(&[P::Groq, P::Gemini, P::Cohere])
        .var("GROQ_API_KEY", &format!("{GOOD},{BAD}"));
    let groq = s.up.server(P::Groq);
    Mock::given(method("GET"))
        .and(path("/openai/v1/models"))
        .and(header("authorization", format!("Bearer {GOOD}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{"id": "openai/gpt-oss-120b", "object": "model"}, {"id": "other"}]
        })))
        .expect(2)
        .mount(groq)
        .await;
    Mock::given(method("GET"))
        .and(path("/openai/v1/models"))
        .and(header("authorization", format!("Bearer {BAD}").as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}
        })))
        .expect(1)
        .mount(groq)
        .await;
    // Gemini lists models, but not the configured one.
    Mock::given(method("GET"))
        .and(path("/v1beta/models"))
        .and(header("x-goog-api-key", P::Gemini.key().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "models": [{"name": "models/gemini-2.5-pro"}]
        })))
        .expect(2)
        .mount(s.up.server(P::Gemini))
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header(
            "authorization",
            format!("Bearer {}", P::Cohere.key()).as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "models": [{"name": "command-a-03-2025"}], "next_page_token": ""
        })))
        .expect(2)
        .mount(s.up.server(P::Cohere))
        .await;

    let out = s.cli(&["keys", "check"]).await;
    assert_eq!(out.code, Some(1), "a rejected key fails the check: {out:?}");
    assert_no_secret("keys check stdout", &out.stdout);
    assert_no_secret("keys check stderr", &out.stderr);
    assert!(!out.stdout.contains(GOOD) && !out.stdout.contains(BAD));
    let line = |needle: &str| {
        out.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}:\n{}", out.stdout))
            .to_owned()
    };
    let good = line("***aaaa");
    assert!(good.starts_with("groq"), "{good}");
    assert!(
        good.contains("valid") && good.contains("may use: openai/gpt-oss-120b"),
        "{good}"
    );
    let bad = line("***bbbb");
    assert!(
        bad.contains("rejected") && bad.contains("unauthorized (401)"),
        "{bad}"
    );
    let gemini = line("gemini");
    assert!(
        gemini.contains("valid")
            && gemini.contains("not listed for this key: gemini-3.1-flash-lite"),
        "{gemini}"
    );
    assert!(line("cohere").contains("may use: command-a-03-2025"));
    assert!(
        out.stdout.lines().any(|l| l.starts_with("no key: ")
            && l.contains("CEREBRAS_API_KEY")
            && l.contains("OPENROUTER_API_KEY")
            && !l.contains("GROQ_API_KEY")),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("1 key(s) rejected"), "{}", out.stderr);

    // Only model lists were asked: no chat call, no quota spent.
    for p in P::ALL {
        for r in s.up.requests(p).await {
            assert_eq!(
                r.method.as_str(),
                "GET",
                "{} got {} {}",
                p.id(),
                r.method,
                r.url
            );
        }
    }

    // With the good key alone the check passes (each mock counts both runs).
    let s2 = s.var("GROQ_API_KEY", GOOD);
    let out = s2.cli(&["keys", "check"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[tokio::test]
async fn init_writes_both_files_and_never_overwrites() {
    let s = Setup::new().await;
    let dir = s.dir().join("fresh");
    std::fs::create_dir(&dir).unwrap();
    let dir_arg = dir.display().to_string();
    let out = s.cli(&["init", "--dir", &dir_arg]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let toml = std::fs::read_to_string(dir.join("llmpool.toml")).unwrap();
    assert!(toml.contains("retry_attempts = 2"), "{toml}");
    let env = std::fs::read_to_string(dir.join(".env")).unwrap();
    for p in P::ALL {
        assert!(env.contains(&format!("# {}=", p.key_env())), "{env}");
    }
    assert!(env.contains("https://console.groq.com/keys"), "{env}");

    // The written config is valid: the other commands read it.
    let out = s
        .cli(&[
            "--config",
            &dir.join("llmpool.toml").display().to_string(),
            "status",
            "--json",
        ])
        .await;
    assert_eq!(out.code, Some(0), "{out:?}");

    std::fs::write(dir.join(".env"), "GROQ_API_KEY=mine\n").unwrap();
    let out = s.cli(&["init", "--dir", &dir_arg]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("kept"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.join(".env")).unwrap(),
        "GROQ_API_KEY=mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("llmpool.toml")).unwrap(),
        toml
    );
}

#[tokio::test]
async fn status_watch_redraws_in_place() {
    let s = Setup::new().await.keyed(&[P::Groq]);
    let out = s
        .cli(&["status", "--watch", "--interval", "0.05", "--count", "2"])
        .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let frames: Vec<&str> = out.stdout.split("\x1b[H\x1b[2J").skip(1).collect();
    assert_eq!(frames.len(), 2, "{:?}", out.stdout);
    for frame in frames {
        assert!(frame.starts_with("provider"), "{frame:?}");
        assert!(frame.contains("1 of 13 providers available"), "{frame:?}");
        assert!(frame.contains("updated "), "{frame:?}");
    }
    let out = s.cli(&["status", "--watch", "--interval", "0"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("--interval"), "{}", out.stderr);
}

#[tokio::test]
async fn translate_piped_prints_no_progress_bar() {
    let s = Setup::new().await.keyed(&[P::Groq]);
    s.up.serve_ok(P::Groq).await;
    let lines: Vec<String> = (0..30).map(|i| format!("text number {i}")).collect();
    let input = lines.join("\n") + "\n";
    let out = s.cli_stdin(&["translate", "--to", "French"], &input).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 30, "{}", out.stdout);
    assert!(!out.stderr.contains("texts translated"), "{}", out.stderr);
    assert!(
        !out.stderr.contains('\r') && !out.stderr.contains('\x1b'),
        "{:?}",
        out.stderr
    );
}

#[tokio::test]
async fn translate_on_a_terminal_shows_a_progress_bar() {
    // A terminal has a TERM (the child's environment is cleared otherwise).
    let s = Setup::new().await.keyed(&[P::Groq]).var("TERM", "xterm");
    s.up.serve_ok(P::Groq).await;
    let texts: Vec<String> = (0..30).map(|i| format!("text {i}")).collect();
    let mut args = vec!["translate", "--to", "French"];
    args.extend(texts.iter().map(String::as_str));
    let out = s.cli_pty(&args).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("/30 texts translated"),
        "{:?}",
        out.stdout
    );
}

#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let s = Setup::new()
        .await
        .keyed(&[P::Groq])
        .var("LLMPOOL_LOG_FORMAT", "json")
        .var("RUST_LOG", "warn");
    s.up.serve_error(P::Groq, ResponseTemplate::new(500)).await;
    let out = s
        .cli_stdin(&["translate", "--to", "French"], "bonjour\n")
        .await;
    assert_eq!(out.code, Some(0), "the originals come back: {out:?}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!lines.is_empty(), "a failed translation logs a warning");
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert_eq!(v["level"], "WARN", "{v}");
        assert!(v["fields"]["message"].is_string(), "{v}");
    }

    let bad = Setup::new().await.var("LLMPOOL_LOG_FORMAT", "xml");
    let out = bad.cli(&["status"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("LLMPOOL_LOG_FORMAT"), "{}", out.stderr);
}

#[tokio::test]
async fn start_line_models_and_status_say_what_is_off_and_why() {
    let s = Setup::new().await.keyed(&[P::Groq, P::Cerebras]);
    s.write_toml(
        "[providers.cerebras]\nenabled = false\n\
         [providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodels = [\"m1\"]\n\
         [providers.hosted]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"HOSTED_TOKEN\"\nmodels = [\"m2\"]\n",
    );
    let gw = s.serve().await;
    let start = gw.log();
    let line = start
        .lines()
        .find(|l| l.contains("llmpool listening"))
        .unwrap();
    assert!(line.contains("groq=1 key"), "{line}");
    assert!(
        line.contains("cerebras=off (disabled in config: enabled = false in [providers.cerebras])"),
        "{line}"
    );
    assert!(
        line.contains("gemini=off (no key: set GEMINI_API_KEY)"),
        "{line}"
    );
    assert!(
        line.contains(
            "ovhcloud=off (keyless, not opted in: set enabled = true in [providers.ovhcloud]"
        ),
        "{line}"
    );
    // The `kind = "openai"` providers, in a field of their own.
    let configured = &line[line.find("configured=").unwrap()..];
    assert!(configured.contains("local=keyless"), "{line}");
    assert!(
        configured.contains("hosted=off (no key: set HOSTED_TOKEN"),
        "{line}"
    );
    assert_no_secret("start line", &start);

    let models = gw.get("/v1/models").await.json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"local/m1"), "{models}");
    // The off providers are not models: they are listed apart, with the reason.
    assert!(
        !ids.iter()
            .any(|id| id.starts_with("cerebras/") || id.starts_with("hosted/")),
        "{models}"
    );
    let off = models["llmpool"]["providers_off"].as_array().unwrap();
    let reason = |id: &str| {
        off.iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["reason"].as_str())
            .unwrap_or_else(|| panic!("{id} not in {models}"))
            .to_owned()
    };
    assert!(reason("cerebras").contains("enabled = false"), "{models}");
    assert!(reason("gemini").contains("GEMINI_API_KEY"), "{models}");
    assert!(reason("kilo").contains("enabled = true"), "{models}");
    assert!(reason("hosted").contains("HOSTED_TOKEN"), "{models}");
    assert!(
        off.iter().all(|p| p["id"] != "groq" && p["id"] != "local"),
        "{models}"
    );
    assert_no_secret("/v1/models", &models.to_string());
    drop(gw);

    let out = s.cli(&["status"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let row = |id: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no {id} row: {}", out.stdout))
            .to_owned()
    };
    assert!(
        row("gemini").contains("no key: set GEMINI_API_KEY"),
        "{}",
        out.stdout
    );
    assert!(
        row("cerebras").contains("enabled = false"),
        "{}",
        out.stdout
    );
    assert!(row("hosted").contains("HOSTED_TOKEN"), "{}", out.stdout);
    assert!(!row("groq").contains("no key"), "{}", out.stdout);
    assert_no_secret("status", &out.stdout);
}

#[tokio::test]
async fn failed_attempts_name_their_model_in_trails_and_the_dashboard() {
    const GROQ_FAILED: &str = "groq/openai/gpt-oss-120b:transient";
    // A fallback: groq fails, cerebras answers.
    let s = Setup::new().await.keyed(&[P::Groq, P::Cerebras]);
    s.up.serve_error(P::Groq, ResponseTemplate::new(500)).await;
    s.up.serve_ok(P::Cerebras).await;
    let gw = s.serve().await;
    let r = gw.chat(&crate::harness::hello("auto")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let expected = format!("{GROQ_FAILED},cerebras/gpt-oss-120b:ok");
    assert_eq!(r.header("x-llmpool-trail"), Some(expected.as_str()));
    drop(gw);

    // Every route fails: the 502 names each failed route's model, and so does the
    // dashboard's request list.
    let s = Setup::new().await.keyed(&[P::Groq, P::Cerebras]);
    s.up.serve_error(P::Groq, ResponseTemplate::new(500)).await;
    s.up.serve_error(P::Cerebras, ResponseTemplate::new(500))
        .await;
    let gw = s.serve().await;
    let r = gw.chat(&crate::harness::hello("auto")).await;
    let e = r.error(502);
    let expected = format!("{GROQ_FAILED},cerebras/gpt-oss-120b:transient");
    assert_eq!(e["trail"], expected.as_str(), "{e}");
    assert_eq!(r.header("x-llmpool-trail"), Some(expected.as_str()));
    let state = gw.get("/dashboard/api/state").await.json();
    assert_eq!(state["requests"][0]["trail"], expected.as_str(), "{state}");
}
