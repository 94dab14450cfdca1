//! Legacy HTTP+SSE (MCP 2024-11-05): the GET event stream, whose `endpoint` event is rewritten
//! so the client posts to the proxy, and the POSTs to the announced messages URL.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::ProxyShared;
use super::body::{self, Body, BoxError, request_id};
use super::guard::read_body;
use super::streamable::not_found;
use super::upstream::{self, UpstreamRequest};

/// How much of the stream may pass before the `endpoint` event must have come; after that the
/// stream is passed on untouched rather than buffered without bound.
const ENDPOINT_SEARCH_LIMIT: usize = 64 * 1024;

/// The messages paths the remote announced (usually one, e.g. `/message`).
#[derive(Debug, Default)]
pub(crate) struct MessagePaths(Mutex<HashSet<String>>);

impl MessagePaths {
    fn insert(&self, path: &str) {
        let mut paths = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !paths.contains(path) {
            paths.insert(path.to_owned());
        }
    }

    fn contains(&self, path: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(path)
    }
}

pub(crate) async fn handle(shared: &Arc<ProxyShared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    if *req.method() == Method::GET && path == shared.config.local_path {
        return open_stream(shared, req).await;
    }
    if *req.method() == Method::POST
        && (shared.legacy_paths.contains(path) || path == shared.config.local_path)
    {
        return post_message(shared, req).await;
    }
    if path == shared.config.local_path || shared.legacy_paths.contains(path) {
        return body::method_not_allowed("GET, POST");
    }
    not_found(path)
}

async fn open_stream(shared: &Arc<ProxyShared>, req: Request<Incoming>) -> Response<Body> {
    let request = UpstreamRequest {
        method: Method::GET,
        url: upstream::target_url(&shared.config.remote, None, req.uri().query()),
        headers: upstream::upstream_headers(req.headers()),
        body: None,
    };
    let resp = match shared.send(request, shared.config.response_timeout).await {
        Ok(resp) => resp,
        Err(err) => return err.into_response(None),
    };
    if !resp.status().is_success() {
        return upstream::into_local_response(resp, None, shared.log.clone());
    }
    let mut rewriter = EndpointRewriter::new(shared.clone());
    upstream::into_local_response_with(
        resp,
        Some(shared.streams.clone()),
        shared.log.clone(),
        move |chunk| rewriter.feed(chunk),
    )
}

async fn post_message(shared: &Arc<ProxyShared>, req: Request<Incoming>) -> Response<Body> {
    let config = &shared.config;
    let (parts, incoming) = req.into_parts();
    let body = match read_body(
        &parts.headers,
        incoming,
        config.max_request_body_bytes,
        config.client_timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(refused) => return refused.into_response(None),
    };
    let request = UpstreamRequest {
        method: Method::POST,
        url: upstream::target_url(&config.remote, Some(parts.uri.path()), parts.uri.query()),
        headers: upstream::upstream_headers(&parts.headers),
        body: Some(body.clone()),
    };
    match shared.send(request, config.response_timeout).await {
        Ok(resp) => upstream::into_local_response(resp, None, shared.log.clone()),
        Err(err) => err.into_response(request_id(&body)),
    }
}

/// Finds the first `endpoint` event in an SSE byte stream and rewrites its URL to the proxy;
/// everything else passes byte for byte.
struct EndpointRewriter {
    shared: Arc<ProxyShared>,
    pending: Vec<u8>,
    done: bool,
}

impl EndpointRewriter {
    fn new(shared: Arc<ProxyShared>) -> Self {
        EndpointRewriter {
            shared,
            pending: Vec::new(),
            done: false,
        }
    }

