//! How a [`SqliteStore`](crate::SqliteStore) is opened.

use std::sync::Arc;
use std::time::Duration;

use llmpool_core::{Clock, SystemClock};

/// What a committed write survives; maps to SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: commits survive a crash or kill of the process; a power loss
    /// may lose the last commits since the most recent sync (checkpoint or
    /// [`flush`](llmpool_core::StateStore::flush)). Much cheaper: no `fsync` per commit.
    #[default]
    ProcessCrash,
    /// `synchronous=FULL`: every commit is synced to disk before any call in it returns,
    /// so it also survives a power loss.
    PowerLoss,
}

impl Durability {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Self::ProcessCrash => "NORMAL",
            Self::PowerLoss => "FULL",
        }
    }
}

/// Options for [`SqliteStore::open_with`](crate::SqliteStore::open_with).
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub(crate) durability: Durability,
    pub(crate) busy_timeout: Duration,
    pub(crate) cleanup_interval: Duration,
    pub(crate) max_batch: usize,
    pub(crate) wal_autocheckpoint: u32,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            busy_timeout: Duration::from_secs(5),
            cleanup_interval: Duration::from_secs(60),
            max_batch: 1024,
            wal_autocheckpoint: 1000,
            clock: Arc::new(SystemClock),
        }
    }
}

impl SqliteOptions {
    /// The defaults: [`Durability::ProcessCrash`], a 5 s busy timeout, cleanup every
    /// minute, batches of up to 1024 calls, a WAL checkpoint every 1000 pages, the system
    /// clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// What a commit survives.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long a write waits for another connection (another process or store on the
    /// same file) to release the write lock before failing.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How often expired rows are deleted (they read as absent before that anyway); at
    /// least 10 ms.
    #[must_use]
    pub fn cleanup_interval(mut self, interval: Duration) -> Self {
        self.cleanup_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The most calls one transaction takes (at least 1). Bounds how long a call waits
    /// behind others in the same commit.
    #[must_use]
    pub fn max_batch(mut self, calls: usize) -> Self {
        self.max_batch = calls.max(1);
        self
    }

    /// WAL size in pages (about 4 KiB each) after which a commit also checkpoints it into
    /// the main file; SQLite's default is 1000. Larger values mean rarer, longer pauses.
    #[must_use]
    pub fn wal_autocheckpoint(mut self, pages: u32) -> Self {
        self.wal_autocheckpoint = pages;
        self
    }

    /// The clock expiries are computed from (tests inject a manual one).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
