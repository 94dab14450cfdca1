//! Starting many, unique names, busy ports, events, logs and graceful stops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use toolhive_core::{ErrorKind, EventKind, ProxyConfig, ProxyState};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_proxies_each_on_its_own_port() {
    let up = upstream(|_| async { json(200, r#"{"ok":1}"#) }).await;
    let m = manager();
    let mut urls = Vec::new();
    for i in 0..20 {
        let p = proxy(&m, &up.url("/mcp"), |c| c.name = Some(format!("p{i}"))).await;
        urls.push(p.url().to_owned());
    }
    let mut ports: Vec<&str> = urls.iter().map(|u| u.split(':').nth(2).unwrap()).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 20);
    for url in &urls {
        assert_eq!(post(url, "{}", None).await.status(), 200);
    }
    let list = m.list();
    assert_eq!(list.len(), 20);
    assert!(list.iter().all(|i| i.state == ProxyState::Running));
    assert_eq!(list[0].remote_url, up.url("/mcp"));
    m.stop_all().await;
    assert!(m.list().iter().all(|i| i.state == ProxyState::Stopped));
}

#[tokio::test]
async fn names_are_unique_while_running() {
    let m = manager();
    let first = m
        .start(ProxyConfig::new("https://mcp.example.com/mcp"))
        .await
        .unwrap();
    assert_eq!(first.name(), "example");
    let err = m
        .start(ProxyConfig::new("https://api.example.com/mcp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NameInUse);
    assert_eq!(err.field(), Some("name"));
    assert!(err.to_string().contains("`example`"), "{err}");
    m.stop("example").await.unwrap();
    let again = m
        .start(ProxyConfig::new("https://api.example.com/mcp"))
        .await
        .unwrap();
    assert_eq!(again.name(), "example");
    assert_eq!(m.list().len(), 1);
}

#[tokio::test]
async fn busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let m = manager();
    let mut config = ProxyConfig::new("https://mcp.example.com/mcp");
    config.port = port;
    let err = m.start(config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddressInUse);
    assert_eq!(err.field(), Some("port"));
    assert!(err.to_string().contains(&format!("port {port}")), "{err}");
    assert!(m.list().is_empty(), "a failed start leaves nothing behind");
}

#[tokio::test]
async fn unknown_names_are_not_found() {
    let m = manager();
    assert_eq!(
        m.stop("nope").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(m.logs("nope").unwrap_err().kind(), ErrorKind::NotFound);
    assert!(m.get("nope").is_none());
}

#[tokio::test]
async fn states_are_published_and_logs_kept() {
    let m = manager();
    let mut events = m.subscribe();
    let p = m
        .start(ProxyConfig::new("https://mcp.example.com/mcp"))
        .await
        .unwrap();
    p.stop().await;
    p.stop().await; // twice is fine
    m.stop("example").await.unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        assert_eq!(e.proxy, "example");
        let EventKind::StateChanged { from, to } = e.kind else {
            continue;
        };
        seen.push((from.as_str(), to.as_str()));
    }
    assert_eq!(
        seen,
        [
            ("stopped", "starting"),
            ("starting", "running"),
            ("running", "stopping"),
            ("stopping", "stopped")
        ]
    );
    let logs = m.logs("example").unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message.contains("proxying https://mcp.example.com/mcp"))
    );
    assert!(logs.last().unwrap().message.contains("stopped"));
    assert!(logs.last().unwrap().to_string().contains("INFO"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_in_flight_requests_finish_ends_streams_and_frees_the_port() {
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let stream_tx: Arc<Mutex<Option<mpsc::Sender<Bytes>>>> = Arc::default();
    let stream_slot = stream_tx.clone();
    let up = upstream(move |seen| {
        let stream_slot = stream_slot.clone();
        let release = (seen.method == "POST")
            .then(|| release_rx.lock().unwrap().take())
            .flatten();
        async move {
            if seen.method == "GET" {
                let (tx, resp) = sse_stream();
                *stream_slot.lock().unwrap() = Some(tx);
                return resp;
            }
            if let Some(release) = release {
                let _ = release.await;
            }
            json(200, r#"{"slow":"done"}"#)
        }
    })
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |c| c.stop_grace_ms = 10_000).await;
    let port = p.local_addr().port();

    let stream = client().get(p.url()).send().await.unwrap();
    let slow = tokio::spawn({
        let url = p.url().to_owned();
        async move { post(&url, "{}", None).await }
    });
    eventually("slow request reached upstream", || up.seen().len() == 2).await;

    let stopping = tokio::spawn({
        let p = p.clone();
        async move { p.stop().await }
    });
    eventually("stopping", || p.state() == ProxyState::Stopping).await;
    // The open event stream is ended at once (clients resume it elsewhere).
    let mut body = stream.bytes_stream();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = body.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "open GET stream ended by stop");
    assert!(
        !stopping.is_finished(),
        "stop waits for the in-flight request"
    );

    release_tx.send(()).unwrap();
    let resp = slow.await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"slow":"done"}"#);
    stopping.await.unwrap();
    assert_eq!(p.state(), ProxyState::Stopped);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port released after stop");
}

#[tokio::test]
async fn stop_cuts_requests_after_the_grace_period() {
    let up = upstream(|_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        json(200, "{}")
    })
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |c| c.stop_grace_ms = 100).await;
    let hung = tokio::spawn({
        let url = p.url().to_owned();
        async move { client().post(url).body("{}").send().await }
    });
    eventually("request reached upstream", || !up.seen().is_empty()).await;
    tokio::time::timeout(Duration::from_secs(10), p.stop())
        .await
        .expect("stop returns after the grace period");
    assert!(hung.await.unwrap().is_err(), "the hung request was cut");
}

