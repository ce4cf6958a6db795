//! Start-up errors name what is wrong: an unreachable store by its URL (password masked)
//! with the cause said once, a bad settings value by its key path, file and line.

use crate::harness::Setup;

#[tokio::test]
async fn an_unreachable_redis_store_is_named_by_its_masked_url_with_the_cause_once() {
    let s = Setup::new().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let out = s
        .cli(&["serve", "--addr", "127.0.0.1:0", "--store", &url])
        .await;
    assert_ne!(out.code, Some(0), "{out:?}");
    let expected =
        format!("state store failed: redis connect failed: redis://:***@127.0.0.1:{port}/0: ");
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    assert_eq!(out.stderr.matches("refused").count(), 1, "{}", out.stderr);
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_named_by_key_path_file_and_line() {
    let s = Setup::new().await;
    s.write_toml("[providers.groq]\nrpm = \"three\"\n");
    let path = s.config_path().display().to_string();
    let out = s.cli(&["serve", "--addr", "127.0.0.1:0"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    let expected = format!(
        "{path}: `providers.groq.rpm`: invalid type: string \"three\", expected u64 (line 2)"
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
}