    fn feed(&mut self, chunk: Bytes) -> Result<Bytes, BoxError> {
        if self.done {
            return Ok(chunk);
        }
        self.pending.extend_from_slice(&chunk);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut start = 0;
        while let Some(len) = event_len(&self.pending[start..]) {
            let event = &self.pending[start..start + len];
            start += len;
            match endpoint_data(event) {
                Some(data) => {
                    let local = rewrite_endpoint(&self.shared, &data)?;
                    out.extend_from_slice(&replace_data(event, &local));
                    out.extend_from_slice(&self.pending[start..]);
                    self.done = true;
                    self.pending = Vec::new();
                    return Ok(Bytes::from(out));
                }
                None => out.extend_from_slice(event),
            }
        }
        self.pending.drain(..start);
        if self.pending.len() > ENDPOINT_SEARCH_LIMIT {
            self.shared
                .log
                .warn("no `endpoint` event at the start of the remote's SSE stream; passing it on unchanged");
            out.append(&mut self.pending);
            self.done = true;
        }
        Ok(Bytes::from(out))
    }
}

/// Length of the first complete event (through its blank line) in `buf`, if there is one.
fn event_len(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut line_start = 0;
    while i < buf.len() {
        let eol = match buf[i] {
            b'\n' => 1,
            b'\r' if buf.get(i + 1) == Some(&b'\n') => 2,
            // A lone CR at the end of the buffer may be half of CRLF: wait for more.
            b'\r' if i + 1 == buf.len() => return None,
            b'\r' => 1,
            _ => {
                i += 1;
                continue;
            }
        };
        if i == line_start {
            return Some(i + eol);
        }
        i += eol;
        line_start = i;
    }
    None
}

fn lines(event: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(event)
        .unwrap_or_default()
        .split(['\n', '\r'])
        .filter(|l| !l.is_empty())
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        return Some("");
    }
    let value = rest.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

/// The data of `event` when it is an `endpoint` event.
fn endpoint_data(event: &[u8]) -> Option<String> {
    if !lines(event).any(|l| field(l, "event") == Some("endpoint")) {
        return None;
    }
    let data: Vec<&str> = lines(event).filter_map(|l| field(l, "data")).collect();
    Some(data.join("\n"))
}

/// `event` with its data lines replaced by one `data: {data}` line, other fields kept.
fn replace_data(event: &[u8], data: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut written = false;
    for line in lines(event) {
        if field(line, "data").is_some() {
            if !written {
                out.push_str("data: ");
                out.push_str(data);
                out.push('\n');
                written = true;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// Where the local client should post: the same path and query on the proxy. Relative
/// endpoints resolve identically against the local URL (it keeps the remote path), so they are
/// left as they are; absolute ones are pointed at the proxy.
fn rewrite_endpoint(shared: &ProxyShared, data: &str) -> Result<String, BoxError> {
    let remote = &shared.config.remote;
    let data = data.trim();
    let resolved = remote
        .join(data)
        .map_err(|e| format!("the remote announced an unusable message endpoint: {e}"))?;
    if resolved.origin() != remote.origin() {
        shared
            .log
            .error("the remote announced a message endpoint on another origin; refused");
        return Err("message endpoint on another origin refused".into());
    }
    shared.legacy_paths.insert(resolved.path());
    let absolute = data.starts_with("//") || url::Url::parse(data).is_ok();
    if !absolute {
        return Ok(data.to_owned());
    }
    let mut local = format!("{}{}", shared.local_origin, resolved.path());
    if let Some(q) = resolved.query() {
        local.push('?');
        local.push_str(q);
    }
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_event_boundaries() {
        assert_eq!(event_len(b"event: a\ndata: b\n\nrest"), Some(18));
        assert_eq!(event_len(b"event: a\r\ndata: b\r\n\r\nrest"), Some(21));
        assert_eq!(event_len(b"event: a\ndata: b\n"), None);
        assert_eq!(event_len(b"data: b\r"), None);
        assert_eq!(event_len(b"\n"), Some(1));
    }

    #[test]
    fn reads_and_replaces_endpoint_data() {
        let ev = b"event: endpoint\ndata: /message?sessionId=1\n\n";
        assert_eq!(endpoint_data(ev).as_deref(), Some("/message?sessionId=1"));
        assert_eq!(endpoint_data(b"event: message\ndata: {}\n\n"), None);
        assert_eq!(
            replace_data(b"id: 3\r\nevent: endpoint\r\ndata: x\r\n\r\n", "http://l/m"),
            b"id: 3\nevent: endpoint\ndata: http://l/m\n\n"
        );
    }
}
