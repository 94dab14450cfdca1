//! In-test upstreams (hyper servers whose answers the test scripts) and helpers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use toolhive_core::{Proxy, ProxyConfig, ProxyManager};

pub type Body = BoxBody<Bytes, Infallible>;

/// A request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A scripted upstream server on 127.0.0.1.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Stop accepting (existing connections are cut too).
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start an upstream whose every request is answered by `handler`.
pub async fn upstream<F, Fut>(handler: F) -> Upstream
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    upstream_on(listener, handler)
}

/// Like [`upstream`] on a listener the test bound (to restart on the same port).
pub fn upstream_on<F, Fut>(listener: tokio::net::TcpListener, handler: F) -> Upstream
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler = Arc::new(handler);
    let seen_for_task = seen.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            let seen = seen_for_task.clone();
            conns.spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    let seen = seen.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let request = Seen {
                            method: parts.method,
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                        };
                        seen.lock().unwrap().push(request.clone());
                        Ok::<_, Infallible>(handler(request).await)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream { addr, seen, task }
}

pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

pub fn json(status: u16, body: &str) -> Response<Body> {
    full(status, "application/json", body.to_owned())
}

pub fn empty(status: u16) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}

/// A streaming response fed through the returned sender; `closed()` on the sender tells the
/// test that the proxy dropped the stream.
pub fn sse_stream() -> (mpsc::Sender<Bytes>, Response<Body>) {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
    });
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap();
    (tx, resp)
}

/// An upstream answering its first request with an open stream; the receiver yields the
/// sender that feeds that stream.
pub async fn streaming_upstream() -> (
    Upstream,
    tokio::sync::oneshot::Receiver<mpsc::Sender<Bytes>>,
) {
    let (tx_slot, rx_slot) = tokio::sync::oneshot::channel::<mpsc::Sender<Bytes>>();
    let tx_slot = Arc::new(Mutex::new(Some(tx_slot)));
    let up = upstream(move |_| {
        let slot = tx_slot.lock().unwrap().take();
        async move {
            let (tx, resp) = sse_stream();
            slot.expect("one streaming request").send(tx).unwrap();
            resp
        }
    })
    .await;
    (up, rx_slot)
}

/// A manager on the test's runtime.
pub fn manager() -> ProxyManager {
    ProxyManager::new(tokio::runtime::Handle::current())
}

/// Start a proxy in front of `remote` with `tweak` applied to the default config. The
/// start-up probe is off so upstreams see only the test's own requests (auth tests turn it on).
pub async fn proxy(
    manager: &ProxyManager,
    remote: &str,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> Proxy {
    let mut config = ProxyConfig::new(remote);
    config.probe_on_start = false;
    tweak(&mut config);
    manager.start(config).await.expect("proxy starts")
}

/// An HTTP client for the local side (no pooling surprises between tests).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// POST a JSON-RPC body to `url` with the headers an MCP client sends.
pub async fn post(url: &str, body: &str, session: Option<&str>) -> reqwest::Response {
    let mut req = client()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .body(body.to_owned());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    req.send().await.expect("proxy answers")
}

/// Wait for `cond` to hold, polling; panics with `what` after a generous deadline. This is a
/// liveness bound for something that must happen, not a performance threshold.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
