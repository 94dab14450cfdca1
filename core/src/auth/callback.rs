//! The login callback: a one-shot HTTP listener on 127.0.0.1 that accepts the authorization
//! code for one random, single-use `state`, and shows the user a page (escaped text only).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::error::{Error, ErrorKind, Result};

/// A bound callback listener.
pub(crate) struct Callback {
    listener: TcpListener,
    port: u16,
}

/// What the authorization server sent back.
pub(crate) enum Outcome {
    Code(String),
    /// `error` (and description) from the redirect.
    Refused {
        code: String,
        said: String,
    },
}

impl Callback {
    /// Listen on 127.0.0.1:`port` (0 = any free port).
    pub(crate) async fn bind(port: u16, fixed: bool) -> Result<Callback> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
            let what = if fixed {
                format!(
                    "the OAuth callback port {port} is busy ({e}); free it or choose another \
                     (oauth.callback_port, CLI: --remote-auth-callback-port)"
                )
            } else {
                format!("cannot listen for the OAuth callback: {e}")
            };
            Error::new(ErrorKind::AddressInUse, what).with_field("oauth.callback_port")
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        Ok(Callback { listener, port })
    }

    #[cfg(test)]
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The redirect URI for this listener.
    pub(crate) fn redirect_uri(&self) -> String {
        format!("http://localhost:{}/callback", self.port)
    }

    /// Serve until a request with `state` arrives (or `timeout`).
    pub(crate) async fn wait(self, state: String, timeout: Duration) -> Result<Outcome> {
        let (tx, rx) = oneshot::channel::<Outcome>();
        let slot = Arc::new(Mutex::new(Some(tx)));
        let state = Arc::new(state);
        let serve = async move {
            loop {
                let Ok((stream, _)) = self.listener.accept().await else {
                    continue;
                };
                let slot = slot.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let answer = answer(&req, &state, &slot);
                        async move { Ok::<_, Infallible>(answer) }
                    });
                    // One request per connection: a browser must not carry a kept-alive
                    // connection over to the next login's listener.
                    let _ = http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        };
        tokio::select! {
            outcome = rx => outcome.map_err(|_| Error::new(ErrorKind::Internal, "callback listener ended")),
            _ = serve => unreachable!("the accept loop never ends"),
            _ = tokio::time::sleep(timeout) => Err(Error::new(
                ErrorKind::AuthRequired,
                format!("the login was not completed within {}s (oauth.timeout_ms)", timeout.as_secs()),
            )),
        }
    }
}

fn answer(
    req: &Request<hyper::body::Incoming>,
    state: &str,
    slot: &Mutex<Option<oneshot::Sender<Outcome>>>,
) -> Response<Full<Bytes>> {
    if req.uri().path() != "/callback" {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "This is the toolhive login callback.",
        );
    }
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("state").as_deref() != Some(state) {
        return page(
            StatusCode::BAD_REQUEST,
            "Login not accepted",
            "This login answer does not belong to a login in progress (state mismatch, or it was already used). Start the login again.",
        );
    }
    // Single use: the first answer with the right state takes the slot.
    let Some(tx) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return page(
            StatusCode::BAD_REQUEST,
            "Login already completed",
            "This login answer was already used.",
        );
    };
    if let Some(code) = get("code") {
        let _ = tx.send(Outcome::Code(code));
        return page(
            StatusCode::OK,
            "Login complete",
            "toolhive is now authorized. You can close this window.",
        );
    }
    let code = get("error").unwrap_or_else(|| "no_code".to_owned());
    let said = get("error_description").unwrap_or_default();
    let text = format!("The authorization server refused the login: {code} {said}");
    let _ = tx.send(Outcome::Refused { code, said });
    page(StatusCode::BAD_REQUEST, "Login failed", &text)
}

/// Escape text for HTML: the callback shows what the server sent, never as markup.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, text: &str) -> Response<Full<Bytes>> {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    );
    let mut resp = Response::new(Full::new(Bytes::from(html)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }

    #[tokio::test]
    async fn state_is_checked_and_single_use() {
        let cb = Callback::bind(0, false).await.unwrap();
        let port = cb.port();
        let wait = tokio::spawn(cb.wait("s3cret-state".into(), Duration::from_secs(10)));
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}/callback");
        let wrong = client
            .get(format!("{base}?code=c&state=other"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 400);
        let evil = client
            .get(format!("{base}?error=%3Cscript%3E&state=nope"))
            .send()
            .await
            .unwrap();
        assert!(!evil.text().await.unwrap().contains("<script>"));
        let ok = client
            .get(format!("{base}?code=the-code&state=s3cret-state"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        match wait.await.unwrap().unwrap() {
            Outcome::Code(c) => assert_eq!(c, "the-code"),
            Outcome::Refused { .. } => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn refusals_are_reported_escaped() {
        let cb = Callback::bind(0, false).await.unwrap();
        let port = cb.port();
        let wait = tokio::spawn(cb.wait("st".into(), Duration::from_secs(10)));
        let resp = reqwest::get(format!(
            "http://127.0.0.1:{port}/callback?state=st&error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E"
        ))
        .await
        .unwrap();
        let body = resp.text().await.unwrap();
        assert!(body.contains("&lt;b&gt;no&lt;/b&gt;"), "{body}");
        assert!(
            matches!(wait.await.unwrap().unwrap(), Outcome::Refused { code, .. } if code == "access_denied")
        );
    }
}
