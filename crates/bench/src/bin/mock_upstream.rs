//! `llmpool-mock-upstream`: the benchmark's upstream (see `llmpool_bench::upstream`).
//!
//! Prints `listening <addr>` on stdout once it accepts connections, then serves until
//! killed. Runs on one thread: pin it with `taskset`.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;

/// A minimal OpenAI/Gemini/Cohere-compatible upstream that answers at once.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        anyhow::bail!("the mock upstream only listens on loopback addresses");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let (listener, local) = llmpool_bench::upstream::bind(args.addr).await?;
        println!("listening {local}");
        std::io::stdout().flush()?;
        llmpool_bench::upstream::serve(listener).await?;
        Ok(())
    })
}
