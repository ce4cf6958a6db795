//! Building and starting the `llmpool` binary, mock upstreams serving provider fixtures,
//! and an HTTP client that checks every answer for leaked keys.

pub(crate) mod fixtures;
pub(crate) mod redis;
pub(crate) mod tmpfs;
pub(crate) mod unruly;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;
use tempfile::TempDir;
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Match, Mock, MockBuilder, MockServer, ResponseTemplate};

/// Upper bound of every wait on a child process or a log line (not a timing assertion:
/// it only turns a hang into a failure).
pub(crate) const BOUND: Duration = Duration::from_secs(60);
/// Polling interval.
const TICK: Duration = Duration::from_millis(10);

/// The client key used by auth tests; it must never appear in a log either.
pub(crate) const CLIENT_KEY: &str = "e2e-client-key-7f3a9c1b";

/// The five upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum P {
    Groq,
    Cerebras,
    Gemini,
    OpenRouter,
    Cohere,
}

impl P {
    pub(crate) const ALL: [Self; 5] = [
        Self::Groq,
        Self::Cerebras,
        Self::Gemini,
        Self::OpenRouter,
        Self::Cohere,
    ];

    pub(crate) fn id(self) -> &'static str {
        match self {
            Self::Groq => "groq",
            Self::Cerebras => "cerebras",
            Self::Gemini => "gemini",
            Self::OpenRouter => "openrouter",
            Self::Cohere => "cohere",
        }
    }

    fn env_prefix(self) -> &'static str {
        match self {
            Self::Groq => "GROQ",
            Self::Cerebras => "CEREBRAS",
            Self::Gemini => "GEMINI",
            Self::OpenRouter => "OPENROUTER",
            Self::Cohere => "COHERE",
        }
    }

    pub(crate) fn key_env(self) -> String {
        format!("{}_API_KEY", self.env_prefix())
    }

    /// The API's version prefix, as in the real base URL.
    fn prefix(self) -> &'static str {
        match self {
            Self::Groq => "/openai/v1",
            Self::Cerebras => "/v1",
            Self::Gemini => "/v1beta",
            Self::OpenRouter => "/api/v1",
            Self::Cohere => "/v2",
        }
    }

    /// This provider's upstream key in the tests; no answer or log line may show it.
    pub(crate) fn key(self) -> String {
        format!("{}-e2e-upstream-secret-0123456789abcdef", self.id())
    }
}

/// Panics when `text` shows an upstream key or the client key.
pub(crate) fn assert_no_secret(what: &str, text: &str) {
    for p in P::ALL {
        assert!(
            !text.contains(&p.key()),
            "the {} key leaked into {what}: {text}",
            p.id()
        );
    }
    assert!(
        !text.contains(CLIENT_KEY),
        "the client key leaked into {what}: {text}"
    );
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// The `llmpool` binary, built once per test run (a failed build fails every test that
/// needs it, without building again).
pub(crate) fn llmpool_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(build_bin) {
        Ok(bin) => bin,
        Err(e) => panic!("{e}"),
    }
}

fn build_bin() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("LLMPOOL_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "llmpool-cli",
        "--bin",
        "llmpool",
        "--message-format=json-render-diagnostics",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo to build the llmpool binary: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the llmpool binary failed ({}); cargo's messages are above",
            out.status
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "llmpool")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo reported no llmpool executable".to_owned())
}

/// Matches requests whose JSON body has `"stream": <this>` (absent counts as false).
struct StreamFlag(bool);

impl Match for StreamFlag {
    fn matches(&self, req: &wiremock::Request) -> bool {
        let stream = serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| v.get("stream").and_then(Value::as_bool))
            .unwrap_or(false);
        stream == self.0
    }
}

/// One mock server per provider, each on 127.0.0.1.
pub(crate) struct Upstreams {
    servers: Vec<MockServer>,
}

impl Upstreams {
    pub(crate) async fn start() -> Self {
        let servers = futures::future::join_all(P::ALL.map(|_| MockServer::start())).await;
        Self { servers }
    }

    pub(crate) fn server(&self, p: P) -> &MockServer {
        let i = P::ALL.iter().position(|q| *q == p).unwrap_or_default();
        &self.servers[i]
    }

    pub(crate) fn base_url(&self, p: P) -> String {
        format!("{}{}", self.server(p).uri(), p.prefix())
    }

