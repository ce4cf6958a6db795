//! Capability routing: a request goes only to routes whose model can serve what it needs
//! (tools, a JSON format, images, reasoning, its size); the others are passed over
//! without a call, and when none is left the answer names what is missing.

use serde_json::json;

use super::*;
use crate::catalog::Capabilities;
use crate::config::CapabilityOverride;
use crate::testkit::StreamStep;
use crate::types::{ContentPart, Missing, SkippedRoute, Tool, ToolCall, ToolCallDelta};

/// Groq: `t0` states nothing (text only), `t1` calls tools and answers at most 100
/// tokens. Cerebras: `v1` calls tools and reads images, with a 50-token window.
static TOOLY: ProviderFactory = fake_factory(
    "groq",
    "GROQ_API_KEY",
    "t0",
    "[[models]]\nid = \"t0\"\n[[models]]\nid = \"t1\"\ntools = true\njson_object = true\n\
     max_output_tokens = 100\n",
    1,
);
static SEEING: ProviderFactory = fake_factory(
    "cerebras",
    "CEREBRAS_API_KEY",
    "v1",
    "[[models]]\nid = \"v1\"\ntools = true\nvision = true\ncontext_window = 50\n",
    2,
);
/// A provider with a key but only text models, pinned in some tests.
static PLAIN: ProviderFactory = fake_factory(
    "gemini",
    "GEMINI_API_KEY",
    "p1",
    "[[models]]\nid = \"p1\"\n",
    3,
);

const FACTORIES: [&ProviderFactory; 3] = [&TOOLY, &SEEING, &PLAIN];

fn caps_harness(settings: &Settings) -> H {
    let clock = Arc::new(TokioClock::starting_at(at("2026-03-07T12:00:00Z")));
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let fakes: HashMap<_, _> = FACTORIES
        .iter()
        .map(|f| (f.id, Arc::new(FakeProvider::new(f.id))))
        .collect();
    let setups = FACTORIES
        .iter()
        .map(|f| ProviderSetup {
            factory: f,
            clients: vec![KeyedClient {
                key_label: key_label(f.id),
                provider: fakes[f.id].clone() as Arc<dyn Provider>,
            }],
        })
        .collect();
    let router = Router::new(settings, setups, store.clone(), clock.clone()).unwrap();
    router.reseed(7);
    H {
        router,
        fakes,
        store,
        clock,
    }
}

fn tool() -> Tool {
    Tool::function("lookup", "looks a word up", json!({"type": "object"}))
}

fn with_tools() -> ChatRequest {
    req().with_tool(tool())
}

fn with_image() -> ChatRequest {
    ChatRequest::new(vec![Message::user(vec![
        ContentPart::text("what is it"),
        ContentPart::image_url("data:image/png;base64,AA"),
    ])])
}

fn skipped(provider: &'static str, model: &str, missing: Missing) -> SkippedRoute {
    SkippedRoute {
        provider,
        model: model.to_owned(),
        missing,
    }
}

fn models_asked(h: &H, id: &str) -> Vec<String> {
    h.fake(id)
        .requests()
        .iter()
        .map(|r| r.model.clone().unwrap_or_default())
        .collect()
}

