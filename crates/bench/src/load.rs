//! A closed-loop HTTP/1.1 load generator: `concurrency` workers, each on its own
//! keep-alive connection, each sending the next request as soon as the previous answer
//! has been read to its end.
//!
//! A run has a warm-up (requests sent, nothing recorded) and a measured window of fixed
//! duration. A request is recorded when it both starts and ends inside the window; the
//! rate is recorded requests over the window's length. Latency is from just before the
//! request is written to the last byte of the answer; for streams also to the first
//! non-empty body chunk. Percentiles come from an HDR histogram (3 significant digits).
//! When given a process id, the generator also reads that process's CPU time
//! (`utime + stime` of `/proc/<pid>/stat`, all threads) at the window's start and end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest latency the histograms hold (longer ones are clamped).
const MAX_NS: u64 = 120_000_000_000;
/// Upper bound on requests per worker and run, whatever the duration.
const MAX_REQUESTS_PER_WORKER: u64 = 50_000_000;

/// What one run does.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// Request path (`/v1/chat/completions`).
    pub path: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// The JSON request body.
    pub body: Bytes,
    /// Whether the body asks for a stream (time to first chunk is then reported).
    pub stream: bool,
    /// Workers, each with one connection.
    pub concurrency: usize,
    /// Unrecorded lead-in.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// A process whose CPU time over the window is reported.
    pub pid: Option<u32>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "nanoseconds far below 2^52")]
        let us = |ns: u64| ns as f64 / 1000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Workers.
    pub concurrency: usize,
    /// Whether requests were streams.
    pub stream: bool,
    /// Requests recorded in the window.
    pub requests: u64,
    /// Failed requests (transport errors and non-2xx answers) over the whole run.
    pub errors: u64,
    /// Length of the window in seconds.
    pub window_s: f64,
    /// Recorded requests per second.
    pub rps: f64,
    /// Request latency to the last byte.
    pub latency: Percentiles,
    /// Time to the first non-empty body chunk (streams).
    pub first_chunk: Option<Percentiles>,
    /// CPU seconds the watched process used in the window.
    pub cpu_s: Option<f64>,
    /// CPU microseconds of the watched process per recorded request.
    pub cpu_us_per_request: Option<f64>,
}

#[derive(Debug)]
struct Phase {
    record_from: Instant,
    end: Instant,
}

struct WorkerStats {
    total: Histogram<u64>,
    first: Histogram<u64>,
    errors: u64,
}

fn histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_NS, 3).context("creating a histogram")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_NS)
}

/// Runs one closed-loop load run; needs a tokio runtime with time and I/O.
pub async fn run(cfg: LoadConfig) -> Result<LoadReport> {
    if cfg.concurrency == 0 {
        bail!("concurrency must be at least 1");
    }
    let start = Instant::now();
    let phase = Arc::new(Phase {
        record_from: start + cfg.warmup,
        end: start + cfg.warmup + cfg.duration,
    });
    let cfg = Arc::new(cfg);
    let cpu = cfg.pid.map(|pid| {
        let phase = Arc::clone(&phase);
        tokio::spawn(async move {
            tokio::time::sleep_until(phase.record_from).await;
            let before = cpu_ticks(pid);
            tokio::time::sleep_until(phase.end).await;
            let after = cpu_ticks(pid);
            match (before, after) {
                (Ok(b), Ok(a)) => Some(a.saturating_sub(b)),
                _ => None,
            }
        })
    });
    let workers: Vec<_> = (0..cfg.concurrency)
        .map(|_| tokio::spawn(worker(Arc::clone(&cfg), Arc::clone(&phase))))
        .collect();
    let mut total = histogram()?;
    let mut first = histogram()?;
    let mut errors = 0;
    for w in workers {
        let stats = w.await.context("a load worker panicked")??;
        total.add(&stats.total).context("merging histograms")?;
        first.add(&stats.first).context("merging histograms")?;
        errors += stats.errors;
    }
    let ticks = match cpu {
        Some(task) => task.await.context("the cpu probe panicked")?,
        None => None,
    };
    let window_s = cfg.duration.as_secs_f64();
    let requests = total.len();
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let rps = requests as f64 / window_s;
    let cpu_s = ticks.map(|t| {
        #[expect(clippy::cast_precision_loss, reason = "tick counts far below 2^52")]
        let t = t as f64;
        t / clock_ticks_per_second()
    });
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let cpu_us_per_request = cpu_s
        .filter(|_| requests > 0)
        .map(|s| s * 1e6 / requests as f64);
    Ok(LoadReport {
        concurrency: cfg.concurrency,
        stream: cfg.stream,
        requests,
        errors,
        window_s,
        rps,
        latency: Percentiles::of(&total),
        first_chunk: cfg.stream.then(|| Percentiles::of(&first)),
        cpu_s,
        cpu_us_per_request,
    })
}

