//! An in-process MCP-style upstream (hyper 1, HTTP/1.1) on its own thread and runtime, so its
//! timers and writes do not wait behind the proxy under test.
//!
//! - `POST /json`: a fixed small JSON-RPC result (`application/json`).
//! - `POST /sse?n=N&ms=M`: `text/event-stream` with N events M ms apart; every event carries
//!   `"sent_ns":T`, the send time in nanoseconds since [`crate::now_ns`]'s epoch, taken just
//!   before the event is handed to hyper. The last event is the JSON-RPC result.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub const JSON_RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#;

type Body = BoxBody<Bytes, Infallible>;

/// Start the upstream on a new thread; returns its address once it is listening.
pub fn spawn() -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let addr = std_listener.local_addr().expect("local addr");
    std::thread::Builder::new()
        .name("bench-upstream".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("upstream runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let _ = http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service_fn(handle))
                            .await;
                    });
                }
            });
        })
        .expect("spawn upstream thread");
    addr
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    // Drain the request body before answering.
    let _ = req.into_body().collect().await;
    let resp = match path.as_str() {
        "/json" => Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(JSON_RESULT.as_bytes())).boxed())
            .unwrap(),
        "/sse" => {
            let (mut n, mut ms) = (100u64, 10u64);
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("n", v)) => n = v.parse().unwrap_or(n),
                    Some(("ms", v)) => ms = v.parse().unwrap_or(ms),
                    _ => {}
                }
            }
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(sse_body(n, Duration::from_millis(ms)))
                .unwrap()
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()).boxed())
            .unwrap(),
    };
    Ok(resp)
}

fn sse_body(n: u64, interval: Duration) -> Body {
    let start = tokio::time::Instant::now();
    let stream = futures_util::stream::unfold(0u64, move |i| async move {
        if i >= n {
            return None;
        }
        tokio::time::sleep_until(start + interval * (i as u32 + 1)).await;
        let sent = crate::now_ns();
        let event = if i + 1 == n {
            format!(
                "id: {i}\nevent: message\ndata: {{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"sent_ns\":{sent}}}}}\n\n"
            )
        } else {
            format!(
                "id: {i}\nevent: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progressToken\":1,\"progress\":{i},\"sent_ns\":{sent}}}}}\n\n"
            )
        };
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(event))), i + 1))
    });
    StreamBody::new(stream).boxed()
}
