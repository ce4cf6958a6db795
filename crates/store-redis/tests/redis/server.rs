//! Finds or starts the Redis that tests and benches use.
//!
//! 1. `LLMPOOL_REDIS_URL` set: that server (tests keep apart by key prefix).
//! 2. Else `redis-server` at `LLMPOOL_REDIS_SERVER` or on `PATH`: a private server on a
//!    free loopback port, no persistence, in a temporary directory; stopped when its
//!    guard drops.
//! 3. Else, with `LLMPOOL_SKIP_REDIS=1`: skipped, saying so on stderr.
//! 4. Else the test fails and says how to get a Redis.

#![expect(
    clippy::panic,
    reason = "test support: no Redis is a failed test, with the message saying why"
)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Server URL to use instead of starting one.
pub(crate) const URL_ENV: &str = "LLMPOOL_REDIS_URL";
/// Set to `1` to skip (rather than fail) when no Redis is available.
pub(crate) const SKIP_ENV: &str = "LLMPOOL_SKIP_REDIS";
/// Path of the `redis-server` binary, when it is not on `PATH`.
pub(crate) const BINARY_ENV: &str = "LLMPOOL_REDIS_SERVER";

/// A Redis to test against: its URL, a key prefix of this test's own, and the private
/// server when one was started (kept alive as long as this is, killed after).
#[derive(Debug)]
pub(crate) struct TestRedis {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) server: Option<RedisServer>,
}

impl Drop for TestRedis {
    /// On a shared server, removes this test's keys (best effort); a private server goes
    /// away whole.
    fn drop(&mut self) {
        if self.server.is_none() {
            let _ = delete_prefixed(&self.url, &self.prefix);
        }
    }
}

fn delete_prefixed(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let mut connection = redis::Client::open(url)?.get_connection()?;
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut connection)?;
        if !keys.is_empty() {
            redis::cmd("DEL").arg(keys).exec(&mut connection)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// A key prefix no other test (in this process or another) uses.
pub(crate) fn unique_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "llmpool-test:{}:{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Redis to use, or `None` when skipped (see the module docs for the order).
pub(crate) fn redis() -> Option<TestRedis> {
    if let Some(url) = std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()) {
        return Some(TestRedis {
            url,
            prefix: unique_prefix(),
            server: None,
        });
    }
    let server = privateserver()?;
    Some(TestRedis {
        url: server.url(),
        prefix: unique_prefix(),
        server: Some(server),
    })
}

/// A private server even when `LLMPOOL_REDIS_URL` is set (for tests that stop and start
/// it), or `None` when skipped.
pub(crate) fn privateserver() -> Option<RedisServer> {
    match find_binary() {
        Some(binary) => Some(RedisServer::start(&binary).unwrap_or_else(|e| {
            panic!(
                "could not start {} for the Redis tests: {e}",
                binary.display()
            )
        })),
        None if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") => {
            eprintln!(
                "skipped: no redis-server found and {SKIP_ENV}=1 is set; this Redis test did \
                 not run"
            );
            None
        }
        None => panic!(
            "the Redis tests need a Redis server and none was found: install redis-server \
             (Debian/Ubuntu: `apt-get install redis-server`) so that `redis-server` is on \
             PATH, or point {BINARY_ENV} at the binary, or set {URL_ENV}=redis://host:port/ \
             to use a running server; or set {SKIP_ENV}=1 to skip these tests explicitly"
        ),
    }
}

/// `LLMPOOL_REDIS_SERVER` when set (and only it), else the first `redis-server` on `PATH`
/// or in the usual Debian places.
fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// A `redis-server` child process on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub(crate) struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Restarts keep the data: append-only file, synced on every write.
    pub(crate) persistent: bool,
}

impl RedisServer {
    /// Starts a server on a free port (trying a few ports if another process takes the
    /// one chosen first).
    pub(crate) fn start(binary: &Path) -> Result<Self, String> {
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut server = Self {
                binary: binary.to_owned(),
                port: free_port().map_err(|e| format!("no free port: {e}"))?,
                dir: tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?,
                child: None,
                persistent: false,
            };
            match server.start_again() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

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

    /// Freezes the server (SIGSTOP): connections are still accepted by the kernel, but
    /// nothing answers, as with a Redis stuck on a slow disk.
    pub(crate) fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let Some(child) = self.child.as_ref() else {
            panic!("the redis-server on port {} is not running", self.port);
        };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill {signal} failed: {status}");
    }

    /// Starts the server again on the same port: with empty data, or, when
    /// [`persistent`](Self::persistent), with what its append-only file holds.
    pub(crate) fn start_again(&mut self) -> Result<(), String> {
        self.stop();
        let (appendonly, fsync) = if self.persistent {
            ("yes", "always")
        } else {
            ("no", "everysec")
        };
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", appendonly])
            .args(["--appendfsync", fsync])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        self.wait_until_ready()
    }

    /// Polls with PING until the server answers, or it exits, or 10 s pass.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        for _ in 0..200 {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("redis-server exited at start: {status}"));
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        Err(format!(
            "redis-server did not answer on port {} within 10 s",
            self.port
        ))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
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
