//! The shared `StateStore` conformance suite, run against `SqliteStore` (file and
//! in-memory) and, as the reference, `MemoryStore`.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup is a failed test"
)]

use std::sync::Arc;

use llmpool_core::MemoryStore;
use llmpool_core::testkit::conformance::{ClockSubject, ManualClock};
use llmpool_store_sqlite::{SqliteOptions, SqliteStore};

mod memory {
    use super::*;

    fn subject() -> std::future::Ready<Option<ClockSubject<MemoryStore>>> {
        let clock = Arc::new(ManualClock::new());
        let store = MemoryStore::with_clock(clock.clone());
        std::future::ready(Some(ClockSubject::new(store, clock)))
    }

    llmpool_core::store_conformance_tests!(subject());
}

mod sqlite_file {
    use super::*;

    /// The store, and the directory its file lives in (removed when the test ends).
    struct FileSubject {
        inner: ClockSubject<SqliteStore>,
        _dir: tempfile::TempDir,
    }

    #[async_trait::async_trait]
    impl llmpool_core::testkit::conformance::Subject for FileSubject {
        fn store(&self) -> &dyn llmpool_core::StateStore {
            &self.inner.store
        }

        async fn advance(&self, by: std::time::Duration) {
            self.inner.clock.advance(by);
        }
    }

    async fn subject() -> Option<FileSubject> {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new());
        let options = SqliteOptions::new().clock(clock.clone());
        let store = SqliteStore::open_with(dir.path().join("store.db"), options)
            .await
            .unwrap();
        Some(FileSubject {
            inner: ClockSubject::new(store, clock),
            _dir: dir,
        })
    }

    llmpool_core::store_conformance_tests!(subject());
}

mod sqlite_memory {
    use super::*;

    async fn subject() -> Option<ClockSubject<SqliteStore>> {
        let clock = Arc::new(ManualClock::new());
        let store = SqliteStore::in_memory(SqliteOptions::new().clock(clock.clone()))
            .await
            .unwrap();
        Some(ClockSubject::new(store, clock))
    }

    llmpool_core::store_conformance_tests!(subject());
}
