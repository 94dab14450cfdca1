//! The start-up probe: one request to the remote before serving, so a remote that demands a
//! token fails `start` with an explanation instead of failing every client request later.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::upstream::{UpstreamRequest, set_header};
use super::{ProxyShared, auth_challenge, with_bearer};
use crate::config::Transport;
use crate::error::{Error, ErrorKind, Result};
use crate::redact;

/// The probe gives up after this long; an unreachable remote does not stop the proxy starting.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client supplies a static token, for error messages.
pub(crate) const TOKEN_HINT: &str = "supply a token with `bearer_token` in the config \
     (CLI: --remote-auth-bearer-token-file FILE, --remote-auth-bearer-token TOKEN, or the \
     TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN environment variable)";

/// Ask the remote once. A 401 (or 403 `insufficient_scope`) starts OAuth when the proxy may
/// use it (and fails when the remote offers none), or fails with a hint about static tokens.
/// `Ok(Some(warning))` when the remote could not be asked at all.
pub(crate) async fn check_auth(shared: &ProxyShared) -> Result<Option<String>> {
    let config = &shared.config;
    let request = match config.transport {
        Transport::StreamableHttp => UpstreamRequest::json_post(
            config.remote.clone(),
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":"toolhive-probe","method":"ping"}"#),
        ),
        Transport::Sse => {
            let mut headers = HeaderMap::new();
            set_header(&mut headers, "accept", "text/event-stream");
            UpstreamRequest {
                method: Method::GET,
                url: config.remote.clone(),
                headers,
                body: None,
            }
        }
    };
    // A stored token is refreshed first if it expired while the proxy was down.
    let token = match &shared.auth {
        Some(auth) => auth.bearer().await.ok().flatten(),
        None => None,
    };
    let request = with_bearer(request, token.as_deref());
    let timeout = config.response_timeout.min(PROBE_TIMEOUT);
    // Only the status line matters; the response (maybe an endless stream) is dropped.
    let resp = match shared.upstream.send(request, timeout).await {
        Ok(resp) => resp,
        Err(e) => {
            return Ok(Some(format!(
                "could not check the remote at start: {}",
                e.message
            )));
        }
    };
    let Some(challenges) = auth_challenge(&resp) else {
        return Ok(None);
    };
    let status = resp.status();
    drop(resp);
    if let Some(auth) = &shared.auth {
        auth.begin(challenges).await?;
        return Ok(None);
    }
    let scheme = challenges
        .first()
        .map_or("no challenge", |c| c.scheme.as_str());
    let shown = redact::url(&config.remote);
    let message = if config.bearer_token.is_some() {
        format!(
            "the remote MCP server {shown} rejected the configured bearer token ({status}, \
             {scheme}); check `bearer_token`"
        )
    } else {
        format!(
            "the remote MCP server {shown} rejected the configured Authorization header \
             ({status}, {scheme}); check `headers`"
        )
    };
    Err(Error::new(ErrorKind::AuthRequired, message).with_field("bearer_token"))
}
