//! What the proxy answers itself: /health, /.well-known, Host/Origin refusals, size limits,
//! and the health monitor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use toolhive_core::{EventKind, HealthCheckConfig, ProxyState};

use crate::support::*;

#[tokio::test]
async fn health_reports_state_and_upstream() {
    let up = upstream(|_| async { json(200, r#"{"jsonrpc":"2.0","id":"x","result":{}}"#) }).await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |c| c.name = Some("h".into())).await;
    let resp = client()
        .get(p.url().replace("/mcp", "/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["name"], "h");
    assert_eq!(body["state"], "running");
    assert_eq!(body["upstream"]["reachable"], true);
    // The probe is a JSON-RPC ping, never the client's request.
    assert!(String::from_utf8_lossy(&up.seen()[0].body).contains(r#""method":"ping""#));

    up.kill();
    let body: serde_json::Value = client()
        .get(p.url().replace("/mcp", "/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["upstream"]["reachable"], false);
    assert!(
        body["upstream"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot connect")
    );
}

#[tokio::test]
async fn well_known_is_a_local_json_404() {
    let up = upstream(|_| async { json(200, "{}") }).await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server/mcp",
    ] {
        let resp = client()
            .get(p.url().replace("/mcp", path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let _: serde_json::Value = resp.json().await.unwrap();
    }
    assert!(up.seen().is_empty(), "never forwarded");
}

#[tokio::test]
async fn foreign_host_or_origin_gets_403_before_forwarding() {
    let up = upstream(|_| async { json(200, "{}") }).await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    let refused = [
        client().post(p.url()).header("host", "evil.example.com"),
        client()
            .post(p.url())
            .header("origin", "http://evil.example.com"),
        client()
            .post(p.url())
            .header("host", "evil.example.com")
            .header("origin", "http://evil.example.com"),
    ];
    for req in refused {
        let resp = req
            .header("content-type", "application/json")
            .body(INIT)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["jsonrpc"], "2.0");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not allowed")
        );
    }
    assert!(up.seen().is_empty());
    let ok = client()
        .post(p.url())
        .header("origin", "http://localhost:6274")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let up = upstream(|_| async { json(200, "{}") }).await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |c| c.max_request_body_bytes = 1024).await;
    let big = "x".repeat(2048);
    let resp = client()
        .post(p.url())
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("max_request_body_bytes")
    );
    // Without a Content-Length (chunked), the limit still holds.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let resp = client()
        .post(p.url())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(up.seen().is_empty());
    assert_eq!(
        client()
            .post(p.url())
            .body("x".repeat(1024))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn health_monitor_needs_repeated_failures_and_recovers() {
    let failing = Arc::new(AtomicBool::new(false));
    let f = failing.clone();
    let up = upstream(move |_| {
        let fail = f.load(Ordering::SeqCst);
        async move {
            if fail {
                json(503, "{}")
            } else {
                json(200, "{}")
            }
        }
    })
    .await;
    let m = manager();
    let mut events = m.subscribe();
    let p = proxy(&m, &up.url("/mcp"), |c| {
        c.health_check = Some(HealthCheckConfig {
            interval_ms: 20,
            failure_threshold: 3,
            timeout_ms: 2000,
        })
    })
    .await;
    failing.store(true, Ordering::SeqCst);
    let probes_before = up.seen().len();
    eventually("proxy marked unhealthy", || {
        p.state() == ProxyState::Unhealthy
    })
    .await;
    assert!(
        up.seen().len() - probes_before >= 3,
        "unhealthy only after the threshold of failed probes"
    );
    failing.store(false, Ordering::SeqCst);
    eventually("proxy running again", || p.state() == ProxyState::Running).await;

    let mut transitions = Vec::new();
    while let Ok(e) = events.try_recv() {
        let EventKind::StateChanged { to, .. } = e.kind else {
            continue;
        };
        transitions.push(to);
    }
    assert_eq!(
        transitions,
        [
            ProxyState::Starting,
            ProxyState::Running,
            ProxyState::Unhealthy,
            ProxyState::Running
        ]
    );
}