    /// A mock for this provider's chat endpoint (one-shot or streamed), with its auth.
    #[expect(
        clippy::unused_self,
        reason = "reads as `up.on(p, …)` beside `up.server(p)`"
    )]
    pub(crate) fn on(&self, p: P, stream: bool) -> MockBuilder {
        let post = Mock::given(method("POST"));
        match p {
            P::Gemini => {
                let op = if stream {
                    "streamGenerateContent"
                } else {
                    "generateContent"
                };
                let m = post
                    .and(path_regex(format!(r"^/v1beta/models/[^/:]+:{op}$")))
                    .and(header("x-goog-api-key", p.key().as_str()));
                if stream {
                    m.and(query_param("alt", "sse"))
                } else {
                    m
                }
            }
            P::Cohere => post
                .and(path("/v2/chat"))
                .and(header(
                    "authorization",
                    format!("Bearer {}", p.key()).as_str(),
                ))
                .and(StreamFlag(stream)),
            P::Groq | P::Cerebras | P::OpenRouter => post
                .and(path(format!("{}/chat/completions", p.prefix())))
                .and(header(
                    "authorization",
                    format!("Bearer {}", p.key()).as_str(),
                ))
                .and(StreamFlag(stream)),
        }
    }

    /// Serves the recorded one-shot and streamed answers of `p`, for any number of calls.
    pub(crate) async fn serve_ok(&self, p: P) {
        let f = fixtures::of(p);
        self.on(p, false)
            .respond_with(fixtures::ok_reply(p))
            .mount(self.server(p))
            .await;
        self.on(p, true)
            .respond_with(fixtures::sse(f.stream))
            .mount(self.server(p))
            .await;
    }

    /// Answers every call of `p` (one-shot and streamed) with this template.
    pub(crate) async fn serve_error(&self, p: P, template: ResponseTemplate) {
        for stream in [false, true] {
            self.on(p, stream)
                .respond_with(template.clone())
                .mount(self.server(p))
                .await;
        }
    }

    /// The requests `p`'s server received.
    pub(crate) async fn requests(&self, p: P) -> Vec<wiremock::Request> {
        self.server(p).received_requests().await.unwrap_or_default()
    }

    /// The JSON bodies of the requests `p`'s server received.
    pub(crate) async fn bodies(&self, p: P) -> Vec<Value> {
        self.requests(p)
            .await
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }
}

/// The test settings: no retries or waits on the same route, so failures move on at once.
pub(crate) const TEST_TOML: &str = r#"
retry_attempts = 0
max_retry_wait_secs = 0
timeout_secs = 20
deadline_secs = 40
cooldown_secs = 60
max_body_bytes = 8192

[aliases]
"gpt-4o-mini" = "cerebras"

# One model per provider, so that each provider is one route and call counts are exact.
[providers.groq]
models = ["openai/gpt-oss-120b"]
[providers.cerebras]
models = ["gpt-oss-120b"]
[providers.gemini]
models = ["gemini-3.1-flash-lite"]
[providers.openrouter]
models = ["openrouter/free"]
[providers.cohere]
models = ["command-a-03-2025"]
"#;

/// A test's world: mock upstreams, a working directory with `llmpool.toml`, and the
/// environment handed to every `llmpool` process.
pub(crate) struct Setup {
    pub(crate) up: Upstreams,
    dir: TempDir,
    keyed: Vec<P>,
    vars: Vec<(String, String)>,
}

impl Setup {
    /// All five providers keyed, [`TEST_TOML`] as config.
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let setup = Self {
            up: Upstreams::start().await,
            dir,
            keyed: P::ALL.to_vec(),
            vars: Vec::new(),
        };
        setup.write_toml(TEST_TOML);
        setup
    }

    /// Only these providers get a key.
    #[must_use]
    pub(crate) fn keyed(mut self, providers: &[P]) -> Self {
        self.keyed = providers.to_vec();
        self
    }

    /// One more environment variable for every process.
    #[must_use]
    pub(crate) fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces `llmpool.toml`.
    pub(crate) fn write_toml(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write llmpool.toml");
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.path().join("llmpool.toml")
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `llmpool <args>` with a cleared environment: the config, every base URL (keyed
    /// or not, so nothing can reach a real API) and the keys of the keyed providers.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(llmpool_bin());
        cmd.args(args)
            .env_clear()
            .current_dir(self.dir.path())
            .env("LLMPOOL_CONFIG", self.config_path());
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        for p in P::ALL {
            cmd.env(format!("{}_BASE_URL", p.env_prefix()), self.up.base_url(p));
        }
        for p in &self.keyed {
            cmd.env(p.key_env(), p.key());
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts `llmpool serve` on a free loopback port with a SQLite store in the
    /// working directory, and waits for its start line.
    pub(crate) async fn serve(&self) -> Gateway {
        self.serve_with(&[]).await
    }

    pub(crate) async fn serve_with(&self, extra: &[&str]) -> Gateway {
        let store = format!("sqlite:{}", self.dir.path().join("x.db").display());
        let mut args = vec!["serve", "--addr", "127.0.0.1:0", "--store", store.as_str()];
        args.extend_from_slice(extra);
        self.serve_args(&args).await
    }

    /// Starts `llmpool <args>` (a `serve`) exactly as given.
    pub(crate) async fn serve_args(&self, args: &[&str]) -> Gateway {
        Gateway::start(self.command(args)).await
    }

    /// Runs a CLI command to completion, with no stdin.
    pub(crate) async fn cli(&self, args: &[&str]) -> CliOutput {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run llmpool");
        CliOutput::from(out)
    }

    /// Runs a CLI command to completion on a pseudo-terminal (util-linux `script`), so it
    /// sees a terminal on stdin, stdout and stderr; returns what the terminal showed.
    pub(crate) async fn cli_pty(&self, args: &[&str]) -> CliOutput {
        let inner = self.command(args);
        let mut line = shell_quote(&inner.get_program().to_string_lossy());
        for arg in inner.get_args() {
            line.push(' ');
            line.push_str(&shell_quote(&arg.to_string_lossy()));
        }
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env_clear()
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run script (util-linux)");
        CliOutput::from(out)
    }

    /// Runs a CLI command to completion with `input` on its stdin.
    pub(crate) async fn cli_stdin(&self, args: &[&str], input: &str) -> CliOutput {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let input = input.to_owned();
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn()?;
            let mut stdin = child.stdin.take().expect("piped stdin");
            std::io::Write::write_all(&mut stdin, input.as_bytes())?;
            drop(stdin);
            child.wait_with_output()
        })
        .await
        .expect("join")
        .expect("run llmpool");
        CliOutput::from(out)
    }
}

