//! `cargo xtask bench gateway`: the gateway's overhead, measured against the same upstream
//! directly, through nginx, and through `llmpool serve` with one and with five providers.
//!
//! The gateway under test (nginx or llmpool) is pinned to CPU 0; the load generator and
//! the mock upstream (both single-threaded) share CPU 1. Every run is closed-loop at fixed
//! concurrency levels, with a warm-up and a fixed window, and every child process is
//! killed when the command ends, on error too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::provision;
use crate::util;

const GATEWAY_CPU: &str = "0";
const LOAD_CPU: &str = "1";
const CHAT_PATH: &str = "/v1/chat/completions";

/// The five providers: id, base-url variable, path prefix of their API on the mock.
const PROVIDERS: [(&str, &str); 5] = [
    ("groq", "/openai/v1"),
    ("cerebras", "/v1"),
    ("gemini", "/v1beta"),
    ("openrouter", "/api/v1"),
    ("cohere", "/v2"),
];

/// How long and at what concurrency each run goes.
#[derive(Debug, Clone)]
struct Plan {
    levels: Vec<usize>,
    warmup_ms: u64,
    duration_ms: u64,
    /// Another `llmpool` binary (an earlier build) measured in the same run, against the
    /// same upstream and load generator, just before this checkout's: before/after figures
    /// that share the machine's state.
    baseline: Option<PathBuf>,
}

impl Plan {
    fn parse(args: &[String]) -> Result<Self> {
        let mut plan = Self {
            levels: vec![1, 16, 64, 256],
            warmup_ms: 1000,
            duration_ms: 5000,
            baseline: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || it.next().context("a flag needs a value");
            match arg.as_str() {
                "--quick" => {
                    plan.warmup_ms = 300;
                    plan.duration_ms = 1000;
                }
                "--warmup-ms" => plan.warmup_ms = value()?.parse()?,
                "--baseline" => {
                    let path = PathBuf::from(value()?);
                    if !path.is_file() {
                        bail!("--baseline {}: no such binary", path.display());
                    }
                    plan.baseline = Some(path);
                }
                "--duration-ms" => plan.duration_ms = value()?.parse()?,
                "--levels" => {
                    plan.levels = value()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?;
                }
                other => bail!(
                    "unknown flag `{other}` (bench gateway [--quick] [--warmup-ms N] [--duration-ms N] [--levels 1,16,64,256] [--baseline PATH])"
                ),
            }
        }
        if plan.levels.is_empty() || plan.levels.iter().any(|l| *l == 0 || *l > 1024) {
            bail!("levels must be between 1 and 1024");
        }
        if plan.duration_ms > 60_000 || plan.warmup_ms > 60_000 {
            bail!("warm-up and duration are limited to 60 s per run");
        }
        Ok(plan)
    }
}

/// A child process that is stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
struct Guard {
    name: String,
    child: Child,
}

impl Guard {
    fn spawn(name: &str, cmd: &mut Command) -> Result<Self> {
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}: {cmd:?}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("xtask: {} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `cargo xtask bench <what>`.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("gateway") => gateway(root, &args[1..]),
        _ => bail!(
            "usage: cargo xtask bench gateway [--quick] [--warmup-ms N] [--duration-ms N] [--levels 1,16,64,256] [--baseline PATH]\n\
             (micro-benchmarks: cargo bench -p llmpool-core -p llmpool-openai-compat -p llmpool-provider-gemini -p llmpool-store-sqlite)"
        ),
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| provision::on_path("nginx"))
}

fn ensure_tools() -> Result<PathBuf> {
    if provision::on_path("taskset").is_none() {
        provision::apt_install(&["util-linux"])?;
    }
    if nginx_binary().is_none() {
        provision::apt_install(&["nginx"])?;
    }
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cpus < 2 {
        bail!(
            "the gateway benchmark needs 2 CPUs (gateway on one, load on the other); this machine offers {cpus}"
        );
    }
    nginx_binary().context("nginx is still missing after installing it")
}

