//! The state store failing under serving gateways: Redis stopped and restarted while three
//! gateways share it under load, and the SQLite file's disk filling up. Every request gets
//! an answer before the client gives up, the upstream never receives more than the
//! README's bound, and the gateway goes back to its store when it can.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wiremock::ResponseTemplate;

use crate::harness::redis::RedisServer;
use crate::harness::tmpfs::Tmpfs;
use crate::harness::{P, Setup, fixtures, hello};

/// Requests a day on the one route: small, so that the load spends it in a few seconds.
const LIMIT: usize = 40;

/// The gateways' request deadline; a client waits this plus a margin before it calls the
/// request hung.
const DEADLINE_SECS: u64 = 10;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(DEADLINE_SECS + 10);

/// Concurrent clients, and the most requests each sends (the load is bounded).
const CLIENTS: usize = 6;
const MAX_PER_CLIENT: usize = 150;

/// One route whose day limit is [`LIMIT`]; its other windows far out of reach, so the day
/// is the only limit in play.
fn config() -> String {
    format!(
        r#"
retry_attempts = 0
max_retry_wait_secs = 0
timeout_secs = 5
deadline_secs = {DEADLINE_SECS}
cooldown_secs = 60

[providers.groq]
models = ["openai/gpt-oss-120b"]
rpm = 1000000
rpd = {LIMIT}
tpm = 1000000000
tpd = 1000000000
"#
    )
}

/// How one request ended.
#[derive(Debug, Clone)]
enum Outcome {
    /// An HTTP answer: its status and body.
    Answer(u16, String),
    /// No answer within [`CLIENT_TIMEOUT`], or the connection failed.
    Hung(String),
}

/// Sends `hello` requests to `base` until `stop` is set or the client's cap is reached.
async fn client(base: String, stop: Arc<AtomicBool>) -> Vec<Outcome> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("http client");
    let url = format!("{base}/v1/chat/completions");
    let body = hello("groq").to_string();
    let mut outcomes = Vec::new();
    while !stop.load(Ordering::SeqCst) && outcomes.len() < MAX_PER_CLIENT {
        let sent = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let outcome = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.text().await {
                    Ok(text) => Outcome::Answer(status, text),
                    Err(e) => Outcome::Hung(format!("body: {e}")),
                }
            }
            Err(e) => Outcome::Hung(e.to_string()),
        };
        outcomes.push(outcome);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    outcomes
}

