//! Property-test ("fuzz") helpers shared by every crate that decodes bytes from outside:
//! one run configuration, input strategies (arbitrary bytes and JSON, valid inputs
//! mutated), and a harness that feeds any provider arbitrary HTTP answers from a loopback
//! mock and checks what it makes of them.
//!
//! Each fuzz test is a `proptest!` block whose test names start with `fuzz_`, so that
//! `cargo test -- fuzz_` selects them and `cargo xtask fuzz --secs N` can run them for
//! longer. The number of cases defaults to a short bounded run (part of `cargo test`);
//! the environment overrides it:
//!
//! - `LLMPOOL_FUZZ_CASES`: cases per target (for example 100000 for a long run);
//! - `LLMPOOL_FUZZ_SEED`: the RNG seed (default: a fixed seed, so `cargo test` is
//!   reproducible; `cargo xtask fuzz` varies it per round).
//!
//! Failure persistence files are disabled: a failure prints its minimized input and seed,
//! and the crash becomes a plain `#[test]` regression test with that input.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{Map, Number, Value};

use llmpool_core::{ChatRequest, ErrorKind, Provider, ProviderError, ProviderFactory, StreamEvent};

use crate::{TEST_KEY, assert_error_clean};

/// The seed of the short runs inside `cargo test`.
const DEFAULT_SEED: u64 = 0x6c6c_6d70_6f6f_6c21;

/// The run configuration of a fuzz target: `default_cases` cases (or
/// `LLMPOOL_FUZZ_CASES`), a fixed seed (or `LLMPOOL_FUZZ_SEED`), no persistence files.
pub fn config(default_cases: u32) -> Config {
    Config {
        cases: env_number("LLMPOOL_FUZZ_CASES").unwrap_or(default_cases),
        rng_seed: RngSeed::Fixed(env_number("LLMPOOL_FUZZ_SEED").unwrap_or(DEFAULT_SEED)),
        failure_persistence: None,
        // Shrinking a slow (HTTP) target must not run away with a long run's time.
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Arbitrary bytes, up to `max` long, biased towards ASCII text and the bytes that
/// framing and JSON care about.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => any::<u8>(),
        2 => prop::sample::select(
            b"\r\n:{}[]\",.-0123456789eE \\\tdata event error null true".to_vec()
        ),
    ];
    prop::collection::vec(byte, 0..=max)
}

/// Text with unicode, control characters and the characters parsers care about.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::collection::vec(any::<char>(), 0..=max).prop_map(|c| c.into_iter().collect()),
        2 => prop::collection::vec(
            prop::sample::select(vec![
                'a', 'Z', '0', '9', ' ', '\n', '\r', '\t', '"', '\\', ':', '.', '-', '+', 'e',
                's', 'm', 'h', '\u{0}', '\u{7f}', 'é', '\u{2028}', '\u{fffd}', '😀', '日',
            ]),
            0..=max,
        )
        .prop_map(|c| c.into_iter().collect()),
    ]
}

/// A JSON number from the edges: zero, negatives, `u64::MAX`, `i64::MIN`, huge and tiny
/// floats, fractions where integers are expected.
pub fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0_u64, 1, u64::MAX, u64::from(u32::MAX) + 1])
            .prop_map(Value::from),
        prop::sample::select(vec![i64::MIN, -1]).prop_map(Value::from),
        prop::num::f64::NORMAL
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Value::Number),
        prop::sample::select(vec![1e308, -1e308, 5e-324, 0.5, -0.0, 1e19])
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Value::Number),
    ]
}

/// An arbitrary JSON value: nested arrays and objects (keys often the ones decoders
/// look for), edge numbers, unicode strings.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        text(24).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Object keys: mostly ones that decoders of provider answers read.
pub fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "error", "message", "type", "code", "status", "details", "choices", "delta",
            "content", "text", "parts", "candidates", "usage", "finish_reason",
            "finishReason", "usageMetadata", "model", "messages", "role", "stream",
            "max_tokens", "temperature", "event_type", "metadata", "raw", "retryDelay",
            "index", "id", "prompt_tokens", "completion_tokens", "total_tokens", "x_groq",
        ])
        .prop_map(str::to_owned),
        1 => text(8),
    ]
}