fn unsupported(e: Error) -> (Missing, Vec<String>) {
    match e {
        Error::NoAvailableProviders(Unavailable::Unsupported { missing, capable }) => {
            (missing, capable)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_plain_request_skips_nothing() {
    let h = caps_harness(&settings());
    let r = h.router.chat(req()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "t0"));
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let s = h.router.chat_stream(req()).await.unwrap();
    assert!(s.skipped().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_tool_request_passes_over_tool_less_routes_without_calling_them() {
    let h = caps_harness(&settings());
    let r = h.router.chat(with_tools()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("groq", "t1"));
    // Every candidate is checked before the first call: gemini's p1, after the answering
    // route in the order, is listed too.
    assert_eq!(
        r.skipped,
        vec![
            skipped("groq", "t0", Missing::Tools),
            skipped("gemini", "p1", Missing::Tools)
        ]
    );
    assert_eq!(models_asked(&h, "groq"), ["t1"], "t0 got no request");
    assert_eq!(r.attempts.len(), 1, "a skip is not an attempt");

    // A tool result in the history needs tools as much as a tool list does.
    let follow_up = ChatRequest::new(vec![
        Message::user("define llama"),
        Message::assistant_tool_calls("", vec![ToolCall::new("c1", "lookup", "{}")]),
        Message::tool_result("c1", "a camelid"),
    ]);
    let r = h.router.chat(follow_up).await.unwrap();
    assert_eq!(r.model, "t1");
    assert_eq!(r.skipped[0].missing, Missing::Tools);

    // Streams too, reported until the first delta.
    let s = h.router.chat_stream(with_tools()).await.unwrap();
    assert_eq!(s.skipped()[0], skipped("groq", "t0", Missing::Tools));
    assert_eq!(s.model(), "t1");
    assert_eq!(h.calls("gemini"), 0);
}

#[tokio::test(start_paused = true)]
async fn each_capability_skips_routes_that_lack_it() {
    let h = caps_harness(&settings());
    // Images: only cerebras's v1 reads them.
    let r = h.router.chat(with_image()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("cerebras", "v1"));
    assert_eq!(
        r.skipped,
        vec![
            skipped("groq", "t0", Missing::Vision),
            skipped("groq", "t1", Missing::Vision),
            skipped("gemini", "p1", Missing::Vision),
        ]
    );
    // JSON object: t1 only.
    let mut json_object = req();
    json_object.response_format = Some(crate::types::ResponseFormat::JsonObject);
    let r = h.router.chat(json_object).await.unwrap();
    assert_eq!(r.model, "t1");
    assert_eq!(r.skipped[0].missing, Missing::JsonObject);
    // An output cap above t1's maximum: t1 is passed over, v1 (no stated maximum) serves.
    let mut capped = with_tools();
    capped.max_tokens = Some(500);
    let r = h.router.chat(capped).await.unwrap();
    assert_eq!(r.model, "v1");
    assert_eq!(
        r.skipped,
        vec![
            skipped("groq", "t0", Missing::Tools),
            skipped(
                "groq",
                "t1",
                Missing::MaxOutputTokens {
                    requested: 500,
                    max: 100
                }
            ),
            skipped("gemini", "p1", Missing::Tools),
        ]
    );
    // A prompt over v1's 50-token window, with tools: the window skip is recorded too, and
    // with no other route left it is the existing context-too-long answer.
    let long = ChatRequest::from_user("word ".repeat(100))
        .with_tool(tool())
        .with_model("cerebras");
    let e = h.router.chat(long).await.unwrap_err();
    assert!(
        matches!(unavailable(e), Unavailable::ContextTooLong { .. }),
        "context size keeps its own answer"
    );
    assert_eq!(h.calls("cerebras"), 2, "the long prompt never reached it");
}

#[tokio::test(start_paused = true)]
async fn a_window_skip_shows_as_context_window_on_the_answer() {
    let h = caps_harness(&settings());
    // Tools and a long prompt over v1's window, in a chain that puts v1 first: v1 is
    // passed over for its window, t1 (unknown window) serves.
    let s = Settings {
        routes: Some(vec!["cerebras/v1".into(), "groq/t1".into()]),
        ..settings()
    };
    let h2 = caps_harness(&s);
    let long = ChatRequest::from_user("word ".repeat(100)).with_tool(tool());
    let r = h2.router.chat(long.clone()).await.unwrap();
    assert_eq!(r.model, "t1");
    assert_eq!(r.skipped.len(), 1);
    assert!(
        matches!(
            r.skipped[0].missing,
            Missing::ContextWindow { window: 50, .. }
        ),
        "{:?}",
        r.skipped
    );
    assert_eq!(h2.calls("cerebras"), 0);
    let r = h.router.chat(long).await.unwrap();
    assert_eq!(r.model, "t1");
    let why: Vec<_> = r.skipped.iter().map(|s| s.missing.capability()).collect();
    assert_eq!(why, ["tools", "context_window", "tools"]);
}

#[tokio::test(start_paused = true)]
async fn no_route_that_can_serve_is_a_400_naming_the_capability_and_the_capable_models() {
    let h = caps_harness(&settings());
    // Pinned to gemini (text only): the image needs vision, which cerebras/v1 has.
    let e = h
        .router
        .chat(with_image().with_model("gemini"))
        .await
        .unwrap_err();
    let message = e.to_string();
    assert_eq!(
        unsupported(e),
        (Missing::Vision, vec!["cerebras/v1".to_owned()])
    );
    assert!(message.contains("`messages`"), "{message}");
    assert!(message.contains("image input"), "{message}");
    assert!(message.contains("cerebras/v1"), "{message}");
    // Reasoning: no configured model has it.
    let mut reasoning = req();
    reasoning.reasoning_effort = Some("high".to_owned());
    let e = h.router.chat(reasoning.clone()).await.unwrap_err();
    let message = e.to_string();
    assert_eq!(unsupported(e), (Missing::Reasoning, vec![]));
    assert!(
        message.contains("no configured model has `reasoning`"),
        "{message}"
    );
    // Streams the same, before any call.
    let e = h.router.chat_stream(reasoning).await.unwrap_err();
    assert_eq!(unsupported(e).0, Missing::Reasoning);
    for id in ["groq", "cerebras", "gemini"] {
        assert_eq!(h.calls(id), 0, "{id} was called");
    }
}

#[tokio::test(start_paused = true)]
async fn a_pinned_route_lacking_a_capability_is_a_400_not_a_fallback() {
    let h = caps_harness(&settings());
    let e = h
        .router
        .chat(with_tools().with_model("groq/t0"))
        .await
        .unwrap_err();
    assert_eq!(
        unsupported(e),
        (
            Missing::Tools,
            vec!["groq/t1".to_owned(), "cerebras/v1".to_owned()]
        )
    );
    let e = h
        .router
        .chat_stream(with_tools().with_model("groq/t0"))
        .await
        .unwrap_err();
    assert_eq!(unsupported(e).0, Missing::Tools);
    assert_eq!(h.calls("groq") + h.calls("cerebras"), 0);
}

#[tokio::test(start_paused = true)]
async fn busy_capable_routes_make_a_wait_not_a_400() {
    let h = caps_harness(&settings());
    h.fake("groq").push(Reply::error(ErrorKind::RateLimited {
        retry_after: Some(Duration::from_secs(600)),
    }));
    // t1 is rate limited by the first request (cerebras answers it) …
    let r = h.router.chat(with_tools()).await.unwrap();
    assert_eq!(r.provider, "cerebras");
    // … so pinned to groq, the only tool model is busy: a 503 with a time, not a 400.
    let e = h
        .router
        .chat(with_tools().with_model("groq"))
        .await
        .unwrap_err();
    assert!(
        matches!(unavailable(e), Unavailable::AllBusy { until: Some(_), .. }),
        "a route that could serve it is only busy"
    );
}

#[tokio::test(start_paused = true)]
async fn an_override_in_the_settings_changes_the_decision() {
    let mut s = with_provider(settings(), "groq", |p| {
        p.model_capabilities.insert(
            "t0".into(),
            CapabilityOverride {
                tools: Some(true),
                ..CapabilityOverride::default()
            },
        );
        p.model_capabilities.insert(
            "t1".into(),
            CapabilityOverride {
                tools: Some(false),
                max_output_tokens: Some(1000),
                ..CapabilityOverride::default()
            },
        );
    });
    s = with_provider(s, "cerebras", |p| {
        p.model_capabilities.insert(
            "v1".into(),
            CapabilityOverride {
                context_window: Some(100_000),
                ..CapabilityOverride::default()
            },
        );
    });
    let h = caps_harness(&s);
    let r = h.router.chat(with_tools()).await.unwrap();
    assert_eq!(r.model, "t0", "the override gives t0 tools");
    assert_eq!(
        r.skipped,
        vec![
            skipped("groq", "t1", Missing::Tools),
            skipped("gemini", "p1", Missing::Tools)
        ]
    );
    let e = h
        .router
        .chat(with_tools().with_model("groq/t1"))
        .await
        .unwrap_err();
    assert_eq!(
        unsupported(e),
        (
            Missing::Tools,
            vec!["groq/t0".to_owned(), "cerebras/v1".to_owned()]
        )
    );
    // The window override lets a long prompt reach v1.
    let long = ChatRequest::from_user("word ".repeat(100)).with_model("cerebras/v1");
    assert_eq!(h.router.chat(long).await.unwrap().model, "v1");
    // The status report and the models list show the merged facts.
    let models = h.router.models();
    let caps = |id: &str| models.iter().find(|m| m.1 == id).unwrap().2;
    assert_eq!(caps("t0").tools, Some(true));
    assert_eq!(caps("t1").tools, Some(false));
    assert_eq!(caps("t1").max_output_tokens, Some(1000));
    assert_eq!(caps("v1").context_window, Some(100_000));
    let status = h.router.quota_status().await.unwrap();
    let t1 = &status.quota_status["groq"].routes[1];
    assert_eq!(t1.model, "t1");
    assert_eq!(t1.capabilities.tools, Some(false));
    assert_eq!(t1.capabilities.json_object, Some(true));
}

#[tokio::test(start_paused = true)]
async fn models_no_catalog_describes_are_never_skipped_for_what_is_unknown() {
    let s = with_provider(settings(), "gemini", |p| {
        p.allow_unknown_models = true;
        p.model_capabilities.insert(
            "stated".into(),
            CapabilityOverride {
                vision: Some(false),
                ..CapabilityOverride::default()
            },
        );
    });
    let h = caps_harness(&s);
    // A one-off model: its capabilities are unknown, the upstream decides.
    let r = h
        .router
        .chat(with_tools().with_model("gemini/brand-new"))
        .await
        .unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("gemini", "brand-new"));
    assert!(r.skipped.is_empty());
    // One whose override states one capability: that one counts, the rest stay unknown.
    let r = h
        .router
        .chat(with_tools().with_model("gemini/stated"))
        .await
        .unwrap();
    assert_eq!(r.model, "stated");
    let e = h
        .router
        .chat(with_image().with_model("gemini/stated"))
        .await
        .unwrap_err();
    assert_eq!(unsupported(e).0, Missing::Vision);
    // A catalog model is known: p1 states no tools.
    let e = h
        .router
        .chat(with_tools().with_model("gemini/p1"))
        .await
        .unwrap_err();
    assert_eq!(unsupported(e).0, Missing::Tools);
    assert_eq!(models_asked(&h, "gemini"), ["brand-new", "stated"]);
}

#[tokio::test(start_paused = true)]
async fn capabilities_of_catalog_models_are_listed() {
    let h = caps_harness(&settings());
    let models = h.router.models();
    let ids: Vec<_> = models.iter().map(|(p, m, _)| format!("{p}/{m}")).collect();
    assert_eq!(ids, ["groq/t0", "groq/t1", "cerebras/v1", "gemini/p1"]);
    assert_eq!(
        models[1].2,
        Capabilities {
            tools: Some(true),
            json_schema: Some(false),
            json_object: Some(true),
            vision: Some(false),
            reasoning: Some(false),
            context_window: None,
            max_output_tokens: Some(100),
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_tool_conversation_fails_over_with_its_tool_protocol_intact() {
    let h = caps_harness(&settings());
    h.fake("groq")
        .push(Reply::error(ErrorKind::Transient { status: Some(503) }));
    h.fake("groq")
        .push_n(&Reply::error(ErrorKind::Transient { status: Some(503) }), 5);
    let conversation = ChatRequest::new(vec![
        Message::user("define llama"),
        Message::assistant_tool_calls(
            "",
            vec![ToolCall::new("call_1", "lookup", "{\"word\":\"llama\"}")],
        ),
        Message::tool_result("call_1", "a camelid"),
    ])
    .with_tool(tool());
    let r = h.router.chat(conversation.clone()).await.unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("cerebras", "v1"));
    // The next route gets the same tool declarations, call ids, arguments and results
    // (each provider crate maps them to its own wire form); only the model changes.
    let sent = &h.fake("cerebras").requests()[0];
    assert_eq!(sent.model.as_deref(), Some("v1"));
    assert_eq!(sent.tools, conversation.tools);
    assert_eq!(sent.messages, conversation.messages);
    assert!(models_asked(&h, "groq").iter().all(|m| m == "t1"));
}

#[tokio::test(start_paused = true)]
async fn a_stream_cut_after_a_tool_call_is_never_continued() {
    // Every route continues prefills, so only the tool call stops the continuation.
    let s = with_provider(
        with_provider(settings(), "groq", |p| p.prefill = Some(true)),
        "cerebras",
        |p| p.prefill = Some(true),
    );
    let h = caps_harness(&s);
    h.fake("groq").push(Reply::stream([
        StreamStep::ToolCall(ToolCallDelta {
            index: 0,
            id: Some("call_1".into()),
            name: Some("lookup".into()),
            arguments: "{\"wo".into(),
        }),
        StreamStep::fail(ErrorKind::Transient { status: None }),
    ]));
    let mut s = h.router.chat_stream(with_tools()).await.unwrap();
    let first = s.next().await.unwrap().unwrap();
    assert!(matches!(first, RoutedEvent::ToolCall(_)), "{first:?}");
    let end = s.next().await.unwrap();
    assert!(
        end.is_err(),
        "the cut ends the stream with an error: {end:?}"
    );
    assert!(s.next().await.is_none());
    assert_eq!(h.calls("cerebras"), 0, "no continuation after a tool call");

    // A text answer cut the same way is continued (the contrast that makes the test).
    h.fake("groq").push(Reply::stream([
        StreamStep::delta("Hello"),
        StreamStep::fail(ErrorKind::Transient { status: None }),
    ]));
    let mut s = h.router.chat_stream(with_tools()).await.unwrap();
    let mut text = String::new();
    while let Some(item) = s.next().await {
        match item.unwrap() {
            RoutedEvent::Delta(t) => text.push_str(&t),
            RoutedEvent::Done { .. } => break,
            RoutedEvent::Reasoning(_) | RoutedEvent::ToolCall(_) => {}
        }
    }
    assert_eq!(h.calls("cerebras"), 1, "a text answer is continued");
    assert!(text.starts_with("Hello"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_provider_defined_in_the_settings_has_unknown_capabilities() {
    // `kind = "openai"`: the catalog is made from the settings and states nothing, so
    // no capability of its models is known (a local server may well call tools).
    let s = with_provider(settings(), "gemini", |p| {
        p.kind = Some("openai".into());
        p.base_url = Some("http://127.0.0.1:9/v1".into());
        p.models = Some(vec!["p1".into()]);
    });
    let h = caps_harness(&s);
    let r = h
        .router
        .chat(with_image().with_tool(tool()).with_model("gemini"))
        .await
        .unwrap();
    assert_eq!((r.provider, r.model.as_str()), ("gemini", "p1"));
    assert!(r.skipped.is_empty());
    let models = h.router.models();
    let p1 = models.iter().find(|m| m.0 == "gemini").unwrap().2;
    assert_eq!((p1.tools, p1.vision), (None, None));
}
