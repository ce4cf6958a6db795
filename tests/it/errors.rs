//! Every error status over real HTTP, in OpenAI's error shape.

use serde_json::json;
use wiremock::ResponseTemplate;

use crate::harness::fixtures::{
    self, CEREBRAS_401, COHERE_429_TRIAL_RPM, GEMINI_503, GEMINI_BLOCKED_PROMPT, OPENROUTER_402,
};
use crate::harness::{P, Setup, hello};

#[tokio::test]
async fn bad_requests_are_400_413_and_404() {
    let s = Setup::new().await;
    for p in P::ALL {
        s.up.serve_ok(p).await;
    }
    let gw = s.serve().await;

    let r = gw.chat_raw("{\"messages\": [".to_owned(), None).await;
    let e = r.error(400);
    assert_eq!(e["type"], "invalid_request_error");

    let r = gw
        .chat(&json!({"messages": [{"role": "user", "content": "x"}], "temperature": "warm"}))
        .await;
    let e = r.error(400);
    assert_eq!(e["param"], "temperature", "{e}");
    assert!(r.message().contains("temperature"), "{e}");

    let r = gw
        .chat(&json!({"messages": [{"role": "robot", "content": "x"}]}))
        .await;
    let e = r.error(400);
    assert_eq!(e["param"], "messages[0].role", "{e}");

    let r = gw.chat(&json!({"model": "auto"})).await;
    r.error(400);
    assert!(r.message().contains("messages"), "{}", r.body);

    // The test llmpool.toml sets max_body_bytes = 8192.
    let big = json!({"messages": [{"role": "user", "content": "x".repeat(10_000)}]});
    let r = gw.chat(&big).await;
    let e = r.error(413);
    assert!(r.message().contains("8192"), "{e}");

    for model in ["nosuchprovider/some-model", "no-such-model"] {
        let r = gw.chat(&hello(model)).await;
        let e = r.error(404);
        assert_eq!(e["code"], "model_not_found");
        assert!(r.message().contains(model), "{e}");
    }
    gw.get("/v2/nothing").await.error(404);

    for p in P::ALL {
        assert!(s.up.requests(p).await.is_empty(), "{} was called", p.id());
    }
}

#[tokio::test]
async fn all_providers_failing_is_502_listing_each_cause() {
    let s = Setup::new().await;
    s.up.serve_error(
        P::Groq,
        ResponseTemplate::new(500).set_body_string("upstream exploded"),
    )
    .await;
    s.up.serve_error(P::Cerebras, fixtures::json(401, CEREBRAS_401, None))
        .await;
    s.up.serve_error(P::Gemini, fixtures::json(503, GEMINI_503, None))
        .await;
    s.up.serve_error(P::OpenRouter, fixtures::json(402, OPENROUTER_402, None))
        .await;
    s.up.serve_error(P::Cohere, fixtures::json(429, COHERE_429_TRIAL_RPM, None))
        .await;
    let gw = s.serve().await;

    let r = gw.chat(&hello("auto")).await;
    let e = r.error(502);
    assert_eq!(e["code"], "all_providers_failed");
    let message = r.message();
    assert!(message.starts_with("All providers failed"), "{message}");
    for (p, cause) in [
        (P::Groq, "transient"),
        (P::Cerebras, "unauthorized"),
        (P::Gemini, "transient"),
        (P::OpenRouter, "payment_required"),
        (P::Cohere, "rate_limited"),
    ] {
        let part = format!("{}: {cause}", p.id());
        assert!(message.contains(&part), "`{part}` missing in: {message}");
        assert_eq!(s.up.requests(p).await.len(), 1, "{}", p.id());
    }
    // Streaming fails the same way before its first chunk.
    let mut body = hello("groq");
    body["stream"] = json!(true);
    let r = gw.chat(&body).await;
    let e = r.error(502);
    assert!(r.message().contains("groq: transient"), "{e}");
}

#[tokio::test]
async fn every_provider_busy_is_503_with_retry_after() {
    let s = Setup::new().await.keyed(&[P::Groq, P::Cohere]);
    s.up.serve_error(
        P::Groq,
        fixtures::json(
            429,
            fixtures::GROQ_429_TPM,
            Some("HTTP/1.1 429\nretry-after: 600\n"),
        ),
    )
    .await;
    s.up.serve_error(
        P::Cohere,
        fixtures::json(
            429,
            COHERE_429_TRIAL_RPM,
            Some("HTTP/1.1 429\nretry-after: 900\n"),
        ),
    )
    .await;
    let gw = s.serve().await;

    gw.chat(&hello("auto")).await.error(502);
    let r = gw.chat(&hello("auto")).await;
    let e = r.error(503);
    assert_eq!(e["code"], "no_available_providers");
    let message = r.message();
    assert!(message.starts_with("No available providers"), "{message}");
    assert!(
        message.contains("groq") && message.contains("cohere"),
        "{message}"
    );
    let retry: u64 = r
        .header("retry-after")
        .expect("retry-after when the earliest reset is known")
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "retry-after: {retry}");
    assert_eq!(s.up.requests(P::Groq).await.len(), 1);
    assert_eq!(s.up.requests(P::Cohere).await.len(), 1);
}

#[tokio::test]
async fn a_content_refusal_is_returned_to_the_caller() {
    // Gemini comes before Cohere by priority; its refusal is the answer (no fallback).
    let s = Setup::new().await.keyed(&[P::Gemini, P::Cohere]);
    s.up.serve_error(P::Gemini, fixtures::json(200, GEMINI_BLOCKED_PROMPT, None))
        .await;
    s.up.serve_ok(P::Cohere).await;
    let gw = s.serve().await;
    for model in ["gemini", "auto"] {
        let r = gw.chat(&hello(model)).await;
        let e = r.error(400);
        assert_eq!(e["code"], "content_filter", "{model}");
        assert!(r.message().contains("gemini"), "{e}");
    }
    assert_eq!(s.up.requests(P::Gemini).await.len(), 2);
    assert!(s.up.requests(P::Cohere).await.is_empty());
}

/// Some APIs quote the key they were sent in their error message; llmpool must not pass
/// it on (to the client or to its log).
#[tokio::test]
async fn an_upstream_quoting_the_key_does_not_leak_it() {
    let s = Setup::new().await;
    for p in P::ALL {
        let body = json!({"error": {
            "message": format!("Incorrect API key provided: {}. Check your key.", p.key()),
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "status": 401
        }, "message": format!("invalid api token {}", p.key())});
        s.up.serve_error(p, fixtures::json(401, &body.to_string(), None))
            .await;
    }
    let gw = s.serve().await;
    // `Resp` and the gateway's drop check every answer and the log for the keys.
    let r = gw.chat(&hello("auto")).await;
    r.error(502);
    for p in P::ALL {
        assert!(
            r.message().contains(&format!("{}: unauthorized", p.id())),
            "{}",
            r.body
        );
    }
    // Every key is now disabled: the reason says so, still without the keys.
    let mut body = hello("auto");
    body["stream"] = json!(true);
    gw.chat(&body).await.error(503);
    gw.get("/v1/quota").await;
    gw.get("/metrics").await;
}