/// `valid` with one node (chosen by the generator) replaced by an arbitrary value: fields
/// of the wrong type, huge numbers, nulls, missing structure.
pub fn mutated_json(valid: Value) -> impl Strategy<Value = Value> {
    (
        any::<prop::sample::Index>(),
        json_value(),
        json_number(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(at, any_value, number, remove, same_kind)| {
            let mut value = valid.clone();
            let count = count_nodes(&value);
            let mut target = at.index(count);
            // A number is replaced by an edge number half the time: the type still
            // matches, so the value reaches the checks beyond the parser.
            let replacement = Replacement {
                any_value,
                number: same_kind.then_some(number),
            };
            mutate_node(&mut value, &mut target, &replacement, remove);
            value
        })
}

/// What [`mutate_node`] puts in place of the node it picks.
struct Replacement {
    any_value: Value,
    /// For a number node, this instead (when set).
    number: Option<Value>,
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replaces the `target`-th node in preorder (or removes it from its parent object).
fn mutate_node(
    value: &mut Value,
    target: &mut usize,
    replacement: &Replacement,
    remove: bool,
) -> bool {
    if *target == 0 {
        *value = match (&*value, &replacement.number) {
            (Value::Number(_), Some(number)) => number.clone(),
            _ => replacement.any_value.clone(),
        };
        return true;
    }
    *target -= 1;
    match value {
        Value::Array(items) => {
            for item in items {
                if mutate_node(item, target, replacement, remove) {
                    return true;
                }
            }
        }
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if *target == 0 && remove {
                    map.remove(&key);
                    return true;
                }
                if let Some(child) = map.get_mut(&key)
                    && mutate_node(child, target, replacement, remove)
                {
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

/// `valid` bytes damaged the ways transports and buggy servers damage them: truncated,
/// a range deleted, arbitrary bytes inserted, one byte replaced, or left whole.
pub fn mutated_bytes(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    (
        0..5_u8,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        bytes(16),
    )
        .prop_map(move |(op, a, b, noise)| {
            let mut out = valid.clone();
            let len = out.len();
            let (i, j) = (a.index(len + 1), b.index(len + 1));
            let (lo, hi) = (i.min(j), i.max(j));
            match op {
                0 => out.truncate(i),
                1 => {
                    out.drain(lo..hi);
                }
                2 => {
                    out.splice(i..i, noise);
                }
                3 if len > 0 => out[a.index(len)] = noise.first().copied().unwrap_or(0xff),
                _ => {}
            }
            out
        })
}

/// One HTTP answer an upstream might give. `Debug` shows the body as text (invalid UTF-8
/// as U+FFFD), so that a failure's minimal input can be pasted into a regression test.
#[derive(Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` (when `None`, none is sent).
    pub content_type: Option<String>,
    /// Further headers (rate-limit headers, `retry-after`, `date`, …).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// A status: mostly the ones providers classify, sometimes any.
pub fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => prop::sample::select(vec![
            200_u16, 201, 204, 400, 401, 402, 403, 404, 408, 413, 422, 429, 498, 500, 502, 503,
            504,
        ]),
        1 => 200..600_u16,
    ]
}

/// Headers an upstream might send, with arbitrary (visible ASCII) values: the names are
/// the rate-limit and retry headers that the providers read.
pub fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop::sample::select(vec![
        "retry-after",
        "date",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
        "x-ratelimit-limit-requests-day",
        "x-ratelimit-remaining-requests-day",
        "x-ratelimit-reset-requests-day",
        "x-ratelimit-limit-tokens-minute",
        "x-ratelimit-remaining-tokens-minute",
        "x-ratelimit-reset-tokens-minute",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-trial-endpoint-call-limit",
        "x-trial-endpoint-call-remaining",
        "x-endpoint-monthly-call-limit",
        "x-api-warning",
    ]);
    prop::collection::vec((name.prop_map(str::to_owned), header_value()), 0..6)
}

/// A header value: numbers, durations, dates and junk, all visible ASCII.
pub fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        prop::sample::select(vec![
            "",
            "0",
            "-1",
            "1.5",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "18446744073709551616",
            "2m59.56s",
            "1h2m3.5s",
            "9999999999h",
            "7.66s",
            "43ms",
            "1.5us",
            "-3s",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "1700000000000",
            "99999999999999999",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,24}",
    ]
}

/// What a provider made of one answer.
#[derive(Debug)]
pub enum Outcome {
    /// A one-shot call's result.
    Chat(Box<Result<llmpool_core::ChatResponse, ProviderError>>),
    /// A stream call's items (or the error that refused to open it).
    Stream(Result<Vec<Result<StreamEvent, ProviderError>>, ProviderError>),
}

/// Feeds one provider (built by its factory against a loopback mock) arbitrary answers.
///
/// Every request, whatever its path, gets the answer under test; the harness calls
/// `chat` or `chat_stream` and checks the promises every provider makes about bad input
/// ([`ProviderHarness::check`]).
#[derive(Debug)]
pub struct ProviderHarness {
    runtime: tokio::runtime::Runtime,
    server: wiremock::MockServer,
    provider: Arc<dyn Provider>,
}

impl ProviderHarness {
    /// A mock server and `factory`'s provider pointed at it (`prefix` is the API's version
    /// path, as in the contract tests).
    pub fn new(factory: &ProviderFactory, prefix: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build a runtime: {e}"));
        let server = runtime.block_on(wiremock::MockServer::start());
        let mut cfg = crate::config(factory, &format!("{}{prefix}", server.uri()));
        // The mock answers at once; a short timeout would only fail on a loaded machine.
        cfg.timeout = std::time::Duration::from_secs(20);
        cfg.connect_timeout = std::time::Duration::from_secs(20);
        let provider =
            (factory.build)(&cfg).unwrap_or_else(|e| panic!("cannot build the provider: {e}"));
        Self {
            runtime,
            server,
            provider,
        }
    }

    /// Serves `answer` to the next call and makes it, one-shot or streamed.
    pub fn call(&self, answer: &Answer, stream: bool) -> Outcome {
        self.runtime.block_on(async {
            self.server.reset().await;
            let mut template = wiremock::ResponseTemplate::new(answer.status);
            for (name, value) in &answer.headers {
                template = template.append_header(name.as_str(), value.as_str());
            }
            template = match &answer.content_type {
                Some(ct) => template.set_body_raw(answer.body.clone(), ct),
                None => template.set_body_bytes(answer.body.clone()),
            };
            wiremock::Mock::given(wiremock::matchers::any())
                .respond_with(template)
                .mount(&self.server)
                .await;
            let req = ChatRequest::from_user("hi");
            if stream {
                let opened = self.provider.chat_stream(&req).await;
                Outcome::Stream(match opened {
                    Ok(stream) => {
                        use futures::StreamExt as _;
                        Ok(stream.collect().await)
                    }
                    Err(e) => Err(e),
                })
            } else {
                Outcome::Chat(Box::new(self.provider.chat(&req).await))
            }
        })
    }

    /// Serves `answer`, calls, and asserts the promises on bad input; returns the outcome
    /// for the caller's own assertions. The promises:
    ///
    /// - no error shows the API key;
    /// - a status outside 2xx never becomes an answer or a stream; an error status (4xx,
    ///   5xx) is classified by status and body (never `InvalidResponse`) and the error
    ///   carries it;
    /// - a 2xx body that is not JSON is `InvalidResponse` (one-shot);
    /// - a stream's items are `Started` at most once and first, deltas, then exactly one
    ///   end: `Done` or an error, last. A cut or garbled stream is never a truncated
    ///   success.
    pub fn check(&self, answer: &Answer, stream: bool) -> Outcome {
        let outcome = self.call(answer, stream);
        let failed = !(200..300).contains(&answer.status);
        // JSON syntax, whatever the bytes inside strings: decoders skip the fields they do
        // not read without checking their UTF-8, and that leniency is fine.
        let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body).is_ok();
        let result = match &outcome {
            Outcome::Chat(result) => Some(result.as_ref()),
            Outcome::Stream(_) => None,
        };
        match (result, &outcome) {
            (Some(Ok(resp)), _) => {
                assert!(
                    !failed,
                    "status {} became an answer: {resp:?}",
                    answer.status
                );
                assert!(
                    is_json,
                    "a body that is not JSON became an answer: {resp:?}"
                );
            }
            (Some(Err(e)), _) | (None, Outcome::Stream(Err(e))) => {
                assert_error_clean(e);
                if answer.status >= 400 {
                    assert!(
                        !matches!(e.kind, ErrorKind::InvalidResponse),
                        "an error status must be classified (by status and body), got {e:?}"
                    );
                    assert_eq!(
                        e.status,
                        Some(answer.status),
                        "the error must carry the status"
                    );
                }
                if !stream && !failed && !is_json {
                    assert!(
                        matches!(e.kind, ErrorKind::InvalidResponse),
                        "a 2xx body that is not JSON must be InvalidResponse, got {e:?}"
                    );
                }
            }
            (None, Outcome::Stream(Ok(items))) => {
                assert!(
                    !failed,
                    "status {} opened a stream: {items:?}",
                    answer.status
                );
                assert_stream_shape(items);
            }
            (None, Outcome::Chat(_)) => {}
        }
        outcome
    }
}

