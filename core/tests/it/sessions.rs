//! Sessions the remote forgets are re-created behind the client's back.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::support::*;

/// A session-keeping upstream: `initialize` creates `opaque:N/x+y=` ids; other requests need a
/// live id and get `unknown_status` otherwise. `forget()` plays a server restart.
struct Stateful {
    live: Arc<Mutex<HashSet<String>>>,
    up: Upstream,
}

impl Stateful {
    async fn start(unknown_status: u16) -> Stateful {
        let live = Arc::new(Mutex::new(HashSet::new()));
        let counter = Arc::new(AtomicUsize::new(0));
        let live_for_server = live.clone();
        let up = upstream(move |seen| {
            let live = live_for_server.clone();
            let counter = counter.clone();
            async move {
                let body = String::from_utf8_lossy(&seen.body).into_owned();
                if body.contains(r#""method":"initialize""#) {
                    let id = format!("opaque:{}/x+y=", counter.fetch_add(1, Ordering::SeqCst));
                    live.lock().unwrap().insert(id.clone());
                    let mut r = full(
                        200,
                        "text/event-stream",
                        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
                    );
                    r.headers_mut().insert("mcp-session-id", id.parse().unwrap());
                    return r;
                }
                let sid = seen
                    .headers
                    .get("mcp-session-id")
                    .map(|v| v.to_str().unwrap().to_owned());
                match sid {
                    Some(sid) if live.lock().unwrap().contains(&sid) => {
                        if seen.method == "DELETE" {
                            live.lock().unwrap().remove(&sid);
                            return empty(200);
                        }
                        if body.contains("notifications/") {
                            return empty(202);
                        }
                        let mut r = json(200, &format!(r#"{{"jsonrpc":"2.0","id":2,"result":{{"session":"{sid}"}}}}"#));
                        r.headers_mut().insert("mcp-session-id", sid.parse().unwrap());
                        r
                    }
                    _ if unknown_status == 404 => json(404, r#"{"error":"Session not found"}"#),
                    _ => json(
                        400,
                        r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}"#,
                    ),
                }
            }
        })
        .await;
        Stateful { live, up }
    }

    fn forget(&self) {
        self.live.lock().unwrap().clear();
    }
}

async fn reinitializes_after(unknown_status: u16) {
    let server = Stateful::start(unknown_status).await;
    let m = manager();
    let p = proxy(&m, &server.up.url("/mcp"), |_| {}).await;

    let init = post(p.url(), INIT, None).await;
    assert_eq!(init.status(), 200);
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(sid, "opaque:0/x+y=", "opaque, non-UUID ids pass untouched");
    init.text().await.unwrap();
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    assert_eq!(post(p.url(), call, Some(&sid)).await.status(), 200);

    server.forget();
    let resp = post(p.url(), call, Some(&sid)).await;
    assert_eq!(resp.status(), 200, "the client never sees the lost session");
    assert_eq!(
        resp.headers()["mcp-session-id"],
        sid.as_str(),
        "client keeps its id"
    );
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("opaque:1/x+y="),
        "replayed under the new upstream id: {body}"
    );

    let seen = server.up.seen();
    let tail: Vec<(String, Option<String>, String)> = seen[seen.len() - 4..]
        .iter()
        .map(|s| {
            (
                s.method.to_string(),
                s.headers
                    .get("mcp-session-id")
                    .map(|v| v.to_str().unwrap().to_owned()),
                String::from_utf8_lossy(&s.body).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        tail[0].1.as_deref(),
        Some("opaque:0/x+y="),
        "the failing request"
    );
    assert_eq!(tail[1].2, INIT, "stored initialize replayed");
    assert_eq!(tail[1].1, None);
    assert!(tail[2].2.contains("notifications/initialized"));
    assert_eq!(tail[2].1.as_deref(), Some("opaque:1/x+y="));
    assert_eq!(
        (tail[3].1.as_deref(), tail[3].2.as_str()),
        (Some("opaque:1/x+y="), call)
    );

    // Later requests go straight to the new id.
    let before = server.up.seen().len();
    assert_eq!(post(p.url(), call, Some(&sid)).await.status(), 200);
    assert_eq!(server.up.seen().len(), before + 1);

    // DELETE ends the mapping: the remote's session is closed and not re-created.
    let del = client()
        .delete(p.url())
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    assert_eq!(
        server.up.seen().last().unwrap().headers["mcp-session-id"],
        "opaque:1/x+y="
    );
    assert_eq!(p.session_count(), 0);
    let after = post(p.url(), call, Some(&sid)).await;
    assert_eq!(after.status(), unknown_status);
}

#[tokio::test]
async fn reinitializes_when_remote_answers_404() {
    reinitializes_after(404).await;
}

#[tokio::test]
async fn reinitializes_when_remote_answers_400_naming_the_session() {
    reinitializes_after(400).await;
}

#[tokio::test]
async fn unrelated_400_passes_through_untouched() {
    let up = upstream(|seen| async move {
        if String::from_utf8_lossy(&seen.body).contains("initialize") {
            let mut r = json(200, "{}");
            r.headers_mut()
                .insert("mcp-session-id", "s1".parse().unwrap());
            r
        } else {
            json(400, r#"{"error":"bad params"}"#)
        }
    })
    .await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    post(p.url(), INIT, None).await;
    let resp = post(p.url(), r#"{"id":2}"#, Some("s1")).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.text().await.unwrap(), r#"{"error":"bad params"}"#);
    assert_eq!(
        up.seen().len(),
        2,
        "no re-initialization for an unrelated 400"
    );
}

#[tokio::test]
async fn servers_without_sessions_work() {
    let up = upstream(|_| async { json(200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#) }).await;
    let m = manager();
    let p = proxy(&m, &up.url("/mcp"), |_| {}).await;
    let init = post(p.url(), INIT, None).await;
    assert_eq!(init.status(), 200);
    assert!(init.headers().get("mcp-session-id").is_none());
    for _ in 0..3 {
        assert_eq!(post(p.url(), r#"{"id":2}"#, None).await.status(), 200);
    }
    assert_eq!(p.session_count(), 0);
}

#[tokio::test]
async fn concurrent_requests_share_one_reinitialization() {
    let server = Stateful::start(404).await;
    let m = manager();
    let p = proxy(&m, &server.up.url("/mcp"), |_| {}).await;
    let init = post(p.url(), INIT, None).await;
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    server.forget();
    let calls = (0..8).map(|i| {
        let url = p.url().to_owned();
        let sid = sid.clone();
        async move {
            post(
                &url,
                &format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/list"}}"#),
                Some(&sid),
            )
            .await
            .status()
        }
    });
    for status in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200);
    }
    let inits = server
        .up
        .seen()
        .iter()
        .filter(|s| String::from_utf8_lossy(&s.body).contains(r#""method":"initialize""#))
        .count();
    assert_eq!(
        inits, 2,
        "the first initialize plus exactly one re-initialization"
    );
}
