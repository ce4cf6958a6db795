//! A misbehaving OpenAI-compatible upstream speaking Groq's shape, on 127.0.0.1.
//!
//! Written on a bare TCP socket (not wiremock) so that it can do what a mock server
//! cannot: hold a request forever, send a stream's headers at once and its first event
//! later, cut a stream mid-body, or reset the connection. What it does is a script: a
//! function of each call (the model, how many calls that model had before, the time
//! since the server started, whether it streams) that picks an [`Act`]. Every request is
//! recorded, so that tests can count the calls per model.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::P;
use super::fixtures;

/// Groq's API prefix; the chat endpoint is `{PREFIX}/chat/completions`.
const PREFIX: &str = "/openai/v1";

/// One call as the script sees it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// The `model` of the request body (empty when there is none).
    pub(crate) model: String,
    /// How many calls for this model came before this one.
    pub(crate) n: usize,
    /// Time since the server started.
    pub(crate) elapsed: Duration,
    /// Whether the request asks for a stream.
    pub(crate) stream: bool,
}

/// What the upstream does with one call.
#[derive(Debug, Clone)]
pub(crate) enum Act {
    /// Groq's recorded answer: `chat_ok.json`, or `chat_stream.sse` for a stream.
    Ok,
    /// Reads the request and never answers (the connection stays open until the client
    /// closes it).
    Hang,
    /// Sends a 200's headers at once and the body (every event of a stream) only after
    /// this delay.
    FirstTokenAfter(Duration),
    /// An error answer with this status, JSON body and extra headers.
    Status {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Reads the request, then resets the connection (TCP RST) without answering.
    Reset,
    /// Groq's stream with one malformed event among good ones
    /// (`chat_stream_malformed_event.sse`); a one-shot call gets [`Act::Ok`].
    Malformed,
    /// A 200 whose body stops after the first token: a stream's role event and first
    /// content event, or half of the one-shot JSON; then the connection is reset.
    Cut,
}

impl Act {
    /// An error answer with no extra headers.
    pub(crate) fn status(status: u16, body: &str) -> Self {
        Self::Status {
            status,
            body: body.to_owned(),
            headers: Vec::new(),
        }
    }

    /// A 429 rate limit with a `retry-after` header of `secs` seconds.
    pub(crate) fn rate_limited(secs: u64) -> Self {
        Self::Status {
            status: 429,
            body: RATE_LIMITED.to_owned(),
            headers: vec![("retry-after".to_owned(), secs.to_string())],
        }
    }
}

/// A script that does `act` to every call for `model` and answers any other model.
pub(crate) fn only(model: &str, act: Act) -> impl Fn(&Call) -> Act + Send + Sync + 'static {
    let model = model.to_owned();
    move |c: &Call| {
        if c.model == model {
            act.clone()
        } else {
            Act::Ok
        }
    }
}

/// A script that does `act` to every call in the first `outage` after the server
/// started, and answers after that (an outage, then a recovery).
pub(crate) fn down_for(
    outage: Duration,
    act: Act,
) -> impl Fn(&Call) -> Act + Send + Sync + 'static {
    move |c: &Call| {
        if c.elapsed < outage {
            act.clone()
        } else {
            Act::Ok
        }
    }
}

/// The body of a too-long prompt, in the OpenAI error shape Groq uses; `providers/groq.md`
/// quotes no recorded body for this case, so this is OpenAI's documented one.
pub(crate) const CONTEXT_LENGTH_EXCEEDED: &str = r#"{"error":{"message":"Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;

/// A content-policy refusal in the OpenAI error shape.
pub(crate) const CONTENT_FILTERED: &str = r#"{"error":{"message":"Your request was rejected as a result of our safety system: the content policy does not allow it.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}"#;

/// Groq's 503 body shape.
pub(crate) const UNAVAILABLE: &str =
    r#"{"error":{"message":"Service Unavailable","type":"internal_server_error"}}"#;

/// Groq's 500 body shape.
pub(crate) const INTERNAL: &str =
    r#"{"error":{"message":"Internal Server Error","type":"internal_server_error"}}"#;

/// A per-minute rate limit in Groq's shape (no wait in the message: the header says it).
const RATE_LIMITED: &str = r#"{"error":{"message":"Rate limit reached for model `openai/gpt-oss-120b` in organization `org_01test` service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1.","type":"requests","code":"rate_limit_exceeded"}}"#;

type Script = Arc<dyn Fn(&Call) -> Act + Send + Sync>;

/// One request the upstream received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) model: String,
    pub(crate) stream: bool,
    /// Time since the server started.
    pub(crate) at: Duration,
    /// Whether it carried Groq's test key as a bearer token.
    pub(crate) authorized: bool,
}

/// A running misbehaving upstream; stops accepting when dropped.
pub(crate) struct Unruly {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    accept: JoinHandle<()>,
}

impl Unruly {
    /// Starts the upstream on a free loopback port with this script.
    pub(crate) async fn start(script: impl Fn(&Call) -> Act + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let started = Instant::now();
        let accept = {
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let received = Arc::clone(&received);
                    let script = Arc::clone(&script);
                    tokio::spawn(serve(socket, script, received, started));
                }
            })
        };
        Self {
            addr,
            received,
            accept,
        }
    }

    /// The base URL to hand to the gateway as `GROQ_BASE_URL`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    /// Every request received so far, in order.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many chat requests named `model` (see [`Self::total`] for the checks).
    pub(crate) fn calls(&self, model: &str) -> usize {
        self.checked().iter().filter(|r| r.model == model).count()
    }

    /// How many requests arrived, whatever their model.
    pub(crate) fn total(&self) -> usize {
        self.checked().len()
    }

    /// Every request so far; panics unless each was a chat request with Groq's key (so
    /// that a count cannot include a misrouted call).
    fn checked(&self) -> Vec<Received> {
        let received = self.received();
        for r in &received {
            assert_eq!(r.path, format!("{PREFIX}/chat/completions"), "{r:?}");
            assert!(r.authorized, "sent without Groq's key: {r:?}");
        }
        received
    }
}

