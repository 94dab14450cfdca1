//! Bearer tokens and injected headers reach the remote; bad ones never start; values never
//! leak into logs, errors or Debug output.

use std::sync::Arc;

use toolhive_core::secrets::{MemoryStore, Secret, SecretRef, SecretStore};
use toolhive_core::{ErrorKind, HeaderSource, ManagerOptions, ProxyConfig, ProxyManager};

use crate::support::*;

const TOKEN: &str = "tok-SECRET-5f2a";

/// An upstream that answers only requests carrying `Bearer TOKEN`, with a bare challenge.
async fn protected() -> Upstream {
    upstream(|seen| async move {
        let auth = seen
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        if auth.as_deref() == Some(&format!("Bearer {TOKEN}")) {
            json(200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
        } else {
            let mut r = json(401, r#"{"error":"unauthorized"}"#);
            r.headers_mut()
                .insert("www-authenticate", "Bearer".parse().unwrap());
            r
        }
    })
    .await
}

fn manager_with(store: Arc<dyn SecretStore>) -> ProxyManager {
    ProxyManager::with_options(
        tokio::runtime::Handle::current(),
        ManagerOptions {
            state_dir: None,
            secret_store: Some(store),
            ..Default::default()
        },
    )
    .unwrap()
}

fn probing(url: &str) -> ProxyConfig {
    let mut c = ProxyConfig::new(url);
    c.probe_on_start = true;
    c
}

#[tokio::test]
async fn bare_bearer_challenge_without_token_fails_start_with_a_hint() {
    let up = protected().await;
    let m = manager();
    let err = m.start(probing(&up.url("/mcp"))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthRequired);
    assert_eq!(err.field(), Some("bearer_token"));
    let text = err.to_string();
    assert!(text.contains("requires authorization"), "{text}");
    assert!(text.contains("--remote-auth-bearer-token-file"), "{text}");
    assert!(text.contains("TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN"), "{text}");
    // The proxy is listed as failed, with the reason, and its port is released.
    let listed = m.list();
    assert_eq!(listed.len(), 1);
    match &listed[0].state {
        toolhive_core::ProxyState::Failed { reason } => {
            assert!(reason.contains("requires authorization"))
        }
        other => panic!("expected failed, got {other}"),
    }

    let mut wrong = probing(&up.url("/mcp"));
    wrong.bearer_token = Some(SecretRef::Value("not-it".into()));
    let err = m.start(wrong).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("rejected the configured bearer token"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-it"));
}

#[tokio::test]
async fn token_from_value_file_env_and_store_reaches_the_remote_only() {
    let up = protected().await;
    let store = Arc::new(MemoryStore::new());
    store.set("my-token", Secret::new(TOKEN)).await.unwrap();
    let m = manager_with(store);
    let dir = std::env::temp_dir().join(format!("toolhive-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("  {TOKEN}\n")).unwrap();
    // SAFETY: set before any thread of this test reads the environment for this variable.
    unsafe { std::env::set_var("TOOLHIVE_TEST_TOKEN_VAR", TOKEN) };
    let sources = [
        SecretRef::Value(TOKEN.into()),
        SecretRef::File(file.clone()),
        SecretRef::Env("TOOLHIVE_TEST_TOKEN_VAR".into()),
        SecretRef::Secret("my-token".into()),
    ];
    for (i, source) in sources.into_iter().enumerate() {
        let mut c = probing(&up.url("/mcp"));
        c.name = Some(format!("t{i}"));
        c.bearer_token = Some(source);
        let p = m.start(c).await.expect("starts with the token");
        let resp = client()
            .post(p.url())
            .header("authorization", "Bearer client-token")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "source {i}");
    }
    // The local client's own token never reached the remote.
    for seen in up.seen() {
        assert_eq!(
            seen.headers["authorization"],
            format!("Bearer {TOKEN}").as_str()
        );
    }

    std::fs::write(&file, "\n  \n").unwrap();
    let mut c = probing(&up.url("/mcp"));
    c.name = Some("empty".into());
    c.bearer_token = Some(SecretRef::File(file));
    let err = m.start(c).await.unwrap_err();
    assert_eq!(err.field(), Some("bearer_token"));
    assert!(err.to_string().contains("is empty"), "{err}");

    let mut c = probing(&up.url("/mcp"));
    c.bearer_token = Some(SecretRef::Secret("missing".into()));
    let err = m.start(c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Secret);
    assert!(
        err.to_string().contains("toolhive secret set missing"),
        "{err}"
    );
}

#[tokio::test]
async fn injected_headers_override_the_client_and_bad_ones_never_start() {
    let up = upstream(|_| async { json(200, "{}") }).await;
    let store = Arc::new(MemoryStore::new());
    store
        .set("api-key", Secret::new("key-SECRET-1"))
        .await
        .unwrap();
    store
        .set("split", Secret::new("a\r\nX-Evil: SECRET"))
        .await
        .unwrap();
    let m = manager_with(store);
    let p = proxy(&m, &up.url("/mcp"), |c| {
        c.headers
            .insert("X-Team".into(), HeaderSource::Plain("blue".into()));
        c.headers.insert(
            "X-Api-Key".into(),
            HeaderSource::Secret(SecretRef::Secret("api-key".into())),
        );
    })
    .await;
    let resp = client()
        .post(p.url())
        .header("x-team", "red")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = &up.seen()[0].headers;
    assert_eq!(h["x-team"], "blue", "injected values win over the client's");
    assert_eq!(h["x-api-key"], "key-SECRET-1");
    assert_eq!(h.get_all("x-team").iter().count(), 1);

    let mut c = ProxyConfig::new(up.url("/mcp"));
    c.name = Some("split".into());
    c.headers.insert(
        "X-Key".into(),
        HeaderSource::Secret(SecretRef::Secret("split".into())),
    );
    let err = m.start(c).await.unwrap_err();
    assert_eq!(err.field(), Some("headers.X-Key"));
    assert!(!err.to_string().contains("SECRET"), "{err}");

    for restricted in ["Host", "x-forwarded-for", "Content-Length"] {
        let mut c = ProxyConfig::new(up.url("/mcp"));
        c.headers
            .insert(restricted.into(), HeaderSource::Plain("x".into()));
        let err = m.start(c).await.unwrap_err();
        assert_eq!(err.field(), Some(format!("headers.{restricted}").as_str()));
    }

    let mut both = ProxyConfig::new(up.url("/mcp"));
    both.bearer_token = Some(SecretRef::Value("t".into()));
    both.headers.insert(
        "Authorization".into(),
        HeaderSource::Plain("Basic x".into()),
    );
    assert!(
        m.start(both)
            .await
            .unwrap_err()
            .to_string()
            .contains("keep one")
    );
}

#[tokio::test]
async fn tokens_and_header_values_never_reach_logs_errors_or_debug() {
    let up = protected().await;
    let m = manager();
    let mut c = probing(&up.url("/mcp"));
    c.bearer_token = Some(SecretRef::Value(TOKEN.into()));
    c.headers.insert(
        "X-Api-Key".into(),
        HeaderSource::Plain("hdr-SECRET-9".into()),
    );
    assert!(!format!("{c:?}").contains("SECRET"));
    assert!(!format!("{:?}", c.validate().unwrap()).contains("SECRET"));
    let p = m.start(c).await.unwrap();
    assert!(!format!("{p:?}{m:?}").contains("SECRET"));
    assert_eq!(post(p.url(), "{}", None).await.status(), 200);
    up.kill();
    let _ = post(p.url(), "{}", None).await;
    p.stop().await;
    for line in p.logs() {
        assert!(!line.message.contains("SECRET"), "{line}");
    }
}