/// Asserts the shape every stream keeps: `Started` at most once and first, deltas, then
/// exactly one end (`Done` or an error) as the last item; no key in any error.
pub fn assert_stream_shape(items: &[Result<StreamEvent, ProviderError>]) {
    let Some((last, body)) = items.split_last() else {
        panic!("a stream ended without an item: neither Done nor an error");
    };
    match last {
        Ok(StreamEvent::Done(_)) => {}
        Err(e) => assert_error_clean(e),
        Ok(other) => panic!("a stream ended on {other:?}, neither Done nor an error: {items:?}"),
    }
    for (i, item) in body.iter().enumerate() {
        match item {
            Ok(StreamEvent::Started { .. }) => {
                assert_eq!(i, 0, "Started is not the first item: {items:?}");
            }
            Ok(
                StreamEvent::Delta(_)
                | StreamEvent::Reasoning(_)
                | StreamEvent::ToolCall(_)
                | StreamEvent::Dropped(_),
            ) => {}
            Ok(StreamEvent::Done(_)) => panic!("an item after Done: {items:?}"),
            Err(e) => panic!("an item after the error {e:?}: {items:?}"),
        }
    }
    assert!(
        !format!("{items:?}").contains(TEST_KEY),
        "the key leaked into a stream"
    );
}