fn gateway(root: &Path, args: &[String]) -> Result<()> {
    let plan = Plan::parse(args)?;
    let nginx = ensure_tools()?;
    util::step("build (release): llmpool, mock upstream, load generator");
    // Two builds, so the bench crate's tokio features (test-util for the simulation)
    // do not leak into the llmpool binary under test.
    util::cargo(root, &["build", "--release", "-p", "llmpool-cli"], &[])?;
    util::cargo(
        root,
        &["build", "--release", "-p", "llmpool-bench", "--bins"],
        &[],
    )?;
    let release = target_dir(root).join("release");
    let out = target_dir(root).join("bench");
    std::fs::create_dir_all(&out).context("creating target/bench")?;
    let date = util::today();
    let conditions = conditions();

    util::step("start the mock upstream (CPU 1)");
    let (upstream, upstream_addr) = start_upstream(&release)?;

    let mut results: Vec<Value> = Vec::new();
    let load = |addr: SocketAddr, pid: Option<u32>, results: &mut Vec<Value>, name: &str| {
        for stream in [false, true] {
            for &level in &plan.levels {
                let report = loadgen(&release, &plan, addr, level, stream, pid)?;
                println!(
                    "  {name:<12} {:<8} c={level:<4} {:>9.0} req/s  p50 {:>8.1} µs  p99 {:>8.1} µs{}",
                    if stream { "stream" } else { "one-shot" },
                    report["rps"].as_f64().unwrap_or(0.0),
                    report["latency"]["p50_us"].as_f64().unwrap_or(0.0),
                    report["latency"]["p99_us"].as_f64().unwrap_or(0.0),
                    report["cpu_us_per_request"]
                        .as_f64()
                        .map(|c| format!("  cpu {c:.1} µs/req"))
                        .unwrap_or_default(),
                );
                results.push(json!({"target": name, "report": report}));
            }
        }
        Ok::<(), anyhow::Error>(())
    };

    util::step("direct: load generator -> upstream");
    load(upstream_addr, Some(upstream.pid()), &mut results, "direct")?;

    let mut rss: BTreeMap<String, u64> = BTreeMap::new();
    util::step("nginx reverse proxy (1 worker, CPU 0) -> upstream");
    {
        let (proxy, addr) = start_nginx(&nginx, &out, upstream_addr)?;
        load(addr, Some(proxy.pid()), &mut results, "nginx")?;
        rss.insert("nginx".into(), peak_rss_kib(proxy.pid())?);
    }
    let current = release.join("llmpool");
    for providers in [1_usize, 5] {
        let mut targets = Vec::new();
        if let Some(base) = &plan.baseline {
            targets.push((format!("base-{providers}"), base.as_path()));
        }
        targets.push((format!("llmpool-{providers}"), current.as_path()));
        for (name, binary) in targets {
            util::step(&format!(
                "{name}: llmpool serve (CPU 0, sqlite store, {providers} provider(s)) -> upstream"
            ));
            let (gw, addr) = start_llmpool(binary, &out, upstream_addr, providers)?;
            load(addr, Some(gw.pid()), &mut results, &name)?;
            rss.insert(name, peak_rss_kib(gw.pid())?);
        }
    }
    drop(upstream);

    let report = json!({
        "date": date,
        "conditions": conditions,
        "method": METHOD,
        "plan": {"levels": plan.levels, "warmup_ms": plan.warmup_ms, "duration_ms": plan.duration_ms},
        "peak_rss_kib": rss,
        "runs": results,
    });
    let markdown = markdown(&report);
    println!("\n{markdown}");
    let json_path = out.join(format!("gateway-{date}.json"));
    let md_path = out.join(format!("gateway-{date}.md"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    std::fs::write(&md_path, &markdown)?;
    println!("wrote {} and {}", json_path.display(), md_path.display());
    Ok(())
}

/// Report rows in order; `base-N` only with `--baseline`.
const TARGETS: [&str; 6] = [
    "direct",
    "nginx",
    "base-1",
    "llmpool-1",
    "base-5",
    "llmpool-5",
];

const METHOD: &str = "Closed loop: each of N connections (HTTP/1.1 keep-alive) sends its next \
request as soon as the previous answer is read to its last byte. The gateway under test \
(nginx with 1 worker, or `llmpool serve`) is pinned to CPU 0; the load generator and the mock \
upstream (one thread each) share CPU 1. Each run has a warm-up, then a fixed window; a request \
counts when it starts and ends inside the window. \"Overhead\" (added latency) = the gateway's \
latency percentile minus the same percentile of the load generator talking to the upstream \
directly at the same concurrency; throughput ratio = gateway req/s / direct req/s. CPU per \
request = the gateway process's utime+stime (all threads, /proc/<pid>/stat) over the window / \
requests in the window. Peak RSS = VmHWM of the gateway process at the end of all its runs. \
llmpool runs with routing (priority strategy), quota accounting (every window counted, limits \
set high enough never to refuse) and the SQLite store (group commit, synchronous=NORMAL) on, \
and its default log level (info). Streams: 20 chunks answered at once; first chunk = first \
non-empty body chunk at the client.";

fn conditions() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        "cpu_model": cpu,
        "loadavg_at_start": load.trim(),
    })
}

