//! A reference forwarder built on the same stack as toolhive-core (hyper 1 server, one shared
//! reqwest client, multi-thread tokio runtime) with none of its logic: no Host/Origin checks,
//! no body limit or timeouts, no header filtering beyond what HTTP requires, no sessions.
//!
//! It is NOT a proxy to use: it exists only so the benchmark can tell the cost of the chosen
//! HTTP stack apart from the cost of toolhive's own per-request work.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{Request, Response, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, BoxError>;

struct Shared {
    client: reqwest::Client,
    /// Parsed once, as toolhive does.
    remote: reqwest::Url,
}

/// Serve on `127.0.0.1:port` forwarding every request to `remote`; prints the local URL.
pub async fn run(remote: String, port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind reference proxy");
    let addr = listener.local_addr().expect("local addr");
    let remote = reqwest::Url::parse(&remote).expect("remote URL");
    let path = remote.path().to_owned();
    let shared = Arc::new(Shared {
        client: reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .build()
            .expect("client"),
        remote,
    });
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "http://{addr}{path}");
        let _ = out.flush();
    }
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(forward(&shared, req).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(400),
    };
    parts.headers.remove(header::HOST);
    parts.headers.remove(header::CONTENT_LENGTH);
    let resp = match shared
        .client
        .request(parts.method, shared.remote.clone())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
    {
        Ok(resp) => resp,
        Err(_) => return error(502),
    };
    let mut headers = resp.headers().clone();
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::CONNECTION);
    let status = resp.status();
    let stream = resp
        .bytes_stream()
        .map_err(|e| Box::new(e) as BoxError)
        .map_ok(Frame::data);
    let mut local = Response::new(StreamBody::new(stream).boxed_unsync());
    *local.status_mut() = status;
    *local.headers_mut() = headers;
    local
}

fn error(status: u16) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::new())
            .map_err(|n| match n {})
            .boxed_unsync(),
    );
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
    resp
}