/// The fixtures of a provider crate (`tests/fixtures` under `manifest_dir`) as seeds:
/// `(json, sse)`, the bodies of its `.json` and its `.sse` files. Panics when there are
/// none (a fuzz target without seeds would only test random bytes).
pub fn fixture_seeds(manifest_dir: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let dir = std::path::Path::new(manifest_dir)
        .join("tests")
        .join("fixtures");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let (mut json, mut sse) = (Vec::new(), Vec::new());
    for path in entries {
        let read = || {
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => json.push(read()),
            Some("sse") => sse.push(read()),
            _ => {}
        }
    }
    assert!(
        !json.is_empty() && !sse.is_empty(),
        "no .json or no .sse fixtures in {}",
        dir.display()
    );
    (json, sse)
}

/// `seed` (an SSE body) with the JSON of one `data:` line replaced by a mutation of it
/// (see [`mutated_json`]), or damaged as bytes.
pub fn mutated_sse(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let text = String::from_utf8_lossy(&seed).into_owned();
    let lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let json_lines: Vec<(usize, Value)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let data = line.strip_prefix("data:")?.trim();
            serde_json::from_str::<Value>(data).ok().map(|v| (i, v))
        })
        .collect();
    let structured = (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        json_value(),
        any::<bool>(),
    )
        .prop_map(move |(which, at, replacement, remove)| {
            let mut lines = lines.clone();
            if let Some((line, value)) =
                (!json_lines.is_empty()).then(|| &json_lines[which.index(json_lines.len())])
            {
                let mut value = value.clone();
                let mut target = at.index(count_nodes(&value));
                let replacement = Replacement {
                    any_value: replacement,
                    number: None,
                };
                mutate_node(&mut value, &mut target, &replacement, remove);
                lines[*line] = format!("data: {value}");
            }
            lines.join("\n").into_bytes()
        });
    prop_oneof![2 => structured, 1 => mutated_bytes(seed)]
}

/// One-shot answers for a provider whose fixtures are under `manifest_dir`: fixture
/// bodies (answers and errors) as they are, with one JSON node changed, or damaged as
/// bytes; arbitrary JSON; arbitrary bytes. Statuses, content types and headers vary.
pub fn one_shot_answers(manifest_dir: &str) -> impl Strategy<Value = Answer> {
    let (json, _) = fixture_seeds(manifest_dir);
    let values: Vec<Value> = json
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect();
    let body = prop_oneof![
        3 => prop::sample::select(values).prop_flat_map(mutated_json).prop_map(|v| v.to_string().into_bytes()),
        2 => prop::sample::select(json).prop_flat_map(mutated_bytes),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => bytes(256),
    ];
    let content_type = prop::sample::select(vec![
        Some("application/json"),
        Some("application/json"),
        Some("text/html"),
        Some("text/plain"),
        None,
    ]);
    let status = prop_oneof![3 => Just(200_u16), 2 => status()];
    (status, content_type, headers(), body).prop_map(|(status, ct, headers, body)| Answer {
        status,
        content_type: ct.map(str::to_owned),
        headers,
        body,
    })
}

