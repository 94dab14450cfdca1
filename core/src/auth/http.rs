//! Requests to authorization servers: size-limited JSON, form posts, and errors that say
//! which step failed, which URL, and what the server said (never a token).

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::redact;

/// Metadata documents and token answers larger than this are refused.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

pub(crate) fn auth_error(step: &str, url: &Url, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::AuthRequired,
        format!("OAuth {step} at {} failed: {what}", redact::url(url)),
    )
}

/// What came back: status and a bounded body.
pub(crate) struct Answer {
    pub status: http::StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The server's `error` / `error_description`, for messages.
    pub(crate) fn oauth_error(&self) -> (Option<String>, String) {
        let json = self.json();
        let code = json
            .as_ref()
            .and_then(|j| j.get("error")?.as_str().map(str::to_owned));
        let description = json
            .as_ref()
            .and_then(|j| j.get("error_description")?.as_str().map(str::to_owned));
        let said = match (&code, description) {
            (Some(c), Some(d)) => format!("{c}: {d}"),
            (Some(c), None) => c.clone(),
            _ => format!(
                "HTTP {} {}",
                self.status.as_u16(),
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).trim()
            ),
        };
        (code, said)
    }
}

/// Send and read at most [`MAX_DOCUMENT_BYTES`]; `Err(text)` for transport failures.
pub(crate) async fn send(req: reqwest::RequestBuilder) -> std::result::Result<Answer, String> {
    let resp = req.send().await.map_err(|e| {
        let mut cur: &dyn std::error::Error = &e;
        while let Some(next) = cur.source() {
            cur = next;
        }
        cur.to_string()
    })?;
    let status = resp.status();
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the answer: {e}"))?;
        if buf.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "the answer is larger than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        body: Bytes::from(buf),
    })
}

/// GET a JSON document; `Ok(None)` when the server has none there (any non-2xx or non-JSON).
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: &Url,
    step: &str,
) -> Result<Option<Value>> {
    let req = client
        .get(url.clone())
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2025-06-18");
    match send(req).await {
        Ok(answer) if answer.status.is_success() => Ok(answer.json().filter(Value::is_object)),
        Ok(_) => Ok(None),
        Err(e) => Err(auth_error(step, url, e)),
    }
}

/// `application/x-www-form-urlencoded` body.
pub(crate) fn form(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}