/// Serves the recorded Groq answer without its rate-limit headers: the ledger's own
/// count is what these tests are about.
async fn serve_plain_groq(s: &Setup) {
    s.up.on(P::Groq, false)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixtures::of(P::Groq).chat_ok, "application/json"),
        )
        .mount(s.up.server(P::Groq))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_under_three_gateways() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let s = Setup::new().await.keyed(&[P::Groq]);
    s.write_toml(&config());
    serve_plain_groq(&s).await;
    let url = redis.url();
    let args = ["serve", "--addr", "127.0.0.1:0", "--store", url.as_str()];
    let gateways = [
        s.serve_args(&args).await,
        s.serve_args(&args).await,
        s.serve_args(&args).await,
    ];
    let upstream = || async { s.up.requests(P::Groq).await.len() };

    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(gateways[i % 3].base.clone(), Arc::clone(&stop))))
        .collect();

    // Load on a healthy Redis until the day's limit is spent.
    let mut waited = Duration::ZERO;
    while upstream().await < LIMIT && waited < crate::harness::BOUND {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_outage = upstream().await;

    // Redis killed for three seconds under load, then back, empty.
    redis.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during_outage = upstream().await - before_outage;
    redis.start_again();
    let at_restart = upstream().await;

    // Load on the restarted Redis until the limit is spent again, or the clients stop.
    waited = Duration::ZERO;
    while upstream().await < at_restart + LIMIT && waited < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for task in load {
        outcomes.extend(task.await.expect("client task"));
    }
    let after_restart = upstream().await - at_restart;
    let logs: Vec<String> = gateways.iter().map(crate::harness::Gateway::log).collect();
    let context = format!(
        "before the outage {before_outage}, during it {during_outage}, after the restart \
         {after_restart}; {} requests",
        outcomes.len()
    );
    eprintln!("{context}");

    // No request hung: each got an HTTP answer before its client gave up.
    let hung: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Hung(why) => Some(why.as_str()),
            Outcome::Answer(..) => None,
        })
        .collect();
    assert!(hung.is_empty(), "{} hung: {hung:?}; {context}", hung.len());

    // Each answer is a success, the spent limit (503), or the store's failure naming the
    // store (503 `store_unavailable`, with a retry-after), never anything else.
    let mut store_errors = 0;
    for outcome in &outcomes {
        let Outcome::Answer(status, body) = outcome else {
            continue;
        };
        match status {
            200 => {}
            503 if body.contains("store_unavailable") && body.contains("state store failed") => {
                store_errors += 1;
            }
            503 => assert!(body.contains("no_available_providers"), "{body}"),
            other => panic!("unexpected {other}: {body}; {context}"),
        }
    }
    assert!(
        store_errors > 0,
        "no request met the outage, so the test did not test it; {context}"
    );

    // The bound (README, Reliability): exactly the limit while Redis keeps its counts;
    // it restarted empty, so the day's window, spanning the restart, may take the limit
    // once more, and never more than that.
    assert!(before_outage <= LIMIT, "{context}");
    assert!(before_outage + during_outage <= LIMIT, "{context}");
    assert!(after_restart <= LIMIT, "{context}");
    assert!(
        before_outage + during_outage + after_restart <= 2 * LIMIT,
        "{context}"
    );
    // And the gateways came back: requests were served again after the restart.
    assert!(
        after_restart > 0,
        "nothing served after the restart; {context}\n{logs:?}"
    );
}

/// Groq's requests today, as the gateway's quota report counts them.
async fn calls_today(gw: &crate::harness::Gateway) -> u64 {
    let r = gw.get("/v1/quota").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let q = r.json();
    q["quota_status"]["groq"]["calls_today"]
        .as_u64()
        .unwrap_or_else(|| panic!("no calls_today: {q}"))
}

#[tokio::test]
async fn a_full_disk_under_the_sqlite_file_is_served_from_memory_then_merged() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let s = Setup::new().await.keyed(&[P::Groq]);
    s.write_toml(&config());
    serve_plain_groq(&s).await;
    let store = format!("sqlite:{}", disk.path().join("x.db").display());
    let args = ["serve", "--addr", "127.0.0.1:0", "--store", store.as_str()];
    let mut gw = s.serve_args(&args).await;
    for _ in 0..2 {
        let r = gw.chat(&hello("groq")).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    // The disk fills up: SQLite's writes fail with SQLITE_FULL. Requests are still
    // answered, counted in memory on top of the file's 2.
    let filler = disk.fill();
    for i in 0..10 {
        let r = tokio::time::timeout(CLIENT_TIMEOUT, gw.chat(&hello("groq")))
            .await
            .unwrap_or_else(|_| panic!("request {i} hung on a full disk:\n{}", gw.log()));
        assert_eq!(r.status, 200, "request {i}: {}\n{}", r.body, gw.log());
    }
    gw.wait_for_log("file cannot be written").await;
    assert!(gw.log().contains("full"), "{}", gw.log());
    assert_eq!(calls_today(&gw).await, 12, "{}", gw.log());

    // Space again: the gateway goes back to its file by itself and merges the counts.
    std::fs::remove_file(filler).expect("remove the filler");
    gw.wait_for_log("can be written again").await;
    let r = gw.chat(&hello("groq")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(calls_today(&gw).await, 13);
    gw.terminate();
    let status = gw.wait_exit().await;
    assert!(status.success(), "{status}: {}", gw.log());
    drop(gw);

    // What was counted during the fault is in the file: a new process sees all of it.
    let gw = s.serve_args(&args).await;
    assert_eq!(calls_today(&gw).await, 13, "{}", gw.log());
    assert_eq!(s.up.requests(P::Groq).await.len(), 13);
}
