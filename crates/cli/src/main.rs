//! The `llmpool` binary: `serve` (OpenAI-compatible gateway and its dashboard), `chat`,
//! `translate`, `status`, `keys check` and `init`.
//!
//! Every command reads the environment, `./.env` and `llmpool.toml` (`--config` or
//! `LLMPOOL_CONFIG`); `init` writes the last two. Exit codes: 0 ok, 1 all providers
//! failed or none available, or a key was rejected (the message says which and why),
//! 2 usage or configuration error. `LLMPOOL_LOG_FORMAT=json` writes logs as JSON lines.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use llmpool::{ChatHandler, Config, QuotaStatus};
use llmpool_gateway::{Gateway, ServeOptions, shutdown_signal};

mod init;
mod keys;
mod progress;

/// The binary's allocator. A gateway allocates and frees many small buffers per request
/// (headers, JSON, counter keys); glibc's malloc took ~11 % of its CPU under load,
/// mimalloc about half of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One dependable LLM service out of several free tiers.
#[derive(Debug, Parser)]
#[command(name = "llmpool", version, about, long_about = None)]
struct Cli {
    /// Settings file (default: ./llmpool.toml when present).
    #[arg(long, global = true, env = "LLMPOOL_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the OpenAI-compatible HTTP gateway.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "LLMPOOL_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// State store: `sqlite:PATH`, `redis://HOST:PORT` or `memory` (overrides the config).
        #[arg(long, env = "LLMPOOL_STORE", value_name = "URL")]
        store: Option<String>,
        /// Serve a non-loopback address without client keys (LLMPOOL_API_KEYS).
        #[arg(long)]
        insecure_no_auth: bool,
        /// Seconds in-flight requests may run after SIGTERM or ctrl-c.
        #[arg(long, default_value_t = 30)]
        shutdown_grace_secs: u64,
    },
    /// Send one message, or chat interactively (with history) when none is given.
    Chat {
        /// Whose history to use.
        #[arg(long, default_value = "cli")]
        user: String,
        /// The message; omit it for an interactive session (`/clear`, `/quit`).
        message: Vec<String>,
    },
    /// Translate texts (arguments, or lines from stdin) in as few requests as fit.
    Translate {
        /// Target language (default: the config's `target_language`).
        #[arg(long)]
        to: Option<String>,
        /// Texts; omit them to read lines from stdin.
        texts: Vec<String>,
    },
    /// Show keys, health and quota per provider.
    Status {
        /// Print the seed-shaped JSON instead of a table.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Redraw the table in place until interrupted.
        #[arg(long)]
        watch: bool,
        /// Seconds between two redraws with --watch.
        #[arg(long, default_value_t = 2.0, value_name = "SECS", value_parser = parse_interval)]
        interval: f64,
        /// Stop after this many redraws with --watch (default: until interrupted).
        #[arg(long, value_name = "N", requires = "watch")]
        count: Option<u64>,
    },
    /// Check the configured API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Write a commented llmpool.toml and a .env template (existing files are kept).
    Init {
        /// Directory to write them in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Ask each provider, at no quota cost, whether each key is valid and which of the
    /// configured models it may use; exit 1 if any key is rejected.
    Check,
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        Ok(_) => Err(format!("`{s}` is not between 0 and 86400 seconds")),
        Err(e) => Err(format!("`{s}` is not a number of seconds: {e}")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let level = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    match std::env::var("LLMPOOL_LOG_FORMAT").as_deref() {
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Ok("" | "text") | Err(_) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            // Colour codes only on a terminal: a log file or pipe gets plain lines that
            // tools (and the start line's `address=` parser) can read.
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        Ok(other) => {
            eprintln!("error: LLMPOOL_LOG_FORMAT=`{other}`: expected `json` or `text`");
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// 1 when providers failed or none was available or a key was rejected, 2 for usage and
/// config errors.
fn exit_code(e: &anyhow::Error) -> u8 {
    let routing = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<llmpool::Error>(),
            Some(
                llmpool::Error::NoAvailableProviders(_)
                    | llmpool::Error::AllProvidersFailed(_)
                    | llmpool::Error::DeadlineExceeded(_)
                    | llmpool::Error::ContentFiltered(_)
            )
        )
    });
    let rejected = e.downcast_ref::<keys::KeysRejected>().is_some();
    if routing || rejected { 1 } else { 2 }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // `init` makes the files the others read, so it must not need them to be valid.
    if let Command::Init { dir } = &cli.command {
        return init::run(dir);
    }
    let config = Config::from_env_with_path(cli.config.as_deref())?;
    match cli.command {
        Command::Serve {
            addr,
            store,
            insecure_no_auth,
            shutdown_grace_secs,
        } => {
            let opts = ServeOptions {
                addr,
                store,
                insecure_no_auth,
                shutdown_grace: Duration::from_secs(shutdown_grace_secs),
            };
            let gateway = Gateway::bind(config, opts).await?;
            gateway.run(shutdown_signal()).await?;
            Ok(())
        }
        Command::Chat { user, message } => {
            let handler = ChatHandler::builder().config(config).build().await?;
            if message.is_empty() {
                interactive(&handler, &user).await
            } else {
                let answer = handler
                    .send_message_with_history(&user, &message.join(" "))
                    .await?;
                println!("{answer}");
                Ok(())
            }
        }
        Command::Translate { to, texts } => {
            let texts = if texts.is_empty() {
                std::io::stdin()
                    .lock()
                    .lines()
                    .collect::<Result<Vec<_>, _>>()
                    .context("reading stdin")?
            } else {
                texts
            };
            let handler = ChatHandler::builder().config(config).build().await?;
            let bar = progress::bar(texts.len());
            let mut out = Vec::with_capacity(texts.len());
            for group in progress::groups(texts.len(), !bar.is_hidden()) {
                let n = group.len();
                out.extend(
                    handler
                        .translate_multiple_texts(&texts[group], to.as_deref())
                        .await,
                );
                bar.inc(u64::try_from(n).unwrap_or(u64::MAX));
            }
            bar.finish_and_clear();
            for line in out {
                println!("{line}");
            }
            Ok(())
        }
        Command::Status {
            json,
            watch,
            interval,
            count,
        } => {
            let handler = ChatHandler::builder().config(config).build().await?;
            if watch {
                return watch_status(&handler, Duration::from_secs_f64(interval), count).await;
            }
            let status = handler.get_quota_status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status_table(&status));
            }
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Check,
        } => keys::check(&config).await,
        Command::Init { .. } => Ok(()),
    }
}

