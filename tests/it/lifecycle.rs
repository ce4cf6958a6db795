//! Starting with no keys, keeping counters across a restart, and graceful shutdown.

use std::time::Duration;

use crate::harness::fixtures;
use crate::harness::{P, Setup, hello};

const KEY_VARS: [&str; 5] = [
    "GROQ_API_KEY",
    "CEREBRAS_API_KEY",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "COHERE_API_KEY",
];

#[tokio::test]
async fn without_any_key_serve_starts_and_a_chat_names_the_key_variables() {
    // The README's command: `llmpool serve` with no flags (the address from
    // LLMPOOL_ADDR so that the test gets a free port, the default store in the working
    // directory).
    let s = Setup::new()
        .await
        .keyed(&[])
        .var("LLMPOOL_ADDR", "127.0.0.1:0");
    s.write_toml("");
    let gw = s.serve_args(&["serve"]).await;
    assert!(s.dir().join("llmpool.db").is_file(), "{}", gw.log());
    let start = gw.log();
    for var in KEY_VARS {
        assert!(start.contains(&format!("no key: set {var}")), "{start}");
    }

    let r = gw.get("/health").await;
    assert_eq!(r.status, 200);
    let r = gw.get("/v1/quota").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let q = r.json();
    assert_eq!(
        q["total_providers"], 13,
        "every compiled-in provider is listed"
    );
    assert_eq!(q["available_providers"], 0);
    for p in P::ALL {
        assert_eq!(q["quota_status"][p.id()]["api_key_available"], false, "{q}");
    }

    let r = gw.chat(&hello("auto")).await;
    let e = r.error(503);
    assert_eq!(e["code"], "no_available_providers");
    for var in KEY_VARS {
        assert!(r.message().contains(var), "{}", r.body);
    }
    let r = gw.get("/v1/models").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1, "{}", r.body);
}

#[tokio::test]
async fn a_restart_keeps_calls_today() {
    let s = Setup::new().await;
    for p in [P::Groq, P::Gemini, P::OpenRouter] {
        s.up.serve_ok(p).await;
    }

    let mut first = s.serve().await;
    for model in ["groq", "gemini", "gemini", "openrouter"] {
        let r = first.chat(&hello(model)).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let before = first.get("/v1/quota").await.json();
    // Gemini and OpenRouter send no counters in these fixtures: llmpool's own count.
    assert_eq!(
        before["quota_status"]["gemini"]["calls_today"], 2,
        "{before}"
    );
    assert_eq!(
        before["quota_status"]["openrouter"]["calls_today"], 1,
        "{before}"
    );
    first.terminate();
    let status = first.wait_exit().await;
    assert!(status.success(), "{status}: {}", first.log());
    drop(first);

    let second = s.serve().await;
    let after = second.get("/v1/quota").await.json();
    for p in P::ALL {
        assert_eq!(
            after["quota_status"][p.id()]["calls_today"],
            before["quota_status"][p.id()]["calls_today"],
            "{}: {after}",
            p.id()
        );
    }
    // Counting goes on from there.
    let r = second.chat(&hello("gemini")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let q = second.get("/v1/quota").await.json();
    assert_eq!(q["quota_status"]["gemini"]["calls_today"], 3, "{q}");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let s = Setup::new().await.keyed(&[P::Groq]);
    s.up.on(P::Groq, false)
        .respond_with(fixtures::ok_reply(P::Groq).set_delay(Duration::from_millis(1500)))
        .mount(s.up.server(P::Groq))
        .await;
    let mut gw = s.serve().await;

    let request = gw
        .client()
        .post(gw.url("/v1/chat/completions"))
        .json(&hello("auto"))
        .send();
    let in_flight = tokio::spawn(request);
    // Wait until the upstream has the request, so it is truly in flight.
    let started = std::time::Instant::now();
    while s.up.requests(P::Groq).await.is_empty() {
        assert!(
            started.elapsed() < crate::harness::BOUND,
            "no upstream call"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.terminate();
    gw.wait_for_log("shutting down").await;

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        fixtures::ok_text(P::Groq)
    );
    let status = gw.wait_exit().await;
    assert!(status.success(), "{status}: {}", gw.log());
    let log = gw.log();
    assert!(log.contains("stopped"), "{log}");
    assert!(
        !log.contains("did not finish within the grace period"),
        "{log}"
    );
    // No new connections after the signal.
    assert!(
        gw.client().get(gw.url("/health")).send().await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_requests_only_up_to_the_grace_period() {
    let s = Setup::new().await.keyed(&[P::Groq]);
    s.up.on(P::Groq, false)
        .respond_with(fixtures::ok_reply(P::Groq).set_delay(Duration::from_secs(300)))
        .mount(s.up.server(P::Groq))
        .await;
    let mut gw = s.serve_with(&["--shutdown-grace-secs", "1"]).await;
    let in_flight = tokio::spawn(
        gw.client()
            .post(gw.url("/v1/chat/completions"))
            .json(&hello("auto"))
            .send(),
    );
    let started = std::time::Instant::now();
    while s.up.requests(P::Groq).await.is_empty() {
        assert!(
            started.elapsed() < crate::harness::BOUND,
            "no upstream call"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.terminate();
    let status = gw.wait_exit().await;
    assert!(status.success(), "{status}: {}", gw.log());
    let log = gw.log();
    assert!(
        log.contains("did not finish within the grace period"),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
    // The cut request fails; it does not hang.
    assert!(in_flight.await.unwrap().is_err());
}
