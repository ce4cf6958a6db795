//! The shared scaffold of the chat-surface suites (`tests/surface.rs`) of the
//! OpenAI-compatible provider crates: tools one-shot and streamed, the follow-up turn, a
//! JSON-schema request, an image, reasoning out.
//!
//! A suite declares a [`Surface`] next to its [`Contract`] and keeps its snapshots in its
//! own file (insta names a snapshot after the test and the file of the macro call), so
//! the helpers here return what the tests snapshot: the response, the stream items, the
//! request the upstream received ([`request_snapshot`](crate::request_snapshot)).
//!
//! ```text
//! const SURFACE: Surface = Surface {
//!     contract: SUITE,
//!     call_id: "call_6a1f0c3e9b2d47",
//!     upstream_body: surface::as_written,
//! };
//!
//! #[tokio::test]
//! async fn tools_are_sent_and_the_calls_come_back() {
//!     let (resp, request) = SURFACE.sent_as_written("tools-request.json", "tools-response.json").await;
//!     insta::assert_json_snapshot!("surface_tools_request", request);
//!     SURFACE.assert_tool_call(&resp);
//! }
//! ```

use llmpool_core::{
    ChatRequest, ChatResponse, ErrorKind, FinishReason, ProviderError, StreamEvent, ToolCallDelta,
};
use llmpool_openai_compat::ChatCompletionRequest;
use serde_json::Value;

use crate::compat::{Contract, Reply, collect};
use crate::streamed_text;

/// The items of a stream, in order.
pub type Items = Vec<Result<StreamEvent, ProviderError>>;

/// The upstream body of a provider that takes the OpenAI shape of tools, tool results and
/// `response_format` as the client wrote it: the body itself.
pub fn as_written(body: Value) -> Value {
    body
}

