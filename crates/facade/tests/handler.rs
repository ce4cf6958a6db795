//! `ChatHandler`: history (kept, trimmed, not stored on failure) and batch translation
//! (one call when it fits, chunking, count mismatch → per-item fallback → originals).

use std::collections::BTreeMap;
use std::sync::Arc;

use llmpool::{
    BatchLimits, ChatHandler, Config, ErrorKind, KeyedClient, MemoryStore, Provider,
    ProviderFactory, ProviderSetup, Role, Router, Settings, StateStore, SystemClock,
};
use llmpool_core::testkit::{FakeProvider, Reply, fake_factory};

static FAKE: ProviderFactory = fake_factory(
    "groq",
    "GROQ_API_KEY",
    "m",
    "[[models]]\nid = \"m\"\ncontext_window = 1200\n",
    1,
);

struct H {
    handler: ChatHandler,
    fake: Arc<FakeProvider>,
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: a failing setup is a broken test"
)]
async fn handler_with(history_turns: usize, batch: BatchLimits, with_key: bool) -> H {
    let settings = Settings {
        store: "memory".to_owned(),
        history_turns,
        target_language: "Persian".to_owned(),
        retry_attempts: 0,
        ..Settings::default()
    };
    let fake = Arc::new(FakeProvider::new("groq"));
    let clients = if with_key {
        vec![KeyedClient {
            key_label: "***test".to_owned(),
            provider: fake.clone() as Arc<dyn Provider>,
        }]
    } else {
        Vec::new()
    };
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let router = Router::new(
        &settings,
        vec![ProviderSetup {
            factory: &FAKE,
            clients,
        }],
        store.clone(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let config = Config::from_parts(settings, "test", BTreeMap::new()).unwrap();
    let handler = ChatHandler::builder()
        .config(config)
        .store(store)
        .router(router)
        .batch_limits(batch)
        .system_prompt("be brief")
        .build()
        .await
        .unwrap();
    H { handler, fake }
}

async fn handler(history_turns: usize) -> H {
    handler_with(history_turns, BatchLimits::default(), true).await
}

fn texts(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn history_is_sent_trimmed_to_turns_and_stored() {
    let h = handler(2).await;
    for i in 1..=4 {
        h.fake.push(Reply::text(format!("answer {i}")));
        let answer = h
            .handler
            .send_message_with_history("u1", &format!("question {i}"))
            .await
            .unwrap();
        assert_eq!(answer, format!("answer {i}"));
    }
    let last = h.fake.requests().pop().unwrap();
    let shown: Vec<(Role, &str)> = last
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_text().unwrap_or_default()))
        .collect();
    assert_eq!(
        shown,
        vec![
            (Role::System, "be brief"),
            (Role::User, "question 2"),
            (Role::Assistant, "answer 2"),
            (Role::User, "question 3"),
            (Role::Assistant, "answer 3"),
            (Role::User, "question 4"),
        ]
    );
    let stored = h.handler.history("u1").await.unwrap();
    assert_eq!(stored.len(), 4);
    assert_eq!(stored[3].content, "answer 4");
    // Another user's history is separate; clearing forgets it.
    assert!(h.handler.history("u2").await.unwrap().is_empty());
    h.handler.clear_history("u1").await.unwrap();
    assert!(h.handler.history("u1").await.unwrap().is_empty());
}

#[tokio::test]
async fn history_is_trimmed_to_the_smallest_context_window() {
    // Context 1200 tokens with 1024 kept for the answer: ~176 tokens of prompt.
    let h = handler(10).await;
    let long = "word ".repeat(100); // ~125 tokens
    for _ in 0..3 {
        h.handler
            .send_message_with_history("u", &long)
            .await
            .unwrap();
    }
    let sent = h.fake.requests().pop().unwrap();
    // Only the newest turn fits: the older exchanges were dropped whole, oldest first.
    assert_eq!(sent.messages.len(), 2, "{:?}", sent.messages);
    assert_eq!(sent.messages[0].role, Role::System);
    assert_eq!(sent.messages[1].role, Role::User);
    // The store still keeps the configured number of turns.
    assert_eq!(h.handler.history("u").await.unwrap().len(), 6);
}

#[tokio::test]
async fn a_failed_turn_is_not_stored() {
    let h = handler(5).await;
    h.fake.push(Reply::error(ErrorKind::Unauthorized));
    let err = h
        .handler
        .send_message_with_history("u", "hi")
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("All providers failed"), "{err}");
    assert!(h.handler.history("u").await.unwrap().is_empty());
    let err = h
        .handler
        .send_message_with_history("u", "   ")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[tokio::test]
async fn a_batch_that_fits_is_one_upstream_call() {
    let h = handler(5).await;
    h.fake.push(Reply::text(
        "```json\n{\"1\": \"سلام\", \"2\": \"دنیا\", \"3\": \"خداحافظ\"}\n```",
    ));
    let input = texts(&["hello", "", "world", "   ", "goodbye"]);
    let out = h.handler.translate_multiple_texts(&input, None).await;
    assert_eq!(out, texts(&["سلام", "", "دنیا", "   ", "خداحافظ"]));
    assert_eq!(h.fake.calls(), 1);
    let req = &h.fake.requests()[0];
    assert!(
        req.messages[0].content.text().contains("Persian"),
        "default target language"
    );
    assert_eq!(
        req.messages[1].content,
        r#"{"1":"hello","2":"world","3":"goodbye"}"#
    );
}

#[tokio::test]
async fn batches_are_chunked_when_too_long() {
    let h = handler_with(
        5,
        BatchLimits {
            max_chars: 10,
            max_items: 10,
        },
        true,
    )
    .await;
    h.fake.push(Reply::text(r#"{"1": "A", "2": "B"}"#));
    h.fake.push(Reply::text(r#"{"1": "C"}"#));
    let out = h
        .handler
        .translate_multiple_texts(&texts(&["aaaa", "bbbb", "cccccc"]), Some("German"))
        .await;
    assert_eq!(out, texts(&["A", "B", "C"]));
    assert_eq!(h.fake.calls(), 2);
    assert!(
        h.fake.requests()[1].messages[0]
            .content
            .text()
            .contains("German")
    );
}

#[tokio::test]
async fn count_mismatch_falls_back_per_item_then_to_originals() {
    let h = handler(5).await;
    // The batch answer drops an item: rejected as a whole.
    h.fake.push(Reply::text(r#"{"1": "uno", "2": "dos"}"#));
    // Per item: the first succeeds, the second fails upstream, the third answers blank.
    h.fake.push(Reply::text("uno"));
    h.fake.push(Reply::error(ErrorKind::BadRequest));
    h.fake.push(Reply::text("  "));
    let input = texts(&["one", "two", "three"]);
    let out = h
        .handler
        .translate_multiple_texts(&input, Some("Spanish"))
        .await;
    assert_eq!(out, texts(&["uno", "two", "three"]));
    assert_eq!(h.fake.calls(), 4);
    assert_eq!(
        h.fake.requests()[2].messages[1].content,
        "two",
        "items go out in order"
    );
}

#[tokio::test]
async fn without_providers_texts_come_back_unchanged_without_more_calls() {
    let h = handler_with(5, BatchLimits::default(), false).await;
    let input = texts(&["one", "two"]);
    assert_eq!(
        h.handler.translate_multiple_texts(&input, None).await,
        input
    );
    assert_eq!(h.fake.calls(), 0);
}

#[tokio::test]
async fn quota_status_has_the_seed_shape() {
    let h = handler(5).await;
    h.handler
        .send_message_with_history("u", "hi")
        .await
        .unwrap();
    let status = serde_json::to_value(h.handler.get_quota_status().await.unwrap()).unwrap();
    assert_eq!(status["total_providers"], 1);
    assert_eq!(status["available_providers"], 1);
    assert_eq!(status["failed_providers"], serde_json::json!([]));
    let groq = &status["quota_status"]["groq"];
    assert_eq!(groq["calls_today"], 1);
    assert_eq!(groq["api_key_available"], true);
    assert_eq!(groq["available"], true);
}
