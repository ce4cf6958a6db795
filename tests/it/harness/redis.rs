//! A private `redis-server` for the end-to-end tests that share a Redis between gateways
//! and stop it under them: on a free loopback port, no persistence (a restart comes back
//! empty, the worst case for quota counts), in a temporary directory, killed on drop.
//!
//! The binary is `LLMPOOL_REDIS_SERVER`, else `redis-server` on `PATH` (or in the usual
//! Debian places). Without one the test fails and says what to install, unless
//! `LLMPOOL_SKIP_REDIS=1` is set, when it says on stderr that it skipped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::BOUND;

/// A `redis-server` child process on 127.0.0.1.
pub(crate) struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a private server, or returns `None` when `LLMPOOL_SKIP_REDIS=1` and no
    /// `redis-server` is found.
    pub(crate) fn start() -> Option<Self> {
        let Some(binary) = find_binary() else {
            assert!(
                std::env::var("LLMPOOL_SKIP_REDIS").is_ok_and(|v| v == "1"),
                "this test needs redis-server: install it (Debian: `apt-get install \
                 redis-server`), or point LLMPOOL_REDIS_SERVER at the binary, or set \
                 LLMPOOL_SKIP_REDIS=1 to skip it explicitly"
            );
            eprintln!("skipped: no redis-server and LLMPOOL_SKIP_REDIS=1; this test did not run");
            return None;
        };
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            binary,
            port,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        server.start_again();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL: nothing is saved) and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty, and waits until it answers PING.
    pub(crate) fn start_again(&mut self) {
        self.stop();
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        self.child = Some(child);
        let started = Instant::now();
        while !ping(self.port) {
            if let Some(child) = self.child.as_mut() {
                let exited = child.try_wait().expect("try_wait");
                assert!(exited.is_none(), "redis-server exited at start: {exited:?}");
            }
            assert!(
                started.elapsed() < BOUND,
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LLMPOOL_REDIS_SERVER") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0_u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
