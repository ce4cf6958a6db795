//! Streams from each upstream format (OpenAI-style SSE from Groq, Cerebras and
//! OpenRouter; Gemini's CRLF-framed SSE without `[DONE]`; Cohere's typed events), all
//! translated to OpenAI `chat.completion.chunk` events.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::harness::fixtures;
use crate::harness::{P, Resp, Setup, hello};

fn stream_request(model: &str, include_usage: bool) -> Value {
    let mut body = hello(model);
    body["stream"] = json!(true);
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn chunks(r: &Resp) -> Vec<Value> {
    r.sse_data()
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("bad event {d}: {e}")))
        .collect()
}

fn text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// Streams from `p` alone and checks the OpenAI event sequence and the text.
async fn streams_from(p: P) {
    let s = Setup::new().await.keyed(&[p]);
    s.up.serve_ok(p).await;
    let gw = s.serve().await;
    let expected = fixtures::stream_text(p, fixtures::of(p).stream);
    assert!(!expected.is_empty(), "{}: the fixture has text", p.id());

    for include_usage in [false, true] {
        let r = gw.chat(&stream_request(p.id(), include_usage)).await;
        assert_eq!(r.status, 200, "{}: {}", p.id(), r.body);
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("text/event-stream")),
            "{:?}",
            r.headers
        );
        assert_eq!(r.header("x-llmpool-provider"), Some(p.id()));
        let data = r.sse_data();
        assert_eq!(
            data.last().map(String::as_str),
            Some("[DONE]"),
            "{}: {}",
            p.id(),
            r.body
        );
        assert_eq!(data.iter().filter(|d| *d == "[DONE]").count(), 1);
        let chunks = chunks(&r);
        for c in &chunks {
            assert_eq!(c["object"], "chat.completion.chunk", "{c}");
            assert_eq!(c["id"], chunks[0]["id"], "{c}");
            assert!(c["model"].as_str().is_some_and(|m| !m.is_empty()), "{c}");
        }
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(text(&chunks), expected, "{}", p.id());
        let finishes: Vec<&Value> = chunks
            .iter()
            .filter(|c| !c["choices"][0]["finish_reason"].is_null())
            .collect();
        assert_eq!(finishes.len(), 1, "{}: {chunks:?}", p.id());
        assert_eq!(finishes[0]["choices"][0]["finish_reason"], "stop");
        let with_usage: Vec<&Value> = chunks
            .iter()
            .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
            .collect();
        if include_usage {
            assert_eq!(with_usage.len(), 1, "{}: {}", p.id(), r.body);
            let last = chunks.last().unwrap();
            assert_eq!(last["choices"], json!([]), "{last}");
            assert!(
                last["usage"]["total_tokens"].as_u64().unwrap() > 0,
                "{last}"
            );
        } else {
            assert!(with_usage.is_empty(), "{}: {}", p.id(), r.body);
        }
    }
    assert_eq!(s.up.requests(p).await.len(), 2);
}

#[tokio::test]
async fn groq_stream() {
    streams_from(P::Groq).await;
}

#[tokio::test]
async fn cerebras_stream() {
    streams_from(P::Cerebras).await;
}

#[tokio::test]
async fn openrouter_stream() {
    streams_from(P::OpenRouter).await;
}

#[tokio::test]
async fn gemini_stream_crlf_without_done() {
    assert!(fixtures::of(P::Gemini).stream.contains("\r\n"));
    assert!(!fixtures::of(P::Gemini).stream.contains("[DONE]"));
    streams_from(P::Gemini).await;
}

#[tokio::test]
async fn cohere_typed_event_stream() {
    assert!(
        fixtures::of(P::Cohere)
            .stream
            .contains("event: content-delta")
    );
    streams_from(P::Cohere).await;
}

