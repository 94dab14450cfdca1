//! Remote failures become 502/504 with a JSON-RPC error that says what failed.

use std::time::Duration;

use crate::support::*;

async fn error_of(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/json");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn refused_connection_is_502_naming_the_remote() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let m = manager();
    let p = proxy(&m, &format!("http://127.0.0.1:{port}/mcp"), |_| {}).await;
    let (status, body) = error_of(
        post(
            p.url(),
            r#"{"jsonrpc":"2.0","id":"a1","method":"ping"}"#,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(body["id"], "a1", "answers the client's request id");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot connect"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn slow_remote_is_504() {
    let up = upstream(|_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        json(200, "{}")
    })
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |c| c.response_timeout_ms = 200).await;
    let (status, body) =
        error_of(post(p.url(), r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#, None).await).await;
    assert_eq!(status, 504);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("response_timeout_ms")
    );
}

#[tokio::test]
async fn tls_failure_is_502_saying_so() {
    // A plain-HTTP server spoken to over https: the TLS handshake fails.
    let up = upstream(|_| async { json(200, "{}") }).await;
    let m = manager();
    let p = proxy(
        &m,
        &format!("https://localhost:{}/mcp", up.addr.port()),
        |_| {},
    )
    .await;
    let (status, body) = error_of(post(p.url(), "{}", None).await).await;
    assert_eq!(status, 502);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot connect to the remote MCP server https://localhost"),
        "{message}"
    );
}

#[tokio::test]
async fn remote_down_then_back() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = upstream_on(listener, |_| async { json(200, r#"{"up":1}"#) });
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    assert_eq!(post(p.url(), "{}", None).await.status(), 200);
    up.kill();
    drop(up);
    eventually_status(p.url(), 502).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let _back = upstream_on(listener, |_| async { json(200, r#"{"up":2}"#) });
    let resp = post(p.url(), "{}", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"up":2}"#);
}

async fn eventually_status(url: &str, want: u16) {
    for _ in 0..100 {
        if post(url, "{}", None).await.status() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never answered {want}");
}