#[tokio::test]
async fn slow_clients_cannot_hold_a_connection() {
    let m = manager();
    let p = m
        .start({
            let mut c = ProxyConfig::new("https://mcp.example.com/mcp");
            c.client_timeout_ms = 200;
            c
        })
        .await
        .unwrap();
    let mut conn = tokio::net::TcpStream::connect(p.local_addr())
        .await
        .unwrap();
    conn.write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    // Never finish the headers: the proxy must hang up on us.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection closed by the proxy");
}

#[tokio::test]
async fn events_and_infos_have_a_stable_json_shape() {
    let m = manager();
    let mut events = m.subscribe();
    let p = m
        .start(ProxyConfig::new("https://mcp.example.com/mcp"))
        .await
        .unwrap();
    let first = events.recv().await.unwrap();
    assert_eq!(
        first.to_json(),
        r#"{"proxy":"example","type":"state_changed","from":{"state":"stopped"},"to":{"state":"starting"}}"#
    );
    let info: serde_json::Value = serde_json::from_str(&p.info().to_json()).unwrap();
    assert_eq!(info["name"], "example");
    assert_eq!(info["remote_url"], "https://mcp.example.com/mcp");
    assert_eq!(info["local_url"], p.url());
    assert_eq!(info["transport"], "streamable-http");
    assert_eq!(info["state"], "running");
    assert!(info["started_at"].as_str().unwrap().ends_with('Z'));
    let failed = ProxyState::Failed {
        reason: "boom".into(),
    };
    assert_eq!(
        serde_json::to_string(&failed).unwrap(),
        r#"{"state":"failed","reason":"boom"}"#
    );
}

/// A caller that gives up on `start` or `stop` (timeout, cancelled binding call) leaves no
/// half-started or half-stopped proxy behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_start_and_stop_leave_nothing_half_done() {
    let hang = upstream(|_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        json(200, "{}")
    })
    .await;
    let m = manager();
    let mut config = ProxyConfig::new(hang.url("/mcp"));
    config.name = Some("slow".into());
    // The start-up probe hangs on the remote; give up waiting for `start`.
    let gave_up = tokio::time::timeout(Duration::from_millis(300), m.start(config)).await;
    assert!(gave_up.is_err());
    eventually("the abandoned start is stopped and forgotten", || {
        m.get("slow").is_none()
    })
    .await;

    let up = upstream(|_| async { json(200, "{}") }).await;
    let p = proxy(&m, &up.url("/mcp"), |c| c.name = Some("quick".into())).await;
    let stop = p.clone();
    let _ = tokio::time::timeout(Duration::from_millis(1), async move { stop.stop().await }).await;
    eventually("stopped even though nobody waited", || {
        p.state() == ProxyState::Stopped
    })
    .await;
}
