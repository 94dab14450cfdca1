//! The remote side: the shared HTTP client, which headers cross the proxy, how a local request
//! becomes an upstream one, and how upstream failures become 502/504 answers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::body::{Body, BoxError, ErrorAnswer};
use super::credentials::Credentials;
use crate::logs::ProxyLog;
use crate::redact;

/// Redirects followed per request; more than a handful means a loop or a misconfiguration.
const MAX_REDIRECTS: usize = 5;

/// An HTTP client for upstream requests. One is shared by every proxy with the same
/// connect timeout, so a thousand proxies hold one TLS configuration, not a thousand.
/// Which redirects a client follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Redirects {
    /// MCP traffic: the same host (any port), never https -> http.
    SameHost,
    /// OAuth and metadata requests: the same origin only (SPEC "Authorization" 10).
    SameOrigin,
}

pub(crate) fn build_client(connect_timeout: Duration, redirects: Redirects) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        // Below common server keep-alive timeouts (Node's is 5 s): reusing a connection the
        // server is closing at that moment fails the request (the keep-alive race).
        .pool_idle_timeout(Duration::from_secs(4))
        .redirect(redirect_policy(redirects))
        .build()
        .expect("static reqwest configuration is valid")
}

/// Same host only (a redirect must not carry our requests, and later our tokens, elsewhere),
/// never https -> http.
fn redirect_policy(redirects: Redirects) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let Some(prev) = attempt.previous().last() else {
            return attempt.follow();
        };
        let next = attempt.url();
        if attempt.previous().len() > MAX_REDIRECTS {
            let msg = format!("more than {MAX_REDIRECTS} redirects");
            attempt.error(msg)
        } else if next.host_str() != prev.host_str() {
            let msg = format!(
                "redirect to another host ({}) refused; only same-host redirects are followed",
                next.host_str().unwrap_or("?")
            );
            attempt.error(msg)
        } else if redirects == Redirects::SameOrigin && next.origin() != prev.origin() {
            let msg = "redirect to another origin refused for an OAuth request".to_owned();
            attempt.error(msg)
        } else if prev.scheme() == "https" && next.scheme() != "https" {
            attempt.error("redirect from https to http refused".to_owned())
        } else {
            attempt.follow()
        }
    })
}

/// Headers that never cross to the remote: hop-by-hop ones, the local client's credentials
/// (token passthrough is forbidden by the MCP spec), and what describes the local hop.
const NOT_FORWARDED_UPSTREAM: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "http2-settings",
    "host",
    "content-length",
    "authorization",
    "proxy-authorization",
    "cookie",
    "origin",
    "referer",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Headers of the remote's answer that stay on the remote hop.
const NOT_FORWARDED_DOWNSTREAM: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "set-cookie",
];

fn copy_headers(from: &HeaderMap, skip: &[&str]) -> HeaderMap {
    // Names listed in `Connection` are hop-by-hop too (rare: only then is a list built).
    let listed: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && n != "keep-alive" && n != "close")
        .collect();
    let mut out = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        let n = name.as_str();
        if skip.contains(&n) || (!listed.is_empty() && listed.iter().any(|l| l == n)) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The local request's headers as sent upstream.
pub(crate) fn upstream_headers(local: &HeaderMap) -> HeaderMap {
    copy_headers(local, NOT_FORWARDED_UPSTREAM)
}

/// `remote` with the local request's query appended to the remote URL's own.
pub(crate) fn target_url(remote: &Url, path: Option<&str>, local_query: Option<&str>) -> Url {
    let mut url = remote.clone();
    if let Some(path) = path {
        url.set_path(path);
        url.set_query(None);
    }
    let query = match (url.query(), local_query.filter(|q| !q.is_empty())) {
        (Some(own), Some(local)) if !own.is_empty() => Some(format!("{own}&{local}")),
        (_, Some(local)) => Some(local.to_owned()),
        (own, None) => own.map(str::to_owned),
    };
    url.set_query(query.as_deref());
    url
}

/// One request to the remote.
#[derive(Clone)]
pub(crate) struct UpstreamRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

impl UpstreamRequest {
    /// A JSON-RPC POST of the proxy's own (probes, re-initialization), with the `Accept` an
    /// MCP client sends.
    pub(crate) fn json_post(url: Url, body: Bytes) -> Self {
        let mut headers = HeaderMap::new();
        set_header(
            &mut headers,
            "accept",
            "application/json, text/event-stream",
        );
        set_header(&mut headers, "content-type", "application/json");
        UpstreamRequest {
            method: Method::POST,
            url,
            headers,
            body: Some(body),
        }
    }
}

/// The remote as one proxy sees it: the shared HTTP client plus what every request carries.
pub(crate) struct Upstream {
    client: reqwest::Client,
    credentials: Credentials,
}

impl Upstream {
    pub(crate) fn new(client: reqwest::Client, credentials: Credentials) -> Self {
        Upstream {
            client,
            credentials,
        }
    }