/// `s` quoted for `sh -c`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What a CLI run printed and how it ended.
#[derive(Debug)]
pub(crate) struct CliOutput {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl From<Output> for CliOutput {
    fn from(out: Output) -> Self {
        let o = Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_no_secret("CLI stdout", &o.stdout);
        assert_no_secret("CLI stderr", &o.stderr);
        o
    }
}

/// A running `llmpool serve`; killed when dropped.
pub(crate) struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    log: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

/// The loopback URL to reach a gateway whose start line is `line` (a wildcard address is
/// reached on 127.0.0.1).
fn listening_address(line: &str) -> Option<String> {
    if !line.contains("llmpool listening") {
        return None;
    }
    let rest = &line[line.find("address=")? + "address=".len()..];
    let addr = rest.split_whitespace().next()?;
    let port = addr
        .strip_prefix("http://127.0.0.1:")
        .or_else(|| addr.strip_prefix("http://0.0.0.0:"))?;
    port.parse::<u16>()
        .ok()
        .map(|port| format!("http://127.0.0.1:{port}"))
}

impl Gateway {
    async fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start llmpool serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let address = Arc::new(Mutex::new(None));
        {
            let log = Arc::clone(&log);
            let address = Arc::clone(&address);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(a) = listening_address(&line) {
                        *address.lock().unwrap() = Some(a);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let started = Instant::now();
        let base = loop {
            if let Some(a) = address.lock().unwrap().clone() {
                break a;
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Let the reader drain what is left.
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "llmpool serve exited ({status}) before listening:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            if started.elapsed() > BOUND {
                let _ = child.kill();
                panic!(
                    "llmpool serve did not log its address:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            tokio::time::sleep(TICK).await;
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client");
        Self {
            child,
            base,
            log,
            client,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the process wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`.
    pub(crate) async fn wait_for_log(&self, needle: &str) {
        let started = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                started.elapsed() < BOUND,
                "no log line with `{needle}`:\n{}",
                self.log()
            );
            tokio::time::sleep(TICK).await;
        }
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit.
    pub(crate) async fn wait_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader drain the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return status;
            }
            assert!(
                started.elapsed() < BOUND,
                "llmpool serve did not exit:\n{}",
                self.log()
            );
            tokio::time::sleep(TICK).await;
        }
    }

    /// The process id (to read its `/proc/<pid>/status`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub(crate) async fn get(&self, path: &str) -> Resp {
        Resp::read(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub(crate) async fn get_auth(&self, path: &str, bearer: &str) -> Resp {
        let req = self.client.get(self.url(path)).bearer_auth(bearer);
        Resp::read(req.send().await.expect("GET")).await
    }

    /// `POST /v1/chat/completions` with a JSON body.
    pub(crate) async fn chat(&self, body: &Value) -> Resp {
        self.chat_raw(body.to_string(), None).await
    }

    pub(crate) async fn chat_raw(&self, body: String, bearer: Option<&str>) -> Resp {
        let mut req = self
            .client
            .post(self.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        Resp::read(req.send().await.expect("POST")).await
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            assert_no_secret("the gateway's log", &self.log());
        }
    }
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.expect("read body");
        for (name, value) in &headers {
            assert_no_secret(
                &format!("header {name}"),
                value.to_str().unwrap_or_default(),
            );
        }
        assert_no_secret("a response body", &body);
        Self {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks the status and OpenAI's error shape; returns the `error` object.
    pub(crate) fn error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        let body = self.json();
        let e = body["error"].clone();
        assert!(e["message"].is_string(), "{body}");
        assert!(e["type"].is_string(), "{body}");
        assert!(e.get("code").is_some(), "{body}");
        e
    }

    pub(crate) fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The `data:` payloads of an event stream, in order.
    pub(crate) fn sse_data(&self) -> Vec<String> {
        sse_data(&self.body)
    }
}

/// The `data:` payloads of an event stream (LF or CRLF framing), in order.
pub(crate) fn sse_data(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// A one-message chat body.
pub(crate) fn hello(model: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}
