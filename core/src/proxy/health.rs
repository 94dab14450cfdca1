//! Upstream health: the `/health` route and the optional monitor that moves a proxy between
//! `running` and `unhealthy`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Response, StatusCode};

use super::ProxyShared;
use super::body::{Body, json};
use super::upstream::{self, UpstreamRequest};
use crate::config::HealthCheck;
use crate::state::ProxyState;

/// What the last probe found.
#[derive(Debug, Default, Clone)]
pub(crate) struct UpstreamHealth {
    reachable: Option<bool>,
    checked_at: Option<SystemTime>,
    error: Option<String>,
    consecutive_failures: u32,
}

/// `/health` answers this fast when no monitor runs and a live probe is needed.
const LIVE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// POST a JSON-RPC `ping`. A stateless remote must answer it; a stateful one may refuse a
/// session-less request (400), which still proves it is up. 5xx and no answer are failures.
async fn probe(shared: &ProxyShared, timeout: Duration) -> Result<(), String> {
    let request = UpstreamRequest::json_post(
        shared.config.remote.clone(),
        Bytes::from_static(br#"{"jsonrpc":"2.0","id":"toolhive-health","method":"ping"}"#),
    );
    let exchange = async {
        let resp = shared
            .upstream
            .send(request, timeout)
            .await
            .map_err(|e| e.message)?;
        let status = resp.status();
        upstream::read_small(resp, 64 * 1024).await;
        let ok = if shared.config.stateless {
            status.is_success()
        } else {
            !status.is_server_error()
        };
        if ok {
            Ok(())
        } else {
            Err(format!("ping answered {status}"))
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer to ping within {timeout:?}")))
}

fn record(shared: &ProxyShared, result: &Result<(), String>) -> UpstreamHealth {
    let mut health = shared.health.lock().unwrap_or_else(|p| p.into_inner());
    health.reachable = Some(result.is_ok());
    health.checked_at = Some(SystemTime::now());
    health.error = result.as_ref().err().cloned();
    health.consecutive_failures = match result {
        Ok(()) => 0,
        Err(_) => health.consecutive_failures.saturating_add(1),
    };
    health.clone()
}

/// Probe every `interval`; `failure_threshold` failures in a row make the proxy unhealthy, one
/// success makes it running again.
pub(crate) async fn monitor(shared: Arc<ProxyShared>, check: HealthCheck) {
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(check.interval) => {}
        }
        let result = probe(&shared, check.timeout).await;
        let health = record(&shared, &result);
        let state = shared.state();
        match result {
            Err(why)
                if health.consecutive_failures >= check.failure_threshold
                    && state == ProxyState::Running =>
            {
                shared.log.warn(format!(
                    "remote failed {} health checks in a row ({why}); marking unhealthy",
                    health.consecutive_failures
                ));
                shared.transition(ProxyState::Running, ProxyState::Unhealthy);
            }
            Err(why) => shared.log.debug(format!("health check failed: {why}")),
            Ok(()) if state == ProxyState::Unhealthy => {
                shared
                    .log
                    .info("remote answers health checks again; running");
                shared.transition(ProxyState::Unhealthy, ProxyState::Running);
            }
            Ok(()) => {}
        }
    }
}

/// The `/health` route: proxy state and upstream reachability, never forwarded.
pub(crate) async fn respond(shared: &ProxyShared) -> Response<Body> {
    let health = if shared.config.health_check.is_some() {
        shared
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    } else {
        let result = probe(shared, LIVE_PROBE_TIMEOUT).await;
        record(shared, &result)
    };
    let state = shared.state();
    let status = if state == ProxyState::Running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        &serde_json::json!({
            "name": shared.config.name,
            "state": state.as_str(),
            "transport": shared.config.transport.as_str(),
            "upstream": {
                "reachable": health.reachable,
                "checked_at": health.checked_at.map(|t| humantime::format_rfc3339_millis(t).to_string()),
                "error": health.error,
            },
        }),
    )
}