fn start_upstream(release: &Path) -> Result<(Guard, SocketAddr)> {
    let mut upstream = Guard::spawn(
        "mock upstream",
        Command::new("taskset")
            .args(["-c", LOAD_CPU])
            .arg(release.join("llmpool-mock-upstream"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped()),
    )?;
    let stdout = upstream
        .child
        .stdout
        .take()
        .context("upstream has no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .context("the mock upstream did not report its address within 15 s")?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening ")
        .context("unexpected first line from the mock upstream")?
        .parse()?;
    Ok((upstream, addr))
}

fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

fn wait_listening(guard: &mut Guard, addr: SocketAddr, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            bail!(
                "{} exited with {status} before listening; see {}",
                guard.name,
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "{} did not listen on {addr} within 20 s; see {}",
        guard.name,
        log.display()
    )
}

fn start_nginx(nginx: &Path, out: &Path, upstream: SocketAddr) -> Result<(Guard, SocketAddr)> {
    let addr = free_port()?;
    let dir = out.join("nginx");
    std::fs::create_dir_all(&dir)?;
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 10000000;\n  keepalive_timeout 300s;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         \x20 upstream mock {{ server {upstream}; keepalive 512; keepalive_requests 10000000; }}\n\
         \x20 server {{\n    listen {addr} backlog=4096;\n    location / {{\n      proxy_pass http://mock;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let log = dir.join("error.log");
    let mut guard = Guard::spawn(
        "nginx",
        Command::new("taskset")
            .args(["-c", GATEWAY_CPU])
            .arg(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    wait_listening(&mut guard, addr, &log)?;
    Ok((guard, addr))
}

/// A settings file whose limits never refuse a benchmark request.
fn bench_settings() -> String {
    let mut s = String::from(
        "# Generated by `cargo xtask bench gateway`: limits high enough that the ledger\n\
         # counts every request but never refuses one.\nstrategy = \"priority\"\n",
    );
    for (id, _) in PROVIDERS {
        let _ = writeln!(
            s,
            "\n[providers.{id}]\nrpm = 1000000000000\nrpd = 1000000000000\ntpm = 1000000000000\ntpd = 1000000000000\nrpmonth = 1000000000000"
        );
    }
    s
}

fn start_llmpool(
    binary: &Path,
    out: &Path,
    upstream: SocketAddr,
    providers: usize,
) -> Result<(Guard, SocketAddr)> {
    let addr = free_port()?;
    let dir = out.join(format!("llmpool-{providers}"));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("llmpool.toml");
    std::fs::write(&config, bench_settings())?;
    let db = dir.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let log = dir.join("llmpool.log");
    let log_file = std::fs::File::create(&log)?;
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", GATEWAY_CPU])
        .arg(binary)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .args(["--addr", &addr.to_string()])
        .arg("--store")
        .arg(format!("sqlite:{}", db.display()))
        .args(["--shutdown-grace-secs", "5"])
        .current_dir(&dir)
        .env_remove("LLMPOOL_API_KEYS")
        .env_remove("LLMPOOL_STORE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log_file);
    for (i, (id, prefix)) in PROVIDERS.iter().enumerate() {
        let upper = id.to_ascii_uppercase();
        cmd.env_remove(format!("{upper}_API_KEY"));
        cmd.env(
            format!("{upper}_BASE_URL"),
            format!("http://{upstream}{prefix}"),
        );
        if i < providers {
            cmd.env(
                format!("{upper}_API_KEY"),
                format!("bench-{id}-key-0123456789abcdef"),
            );
        }
    }
    let mut guard = Guard::spawn("llmpool serve", &mut cmd)?;
    wait_listening(&mut guard, addr, &log)?;
    check_answer(addr, &log)?;
    Ok((guard, addr))
}

/// One request by hand before measuring: llmpool must answer 200 from a provider.
fn check_answer(addr: SocketAddr, log: &Path) -> Result<()> {
    use std::io::{Read, Write};
    let body = r#"{"model":"auto","messages":[{"role":"user","content":"hi"}]}"#;
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        tcp,
        "POST {CHAT_PATH} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    if !answer.starts_with("HTTP/1.1 200") || !answer.contains("x-llmpool-provider") {
        bail!(
            "llmpool did not answer the check request with 200 (see {}):\n{}",
            log.display(),
            answer.chars().take(2000).collect::<String>()
        );
    }
    Ok(())
}

fn loadgen(
    release: &Path,
    plan: &Plan,
    addr: SocketAddr,
    level: usize,
    stream: bool,
    pid: Option<u32>,
) -> Result<Value> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", LOAD_CPU])
        .arg(release.join("llmpool-loadgen"))
        .args(["--addr", &addr.to_string()])
        .args(["--path", CHAT_PATH])
        .args(["--concurrency", &level.to_string()])
        .args(["--warmup-ms", &plan.warmup_ms.to_string()])
        .args(["--duration-ms", &plan.duration_ms.to_string()])
        .stdout(Stdio::piped());
    if stream {
        cmd.arg("--stream");
    }
    if let Some(pid) = pid {
        cmd.args(["--pid", &pid.to_string()]);
    }
    let mut guard = Guard::spawn("load generator", &mut cmd)?;
    let limit = Duration::from_millis(plan.warmup_ms + plan.duration_ms) + Duration::from_secs(30);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = guard.child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            bail!("the load generator ran past {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    if let Some(mut stdout) = guard.child.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut text)?;
    }
    if !status.success() {
        bail!("the load generator failed with {status}");
    }
    let report: Value = serde_json::from_str(text.trim()).context("load generator output")?;
    if report["errors"].as_u64().unwrap_or(0) > 0 {
        eprintln!(
            "xtask: warning: {} failed requests at concurrency {level}",
            report["errors"]
        );
    }
    Ok(report)
}

fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmHWM in /proc status")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// The Markdown report: method, then one table per mode.
#[expect(clippy::too_many_lines, reason = "one report, table by table")]
fn markdown(report: &Value) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Gateway benchmark, {}\n",
        report["date"].as_str().unwrap_or("?")
    );
    let c = &report["conditions"];
    let _ = writeln!(
        md,
        "Machine: {} CPUs ({}), load average at start: {}. Plan: concurrency {}, warm-up {} ms, window {} ms per run.\n",
        c["cpus"],
        c["cpu_model"].as_str().unwrap_or("?"),
        c["loadavg_at_start"].as_str().unwrap_or("?"),
        report["plan"]["levels"],
        report["plan"]["warmup_ms"],
        report["plan"]["duration_ms"],
    );
    let _ = writeln!(md, "Method: {}\n", report["method"].as_str().unwrap_or(""));
    let runs = report["runs"].as_array().cloned().unwrap_or_default();
    let find = |target: &str, stream: bool, level: u64| {
        runs.iter()
            .find(|r| {
                r["target"] == target
                    && r["report"]["stream"] == stream
                    && r["report"]["concurrency"].as_u64() == Some(level)
            })
            .map(|r| r["report"].clone())
    };
    let levels: Vec<u64> = report["plan"]["levels"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    for stream in [false, true] {
        let _ = writeln!(
            md,
            "### {}\n",
            if stream {
                "Streaming (20 chunks): latency to the last byte; first chunk in the second table"
            } else {
                "One-shot chat completions"
            }
        );
        md.push_str("| target | conc. | req/s | ratio | p50 µs | p90 µs | p99 µs | max µs | +p50 µs | +p90 µs | +p99 µs | CPU µs/req |\n");
        md.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for target in TARGETS {
            for &level in &levels {
                let (Some(r), Some(d)) =
                    (find(target, stream, level), find("direct", stream, level))
                else {
                    continue;
                };
                let l = &r["latency"];
                let dl = &d["latency"];
                let added = |k: &str| {
                    if target == "direct" {
                        "–".to_owned()
                    } else {
                        format!("{:+.1}", f(&l[k]) - f(&dl[k]))
                    }
                };
                let _ = writeln!(
                    md,
                    "| {target} | {level} | {:.0} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} |",
                    f(&r["rps"]),
                    f(&r["rps"]) / f(&d["rps"]),
                    f(&l["p50_us"]),
                    f(&l["p90_us"]),
                    f(&l["p99_us"]),
                    f(&l["max_us"]),
                    added("p50_us"),
                    added("p90_us"),
                    added("p99_us"),
                    r["cpu_us_per_request"]
                        .as_f64()
                        .map_or_else(|| "?".to_owned(), |v| format!("{v:.1}")),
                );
            }
        }
        md.push('\n');
        if stream {
            md.push_str(
                "| target | conc. | first chunk p50 µs | p90 µs | p99 µs | +p50 µs | +p99 µs |\n",
            );
            md.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for target in TARGETS {
                for &level in &levels {
                    let (Some(r), Some(d)) =
                        (find(target, true, level), find("direct", true, level))
                    else {
                        continue;
                    };
                    let fc = &r["first_chunk"];
                    let dfc = &d["first_chunk"];
                    let _ = writeln!(
                        md,
                        "| {target} | {level} | {:.1} | {:.1} | {:.1} | {:+.1} | {:+.1} |",
                        f(&fc["p50_us"]),
                        f(&fc["p90_us"]),
                        f(&fc["p99_us"]),
                        f(&fc["p50_us"]) - f(&dfc["p50_us"]),
                        f(&fc["p99_us"]) - f(&dfc["p99_us"]),
                    );
                }
            }
            md.push('\n');
        }
    }
    md.push_str("Peak RSS (VmHWM): ");
    if let Some(rss) = report["peak_rss_kib"].as_object() {
        let parts: Vec<String> = rss
            .iter()
            .map(|(k, v)| format!("{k} {:.1} MiB", f(v) / 1024.0))
            .collect();
        md.push_str(&parts.join(", "));
    }
    md.push_str(".\n");
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_defaults_and_flags() {
        let p = Plan::parse(&[]).unwrap();
        assert_eq!(p.levels, vec![1, 16, 64, 256]);
        let p = Plan::parse(&["--quick".into(), "--levels".into(), "1,8".into()]).unwrap();
        assert_eq!((p.levels, p.duration_ms), (vec![1, 8], 1000));
        assert!(Plan::parse(&["--levels".into(), "0".into()]).is_err());
        assert!(Plan::parse(&["--duration-ms".into(), "999999".into()]).is_err());
    }

    #[test]
    fn bench_settings_cover_every_provider() {
        let text = bench_settings();
        for (id, _) in PROVIDERS {
            assert!(
                text.lines().any(|l| l == format!("[providers.{id}]")),
                "{text}"
            );
        }
        assert_eq!(
            text.matches("rpmonth = 1000000000000").count(),
            PROVIDERS.len()
        );
    }

    #[test]
    fn markdown_shows_added_latency() {
        let run = |target: &str, rps: f64, p50: f64| {
            json!({"target": target, "report": {
                "stream": false, "concurrency": 1, "rps": rps, "cpu_us_per_request": 10.0,
                "latency": {"p50_us": p50, "p90_us": p50, "p99_us": p50, "max_us": p50}
            }})
        };
        let report = json!({
            "date": "2026-11-27", "conditions": {"cpus": 2}, "method": "m",
            "plan": {"levels": [1], "warmup_ms": 1, "duration_ms": 1},
            "peak_rss_kib": {"llmpool-1": 2048},
            "runs": [run("direct", 1000.0, 50.0), run("llmpool-1", 500.0, 150.0)],
        });
        let md = markdown(&report);
        assert!(md.contains("| llmpool-1 | 1 | 500 | 0.50 | 150.0"), "{md}");
        assert!(md.contains("+100.0"), "{md}");
        assert!(md.contains("llmpool-1 2.0 MiB"), "{md}");
    }
}