/// The tool-call pieces of a stream, in order.
pub fn streamed_calls(items: &[Result<StreamEvent, ProviderError>]) -> Vec<ToolCallDelta> {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::ToolCall(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

/// The reasoning text of a stream.
pub fn streamed_reasoning(items: &[Result<StreamEvent, ProviderError>]) -> String {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamEvent::Reasoning(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// Asserts that `err`'s message contains `needle`.
pub fn assert_message_contains(err: &ProviderError, needle: &str) {
    assert!(
        err.message.as_deref().is_some_and(|m| m.contains(needle)),
        "{err:?}"
    );
}

/// Asserts that `err` is a bad request whose message contains `needle`.
pub fn assert_bad_request_naming(err: &ProviderError, needle: &str) {
    assert!(matches!(err.kind, ErrorKind::BadRequest), "{err:?}");
    assert_message_contains(err, needle);
}

/// One provider's chat surface as its suite sees it: the [`Contract`] (factory, prefix,
/// fixtures, the plain requests), the call id of its tool fixtures, and what its upstream
/// receives for a client's OpenAI body.
#[derive(Debug, Clone, Copy)]
pub struct Surface {
    /// The provider's contract harness.
    pub contract: Contract,
    /// The call id the tool fixtures' answers carry.
    pub call_id: &'static str,
    /// The body the upstream receives for a client body ([`as_written`] when the same).
    pub upstream_body: fn(Value) -> Value,
}

#[expect(
    clippy::panic,
    reason = "test helpers: a panic fails the test, as an assertion would"
)]
impl Surface {
    /// A client's OpenAI request fixture (its `_source` note removed) in core terms, and
    /// the body as the client wrote it.
    pub fn request(&self, name: &str) -> (ChatRequest, Value) {
        let mut body = self.contract.fixture_json(name);
        if let Some(object) = body.as_object_mut() {
            object.remove("_source");
        }
        (Self::to_core(&body, name), body)
    }

    /// The client body `body` (named `what` in failures) in core terms.
    pub fn to_core(body: &Value, what: &str) -> ChatRequest {
        let wire: ChatCompletionRequest = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{what} is not an OpenAI request: {e}"));
        wire.to_core()
            .unwrap_or_else(|e| panic!("{what} has no core form: {e:?}"))
    }

    /// The plain (documented) request of the contract.
    pub fn plain(&self) -> ChatRequest {
        (self.contract.request)()
    }

    /// A one-shot call of `req` answered by `reply`: the response and the request the
    /// upstream received.
    pub async fn chat_with(&self, reply: Reply, req: &ChatRequest) -> (ChatResponse, Value) {
        let up = self.contract.upstream().await;
        up.reply(reply).await;
        let resp = self
            .contract
            .provider(&up.base_url())
            .chat(req)
            .await
            .unwrap_or_else(|e| panic!("the call failed: {e:?}"));
        (resp, up.only_request().await)
    }

    /// A one-shot call of `req` answered with status 200 and the JSON fixture `answer`.
    pub async fn chat(&self, answer: &str, req: &ChatRequest) -> (ChatResponse, Value) {
        self.chat_with(Reply::json(200, self.contract.fixture(answer)), req)
            .await
    }

    /// A one-shot call of the request fixture `request` answered with the fixture
    /// `answer`; asserts that the upstream received [`Surface::upstream_body`] of the
    /// client's body. Returns the response and the request the upstream received.
    pub async fn sent_as_written(&self, request: &str, answer: &str) -> (ChatResponse, Value) {
        let (req, client) = self.request(request);
        let (resp, sent) = self.chat(answer, &req).await;
        assert_eq!(sent["body"], (self.upstream_body)(client));
        (resp, sent)
    }

    /// A streaming call of `req` answered with the SSE fixture `answer`: every item and
    /// the request the upstream received.
    pub async fn stream(&self, answer: &str, req: &ChatRequest) -> (Items, Value) {
        let up = self.contract.upstream().await;
        up.reply(Reply::sse(self.contract.fixture(answer))).await;
        let stream = self
            .contract
            .provider(&up.base_url())
            .chat_stream(req)
            .await
            .unwrap_or_else(|e| panic!("the stream failed before its first event: {e:?}"));
        let items = collect(stream).await;
        (items, up.only_request().await)
    }

    /// The error of a one-shot call of `req` that must fail before reaching the upstream.
    pub async fn refused(&self, req: &ChatRequest) -> ProviderError {
        let up = self.contract.upstream().await;
        let result = self.contract.provider(&up.base_url()).chat(req).await;
        let Err(err) = result else {
            panic!("expected the route to refuse the request, got a success");
        };
        assert!(
            up.server
                .received_requests()
                .await
                .unwrap_or_default()
                .is_empty(),
            "a refused request reached the upstream"
        );
        err
    }

    /// `tools-request.json` streamed and answered with `tools-stream.sse`: the items and
    /// the request the upstream received.
    pub async fn tool_stream(&self) -> (Items, Value) {
        let (mut req, _) = self.request("tools-request.json");
        req.stream = true;
        self.stream("tools-stream.sse", &req).await
    }

    /// Asserts the answer of `tools-response.json`: one `get_weather` call for Paris with
    /// the fixture's id, no text, finish reason `tool_calls`.
    pub fn assert_tool_call(&self, resp: &ChatResponse) {
        assert_eq!(resp.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(resp.tool_calls.len(), 1);
        assert_eq!(resp.tool_calls[0].id, self.call_id);
        assert_eq!(resp.tool_calls[0].name, "get_weather");
        assert_eq!(resp.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert!(resp.text.is_empty());
    }

    /// Asserts the items of `tools-stream.sse`: three pieces of one call (id and name in
    /// the first, arguments `{"city":"Paris"}` across them), no text, and a `Done` with
    /// finish reason `tool_calls`.
    pub fn assert_tool_stream(&self, items: &[Result<StreamEvent, ProviderError>]) {
        let calls = streamed_calls(items);
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(calls[0].id.as_deref(), Some(self.call_id));
        assert_eq!(calls[0].name.as_deref(), Some("get_weather"));
        assert!(calls.iter().all(|c| c.index == 0));
        let arguments: String = calls.iter().map(|c| c.arguments.as_str()).collect();
        assert_eq!(arguments, r#"{"city":"Paris"}"#);
        assert_eq!(streamed_text(items), "");
        let Some(Ok(StreamEvent::Done(end))) = items.last() else {
            panic!("stream did not end with Done: {items:?}");
        };
        assert_eq!(end.finish_reason, Some(FinishReason::ToolCalls));
    }

    /// Asserts that the answer of `tools-followup-response.json` to its request is the
    /// weather in Paris, finished with `stop`, nothing dropped. Returns the request the
    /// upstream received, checked to be [`Surface::upstream_body`] of the client's body.
    pub async fn follow_up(&self) -> Value {
        let (resp, sent) = self
            .sent_as_written(
                "tools-followup-request.json",
                "tools-followup-response.json",
            )
            .await;
        assert_eq!(resp.text, "It is 18 °C and clear in Paris.");
        assert_eq!(resp.finish_reason, Some(FinishReason::Stop));
        assert!(resp.dropped_params.is_empty(), "{:?}", resp.dropped_params);
        sent
    }

    /// Asserts that the plain request answered with `reasoning-response.json` comes back
    /// with the answer and the reasoning apart.
    pub async fn assert_reasoning_apart(&self) {
        let (resp, _) = self.chat("reasoning-response.json", &self.plain()).await;
        assert_eq!(resp.text, "Paris.");
        assert_eq!(
            resp.reasoning.as_deref(),
            Some("The user asks for the capital of France. It is Paris.")
        );
    }

    /// The plain stream request answered with `reasoning-stream.sse`: the items.
    pub async fn reasoning_stream(&self) -> Items {
        let req = (self.contract.stream_request)();
        self.stream("reasoning-stream.sse", &req).await.0
    }

    /// Asserts the items of `reasoning-stream.sse`: the reasoning and the answer apart.
    pub fn assert_reasoning_stream(items: &[Result<StreamEvent, ProviderError>]) {
        assert_eq!(
            streamed_reasoning(items),
            "The user asks for the capital of France."
        );
        assert_eq!(streamed_text(items), "Paris.");
    }
}