/// ANSI: cursor home, then clear the screen, so each frame replaces the last.
const CLEAR_HOME: &str = "\x1b[H\x1b[2J";

/// `status --watch`: redraws the table every `interval`, `count` times or until ctrl-c.
async fn watch_status(
    handler: &ChatHandler,
    interval: Duration,
    count: Option<u64>,
) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut frames = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown_signal() => return Ok(()),
        }
        let status = handler.get_quota_status().await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "{CLEAR_HOME}{}updated {} (every {:.1} s; ctrl-c stops)",
            status_table(&status),
            chrono_time(),
            interval.as_secs_f64()
        )?;
        stdout.flush()?;
        frames += 1;
        if count.is_some_and(|c| frames >= c) {
            return Ok(());
        }
    }
}

fn chrono_time() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

async fn interactive(handler: &ChatHandler, user: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprintln!("llmpool chat as `{user}`: /clear forgets the history, /quit or ctrl-d leaves");
    }
    let mut line = String::new();
    loop {
        if tty {
            eprint!("> ");
            std::io::stderr().flush()?;
        }
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Ok(());
        }
        match line.trim() {
            "" => {}
            "/quit" | "/exit" => return Ok(()),
            "/clear" => {
                handler.clear_history(user).await?;
                eprintln!("(history cleared)");
            }
            message => match handler.send_message_with_history(user, message).await {
                Ok(answer) => println!("{answer}"),
                // One failed turn does not end the session.
                Err(e) => eprintln!("error: {e}"),
            },
        }
    }
}

/// What a model can do in a few letters (`tsjr`), `?` for a capability not known, `-`
/// for none: the status table's `can` column.
fn can(c: &llmpool::Capabilities) -> String {
    let letters: String = [
        (c.tools, 't'),
        (c.json_schema, 's'),
        (c.json_object, 'j'),
        (c.vision, 'v'),
        (c.reasoning, 'r'),
    ]
    .into_iter()
    .filter_map(|(has, letter)| match has {
        Some(true) => Some(letter),
        Some(false) => None,
        None => Some('?'),
    })
    .collect();
    if letters.is_empty() {
        "-".to_owned()
    } else {
        letters
    }
}

fn status_table(status: &QuotaStatus) -> String {
    let mut rows = vec![[
        "provider".to_owned(),
        "key".to_owned(),
        "state".to_owned(),
        "today".to_owned(),
        "this minute".to_owned(),
        "model".to_owned(),
        "can".to_owned(),
        "last error / why off".to_owned(),
    ]];
    for (id, p) in &status.quota_status {
        let limit = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        rows.push([
            id.clone(),
            if p.api_key_available {
                "yes".to_owned()
            } else {
                "no".to_owned()
            },
            p.state.as_str().to_owned(),
            format!("{}/{}", p.calls_today, limit(p.max_daily)),
            format!("{}/{}", p.calls_this_minute, limit(p.max_per_minute)),
            p.model.clone().unwrap_or_default(),
            p.routes
                .iter()
                .find(|r| Some(&r.model) == p.model.as_ref())
                .map(|r| can(&r.capabilities))
                .unwrap_or_default(),
            p.last_error
                .clone()
                .or_else(|| p.note.clone())
                .unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "can: t tools, s json_schema, j json_object, v vision, r reasoning, ? unknown"
    );
    let _ = writeln!(
        out,
        "{} of {} providers available{}",
        status.available_providers,
        status.total_providers,
        if status.failed_providers.is_empty() {
            String::new()
        } else {
            format!("; failing: {}", status.failed_providers.join(", "))
        }
    );
    out
}
