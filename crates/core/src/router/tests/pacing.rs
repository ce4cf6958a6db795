//! Pacing: `max_in_flight` (requests in flight per key or per model of a key) and `rps`
//! (requests per rolling second) skip a route without an upstream call.

use super::*;
use crate::status::RouteStatus;

/// Settings where groq's key takes one request in flight across its models.
fn one_in_flight_per_key() -> Settings {
    let mut s = settings();
    s.retry_attempts = 0;
    s.providers
        .entry("groq".into())
        .or_default()
        .shared
        .max_in_flight = Some(1);
    s
}

async fn groq_route(h: &H, model: &str) -> RouteStatus {
    let status = h.router.quota_status().await.unwrap();
    status.quota_status["groq"]
        .routes
        .iter()
        .find(|r| r.model == model)
        .cloned()
        .unwrap()
}

/// The key's requests in flight as the status report shows them.
async fn key_in_flight(h: &H) -> Option<u64> {
    groq_route(h, "g1").await.key_in_flight
}

fn busy_details(e: &Error) -> (Option<DateTime<Utc>>, Vec<String>) {
    match e {
        Error::NoAvailableProviders(Unavailable::AllBusy { until, details }) => {
            (*until, details.clone())
        }
        other => panic!("not busy: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_take_one_slot_and_the_rest_go_to_the_next_route() {
    let h = harness(&one_in_flight_per_key(), &["groq", "cerebras"]);
    h.fake("groq")
        .set_fallback(Reply::text("slow").delay(Duration::from_secs(2)));
    h.fake("cerebras")
        .set_fallback(Reply::text("fast").delay(Duration::from_millis(500)));
    let answers = futures::future::join_all((0..5).map(|_| h.router.chat(req()))).await;
    let providers: Vec<&str> = answers
        .iter()
        .map(|a| a.as_ref().unwrap().provider)
        .collect();
    assert_eq!(
        providers.iter().filter(|p| **p == "groq").count(),
        1,
        "{providers:?}"
    );
    assert_eq!(providers.iter().filter(|p| **p == "cerebras").count(), 4);
    // The others never reached groq: one call, never two at once.
    assert_eq!(h.calls("groq"), 1);
    assert_eq!(h.fake("groq").peak(), 1);
    // Each of the four tried only cerebras (groq was skipped, not attempted).
    for a in answers
        .iter()
        .flatten()
        .filter(|a| a.provider == "cerebras")
    {
        assert_eq!(a.attempts.len(), 1, "{:?}", a.attempts);
    }
    // Released: the next request goes to groq again.
    assert_eq!(key_in_flight(&h).await, Some(0));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
}

#[tokio::test(start_paused = true)]
async fn when_every_route_is_at_its_limit_the_request_is_busy_for_a_second() {
    let h = harness(&one_in_flight_per_key(), &["groq"]);
    h.fake("groq")
        .set_fallback(Reply::text("slow").delay(Duration::from_secs(3)));
    let started = h.clock.now();
    let answers = futures::future::join_all((0..4).map(|_| h.router.chat(req()))).await;
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 1);
    for e in answers.iter().filter_map(|a| a.as_ref().err()) {
        let (until, details) = busy_details(e);
        // A short wait (the gateway's retry-after: 1 s), for every model of the key.
        assert_eq!(until, Some(started + chrono::Duration::seconds(1)));
        assert_eq!(details.len(), 1, "{details:?}");
        assert!(
            details[0].starts_with("groq: g1: at its limit of requests in flight"),
            "{details:?}"
        );
        assert!(
            details[0].contains(", g2: at its limit of requests in flight"),
            "{details:?}"
        );
    }
    // Nothing spun and nothing was sent upstream for the three.
    assert_eq!(h.calls("groq"), 1);
    assert_eq!(h.fake("groq").peak(), 1);
}

/// Z.ai-like: the limit on a model is per model of the key; its other models are free.
#[tokio::test(start_paused = true)]
async fn a_model_limit_holds_that_model_only() {
    let mut s = settings();
    s.providers
        .entry("groq".into())
        .or_default()
        .model_limits
        .insert(
            "g1".into(),
            crate::catalog::Limits {
                max_in_flight: Some(1),
                ..crate::catalog::Limits::default()
            },
        );
    let h = harness(&s, &["groq"]);
    h.fake("groq")
        .set_fallback(Reply::text("slow").delay(Duration::from_secs(1)));
    let answers = futures::future::join_all((0..3).map(|_| h.router.chat(req()))).await;
    let mut models: Vec<String> = answers.into_iter().map(|a| a.unwrap().model).collect();
    models.sort();
    assert_eq!(models, ["g1", "g2", "g2"]);
    assert_eq!(h.fake("groq").peak(), 3);
    let g1 = groq_route(&h, "g1").await;
    assert_eq!((g1.max_in_flight, g1.in_flight), (Some(1), Some(0)));
    assert_eq!(g1.key_max_in_flight, None);
    let g2 = groq_route(&h, "g2").await;
    assert_eq!((g2.max_in_flight, g2.in_flight), (None, None));
}

#[tokio::test(start_paused = true)]
async fn the_slot_is_released_after_success_error_and_timeout() {
    let mut s = one_in_flight_per_key();
    s.timeout_secs = 2;
    let h = harness(&s, &["groq", "cerebras"]);
    let groq = h.fake("groq");
    // Success.
    groq.push(Reply::text("a").delay(Duration::from_millis(300)));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
    assert_eq!(key_in_flight(&h).await, Some(0));
    // An error answer: the request moves on to groq's other model, which needs the key's
    // one slot: it was given back when the attempt failed.
    groq.push(Reply::error(ErrorKind::BadRequest));
    let answer = h.router.chat(req()).await.unwrap();
    let tried: Vec<(&str, &str)> = answer
        .attempts
        .iter()
        .map(|a| (a.provider, a.model.as_str()))
        .collect();
    assert_eq!(tried, [("groq", "g1"), ("groq", "g2")]);
    assert_eq!(key_in_flight(&h).await, Some(0));
    // A timeout (no answer within 2 s).
    groq.push(Reply::text("late").delay(Duration::from_secs(10)));
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(key_in_flight(&h).await, Some(0));
    assert_eq!(groq.in_flight(), 0);
    // And groq takes the next request.
    let before = h.calls("groq");
    assert_eq!(
        h.router
            .chat(req().with_model("groq"))
            .await
            .unwrap()
            .provider,
        "groq"
    );
    assert_eq!(h.calls("groq"), before + 1);
}

#[tokio::test(start_paused = true)]
async fn the_slot_is_released_when_the_request_is_cancelled() {
    let h = harness(&one_in_flight_per_key(), &["groq", "cerebras"]);
    h.fake("groq")
        .push(Reply::text("never read").delay(Duration::from_secs(30)));
    // The client goes away after 1 s: the request's future is dropped mid-call.
    let cancelled = tokio::time::timeout(Duration::from_secs(1), h.router.chat(req())).await;
    assert!(
        cancelled.is_err(),
        "the call should still have been running"
    );
    assert_eq!(key_in_flight(&h).await, Some(0));
    assert_eq!(h.fake("groq").in_flight(), 0);
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
}

#[tokio::test(start_paused = true)]
async fn a_stream_holds_its_slot_until_it_ends_or_is_dropped() {
    let h = harness(&one_in_flight_per_key(), &["groq", "cerebras"]);
    let slow_stream = || {
        Reply::stream([
            StreamStep::delta("a"),
            StreamStep::Sleep(Duration::from_secs(5)),
            StreamStep::delta("b"),
            StreamStep::done(),
        ])
    };
    // Read to its end: released with the end.
    h.fake("groq").push(slow_stream());
    let mut stream = h.router.chat_stream(req()).await.unwrap();
    assert_eq!(stream.provider(), "groq");
    assert_eq!(key_in_flight(&h).await, Some(1));
    // While it flows, another request goes to cerebras.
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "cerebras");
    assert_eq!(h.fake("groq").peak(), 1);
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item.unwrap());
    }
    assert!(
        matches!(items.last(), Some(RoutedEvent::Done { .. })),
        "{items:?}"
    );
    assert_eq!(key_in_flight(&h).await, Some(0));
    drop(stream);

    // Dropped by its reader half-way: released with the drop.
    h.fake("groq").push(slow_stream());
    let mut stream = h.router.chat_stream(req()).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        RoutedEvent::Delta("a".into())
    );
    assert_eq!(key_in_flight(&h).await, Some(1));
    assert_eq!(h.fake("groq").in_flight(), 1);
    drop(stream);
    assert_eq!(key_in_flight(&h).await, Some(0));
    assert_eq!(h.fake("groq").in_flight(), 0);
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
}

