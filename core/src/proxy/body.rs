//! Response bodies and the locally generated responses (JSON, JSON-RPC errors, 405s).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};

/// Errors a streamed body may end with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the proxy sends: a fixed buffer or a stream from upstream.
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn empty() -> Body {
    full(Bytes::new())
}

/// A JSON response with `status`.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// JSON-RPC error codes used for locally generated errors.
pub(crate) mod code {
    /// Implementation-defined server error range: the proxy or the remote failed.
    pub const SERVER_ERROR: i64 = -32000;
    /// The request was refused (Host/Origin, size).
    pub const INVALID_REQUEST: i64 = -32600;
}

/// A JSON-RPC error response, so MCP clients surface `message` to their user.
pub(crate) fn jsonrpc_error(
    status: StatusCode,
    id: Option<serde_json::Value>,
    code: i64,
    message: impl Into<String>,
) -> Response<Body> {
    json(
        status,
        &serde_json::json!({
            "jsonrpc": "2.0",
            "id": id.unwrap_or(serde_json::Value::Null),
            "error": { "code": code, "message": message.into() },
        }),
    )
}

/// A request the proxy answers itself with a JSON-RPC error (refusals, upstream failures).
#[derive(Debug)]
pub(crate) struct ErrorAnswer {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
    /// Seconds for `Retry-After` (503 while no token is available).
    pub retry_after: Option<u64>,
}

impl ErrorAnswer {
    /// The client sent something the proxy refuses.
    pub(crate) fn refused(status: StatusCode, message: impl Into<String>) -> Self {
        ErrorAnswer {
            status,
            code: code::INVALID_REQUEST,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The remote failed.
    pub(crate) fn upstream(status: StatusCode, message: impl Into<String>) -> Self {
        ErrorAnswer {
            status,
            code: code::SERVER_ERROR,
            message: message.into(),
            retry_after: None,
        }
    }

    /// No usable token yet (a login or refresh is under way): 503 with `Retry-After`, never
    /// 401, which would make the local client start an OAuth flow of its own against us.
    pub(crate) fn unavailable(
        retry_after: std::time::Duration,
        message: impl Into<String>,
    ) -> Self {
        ErrorAnswer {
            retry_after: Some(retry_after.as_secs().max(1)),
            ..ErrorAnswer::upstream(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    /// The JSON-RPC error response, answering request `id` when known.
    pub(crate) fn into_response(self, id: Option<serde_json::Value>) -> Response<Body> {
        let mut resp = jsonrpc_error(self.status, id, self.code, self.message);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// 405 with the methods this endpoint allows.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut resp = jsonrpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        code::INVALID_REQUEST,
        format!("method not allowed here; allowed: {allow}"),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// A bodyless response.
pub(crate) fn status(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp
}

/// The `id` of a single JSON-RPC request in `body`, for error responses that answer it.
pub(crate) fn request_id(body: &[u8]) -> Option<serde_json::Value> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        id: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Envelope>(body).ok()?.id
}
