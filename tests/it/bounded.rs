//! The gateway's memory does not grow with the model names clients send: 50,000 requests
//! pinning distinct unknown models leave its resident memory and `/v1/quota` as they were,
//! whether such names are refused (the default) or served as one-off routes
//! (`allow_unknown_models`, a bounded cache). And a store that cannot be read stops the
//! start.

use futures::StreamExt;
use serde_json::Value;
use wiremock::MockServer;

use crate::harness::{Gateway, P, Setup, TEST_TOML, fixtures, hello};

/// Distinct pinned names sent in all, and before the first memory reading (the allocator's
/// pools, the connection pool and the caches have reached their working size by then).
const REFUSED: Load = Load {
    total: 50_000,
    warm_up: 5_000,
    chunk: 2_500,
    slack_kb: 8 * 1024,
};
/// The same for names served as one-off routes: each one is an upstream call and new
/// counters in SQLite, so fewer (a debug build on a loaded machine takes a few ms a call),
/// still over two hundred times the cache's 64 routes. Measured: the memory reaches its
/// plateau by about 5,000 names and stays there (17,000 tried).
const SERVED: Load = Load {
    total: 24_000,
    warm_up: 6_000,
    chunk: 1_000,
    // Unbounded, 18,000 names after the warm-up would add ~32 MB. Bounded, the router's
    // state is flat, but the SQLite store's counter cache keeps each new counter key until
    // its window expires (a day for day windows), so its table may double once during the
    // run: a single step of ~10 MB was seen (then flat). The slack sits between the two.
    slack_kb: 16 * 1024,
};
/// Requests in flight at once, over keep-alive connections.
const CONCURRENCY: usize = 32;

#[derive(Debug, Clone, Copy)]
struct Load {
    total: usize,
    warm_up: usize,
    /// Names sent between two memory readings.
    chunk: usize,
    /// How much the resident memory may end above the highest reading of the warm-up:
    /// allocator noise (readings swing by up to ~4 MB as the allocator returns pages).
    /// Before the routes were bounded, each name added about 1.8 kB: 80 MB over the
    /// refused run's 45,000 names after the warm-up, 32 MB over the served run's 18,000.
    slack_kb: u64,
}

/// The process's resident memory, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {status}"))
}

/// Sends `groq/m-<n>` for every `n` in `range`, `CONCURRENCY` at a time; every answer
/// must have `status`.
async fn send(gw: &Gateway, range: std::ops::Range<usize>, status: u16) {
    let url = gw.url("/v1/chat/completions");
    let client = gw.client().clone();
    let mut answers = futures::stream::iter(range)
        .map(|n| {
            let request = client.post(&url).json(&hello(&format!("groq/m-{n}")));
            async move {
                let r = request.send().await.expect("POST");
                let got = r.status().as_u16();
                let body = r.bytes().await.expect("read body");
                (n, got, body)
            }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some((n, got, body)) = answers.next().await {
        assert_eq!(
            got,
            status,
            "groq/m-{n}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// `/v1/quota`: its size, and every (provider, route model) it lists.
async fn quota(gw: &Gateway) -> (usize, Vec<String>) {
    let r = gw.get("/v1/quota").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = r.json();
    let mut routes = Vec::new();
    for (provider, status) in v["quota_status"].as_object().expect("quota_status") {
        for route in status["routes"].as_array().expect("routes") {
            routes.push(format!("{provider}/{}", route["model"]));
        }
    }
    (r.body.len(), routes)
}

/// Runs the whole load on `gw`: quota before, warm-up, memory, the rest, memory and
/// quota after. Returns (quota before, quota after).
async fn load(
    gw: &Gateway,
    load: Load,
    status: u16,
) -> ((usize, Vec<String>), (usize, Vec<String>)) {
    let before = quota(gw).await;
    let mut readings = Vec::new();
    let mut sent = 0;
    while sent < load.total {
        let next = (sent + load.chunk).min(load.total);
        send(gw, sent..next, status).await;
        readings.push((next, rss_kb(gw.pid())));
        sent = next;
    }
    let warm = readings
        .iter()
        .filter(|(n, _)| *n <= load.warm_up)
        .map(|(_, kb)| *kb)
        .max()
        .expect("a reading in the warm-up");
    let last = readings.last().map(|(_, kb)| *kb).expect("a reading");
    eprintln!("RSS (names sent, kB): {readings:?}");
    assert!(
        last <= warm + load.slack_kb,
        "resident memory grew from {warm} kB to {last} kB over {} new model names: {readings:?}",
        load.total - load.warm_up
    );
    let after = quota(gw).await;
    (before, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pinned_models_are_refused_and_leave_no_state() {
    let s = Setup::new().await.keyed(&[P::Groq]);
    let gw = s.serve().await;
    let r = gw.chat(&hello("groq/m-x")).await;
    let e = r.error(404);
    assert_eq!(e["code"], "model_not_found");
    assert!(
        r.message().contains("`openai/gpt-oss-120b`"),
        "the known models are named: {e}"
    );
    let (before, after) = load(&gw, REFUSED, 404).await;
    assert_eq!(before, after, "/v1/quota changed");
    assert!(s.up.requests(P::Groq).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_unknown_models_are_served_from_a_bounded_cache() {
    // An upstream that does not record requests: 50,000 of them would only measure it.
    let groq = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let s = Setup::new().await.keyed(&[P::Groq]);
    s.up.on(P::Groq, false)
        .respond_with(fixtures::ok_reply(P::Groq))
        .mount(&groq)
        .await;
    let prefix = s.up.base_url(P::Groq)[s.up.server(P::Groq).uri().len()..].to_owned();
    let s = s.var("GROQ_BASE_URL", &format!("{}{prefix}", groq.uri()));
    s.write_toml(&TEST_TOML.replace(
        "[providers.groq]\n",
        "[providers.groq]\nallow_unknown_models = true\n",
    ));
    let gw = s.serve().await;
    let r = gw.chat(&hello("groq/m-x")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (before, after) = load(&gw, SERVED, 200).await;
    // The same routes; figures such as latency may change their digits, not the size
    // of the report.
    assert_eq!(before.1, after.1, "/v1/quota lists other routes");
    assert!(
        before.0.abs_diff(after.0) <= 16,
        "/v1/quota grew from {} to {} bytes",
        before.0,
        after.0
    );
}

#[tokio::test]
async fn a_store_that_is_not_a_database_stops_the_start() {
    let s = Setup::new().await.keyed(&[P::Groq]);
    let path = s.dir().join("broken.db");
    std::fs::write(&path, vec![b'x'; 8192]).expect("write broken.db");
    let store = format!("sqlite:{}", path.display());
    let out = s
        .cli(&["serve", "--addr", "127.0.0.1:0", "--store", &store])
        .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("broken.db"),
        "the store is named: {out:?}"
    );
}