/// A stream cut mid-way gives its slot back before the continuation is sought, so another
/// model of the same key (one in flight per key) can continue it.
#[tokio::test(start_paused = true)]
async fn a_cut_stream_frees_its_slot_for_the_continuation() {
    let mut s = one_in_flight_per_key();
    s.providers.entry("groq".into()).or_default().prefill = Some(true);
    let h = harness(&s, &["groq"]);
    h.fake("groq").push(Reply::stream([
        StreamStep::delta("Hel"),
        StreamStep::fail(ErrorKind::Transient { status: Some(502) }),
    ]));
    h.fake("groq").push(Reply::text("lo"));
    let stream = h.router.chat_stream(req()).await.unwrap();
    let items: Vec<_> = stream.collect().await;
    let text: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(RoutedEvent::Delta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hello", "{items:?}");
    assert!(
        matches!(items.last(), Some(Ok(RoutedEvent::Done { .. }))),
        "{items:?}"
    );
    let models: Vec<_> = h
        .fake("groq")
        .requests()
        .into_iter()
        .map(|r| r.model.unwrap_or_default())
        .collect();
    assert_eq!(models, ["g1", "g2"]);
    assert_eq!(h.fake("groq").peak(), 1);
    assert_eq!(key_in_flight(&h).await, Some(0));
}

/// Without pacing limits nothing changes: concurrent requests all go to the first route,
/// and the report has no pacing fields.
#[tokio::test(start_paused = true)]
async fn a_route_without_limits_takes_every_request_at_once() {
    let h = harness(&settings(), &["groq", "cerebras"]);
    h.fake("groq")
        .set_fallback(Reply::text("slow").delay(Duration::from_secs(1)));
    let answers = futures::future::join_all((0..5).map(|_| h.router.chat(req()))).await;
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().unwrap().provider == "groq")
    );
    assert_eq!(h.fake("groq").peak(), 5);
    assert_eq!(h.calls("cerebras"), 0);
    let json = serde_json::to_string(&h.router.quota_status().await.unwrap()).unwrap();
    for field in ["in_flight", "per_second"] {
        assert!(!json.contains(field), "{field} in {json}");
    }
}

