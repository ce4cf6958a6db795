//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`).
//!
//! `chromedriver` speaks the W3C WebDriver protocol (plain JSON over HTTP), and these
//! tests need six of its commands (new session, navigate, execute script, screenshot,
//! browser log, delete session), so they are called with the `reqwest` client the suite
//! already has rather than through a WebDriver crate. The browser log is chromedriver's
//! own extension (`/se/log`), which WebDriver crates do not expose anyway.
//!
//! The driver comes from `LLMPOOL_CHROMEDRIVER` (set by `cargo xtask test`, which installs
//! the packages when missing), else `/usr/bin/chromedriver`. Without it the tests fail,
//! unless `LLMPOOL_SKIP_BROWSER=1` says to skip them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::BOUND;

/// Chromium's flags: no sandbox (CI runs as root), no GPU, no network of its own, and
/// shared memory in /tmp (containers often have a tiny /dev/shm).
const CHROMIUM_ARGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1500",
];

/// `None` when the browser tests are told to skip; else the driver's path.
pub(crate) fn driver_path() -> Option<PathBuf> {
    if std::env::var("LLMPOOL_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("LLMPOOL_SKIP_BROWSER=1: skipping the browser test");
        return None;
    }
    let path = std::env::var_os("LLMPOOL_CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    assert!(
        path.is_file(),
        "no chromedriver at {}: run `cargo xtask test` (it installs chromium and chromium-driver) \
         or set LLMPOOL_SKIP_BROWSER=1",
        path.display()
    );
    Some(path)
}

fn chromium_binary() -> String {
    std::env::var("LLMPOOL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// One chromedriver process with one browser session; both end on drop.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a fresh headless session.
    pub(crate) async fn start(driver: &PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while !http
            .get(format!("{base}/status"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(started.elapsed() < BOUND, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium_binary(), "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut browser = Self {
            driver: child,
            base,
            session: String::new(),
            http,
            _profile: profile,
        };
        let created = browser.command("POST", "/session", Some(caps)).await;
        created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .clone_into(&mut browser.session);
        browser
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let resp = req.send().await.expect("webdriver request");
        let status = resp.status();
        let value: Value = resp.json().await.expect("webdriver JSON");
        assert!(status.is_success(), "webdriver {path}: {status} {value}");
        value["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Loads `url` (only ever a page on 127.0.0.1).
    pub(crate) async fn goto(&self, url: &str) {
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "not a loopback page: {url}"
        );
        self.command(
            "POST",
            &self.session_path("/url"),
            Some(json!({"url": url})),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub(crate) async fn eval(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Polls `script` until it returns `true` (bounded: a hang becomes a failure that
    /// says what was awaited).
    pub(crate) async fn wait_for(&self, what: &str, script: &str) {
        let started = Instant::now();
        loop {
            if self.eval(script, json!([])).await == Value::Bool(true) {
                return;
            }
            if started.elapsed() > BOUND {
                let text = self.eval("return document.body.innerText", json!([])).await;
                panic!("the page never showed {what}; it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub(crate) async fn screenshot(&self, path: &std::path::Path) {
        let data = self
            .command("GET", &self.session_path("/screenshot"), None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 screenshot"))
            .expect("valid base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Ends the session (closing Chromium), then the driver.
    pub(crate) async fn close(self) {
        self.command("DELETE", &self.session_path(""), None).await;
    }

    /// Browser console entries since the last call, as `LEVEL message` lines.
    pub(crate) async fn console(&self) -> Vec<String> {
        let entries = self
            .command(
                "POST",
                &self.session_path("/se/log"),
                Some(json!({"type": "browser"})),
            )
            .await;
        entries
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["level"].as_str().unwrap_or("?"),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After `close` the browser is gone; after a failed test this at least ends the
        // driver (its Chromium then exits when its pipe to the driver closes).
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where the tests save screenshots: `target/dashboard-screenshots/`.
pub(crate) fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("dashboard-screenshots")
}
