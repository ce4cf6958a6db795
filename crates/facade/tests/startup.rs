//! Start-up reads the persisted state: a store that cannot be read stops
//! `ChatHandler::builder().build()` with an error, before any request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use llmpool::{Acquire, CounterCheck, MemoryStore, Message, StateStore, StoreError};
use llmpool::{ChatHandler, Config, Error, Settings};

/// A store whose reads fail, like a database file that is not one.
#[derive(Debug)]
struct UnreadableStore(MemoryStore);

fn unreadable() -> StoreError {
    StoreError::new("get", "file is not a database")
}

#[async_trait::async_trait]
impl StateStore for UnreadableStore {
    async fn try_acquire(&self, checks: &[CounterCheck]) -> Result<Acquire, StoreError> {
        self.0.try_acquire(checks).await
    }
    async fn add(&self, key: &str, delta: i64, ttl: Duration) -> Result<(), StoreError> {
        self.0.add(key, delta, ttl).await
    }
    async fn set_counter(&self, key: &str, value: u64, ttl: Duration) -> Result<(), StoreError> {
        self.0.set_counter(key, value, ttl).await
    }
    async fn counters(&self, _keys: &[String]) -> Result<Vec<u64>, StoreError> {
        Err(unreadable())
    }
    async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), StoreError> {
        self.0.put(key, value, ttl).await
    }
    async fn get(&self, _key: &str) -> Result<Option<String>, StoreError> {
        Err(unreadable())
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key).await
    }
    async fn append_history(
        &self,
        user: &str,
        messages: &[Message],
        max_turns: usize,
    ) -> Result<(), StoreError> {
        self.0.append_history(user, messages, max_turns).await
    }
    async fn history(&self, user: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
        self.0.history(user, limit).await
    }
    async fn clear_history(&self, user: &str) -> Result<(), StoreError> {
        self.0.clear_history(user).await
    }
}

#[tokio::test]
async fn an_unreadable_store_fails_the_build() {
    let settings = Settings {
        store: "memory".to_owned(),
        ..Settings::default()
    };
    let vars = BTreeMap::from([("GROQ_API_KEY".to_owned(), "gsk_test_0123456789".to_owned())]);
    let config = Config::from_parts(settings, "test", vars).expect("config");
    let result = ChatHandler::builder()
        .config(config)
        .store(Arc::new(UnreadableStore(MemoryStore::new())))
        .build()
        .await;
    let Err(e) = result else {
        panic!("the build read nothing from the store");
    };
    assert!(matches!(e, Error::Store(_)), "{e:?}");
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    assert_eq!(
        chain,
        "state store failed: loading the persisted state failed: get failed: file is not a database"
    );
    assert!(!chain.contains("gsk_test"), "{chain}");
}
