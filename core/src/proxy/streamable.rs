//! Streamable HTTP (MCP 2025-03-26+): POST, GET and DELETE on the one MCP path, forwarded with
//! sessions kept alive across remote restarts.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use super::ProxyShared;
use super::body::{self, Body, ErrorAnswer, request_id};
use super::guard::read_body;
use super::sessions::{Session, is_initialize, mentions_session};
use super::upstream::{self, UpstreamRequest, set_header};

const MCP_SESSION_ID: &str = "mcp-session-id";
const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// Enough for any error page that names a session; larger 400 bodies are passed on untouched.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

pub(crate) async fn handle(shared: &Arc<ProxyShared>, req: Request<Incoming>) -> Response<Body> {
    let stateless = shared.config.stateless;
    match *req.method() {
        Method::POST => forward(shared, req).await,
        Method::GET | Method::DELETE if !stateless => forward(shared, req).await,
        Method::OPTIONS => {
            let mut resp = body::status(StatusCode::NO_CONTENT);
            let allow = allow_header(stateless);
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            resp
        }
        _ => body::method_not_allowed(allow_header(stateless)),
    }
}

fn allow_header(stateless: bool) -> &'static str {
    if stateless {
        "POST, OPTIONS"
    } else {
        "GET, POST, DELETE, OPTIONS"
    }
}

