//! Control sockets: how `toolhive stop NAME` in one process reaches the process serving NAME.
//!
//! Each process with proxies listens on `<state>/control/<pid>.sock` (a private directory).
//! A request is one JSON line, `{"op":"stop","name":"notion"}`; the answer is one JSON line,
//! `{"ok":true}` or `{"error":{"kind":"not_found","message":"…"}}`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::error::{Error, ErrorKind, Result};

/// What another process may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Op {
    Stop,
    Restart,
}

#[derive(Serialize, Deserialize)]
struct Request {
    op: Op,
    name: String,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<AnswerError>,
}

#[derive(Serialize, Deserialize)]
struct AnswerError {
    kind: String,
    message: String,
}

/// Longest a control exchange may take (a stop waits for its grace period).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Ask the process behind `socket` to run `op` on proxy `name`.
pub(crate) async fn request(socket: &Path, op: Op, name: &str) -> Result<()> {
    let unreachable = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!(
                "cannot reach the process serving `{name}` through {}: {e}",
                socket.display()
            ),
        )
    };
    let exchange = async {
        let mut stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(unreachable)?;
        let mut line = serde_json::to_string(&Request {
            op,
            name: name.to_owned(),
        })
        .expect("requests serialize");
        line.push('\n');
        stream
            .write_all(line.as_bytes())
            .await
            .map_err(unreachable)?;
        let mut answer = String::new();
        BufReader::new(stream)
            .read_line(&mut answer)
            .await
            .map_err(unreachable)?;
        let answer: Answer = serde_json::from_str(&answer).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("garbled answer from the control socket: {e}"),
            )
        })?;
        match answer.error {
            None => Ok(()),
            Some(e) => Err(Error::new(kind_from_str(&e.kind), e.message)),
        }
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Io,
                format!("the process serving `{name}` did not answer within {EXCHANGE_TIMEOUT:?}"),
            ))
        })
}

fn kind_from_str(kind: &str) -> ErrorKind {
    ErrorKind::ALL
        .iter()
        .copied()
        .find(|k| k.as_str() == kind)
        .unwrap_or(ErrorKind::Internal)
}

/// Serve control requests on `socket` with `handle` until the returned guard is dropped.
pub(crate) fn serve<F, Fut>(
    socket: PathBuf,
    runtime: &tokio::runtime::Handle,
    handle: F,
) -> std::io::Result<ControlGuard>
where
    F: Fn(Op, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    // A socket left by a crashed process with our (reused) pid is stale.
    let _ = std::fs::remove_file(&socket);
    let listener = {
        let _entered = runtime.enter();
        tokio::net::UnixListener::bind(&socket)?
    };
    let handle = std::sync::Arc::new(handle);
    let task = runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                if BufReader::new(read).read_line(&mut line).await.is_err() {
                    return;
                }
                let answer = match serde_json::from_str::<Request>(&line) {
                    Err(e) => Answer {
                        ok: None,
                        error: Some(AnswerError {
                            kind: ErrorKind::InvalidConfig.as_str().to_owned(),
                            message: format!("bad control request: {e}"),
                        }),
                    },
                    Ok(req) => match handle(req.op, req.name).await {
                        Ok(()) => Answer {
                            ok: Some(true),
                            error: None,
                        },
                        Err(e) => Answer {
                            ok: None,
                            error: Some(AnswerError {
                                kind: e.kind().as_str().to_owned(),
                                message: e.to_string(),
                            }),
                        },
                    },
                };
                let mut text = serde_json::to_string(&answer).expect("answers serialize");
                text.push('\n');
                let _ = write.write_all(text.as_bytes()).await;
            });
        }
    });
    Ok(ControlGuard { socket, task })
}

/// Stops the control socket and removes its file when dropped.
#[derive(Debug)]
pub(crate) struct ControlGuard {
    socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlGuard {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}