#[tokio::test]
async fn usage_of_a_stream_is_the_upstreams() {
    let s = Setup::new().await.keyed(&[P::Cerebras]);
    s.up.serve_ok(P::Cerebras).await;
    let gw = s.serve().await;
    let r = gw.chat(&stream_request("auto", true)).await;
    let last = chunks(&r).pop().unwrap();
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 84, "completion_tokens": 22, "total_tokens": 106})
    );
}

/// Each upstream's cut stream, alone (nothing can continue it): the text so far, then an
/// error event and no `[DONE]`.
#[tokio::test]
async fn cut_streams_end_with_an_error_event_and_no_done() {
    for p in [P::Groq, P::Cerebras, P::OpenRouter, P::Gemini, P::Cohere] {
        let s = Setup::new().await.keyed(&[p]);
        // The cut stream first; a continuation (where the route supports prefill) fails.
        s.up.on(p, true)
            .respond_with(fixtures::sse(fixtures::of(p).stream_cut))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(s.up.server(p))
            .await;
        s.up.serve_error(p, ResponseTemplate::new(503)).await;
        let gw = s.serve().await;
        let r = gw.chat(&stream_request(p.id(), true)).await;
        assert_eq!(r.status, 200, "{}: {}", p.id(), r.body);
        let data = r.sse_data();
        assert!(
            !data.iter().any(|d| d == "[DONE]"),
            "{}: a cut stream must not end like a complete one: {}",
            p.id(),
            r.body
        );
        let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
        assert!(
            last["error"]["message"].is_string(),
            "{}: last event {last}",
            p.id()
        );
        let chunks: Vec<Value> = data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let sent = text(&chunks);
        let expected = fixtures::stream_text(p, fixtures::of(p).stream_cut);
        assert!(!expected.is_empty(), "{}", p.id());
        assert_eq!(sent, expected, "{}", p.id());
        assert!(
            chunks
                .iter()
                .all(|c| c["choices"][0]["finish_reason"].is_null()),
            "{}: {}",
            p.id(),
            r.body
        );
    }
}

/// Gemini continues an assistant prefill: after a cut, the rest comes from a second
/// request that carries the text already sent, and the client sees one whole answer.
#[tokio::test]
async fn a_cut_gemini_stream_is_continued_from_the_text_already_sent() {
    let s = Setup::new().await.keyed(&[P::Gemini]);
    // A second Gemini model to continue on (the cut route is not asked again).
    s.write_toml(&crate::harness::TEST_TOML.replace(
        r#"models = ["gemini-3.1-flash-lite"]"#,
        r#"models = ["gemini-3.1-flash-lite", "gemini-2.5-flash"]"#,
    ));
    let cut = fixtures::of(P::Gemini).stream_cut;
    s.up.on(P::Gemini, true)
        .respond_with(fixtures::sse(cut))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(s.up.server(P::Gemini))
        .await;
    s.up.on(P::Gemini, true)
        .respond_with(fixtures::sse(fixtures::GEMINI_SINGLE_CHUNK))
        .mount(s.up.server(P::Gemini))
        .await;
    let gw = s.serve().await;
    let r = gw.chat(&stream_request("gemini", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.sse_data().last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        r.body
    );
    let first = fixtures::stream_text(P::Gemini, cut);
    let rest = fixtures::stream_text(P::Gemini, fixtures::GEMINI_SINGLE_CHUNK);
    assert_eq!(text(&chunks(&r)), format!("{first}{rest}"));
    let requests = s.up.requests(P::Gemini).await;
    assert_eq!(requests.len(), 2);
    assert!(requests[0].url.path().contains("gemini-3.1-flash-lite"));
    assert!(requests[1].url.path().contains("gemini-2.5-flash"));
    let sent = s.up.bodies(P::Gemini).await;
    let contents = sent[1]["contents"].as_array().unwrap();
    let prefill = contents.last().unwrap();
    assert_eq!(prefill["role"], "model", "{prefill}");
    assert_eq!(prefill["parts"][0]["text"], first.as_str(), "{prefill}");
}
