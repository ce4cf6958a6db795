//! Binding, start-up checks, the start log line and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use llmpool::{ChatHandler, Config, StateStore, SystemClock};
use tokio::net::TcpListener;

use crate::auth::parse_client_keys;
use crate::state::AppState;

/// How to start the gateway.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// Store URL overriding the config's `store`.
    pub store: Option<String>,
    /// Serve without client auth on a non-loopback address.
    pub insecure_no_auth: bool,
    /// How long in-flight requests may run after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: None,
            insecure_no_auth: false,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Why the gateway could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Configuration or store problem.
    #[error(transparent)]
    Llmpool(#[from] llmpool::Error),
    /// The state store cannot be opened, or its persisted state cannot be read.
    #[error("state store `{store}` failed at start-up")]
    Store {
        /// The store (its kind, or a SQLite path; never a password).
        store: String,
        /// The cause.
        #[source]
        source: llmpool::Error,
    },
    /// Refused: public address without client keys.
    #[error(
        "refusing to serve on {0} without client authentication: set LLMPOOL_API_KEYS, bind a loopback address, or pass --insecure-no-auth"
    )]
    NoAuthOnPublicAddress(SocketAddr),
    /// Binding or serving failed.
    #[error("cannot serve on {addr}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A bound gateway, ready to run.
#[derive(Debug)]
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    store: Arc<dyn StateStore>,
    local_addr: SocketAddr,
    grace: Duration,
}

impl Gateway {
    /// Checks the options, opens the store, builds the router and binds.
    pub async fn bind(config: Config, opts: ServeOptions) -> Result<Self, ServeError> {
        let client_keys = parse_client_keys(config.var("LLMPOOL_API_KEYS").unwrap_or_default());
        if !opts.addr.ip().is_loopback() && client_keys.is_empty() && !opts.insecure_no_auth {
            return Err(ServeError::NoAuthOnPublicAddress(opts.addr));
        }
        let store_url = opts.store.clone().unwrap_or_else(|| config.store_url());
        let store_origin = if opts.store.is_some() {
            "--store".to_owned()
        } else {
            config.origin.clone()
        };
        let clock = Arc::new(SystemClock);
        let store_failed = |e: llmpool::Error| match e {
            llmpool::Error::Store(_) => ServeError::Store {
                store: store_kind(&store_url),
                source: e,
            },
            other => other.into(),
        };
        let store = llmpool::open_store(&store_url, &store_origin, clock.clone())
            .await
            .map_err(store_failed)?;
        let settings = config.settings.clone();
        let keep_prompts = config
            .var("LLMPOOL_DASHBOARD_KEEP_PROMPTS")
            .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
        let handler = ChatHandler::builder()
            .config(config)
            .store(store.clone())
            .clock(clock)
            .build()
            .await
            .map_err(store_failed)?;
        // Each provider on (its key count, or keyless) or off with the reason; the
        // `kind = "openai"` ones in a field of their own.
        let list = |config_only: bool| {
            let items: Vec<String> = handler
                .availability()
                .iter()
                .filter(|a| a.config_only == config_only)
                .map(ToString::to_string)
                .collect();
            if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        };
        let (providers, configured) = (list(false), list(true));
        let listener = TcpListener::bind(opts.addr)
            .await
            .map_err(|source| ServeError::Io {
                addr: opts.addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Io {
            addr: opts.addr,
            source,
        })?;
        tracing::info!(
            address = %format!("http://{local_addr}"),
            store = %store_kind(&store_url),
            auth = !client_keys.is_empty(),
            providers = %providers,
            configured = %configured,
            "llmpool listening"
        );
        let state = AppState::new(handler, &settings, client_keys).with_keep_prompts(keep_prompts);
        Ok(Self {
            listener,
            state,
            store,
            local_addr,
            grace: opts.shutdown_grace,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for at most
    /// the grace period and flushes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (signalled_tx, mut signalled_rx) = tokio::sync::watch::channel(false);
        let app = crate::routes::router(self.state);
        // Without TCP_NODELAY, a stream's small chunks meet Nagle's algorithm and the
        // client's delayed ACK: about 40 ms of stall per streamed answer.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; waiting for in-flight requests");
            let _ = signalled_tx.send(true);
        });
        let grace = self.grace;
        let deadline = async move {
            while !*signalled_rx.borrow() {
                if signalled_rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(grace).await;
        };
        let addr = self.local_addr;
        tokio::select! {
            result = server => result.map_err(|source| ServeError::Io { addr, source })?,
            () = deadline => tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish within the grace period"),
        }
        if let Err(e) = self.store.flush().await {
            tracing::error!(error = %e, "flushing the store failed");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Store kind for the start line (never the full URL: a Redis URL may hold a password).
fn store_kind(url: &str) -> String {
    match url.split_once(':') {
        Some(("sqlite", path)) => format!("sqlite:{path}"),
        Some((scheme, _)) => scheme.to_owned(),
        None => url.to_owned(),
    }
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
