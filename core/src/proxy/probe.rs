//! The start-up probe: one request to the remote before serving, so a remote that demands a
//! token fails `start` with an explanation instead of failing every client request later.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};

use super::upstream::{Upstream, UpstreamRequest, set_header};
use crate::config::{Transport, ValidConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::redact;

/// The probe gives up after this long; an unreachable remote does not stop the proxy starting.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client supplies a static token, for error messages.
pub(crate) const TOKEN_HINT: &str = "supply a token with `bearer_token` in the config \
     (CLI: --remote-auth-bearer-token-file FILE, --remote-auth-bearer-token TOKEN, or the \
     TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN environment variable)";

/// `Err` when the remote refuses us for lack of (valid) credentials; `Ok(Some(warning))` when
/// it could not be asked; `Ok(None)` when it answered.
pub(crate) async fn check_auth(
    upstream: &Upstream,
    config: &ValidConfig,
    has_token: bool,
) -> Result<Option<String>> {
    let mut headers = HeaderMap::new();
    let (method, body) = match config.transport {
        Transport::StreamableHttp => {
            set_header(
                &mut headers,
                "accept",
                "application/json, text/event-stream",
            );
            set_header(&mut headers, "content-type", "application/json");
            (
                Method::POST,
                Some(Bytes::from_static(
                    br#"{"jsonrpc":"2.0","id":"toolhive-probe","method":"ping"}"#,
                )),
            )
        }
        Transport::Sse => {
            set_header(&mut headers, "accept", "text/event-stream");
            (Method::GET, None)
        }
    };
    let request = UpstreamRequest {
        method,
        url: config.remote.clone(),
        headers,
        body,
    };
    let timeout = config.response_timeout.min(PROBE_TIMEOUT);
    // Only the status line matters; the response (maybe an endless stream) is dropped.
    let resp = match upstream.send(request, timeout).await {
        Ok(resp) => resp,
        Err(e) => {
            return Ok(Some(format!(
                "could not check the remote at start: {}",
                e.message
            )));
        }
    };
    let status = resp.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return Ok(None);
    }
    let challenge = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if status == StatusCode::FORBIDDEN && !challenge.contains("insufficient_scope") {
        // A plain 403 is an authorization decision about a request, not a login problem.
        return Ok(None);
    }
    let scheme = challenge
        .split_whitespace()
        .next()
        .unwrap_or("no challenge");
    let shown = redact::url(&config.remote);
    let message = if has_token {
        format!(
            "the remote MCP server {shown} rejected the configured bearer token ({status}, \
             {scheme}); check `bearer_token`"
        )
    } else {
        format!(
            "the remote MCP server {shown} requires authorization ({status}, {scheme}); {TOKEN_HINT}"
        )
    };
    Err(Error::new(ErrorKind::AuthRequired, message).with_field("bearer_token"))
}
