//! Client auth with `LLMPOOL_API_KEYS`, and the refusal to serve a public address
//! without it.

use crate::harness::{CLIENT_KEY, P, Setup, hello};

#[tokio::test]
async fn client_keys_are_required_except_for_health() {
    let keys = format!("other-client-key-1,{CLIENT_KEY}");
    let s = Setup::new()
        .await
        .keyed(&[P::Groq])
        .var("LLMPOOL_API_KEYS", &keys);
    s.up.serve_ok(P::Groq).await;
    let gw = s.serve().await;
    assert!(gw.log().contains("auth=true"), "{}", gw.log());
    let body = hello("auto").to_string();

    let r = gw.chat_raw(body.clone(), None).await;
    let e = r.error(401);
    assert_eq!(e["type"], "authentication_error");
    gw.chat_raw(body.clone(), Some("e2e-client-key-wrong"))
        .await
        .error(401);
    gw.chat_raw(body.clone(), Some(&CLIENT_KEY[..CLIENT_KEY.len() - 1]))
        .await
        .error(401);
    assert!(s.up.requests(P::Groq).await.is_empty());

    let r = gw.chat_raw(body.clone(), Some(CLIENT_KEY)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = gw.chat_raw(body, Some("other-client-key-1")).await;
    assert_eq!(r.status, 200, "{}", r.body);

    for path in ["/v1/models", "/v1/quota", "/metrics"] {
        gw.get(path).await.error(401);
        gw.get_auth(path, "nope").await.error(401);
        let r = gw.get_auth(path, CLIENT_KEY).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let r = gw.get("/health").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_public_address_needs_client_keys() {
    let s = Setup::new().await;
    let out = s.cli(&["serve", "--addr", "0.0.0.0:0"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("refusing to serve"), "{}", out.stderr);
    assert!(out.stderr.contains("LLMPOOL_API_KEYS"), "{}", out.stderr);
}

#[tokio::test]
async fn a_public_address_is_served_with_client_keys_or_when_told_insecure() {
    let s = Setup::new()
        .await
        .keyed(&[P::Groq])
        .var("LLMPOOL_API_KEYS", CLIENT_KEY);
    let gw = s.serve_args(&["serve", "--addr", "0.0.0.0:0"]).await;
    assert!(gw.log().contains("address=http://0.0.0.0:"), "{}", gw.log());
    gw.get("/v1/quota").await.error(401);
    assert_eq!(gw.get_auth("/v1/quota", CLIENT_KEY).await.status, 200);
    drop(gw);

    let s = Setup::new().await.keyed(&[P::Groq]);
    let gw = s
        .serve_args(&["serve", "--addr", "0.0.0.0:0", "--insecure-no-auth"])
        .await;
    assert_eq!(gw.get("/v1/quota").await.status, 200);
}