/// What came back from the remote: still streaming, or read already (to inspect an error).
enum Answer {
    Streaming(reqwest::Response),
    Read {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
}

async fn forward(shared: &Arc<ProxyShared>, req: Request<Incoming>) -> Response<Body> {
    let config = &shared.config;
    let (parts, incoming) = req.into_parts();
    let body = if parts.method == Method::POST {
        match read_body(
            &parts.headers,
            incoming,
            config.max_request_body_bytes,
            config.client_timeout,
        )
        .await
        {
            Ok(body) => Some(body),
            Err(refused) => return refused.into_response(None),
        }
    } else {
        None
    };
    let client_session = parts
        .headers
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let session = client_session
        .as_deref()
        .and_then(|id| shared.sessions.get(id));
    let headers = upstream::upstream_headers(&parts.headers);
    let url = upstream::target_url(&config.remote, None, parts.uri.query());
    let request = |upstream_session: Option<&str>| {
        let mut headers = headers.clone();
        if let Some(id) = upstream_session {
            set_header(&mut headers, MCP_SESSION_ID, id);
        }
        UpstreamRequest {
            method: parts.method.clone(),
            url: url.clone(),
            headers,
            body: body.clone(),
        }
    };
    let error_id = || body.as_deref().and_then(request_id);

    let mut used_id = session
        .as_ref()
        .map(|s| s.upstream_id())
        .or_else(|| client_session.clone());
    let mut answer = match send(shared, request(used_id.as_deref())).await {
        Ok(answer) => answer,
        Err(err) => return err.into_response(error_id()),
    };

    // The remote forgot a session we saw being created: re-create it and replay once.
    if let (Some(session), Some(stale)) = (&session, &used_id)
        && parts.method != Method::DELETE
        && session_gone(&mut answer).await
    {
        match reinitialize(shared, session, stale, &parts.headers).await {
            Ok(fresh) => {
                answer = match send(shared, request(Some(&fresh))).await {
                    Ok(answer) => answer,
                    Err(err) => return err.into_response(error_id()),
                };
                used_id = Some(fresh);
            }
            Err(why) => shared.log.warn(format!(
                "could not re-create the session upstream ({why}); the client must initialize again"
            )),
        }
    }

    let mut resp = match answer {
        Answer::Streaming(resp) => {
            // Standalone GET streams end when the proxy stops; request streams run to the end.
            let end = (parts.method == Method::GET).then(|| shared.streams.clone());
            upstream::into_local_response(resp, end, shared.log.clone())
        }
        Answer::Read {
            status,
            headers,
            body,
        } => {
            let mut resp = Response::new(body::full(body));
            *resp.status_mut() = status;
            *resp.headers_mut() = headers;
            resp
        }
    };

    let returned_id = resp
        .headers()
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let (Some(client_id), Some(returned)) = (&client_session, &returned_id)
        && used_id.as_deref() == Some(returned.as_str())
        && returned != client_id
    {
        // The remote answers under the re-created id; the client keeps its own.
        set_header(resp.headers_mut(), MCP_SESSION_ID, client_id);
    }
    if parts.method == Method::DELETE {
        if let Some(id) = &client_session {
            shared.sessions.remove(id);
        }
    } else if let (Some(id), Some(body)) = (returned_id, &body)
        && client_session.is_none()
        && resp.status().is_success()
        && is_initialize(body)
    {
        shared.sessions.created(id, body.clone());
    }
    resp
}

async fn send(shared: &ProxyShared, req: UpstreamRequest) -> Result<Answer, ErrorAnswer> {
    let resp = shared.send(req, shared.config.response_timeout).await?;
    Ok(Answer::Streaming(resp))
}

/// 404, or a 400 that names the session: the remote no longer knows it. A 400 body is read to
/// tell, and kept so the answer can still be passed on.
async fn session_gone(answer: &mut Answer) -> bool {
    let Answer::Streaming(resp) = answer else {
        return false;
    };
    match resp.status() {
        StatusCode::NOT_FOUND => true,
        StatusCode::BAD_REQUEST => {
            let Answer::Streaming(resp) = std::mem::replace(
                answer,
                Answer::Read {
                    status: StatusCode::BAD_REQUEST,
                    headers: HeaderMap::new(),
                    body: Bytes::new(),
                },
            ) else {
                unreachable!("checked above")
            };
            let headers = upstream::downstream_headers(resp.headers());
            let body = upstream::read_small(resp, ERROR_BODY_LIMIT)
                .await
                .unwrap_or_default();
            let gone = mentions_session(&body);
            *answer = Answer::Read {
                status: StatusCode::BAD_REQUEST,
                headers,
                body,
            };
            gone
        }
        _ => false,
    }
}

/// Re-create `session` upstream with the stored initialize request and
/// `notifications/initialized`; returns the remote's new session id.
async fn reinitialize(
    shared: &ProxyShared,
    session: &Session,
    stale: &str,
    client_headers: &HeaderMap,
) -> Result<String, String> {
    let _one_at_a_time = session.reinit.lock().await;
    let current = session.upstream_id();
    if current != stale {
        // Another request re-created it while we waited.
        return Ok(current);
    }
    let config = &shared.config;
    let init = UpstreamRequest::json_post(config.remote.clone(), session.init_request.clone());
    let resp = shared
        .send(init, config.response_timeout)
        .await
        .map_err(|e| e.message)?;
    if !resp.status().is_success() {
        return Err(format!("initialize answered {}", resp.status()));
    }
    let fresh = resp
        .headers()
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or("initialize answered without a session id")?;
    // Drain the answer so the remote sees the exchange complete.
    upstream::read_small(resp, 1024 * 1024).await;

    let mut initialized = UpstreamRequest::json_post(
        config.remote.clone(),
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
    );
    set_header(&mut initialized.headers, MCP_SESSION_ID, &fresh);
    if let Some(version) = client_headers
        .get(MCP_PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
    {
        set_header(&mut initialized.headers, MCP_PROTOCOL_VERSION, version);
    }
    let resp = shared
        .send(initialized, config.response_timeout)
        .await
        .map_err(|e| e.message)?;
    if !resp.status().is_success() {
        return Err(format!(
            "notifications/initialized answered {}",
            resp.status()
        ));
    }
    session.set_upstream_id(fresh.clone());
    shared
        .log
        .info("the remote had forgotten a session; re-initialized it and replayed the request");
    Ok(fresh)
}

/// 404 for paths other than the MCP endpoint.
pub(crate) fn not_found(path: &str) -> Response<Body> {
    ErrorAnswer::refused(
        StatusCode::NOT_FOUND,
        format!("no MCP endpoint at `{path}` on this proxy"),
    )
    .into_response(None)
}
