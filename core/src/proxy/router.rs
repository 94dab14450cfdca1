//! Every local request enters here: checks, local routes, then the transport's forwarding.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body::{Body, ErrorAnswer};
use super::{ProxyShared, guard, health, legacy_sse, streamable};
use crate::config::Transport;

pub(crate) async fn route(shared: &Arc<ProxyShared>, req: Request<Incoming>) -> Response<Body> {
    if let Err(refused) = guard::check_host_and_origin(&shared.config, req.headers()) {
        return refused.into_response(None);
    }
    let path = req.uri().path();
    if path == "/health" {
        return health::respond(shared).await;
    }
    if path.starts_with("/.well-known/") {
        // A JSON 404, so local clients never start an OAuth flow of their own against us:
        // the proxy is the one that authenticates to the remote.
        return ErrorAnswer::refused(
            StatusCode::NOT_FOUND,
            "this local proxy needs no authorization; it authenticates to the remote itself",
        )
        .into_response(None);
    }
    match shared.config.transport {
        Transport::StreamableHttp if path == shared.config.local_path => {
            streamable::handle(shared, req).await
        }
        Transport::StreamableHttp => streamable::not_found(path),
        Transport::Sse => legacy_sse::handle(shared, req).await,
    }
}