async fn worker(cfg: Arc<LoadConfig>, phase: Arc<Phase>) -> Result<WorkerStats> {
    let mut stats = WorkerStats {
        total: histogram()?,
        first: histogram()?,
        errors: 0,
    };
    let host = HeaderValue::from_str(&cfg.addr.to_string()).context("host header")?;
    let mut sent = 0_u64;
    'connect: while Instant::now() < phase.end && sent < MAX_REQUESTS_PER_WORKER {
        let Ok(tcp) = TcpStream::connect(cfg.addr).await else {
            stats.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tcp.set_nodelay(true).context("TCP_NODELAY")?;
        let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
        else {
            stats.errors += 1;
            continue;
        };
        // The connection task ends when the sender is dropped or the peer closes.
        tokio::spawn(conn);
        while Instant::now() < phase.end && sent < MAX_REQUESTS_PER_WORKER {
            if sender.ready().await.is_err() {
                stats.errors += 1;
                continue 'connect;
            }
            let mut builder = Request::post(cfg.path.as_str())
                .header(HOST, host.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            for (k, v) in &cfg.headers {
                builder = builder.header(k.as_str(), v.as_str());
            }
            let request = builder
                .body(Full::new(cfg.body.clone()))
                .context("building a request")?;
            sent += 1;
            let started = Instant::now();
            let Ok(response) = sender.send_request(request).await else {
                stats.errors += 1;
                continue 'connect;
            };
            let ok = response.status().is_success();
            let mut body = response.into_body();
            let mut first_at = None;
            let mut failed = false;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    failed = true;
                    break;
                };
                if first_at.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
                    first_at = Some(started.elapsed());
                }
            }
            let elapsed = started.elapsed();
            if failed || !ok {
                stats.errors += 1;
                if failed {
                    continue 'connect;
                }
                continue;
            }
            if started >= phase.record_from && started + elapsed <= phase.end {
                stats.total.saturating_record(nanos(elapsed));
                if let Some(first) = first_at {
                    stats.first.saturating_record(nanos(first));
                }
            }
        }
        break;
    }
    Ok(stats)
}

/// `utime + stime` (all threads) of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).with_context(|| format!("parsing /proc/{pid}/stat"))
}

/// `utime + stime` from the text of `/proc/<pid>/stat` (fields 14 and 15; the command
/// name in parentheses may hold spaces, so fields are counted after its last `)`).
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
pub fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// A process's peak resident set size (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_vm_hwm(&status).context("no VmHWM line")
}

/// The `VmHWM` figure (KiB) of a `/proc/<pid>/status` text.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_spaces_in_the_name() {
        let stat =
            "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1520 0 0 0 731 269 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat), Some(1000));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_vm_hwm() {
        let status = "Name:\tllmpool\nVmPeak:\t  900 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(12345));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
    }

    #[tokio::test]
    async fn measures_a_real_server() {
        let (listener, addr) = crate::upstream::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let server = tokio::spawn(crate::upstream::serve(listener));
        let cfg = LoadConfig {
            addr,
            path: "/v1/chat/completions".into(),
            headers: Vec::new(),
            body: Bytes::from_static(br#"{"model":"m","messages":[],"stream":true}"#),
            stream: true,
            concurrency: 2,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
            pid: Some(std::process::id()),
        };
        let report = run(cfg).await.unwrap();
        server.abort();
        assert_eq!(report.errors, 0);
        assert!(report.requests > 0);
        let first = report.first_chunk.unwrap();
        assert!(first.p50_us <= report.latency.p50_us);
        assert!(report.cpu_s.is_some());
    }
}