/// Stream answers for a provider whose fixtures are under `manifest_dir`: its `.sse`
/// fixtures mutated (one event's JSON changed, or the bytes damaged) or arbitrary bytes,
/// as `text/event-stream`; sometimes an error status or a JSON content type instead.
pub fn stream_answers(manifest_dir: &str) -> impl Strategy<Value = Answer> {
    let (json, sse) = fixture_seeds(manifest_dir);
    let stream = (
        prop::sample::select(sse).prop_flat_map(mutated_sse),
        headers(),
    )
        .prop_map(|(body, headers)| Answer {
            status: 200,
            content_type: Some("text/event-stream".to_owned()),
            headers,
            body,
        });
    let garbage = (bytes(256), headers()).prop_map(|(body, headers)| Answer {
        status: 200,
        content_type: Some("text/event-stream".to_owned()),
        headers,
        body,
    });
    let other = (
        status(),
        prop::sample::select(json).prop_flat_map(mutated_bytes),
        headers(),
    )
        .prop_map(|(status, body, headers)| Answer {
            status,
            content_type: Some("application/json".to_owned()),
            headers,
            body,
        });
    prop_oneof![4 => stream, 1 => garbage, 1 => other]
}

/// Runs one fuzz target: `default_cases` cases of `strategy` (see [`config`]), each
/// given to `test`, which asserts with `assert!` (a panic is a failure). On failure,
/// panics with the minimized input and the seed that found it.
pub fn run<S>(default_cases: u32, strategy: &S, test: impl Fn(S::Value))
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let config = config(default_cases);
    let seed = config.rng_seed;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(failure) = runner.run(strategy, |value| {
        test(value);
        Ok(())
    }) {
        panic!("fuzz target failed with seed {seed:?}: {failure}");
    }
}

/// The one-shot target of a provider: [`one_shot_answers`] from its fixtures, checked by
/// [`ProviderHarness::check`] and then by `extra` (the provider's own classification).
pub fn provider_one_shot(
    factory: &ProviderFactory,
    prefix: &str,
    manifest_dir: &str,
    default_cases: u32,
    extra: impl Fn(&Answer, &Result<llmpool_core::ChatResponse, ProviderError>),
) {
    let harness = ProviderHarness::new(factory, prefix);
    run(default_cases, &one_shot_answers(manifest_dir), |answer| {
        if let Outcome::Chat(result) = harness.check(&answer, false) {
            extra(&answer, &result);
        }
    });
}

/// The stream target of a provider: [`stream_answers`] from its fixtures, checked by
/// [`ProviderHarness::check`] (the stream shape) and then by `extra`.
pub fn provider_stream(
    factory: &ProviderFactory,
    prefix: &str,
    manifest_dir: &str,
    default_cases: u32,
    extra: impl Fn(&Answer, &Result<Vec<Result<StreamEvent, ProviderError>>, ProviderError>),
) {
    let harness = ProviderHarness::new(factory, prefix);
    run(default_cases, &stream_answers(manifest_dir), |answer| {
        if let Outcome::Stream(result) = harness.check(&answer, true) {
            extra(&answer, &result);
        }
    });
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use serde_json::json;

    use super::*;

    #[test]
    fn mutations_reach_every_leaf() {
        let valid = json!({"a": 1, "b": {"c": [2, 3], "d": "x"}, "e": true});
        let strategy = mutated_json(valid.clone());
        let mut runner = TestRunner::deterministic();
        let mut changed = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let v = strategy.new_tree(&mut runner).unwrap().current();
            for (path, original) in [
                ("/a", &valid["a"]),
                ("/b/c/0", &valid["b"]["c"][0]),
                ("/b/c/1", &valid["b"]["c"][1]),
                ("/b/d", &valid["b"]["d"]),
                ("/e", &valid["e"]),
            ] {
                if v.pointer(path) != Some(original) {
                    changed.insert(path);
                }
            }
        }
        assert_eq!(changed.len(), 5, "{changed:?}");
    }
}
