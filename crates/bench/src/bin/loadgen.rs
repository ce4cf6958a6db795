//! `llmpool-loadgen`: one closed-loop load run (see `llmpool_bench::load`); prints its
//! figures as one JSON object on stdout.
//!
//! Runs on one thread: pin it with `taskset`. Only loopback targets are accepted.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;

use llmpool_bench::load::{LoadConfig, run};

/// Closed-loop HTTP/1.1 load on keep-alive connections.
#[derive(Debug, Parser)]
struct Args {
    /// Target address (loopback only).
    #[arg(long)]
    addr: SocketAddr,
    /// Request path.
    #[arg(long, default_value = "/v1/chat/completions")]
    path: String,
    /// Concurrent connections, each sending its next request when the answer is read.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Unrecorded warm-up, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    warmup_ms: u64,
    /// Measured window, in milliseconds (at most 10 minutes).
    #[arg(long, default_value_t = 5000)]
    duration_ms: u64,
    /// Ask for streamed answers.
    #[arg(long)]
    stream: bool,
    /// Report the CPU time of this process over the window.
    #[arg(long)]
    pid: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("load is only sent to loopback addresses");
    }
    if args.duration_ms > 600_000 || args.warmup_ms > 600_000 {
        bail!("warm-up and duration are limited to 10 minutes each");
    }
    let body = serde_json::json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Invent a holiday and describe it in one sentence."}
        ],
        "max_tokens": 128,
        "temperature": 0.7,
        "stream": args.stream
    });
    let cfg = LoadConfig {
        addr: args.addr,
        path: args.path,
        headers: Vec::new(),
        body: Bytes::from(body.to_string()),
        stream: args.stream,
        concurrency: args.concurrency,
        warmup: Duration::from_millis(args.warmup_ms),
        duration: Duration::from_millis(args.duration_ms),
        pid: args.pid,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(run(cfg))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