impl Drop for Unruly {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A parsed request: path, headers (lower-case names) and body.
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (a `content-length` body; the gateway sends no chunked
/// requests). `None` when the client closed or sent garbage.
async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split_whitespace().nth(1)?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(Request {
        path,
        headers,
        body,
    })
}

/// Serves one connection: one request, then the connection closes (every answer says
/// `connection: close`, so each call is its own connection and a reset hits one call).
async fn serve(
    mut socket: TcpStream,
    script: Script,
    received: Arc<Mutex<Vec<Received>>>,
    started: Instant,
) {
    let Some(req) = read_request(&mut socket).await else {
        return;
    };
    let json: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let model = json["model"].as_str().unwrap_or_default().to_owned();
    let stream = json["stream"].as_bool().unwrap_or(false);
    let authorized = req.headers.iter().any(|(k, v)| {
        k == "authorization" && v.strip_prefix("Bearer ") == Some(P::Groq.key().as_str())
    });
    let elapsed = started.elapsed();
    let call = {
        let mut log = received.lock().unwrap();
        let n = log.iter().filter(|r| r.model == model).count();
        log.push(Received {
            path: req.path.clone(),
            model: model.clone(),
            stream,
            at: elapsed,
            authorized,
        });
        Call {
            model,
            n,
            elapsed,
            stream,
        }
    };
    let act = if req.path != format!("{PREFIX}/chat/completions") {
        Act::status(
            404,
            r#"{"error":{"message":"Unknown request URL","type":"invalid_request_error","code":"unknown_url"}}"#,
        )
    } else if authorized {
        script(&call)
    } else {
        Act::status(
            401,
            r#"{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        )
    };
    // Write errors mean the client went away: nothing to do.
    let _ = act_on(&mut socket, &act, stream).await;
}

async fn act_on(socket: &mut TcpStream, act: &Act, stream: bool) -> std::io::Result<()> {
    let groq = fixtures::of(P::Groq);
    match act {
        Act::Ok => answer(socket, stream, groq.chat_ok, groq.stream, None).await,
        Act::FirstTokenAfter(delay) => {
            answer(socket, stream, groq.chat_ok, groq.stream, Some(*delay)).await
        }
        Act::Malformed => {
            answer(
                socket,
                stream,
                groq.chat_ok,
                fixtures::GROQ_STREAM_MALFORMED,
                None,
            )
            .await
        }
        Act::Hang => {
            // Hold the connection until the client gives up.
            let mut sink = [0_u8; 1024];
            while socket.read(&mut sink).await? > 0 {}
            Ok(())
        }
        Act::Reset => {
            socket.set_zero_linger()?;
            Ok(())
        }
        Act::Status {
            status,
            body,
            headers,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                reason(*status),
                body.len()
            );
            for (k, v) in headers {
                let _ = write!(head, "{k}: {v}\r\n");
            }
            head.push_str("\r\n");
            socket.write_all(head.as_bytes()).await?;
            socket.write_all(body.as_bytes()).await?;
            socket.shutdown().await
        }
        Act::Cut => {
            if stream {
                socket.write_all(stream_head().as_bytes()).await?;
                for event in events(groq.stream).iter().take(2) {
                    socket.write_all(chunk(event).as_bytes()).await?;
                }
            } else {
                socket
                    .write_all(json_head(groq.chat_ok.len()).as_bytes())
                    .await?;
                let half = &groq.chat_ok.as_bytes()[..groq.chat_ok.len() / 2];
                socket.write_all(half).await?;
            }
            socket.flush().await?;
            // Let the client read what was sent before the reset.
            tokio::time::sleep(Duration::from_millis(100)).await;
            socket.set_zero_linger()
        }
    }
}

/// A 200: the headers at once, then (after `delay`) the JSON or every SSE event as its
/// own chunk, then the end of the chunked body.
async fn answer(
    socket: &mut TcpStream,
    stream: bool,
    json: &str,
    sse: &str,
    delay: Option<Duration>,
) -> std::io::Result<()> {
    if stream {
        socket.write_all(stream_head().as_bytes()).await?;
        socket.flush().await?;
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        for event in events(sse) {
            socket.write_all(chunk(&event).as_bytes()).await?;
            socket.flush().await?;
        }
        socket.write_all(b"0\r\n\r\n").await?;
    } else {
        socket.write_all(json_head(json.len()).as_bytes()).await?;
        socket.flush().await?;
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        socket.write_all(json.as_bytes()).await?;
    }
    socket.flush().await?;
    socket.shutdown().await
}

fn json_head(length: usize) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
    )
}

fn stream_head() -> String {
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        .to_owned()
}

/// The events of an SSE text, each with its blank-line terminator.
fn events(sse: &str) -> Vec<String> {
    sse.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| format!("{}\n\n", e.trim_start_matches('\n')))
        .collect()
}

/// One chunk of a chunked body.
fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