/// Mistral-like `[shared] rps = 1`: a second request within the second is not sent to
/// the key (it goes on, or is told to come back at the next tick); the next second it is.
#[tokio::test(start_paused = true)]
async fn rps_skips_the_key_for_the_rest_of_the_second() {
    let mut s = settings();
    s.providers.entry("groq".into()).or_default().shared.rps = Some(1);
    let h = harness_at(&s, &["groq", "cerebras"], "2026-03-07T12:00:00.050Z");
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
    let second = h.router.chat(req()).await.unwrap();
    assert_eq!(second.provider, "cerebras");
    assert_eq!(second.attempts.len(), 1, "groq was skipped without a call");
    assert_eq!(h.calls("groq"), 1);
    let route = groq_route(&h, "g2").await;
    assert_eq!(
        (route.key_max_per_second, route.max_per_second),
        (Some(1), None)
    );
    let status = h.router.quota_status().await.unwrap();
    assert_eq!(status.quota_status["groq"].max_per_second, Some(1));
    assert_eq!(status.quota_status["cerebras"].max_per_second, None);

    // Only groq: the request is busy until the next 200 ms tick.
    let only = h.router.chat(req().with_model("groq")).await.unwrap_err();
    let (until, details) = busy_details(&only);
    assert_eq!(until, Some(at("2026-03-07T12:00:00.200Z")));
    assert!(details[0].contains("g1: rate limited"), "{details:?}");
    tokio::time::advance(Duration::from_millis(1150)).await; // 01.200
    assert_eq!(h.router.chat(req()).await.unwrap().provider, "groq");
    assert_eq!(h.calls("groq"), 2);
}

#[test]
fn zero_in_flight_is_refused_naming_the_setting() {
    let mut s = settings();
    s.providers.entry("groq".into()).or_default().max_in_flight = Some(0);
    let fakes: HashMap<_, _> = [("groq", Arc::new(FakeProvider::new("groq")))].into();
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(TokioClock::starting_at(at("2026-03-07T12:00:00Z")));
    let e = Router::new(&s, setups(&fakes), store, clock).unwrap_err();
    assert_eq!(e.key, "providers.groq.max_in_flight");
    assert!(e.reason.contains("at least 1"), "{e}");
}
