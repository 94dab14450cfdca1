//! Legacy HTTP+SSE: the endpoint event points clients at the proxy; their POSTs reach the
//! remote's messages URL.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use toolhive_core::Transport;

use crate::support::*;

/// An upstream whose GET /sse sends `chunks` (the endpoint event, possibly split) and stays
/// open; POST /messages answers 202.
async fn legacy_upstream(chunks: Vec<String>) -> (Upstream, Arc<Mutex<Vec<mpsc::Sender<Bytes>>>>) {
    let open = Arc::new(Mutex::new(Vec::new()));
    let open_for_server = open.clone();
    let up = upstream(move |seen| {
        let chunks = chunks.clone();
        let open = open_for_server.clone();
        async move {
            if seen.method == "GET" && seen.uri.starts_with("/sse") {
                let (tx, resp) = sse_stream();
                for c in chunks {
                    tx.send(Bytes::from(c)).await.unwrap();
                }
                open.lock().unwrap().push(tx);
                resp
            } else if seen.method == "POST" && seen.uri.starts_with("/messages") {
                empty(202)
            } else {
                json(404, r#"{"error":"not here"}"#)
            }
        }
    })
    .await;
    (up, open)
}

/// Open the event stream at `url` and read until the first complete `endpoint` event.
async fn first_event(
    url: &str,
) -> (
    String,
    impl futures_util::Stream<Item = reqwest::Result<Bytes>>,
) {
    let resp = client()
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    while !(text.contains("event: endpoint") && text.ends_with("\n\n")) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("endpoint event arrives")
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    (text, body)
}

#[tokio::test]
async fn relative_endpoint_and_posts_to_a_different_path() {
    let (up, _open) = legacy_upstream(vec![
        ": hello\n\n".into(),
        "event: endp".into(),
        "oint\ndata: /messages?sessionId=abc\n\n".into(),
    ])
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/sse"), |c| c.transport = Transport::Sse).await;
    assert!(p.url().ends_with("/sse"));
    let (text, _stream) = first_event(p.url()).await;
    assert_eq!(
        text,
        ": hello\n\nevent: endpoint\ndata: /messages?sessionId=abc\n\n"
    );

    let local_messages = p.url().replace("/sse", "/messages?sessionId=abc");
    let resp = post(
        &local_messages,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#,
        None,
    )
    .await;
    assert_eq!(resp.status(), 202);
    let posted = up.seen().into_iter().find(|s| s.method == "POST").unwrap();
    assert_eq!(posted.uri, "/messages?sessionId=abc");
    assert_eq!(
        posted.body,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#
    );

    // Paths the remote never announced are not forwarded.
    let stray = post(&p.url().replace("/sse", "/elsewhere"), "{}", None).await;
    assert_eq!(stray.status(), 404);
}

#[tokio::test]
async fn absolute_endpoint_on_the_remote_origin_is_rewritten() {
    // Bind first so the endpoint event can name the upstream's own address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let event = format!("event: endpoint\r\ndata: http://{addr}/messages?sessionId=xyz\r\n\r\n");
    let up = upstream_on(listener, move |seen| {
        let event = event.clone();
        async move {
            if seen.method == "GET" {
                let (tx, resp) = sse_stream();
                tx.send(Bytes::from(event)).await.unwrap();
                tokio::spawn(async move { tx.closed().await });
                resp
            } else {
                empty(202)
            }
        }
    });
    let m = manager();
    let p = proxy(&m, &up.url("/sse"), |c| c.transport = Transport::Sse).await;
    let (text, _stream) = first_event(p.url()).await;
    let local = p.url().replace("/sse", "/messages?sessionId=xyz");
    assert_eq!(text, format!("event: endpoint\ndata: {local}\n\n"));
    assert_eq!(post(&local, "{}", None).await.status(), 202);
    assert_eq!(up.seen().last().unwrap().uri, "/messages?sessionId=xyz");
}

#[tokio::test]
async fn endpoint_on_another_origin_is_refused() {
    let (up, _open) = legacy_upstream(vec![
        "event: endpoint\ndata: https://attacker.example/messages\n\n".into(),
    ])
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/sse"), |c| c.transport = Transport::Sse).await;
    // The stream is cut (an error or an early end): either way no endpoint reaches the client.
    let mut text = Vec::new();
    if let Ok(resp) = client().get(p.url()).send().await {
        let mut body = resp.bytes_stream();
        while let Ok(Some(Ok(chunk))) =
            tokio::time::timeout(Duration::from_secs(10), body.next()).await
        {
            text.extend_from_slice(&chunk);
        }
    }
    assert!(!String::from_utf8_lossy(&text).contains("attacker"));
    assert!(
        p.logs()
            .iter()
            .any(|l| l.message.contains("another origin"))
    );
}
