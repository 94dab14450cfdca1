//! Streamable HTTP forwarding: paths, queries, headers, streaming, cancellation.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::support::*;

#[tokio::test]
async fn local_url_keeps_path_and_queries_are_merged() {
    let up = upstream(|_| async { json(200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#) }).await;
    let m = manager();
    let p = proxy(&m, &up.url("/v1/mcp?key=abc"), |_| {}).await;
    assert!(p.url().starts_with("http://127.0.0.1:"), "{}", p.url());
    assert!(p.url().ends_with("/v1/mcp"), "{}", p.url());

    let resp = post(
        &format!("{}?extra=1", p.url()),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
    );
    let seen = up.seen();
    assert_eq!(seen[0].uri, "/v1/mcp?key=abc&extra=1");
    assert_eq!(seen[0].body, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);

    // Other paths are not forwarded.
    let other = client()
        .post(p.url().replace("/v1/mcp", "/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn mcp_headers_cross_and_credentials_do_not() {
    let up = upstream(|_| async { empty(202) }).await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    let resp = client()
        .post(p.url())
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .header("mcp-session-id", "sess-1")
        .header("MCP-Protocol-Version", "2025-06-18")
        .header("last-event-id", "42")
        .header("authorization", "Bearer local-client-token")
        .header("cookie", "sid=local")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "1")
        .header("origin", "http://localhost:5173")
        .header("x-custom", "kept")
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.content_length(), Some(0));
    let h = &up.seen()[0].headers;
    assert_eq!(h["accept"], ACCEPT_BOTH);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["mcp-session-id"], "sess-1");
    assert_eq!(h["mcp-protocol-version"], "2025-06-18");
    assert_eq!(h["last-event-id"], "42");
    assert_eq!(h["x-custom"], "kept");
    assert_eq!(h["host"], up.addr.to_string());
    for gone in ["authorization", "cookie", "x-hop", "origin"] {
        assert!(h.get(gone).is_none(), "{gone} must not be forwarded");
    }
}

#[tokio::test]
async fn get_and_delete_are_forwarded() {
    let up = upstream(|seen| async move {
        match seen.method.as_str() {
            "DELETE" => empty(200),
            _ => full(200, "text/event-stream", ": nothing yet\n\n"),
        }
    })
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    let get = client()
        .get(p.url())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.text().await.unwrap(), ": nothing yet\n\n");
    let del = client()
        .delete(p.url())
        .header("mcp-session-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    let methods: Vec<String> = up.seen().iter().map(|s| s.method.to_string()).collect();
    assert_eq!(methods, ["GET", "DELETE"]);
}

/// Each event reaches the client while the upstream still holds the stream open.
#[tokio::test]
async fn sse_events_arrive_one_by_one() {
    let (up, rx_slot) = streaming_upstream().await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    let resp = post(
        p.url(),
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call"}"#,
        None,
    )
    .await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let tx = rx_slot.await.unwrap();
    let mut body = resp.bytes_stream();
    for i in 0..3 {
        let event = format!("event: message\ndata: {{\"progress\":{i}}}\n\n");
        tx.send(Bytes::from(event.clone())).await.unwrap();
        // The next event is only sent after this one was received.
        let got = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("event delivered while the stream is open")
            .unwrap()
            .unwrap();
        assert_eq!(got, event.as_bytes());
    }
    drop(tx);
    assert!(
        body.next().await.is_none(),
        "stream ends when upstream ends it"
    );
}

/// A client that goes away takes the upstream request with it.
#[tokio::test]
async fn client_disconnect_cancels_upstream_stream() {
    let (up, rx_slot) = streaming_upstream().await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    let resp = client()
        .get(p.url())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let tx = rx_slot.await.unwrap();
    tx.send(Bytes::from_static(b": ping\n\n")).await.unwrap();
    let mut body = resp.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert!(!tx.is_closed());
    drop(body);
    tokio::time::timeout(Duration::from_secs(10), tx.closed())
        .await
        .expect("upstream stream dropped after the client went away");
}

#[tokio::test]
async fn upstream_status_and_json_errors_pass_through() {
    let up = upstream(|_| async {
        json(
            406,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Not Acceptable"}}"#,
        )
    })
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    let resp = post(p.url(), r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#, None).await;
    assert_eq!(resp.status(), 406);
    assert!(resp.text().await.unwrap().contains("Not Acceptable"));
}

#[tokio::test]
async fn stateless_mode_answers_405_locally() {
    let up = upstream(|_| async { json(200, "{}") }).await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |c| c.stateless = true).await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::HEAD,
        reqwest::Method::DELETE,
    ] {
        let resp = client()
            .request(method.clone(), p.url())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method}");
        assert_eq!(resp.headers()["allow"], "POST, OPTIONS", "{method}");
    }
    assert!(up.seen().is_empty(), "405s are answered locally");
    let resp = post(p.url(), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, None).await;
    assert_eq!(resp.status(), 200);
    let options = client()
        .request(reqwest::Method::OPTIONS, p.url())
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 204);
    assert_eq!(options.headers()["allow"], "POST, OPTIONS");
}

#[tokio::test]
async fn same_host_redirects_keep_method_and_body_others_are_refused() {
    let up = upstream(|seen| async move {
        match seen.uri.as_str() {
            "/old" => {
                let mut r = empty(308);
                r.headers_mut().insert("location", "/mcp".parse().unwrap());
                r
            }
            "/away" => {
                let mut r = empty(307);
                r.headers_mut()
                    .insert("location", "http://other.invalid/mcp".parse().unwrap());
                r
            }
            _ => json(200, r#"{"ok":true}"#),
        }
    })
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/old"), |_| {}).await;
    let resp = post(p.url(), r#"{"id":1}"#, None).await;
    assert_eq!(resp.status(), 200);
    let seen = up.seen();
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].uri, "/mcp");
    assert_eq!(seen[1].body, r#"{"id":1}"#);

    let p2 = proxy(&m, &up.url("/away"), |c| c.name = Some("away".into())).await;
    let resp = post(p2.url(), r#"{"jsonrpc":"2.0","id":5,"method":"x"}"#, None).await;
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["id"], 5);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("another host"), "{message}");
}

/// A client that stops reading stalls the remote instead of growing the proxy's memory.
#[tokio::test]
async fn slow_readers_apply_backpressure() {
    let (up, rx_slot) = streaming_upstream().await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    let resp = client().get(p.url()).send().await.unwrap(); // and never read
    let tx = rx_slot.await.unwrap();
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut sent = 0usize;
    // Push until the remote can't send any more for a while: the pipe is full.
    while let Ok(Ok(())) =
        tokio::time::timeout(Duration::from_millis(500), tx.send(chunk.clone())).await
    {
        sent += chunk.len();
        assert!(
            sent < 256 * 1024 * 1024,
            "the proxy kept accepting data nobody reads"
        );
    }
    // Socket buffers on both hops plus a few chunks in flight; never the whole stream.
    assert!(
        sent < 32 * 1024 * 1024,
        "buffered {sent} bytes for a client that reads nothing"
    );
    drop(resp);
}