    /// Send `req` with the proxy's credentials and wait (at most `response_timeout`) for the
    /// status line and headers.
    pub(crate) async fn send(
        &self,
        mut req: UpstreamRequest,
        response_timeout: Duration,
    ) -> Result<reqwest::Response, ErrorAnswer> {
        self.credentials.apply(&mut req.headers);
        // Kept for error messages, which format it only when a request fails.
        let url = req.url.clone();
        let mut builder = self
            .client
            .request(req.method, req.url)
            .headers(req.headers);
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        match tokio::time::timeout(response_timeout, builder.send()).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(err)) => Err(classify(&err, &redact::url(&url))),
            Err(_) => Err(ErrorAnswer::upstream(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the remote MCP server {} did not answer within {}s (response_timeout_ms)",
                    redact::url(&url),
                    response_timeout.as_secs_f32()
                ),
            )),
        }
    }
}

/// Turn a transport failure into a message that says what failed, without internals.
fn classify(err: &reqwest::Error, shown: &str) -> ErrorAnswer {
    let cause = root_cause(err);
    if err.is_timeout() {
        return ErrorAnswer::upstream(
            StatusCode::GATEWAY_TIMEOUT,
            format!("timed out connecting to the remote MCP server {shown} (connect_timeout_ms)"),
        );
    }
    let message = if err.is_redirect() {
        format!("the remote MCP server {shown} redirected: {cause}")
    } else if err.is_connect() {
        format!("cannot connect to the remote MCP server {shown}: {cause}")
    } else {
        format!("request to the remote MCP server {shown} failed: {cause}")
    };
    ErrorAnswer::upstream(StatusCode::BAD_GATEWAY, message)
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    // reqwest's own top-level text names the full URL; the innermost cause is the useful part.
    cur.to_string()
}

/// The remote's response headers as passed to the local client.
pub(crate) fn downstream_headers(remote: &HeaderMap) -> HeaderMap {
    copy_headers(remote, NOT_FORWARDED_DOWNSTREAM)
}

/// Stream `resp` back to the local client. `end` (when given) cuts the stream, used to close
/// open event streams when the proxy stops. Dropping the returned body (client gone) drops the
/// upstream response, which closes the upstream connection at once.
pub(crate) fn into_local_response(
    resp: reqwest::Response,
    end: Option<CancellationToken>,
    log: Arc<ProxyLog>,
) -> Response<Body> {
    into_local_response_with(resp, end, log, Ok)
}

/// [`into_local_response`] with every chunk passed through `transform` (empty results are
/// skipped, never sent as a chunk).
pub(crate) fn into_local_response_with<F>(
    resp: reqwest::Response,
    end: Option<CancellationToken>,
    log: Arc<ProxyLog>,
    mut transform: F,
) -> Response<Body>
where
    F: FnMut(Bytes) -> Result<Bytes, BoxError> + Send + 'static,
{
    let status = resp.status();
    let headers = downstream_headers(resp.headers());
    let stream = resp
        .bytes_stream()
        .inspect_err(move |e| log.warn(format!("remote stream broke off: {}", root_cause(e))))
        .map_err(|e| Box::new(e) as BoxError)
        .and_then(move |chunk| std::future::ready(transform(chunk)))
        .try_filter(|chunk| std::future::ready(!chunk.is_empty()))
        .map_ok(Frame::data);
    let body: Body = match end {
        Some(token) => StreamBody::new(stream.take_until(token.cancelled_owned())).boxed_unsync(),
        None => StreamBody::new(stream).boxed_unsync(),
    };
    let mut local = Response::new(body);
    *local.status_mut() = status;
    *local.headers_mut() = headers;
    local
}

/// Read a small upstream body fully (error bodies, re-initialization answers).
pub(crate) async fn read_small(resp: reqwest::Response, limit: usize) -> Option<Bytes> {
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        if buf.len() + chunk.len() > limit {
            return None;
        }
        buf.extend_from_slice(&chunk);
    }
    Some(Bytes::from(buf))
}

/// Set a header from a string we built; names are static and values are checked by the caller.
pub(crate) fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_merged() {
        let remote = Url::parse("https://h/v1/mcp?key=1").unwrap();
        assert_eq!(
            target_url(&remote, None, Some("a=2")).as_str(),
            "https://h/v1/mcp?key=1&a=2"
        );
        assert_eq!(
            target_url(&remote, None, None).as_str(),
            "https://h/v1/mcp?key=1"
        );
        let bare = Url::parse("https://h/mcp").unwrap();
        assert_eq!(
            target_url(&bare, None, Some("a=2")).as_str(),
            "https://h/mcp?a=2"
        );
        assert_eq!(target_url(&bare, None, Some("")).as_str(), "https://h/mcp");
        assert_eq!(
            target_url(&remote, Some("/message"), Some("sessionId=x")).as_str(),
            "https://h/message?sessionId=x"
        );
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_stay_local() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("authorization", "Bearer local"),
            ("cookie", "a=b"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("host", "localhost"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-session-id", "abc"),
            ("mcp-protocol-version", "2025-06-18"),
            ("last-event-id", "7"),
            ("content-type", "application/json"),
        ] {
            h.append(HeaderName::from_static(n), v.parse().unwrap());
        }
        let out = upstream_headers(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "accept",
                "mcp-session-id",
                "mcp-protocol-version",
                "last-event-id",
                "content-type"
            ]
        );
    }
}
