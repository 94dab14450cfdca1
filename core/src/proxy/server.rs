//! The local listener: accept connections, serve HTTP/1.1 on each, and shut down gracefully.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{ProxyShared, router};

/// Serve until `shared.shutdown` fires, then: close the listener (the port is free at once),
/// end open event streams, let in-flight requests finish within the grace period, and cut
/// whatever is left.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<ProxyShared>) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(shared.config.client_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(err) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        shared.log.warn(format!("accept failed: {err}"));
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service_shared = shared.clone();
                let service = service_fn(move |req| {
                    let shared = service_shared.clone();
                    async move { Ok::<_, Infallible>(router::route(&shared, req).await) }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                connections.spawn(
                    async move {
                        // Client resets and timeouts end the connection; nothing to report.
                        let _ = conn.await;
                    }
                    .in_current_span(),
                );
            }
        }
    }
    drop(listener);
    shared.streams.cancel();
    if tokio::time::timeout(shared.config.stop_grace, graceful.shutdown())
        .await
        .is_err()
    {
        shared.log.warn(format!(
            "{} connection(s) still busy after the {:?} grace period; closing them",
            connections.len(),
            shared.config.stop_grace
        ));
    }
    connections.shutdown().await;
}
