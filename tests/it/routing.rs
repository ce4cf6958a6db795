//! One-shot answers from every upstream, fallback across providers and pinning.

use serde_json::json;

use crate::harness::fixtures::{self, GROQ_429_TPM, GROQ_429_TPM_HEADERS};
use crate::harness::{P, Setup, hello};

#[tokio::test]
async fn each_provider_answers_in_openai_shape_when_pinned() {
    let s = Setup::new().await;
    for p in P::ALL {
        s.up.serve_ok(p).await;
    }
    let gw = s.serve().await;
    // The start line says, per provider, that a key was found (never the key).
    let start = gw.log();
    for p in P::ALL {
        assert!(start.contains(&format!("{}=1 key", p.id())), "{start}");
    }
    for p in P::ALL {
        let r = gw.chat(&hello(p.id())).await;
        assert_eq!(r.status, 200, "{}: {}", p.id(), r.body);
        assert_eq!(r.header("x-llmpool-provider"), Some(p.id()));
        assert_eq!(r.header("x-llmpool-attempts"), Some("1"));
        let body = r.json();
        assert_eq!(body["object"], "chat.completion", "{body}");
        assert_eq!(body["choices"][0]["message"]["role"], "assistant");
        assert_eq!(
            body["choices"][0]["message"]["content"],
            fixtures::ok_text(p),
            "{}",
            p.id()
        );
        assert_eq!(body["choices"][0]["finish_reason"], "stop", "{body}");
        // `model` is the model that answered: as the upstream reported it, else the one
        // llmpool asked for.
        let sent = s.up.bodies(p).await;
        let expected = fixtures::ok_model(p).unwrap_or_else(|| {
            sent.last().unwrap()["model"]
                .as_str()
                .expect("cohere requests name a model")
                .to_owned()
        });
        assert_eq!(body["model"], expected.as_str(), "{}", p.id());
        assert!(
            body["usage"]["total_tokens"].as_u64().unwrap() > 0,
            "{body}"
        );
        // Only the pinned upstream was called.
        assert_eq!(s.up.requests(p).await.len(), 1, "{}", p.id());
    }
    let groq = gw.chat(&hello("groq")).await.json();
    assert_eq!(
        groq["usage"],
        json!({"prompt_tokens": 45, "completion_tokens": 607, "total_tokens": 652})
    );
}

#[tokio::test]
async fn groq_rate_limit_falls_back_to_cerebras() {
    let s = Setup::new().await;
    s.up.serve_error(
        P::Groq,
        fixtures::json(429, GROQ_429_TPM, Some(GROQ_429_TPM_HEADERS)),
    )
    .await;
    s.up.serve_ok(P::Cerebras).await;
    let gw = s.serve().await;

    let r = gw.chat(&hello("auto")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(r.header("x-llmpool-attempts"), Some("2"));
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        fixtures::ok_text(P::Cerebras)
    );

    // Groq is cooling down (retry-after: 12): the next request goes to Cerebras at once.
    let r = gw.chat(&hello("auto")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(r.header("x-llmpool-attempts"), Some("1"));
    assert_eq!(s.up.requests(P::Groq).await.len(), 1);
    assert_eq!(s.up.requests(P::Cerebras).await.len(), 2);
    for p in [P::Gemini, P::OpenRouter, P::Cohere] {
        assert!(s.up.requests(p).await.is_empty(), "{}", p.id());
    }

    let metrics = gw.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for line in [
        r#"llmpool_attempts_total{provider="groq",outcome="rate_limited"} 1"#,
        r#"llmpool_attempts_total{provider="cerebras",outcome="ok"} 2"#,
        r#"llmpool_requests_total{endpoint="chat_completions",outcome="ok"} 2"#,
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "{line} in:\n{}",
            metrics.body
        );
    }

    let q = gw.get("/v1/quota").await.json();
    let groq = &q["quota_status"]["groq"];
    assert_eq!(groq["available"], false, "{q}");
    assert!(groq["cooldown_until"].is_string(), "{q}");
    assert!(
        groq["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("rate_limited")),
        "{q}"
    );
}

#[tokio::test]
async fn model_pins_a_provider_a_route_or_an_alias() {
    let s = Setup::new().await;
    for p in P::ALL {
        s.up.serve_ok(p).await;
    }
    let gw = s.serve().await;

    let r = gw.chat(&hello("gemini")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("gemini"));
    let gemini = s.up.requests(P::Gemini).await;
    assert_eq!(gemini.len(), 1);
    assert!(
        gemini[0].url.path().starts_with("/v1beta/models/gemini-"),
        "{}",
        gemini[0].url
    );

    let r = gw.chat(&hello("groq/openai/gpt-oss-20b")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("groq"));
    let sent = s.up.bodies(P::Groq).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["model"], "openai/gpt-oss-20b");
    assert_eq!(sent[0]["messages"][0]["content"], "hello");

    // `gpt-4o-mini` is an alias of `cerebras` in the test llmpool.toml.
    let r = gw.chat(&hello("gpt-4o-mini")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-llmpool-provider"), Some("cerebras"));
    assert_eq!(s.up.requests(P::Cerebras).await.len(), 1);

    // `auto` takes the first provider by priority.
    let r = gw.chat(&hello("auto")).await;
    assert_eq!(r.header("x-llmpool-provider"), Some("groq"));
    for p in [P::OpenRouter, P::Cohere] {
        assert!(s.up.requests(p).await.is_empty(), "{}", p.id());
    }
}
