//! OAuth against an in-test authorization server: login through the callback, one refresh for
//! many concurrent requests, rotation saved first, reuse after restart, rejected refresh ->
//! needs_login and 503 -> new login, transient failures -> auth_retrying.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use toolhive_core::secrets::{MemoryStore, SecretStore};
use toolhive_core::{AuthState, EventKind, ManagerOptions, ProxyConfig, ProxyManager};

use crate::support::*;

/// The authorization server's behaviour, changeable by the test.
#[derive(Default)]
struct AsState {
    issued: Mutex<Vec<String>>,
    refresh_tokens: Mutex<Vec<String>>,
    code_grants: AtomicUsize,
    refresh_grants: AtomicUsize,
    registrations: AtomicUsize,
    refresh_fails_with: Mutex<Option<(u16, &'static str)>>,
    lifetime_secs: AtomicUsize,
    /// Lifetime of refreshed tokens (0: same as `lifetime_secs`).
    refreshed_lifetime_secs: AtomicUsize,
    rotate: AtomicBool,
}

struct Rig {
    state: Arc<AsState>,
    auth_server: Upstream,
    mcp: Upstream,
}

fn form_value(body: &[u8], key: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn rig() -> Rig {
    let state = Arc::new(AsState {
        lifetime_secs: AtomicUsize::new(3600),
        rotate: AtomicBool::new(true),
        ..Default::default()
    });
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let s = state.clone();
    let iss = issuer.clone();
    let auth_server = upstream_on(as_listener, move |seen| {
        let s = s.clone();
        let iss = iss.clone();
        async move {
            let path = seen.uri.split('?').next().unwrap_or("").to_owned();
            match path.as_str() {
                "/.well-known/oauth-authorization-server" => json(
                    200,
                    &serde_json::json!({
                        "issuer": iss,
                        "authorization_endpoint": format!("{iss}/authorize"),
                        "token_endpoint": format!("{iss}/token"),
                        "registration_endpoint": format!("{iss}/register"),
                        "code_challenge_methods_supported": ["S256"],
                        "token_endpoint_auth_methods_supported": ["none"],
                    })
                    .to_string(),
                ),
                "/register" => {
                    let n = s.registrations.fetch_add(1, Ordering::SeqCst);
                    json(
                        201,
                        &format!(
                            r#"{{"client_id":"client-{n}","token_endpoint_auth_method":"none"}}"#
                        ),
                    )
                }
                "/authorize" => {
                    // The user approves at once: straight back to the redirect URI.
                    let q: Vec<(String, String)> = url::form_urlencoded::parse(
                        seen.uri
                            .split_once('?')
                            .map(|x| x.1)
                            .unwrap_or("")
                            .as_bytes(),
                    )
                    .into_owned()
                    .collect();
                    let get = |k: &str| {
                        q.iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.clone())
                            .unwrap()
                    };
                    assert_eq!(get("code_challenge_method"), "S256");
                    assert!(get("resource").ends_with("/mcp"), "resource indicator sent");
                    let mut r = empty(302);
                    let loc = format!("{}?code=code-1&state={}", get("redirect_uri"), get("state"));
                    r.headers_mut().insert("location", loc.parse().unwrap());
                    r
                }
                "/token" => {
                    let grant = form_value(&seen.body, "grant_type").unwrap_or_default();
                    assert!(
                        form_value(&seen.body, "resource").is_some(),
                        "resource on token requests"
                    );
                    if grant == "refresh_token" {
                        s.refresh_grants.fetch_add(1, Ordering::SeqCst);
                        if let Some((status, error)) = *s.refresh_fails_with.lock().unwrap() {
                            return json(status, &format!(r#"{{"error":"{error}"}}"#));
                        }
                        let presented = form_value(&seen.body, "refresh_token").unwrap();
                        let known = s.refresh_tokens.lock().unwrap().last().cloned();
                        if Some(&presented) != known.as_ref() {
                            return json(400, r#"{"error":"invalid_grant"}"#);
                        }
                    } else {
                        s.code_grants.fetch_add(1, Ordering::SeqCst);
                        assert!(
                            form_value(&seen.body, "code_verifier").is_some(),
                            "PKCE verifier"
                        );
                    }
                    let n = s.issued.lock().unwrap().len();
                    let access = format!("at-{n}");
                    s.issued.lock().unwrap().push(access.clone());
                    let rotate = grant != "refresh_token" || s.rotate.load(Ordering::SeqCst);
                    let mut body = serde_json::json!({
                        "access_token": access,
                        "token_type": "Bearer",
                        "expires_in": match s.refreshed_lifetime_secs.load(Ordering::SeqCst) {
                            n if n > 0 && grant == "refresh_token" => n,
                            _ => s.lifetime_secs.load(Ordering::SeqCst),
                        },
                    });
                    if rotate {
                        let rt = format!("rt-{n}");
                        s.refresh_tokens.lock().unwrap().push(rt.clone());
                        body["refresh_token"] = rt.into();
                    }
                    json(200, &body.to_string())
                }
                _ => json(404, "{}"),
            }
        }
    });
    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp_origin = format!("http://{}", mcp_listener.local_addr().unwrap());
    let s = state.clone();
    let mcp = upstream_on(mcp_listener, move |seen| {
        let s = s.clone();
        let issuer = issuer.clone();
        let origin = mcp_origin.clone();
        async move {
            if seen
                .uri
                .starts_with("/.well-known/oauth-protected-resource")
            {
                return json(
                    200,
                    &serde_json::json!({"resource": format!("{origin}/mcp"), "authorization_servers": [issuer]})
                        .to_string(),
                );
            }
            let token = seen
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            let latest = s.issued.lock().unwrap().last().cloned();
            if let Some(token) = token.filter(|t| Some(t) == latest.as_ref()) {
                json(
                    200,
                    &format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"token":"{token}"}}}}"#),
                )
            } else {
                let mut r = json(401, r#"{"error":"invalid_token"}"#);
                let challenge = format!(
                    r#"Bearer resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp""#
                );
                r.headers_mut()
                    .insert("www-authenticate", challenge.parse().unwrap());
                r
            }
        }
    });
    Rig {
        state,
        auth_server,
        mcp,
    }
}

/// A manager on `store` with a "browser" that completes every login it is shown.
fn manager_with_browser(store: Arc<dyn SecretStore>) -> (ProxyManager, Arc<AtomicUsize>) {
    let m = ProxyManager::with_options(
        tokio::runtime::Handle::current(),
        ManagerOptions {
            secret_store: Some(store),
            suppress_browser: true,
            ..Default::default()
        },
    )
    .unwrap();
    let logins = Arc::new(AtomicUsize::new(0));
    let mut events = m.subscribe();
    let counter = logins.clone();
    tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            if let EventKind::AuthorizationRequired { url } = e.kind {
                counter.fetch_add(1, Ordering::SeqCst);
                let no_redirect = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                let resp = no_redirect.get(url).send().await.unwrap();
                let location = resp.headers()["location"].to_str().unwrap().to_owned();
                let done = no_redirect.get(location).send().await.unwrap();
                assert_eq!(done.status(), 200, "the callback accepted the code");
            }
        }
    });
    (m, logins)
}

async fn call(url: &str) -> reqwest::Response {
    post(
        url,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        None,
    )
    .await
}

async fn until_ok(url: &str) -> String {
    for _ in 0..500 {
        let resp = call(url).await;
        if resp.status() == 200 {
            return resp.text().await.unwrap();
        }
        assert_eq!(
            resp.status(),
            503,
            "only 503 while the login runs, never 401"
        );
        assert!(resp.headers().contains_key("retry-after"));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("never authorized");
}

fn config(rig: &Rig) -> ProxyConfig {
    let mut c = ProxyConfig::new(rig.mcp.url("/mcp"));
    c.name = Some("oauth".into());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_one_refresh_for_many_concurrent_requests() {
    let rig = rig().await;
    // The first token lives 3 s; refreshed ones an hour, so the burst below meets exactly one
    // expiry however slowly it runs.
    rig.state.lifetime_secs.store(3, Ordering::SeqCst);
    rig.state
        .refreshed_lifetime_secs
        .store(3600, Ordering::SeqCst);
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    let (m, logins) = manager_with_browser(store.clone());
    let p = m
        .start(config(&rig))
        .await
        .expect("starts and begins the login");
    let body = until_ok(p.url()).await;
    assert!(body.contains("at-0"), "{body}");
    assert_eq!(logins.load(Ordering::SeqCst), 1);
    assert_eq!(
        rig.state.registrations.load(Ordering::SeqCst),
        1,
        "DCR once"
    );
    assert!(matches!(
        p.auth_state(),
        Some(AuthState::Authenticated { .. })
    ));

    // Let the token expire, then fire many requests at once.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let calls = (0..100).map(|_| call(p.url()));
    for resp in futures_util::future::join_all(calls).await {
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        rig.state.refresh_grants.load(Ordering::SeqCst),
        1,
        "exactly one refresh"
    );
    assert_eq!(
        rig.state.code_grants.load(Ordering::SeqCst),
        1,
        "no second login"
    );
    // The rotated refresh token was stored (the last one the server issued).
    let stored = store.get("proxy/oauth/oauth_token").await.unwrap().unwrap();
    assert!(stored.expose().contains("\"rt-1\""), "rotation saved");
    assert!(!format!("{p:?}{:?}", p.info()).contains("at-1"));
    for line in p.logs() {
        assert!(
            !line.message.contains("at-") && !line.message.contains("rt-"),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_tokens_survive_a_restart_and_old_refresh_token_is_kept() {
    let rig = rig().await;
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    {
        let (m, _) = manager_with_browser(store.clone());
        let p = m.start(config(&rig)).await.unwrap();
        until_ok(p.url()).await;
        m.stop_all().await;
    }
    let (m, logins) = manager_with_browser(store.clone());
    let p = m.start(config(&rig)).await.unwrap();
    assert_eq!(call(p.url()).await.status(), 200, "no login needed");
    assert_eq!(logins.load(Ordering::SeqCst), 0);

    // A server that does not rotate: the old refresh token stays usable.
    rig.state.rotate.store(false, Ordering::SeqCst);
    rig.state
        .issued
        .lock()
        .unwrap()
        .push("revoked-access".into());
    assert_eq!(
        call(p.url()).await.status(),
        200,
        "401 -> refresh -> retried once"
    );
    assert_eq!(rig.state.refresh_grants.load(Ordering::SeqCst), 1);
    let stored = store.get("proxy/oauth/oauth_token").await.unwrap().unwrap();
    assert!(
        stored.expose().contains("\"rt-0\""),
        "old refresh token kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_refresh_needs_login_and_503s_then_recovers() {
    let rig = rig().await;
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    let (m, logins) = manager_with_browser(store);
    let mut events = m.subscribe();
    let p = m.start(config(&rig)).await.unwrap();
    until_ok(p.url()).await;

    // The access token is revoked and the refresh is refused.
    *rig.state.refresh_fails_with.lock().unwrap() = Some((400, "invalid_grant"));
    rig.state.issued.lock().unwrap().push("someone-else".into());
    *rig.state.refresh_fails_with.lock().unwrap() = None;
    let _ = rig.state.refresh_tokens.lock().unwrap().pop();
    let resp = call(p.url()).await;
    // The request waited for the new login and was retried once.
    assert_eq!(resp.status(), 200);
    assert_eq!(logins.load(Ordering::SeqCst), 2);
    let mut saw_needs_login = false;
    while let Ok(e) = events.try_recv() {
        if let EventKind::AuthStateChanged {
            state: AuthState::NeedsLogin { .. },
        } = e.kind
        {
            saw_needs_login = true;
        }
    }
    assert!(saw_needs_login, "needs_login was published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_refresh_failure_is_auth_retrying_with_503() {
    let rig = rig().await;
    rig.state.lifetime_secs.store(1, Ordering::SeqCst);
    let (m, _) = manager_with_browser(Arc::new(MemoryStore::new()));
    let p = m.start(config(&rig)).await.unwrap();
    until_ok(p.url()).await;
    *rig.state.refresh_fails_with.lock().unwrap() = Some((503, "temporarily_unavailable"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let resp = call(p.url()).await;
    assert_eq!(resp.status(), 503);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(matches!(
        p.auth_state(),
        Some(AuthState::AuthRetrying { .. })
    ));
    let info: serde_json::Value = serde_json::from_str(&p.info().to_json()).unwrap();
    assert_eq!(info["auth"]["state"], "auth_retrying");
    assert!(info["auth"]["next_attempt_at"].is_string());
    *rig.state.refresh_fails_with.lock().unwrap() = None;
    until_ok(p.url()).await;
    let _ = &rig.auth_server;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_registration_is_repaired_by_registering_again() {
    let rig = rig().await;
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    store
        .set(
            "proxy/other/oauth_token",
            toolhive_core::secrets::Secret::new("{}"),
        )
        .await
        .unwrap();
    let (m, logins) = manager_with_browser(store.clone());
    let p = m.start(config(&rig)).await.unwrap();
    until_ok(p.url()).await;
    assert_eq!(rig.state.registrations.load(Ordering::SeqCst), 1);

    // The server forgot the client: the refresh answers invalid_client.
    *rig.state.refresh_fails_with.lock().unwrap() = Some((401, "invalid_client"));
    rig.state.issued.lock().unwrap().push("revoked".into());
    let resp = call(p.url()).await;
    *rig.state.refresh_fails_with.lock().unwrap() = None;
    assert_eq!(
        resp.status(),
        200,
        "the waiting request got the new login's token"
    );
    assert_eq!(
        rig.state.registrations.load(Ordering::SeqCst),
        2,
        "registered again"
    );
    assert_eq!(logins.load(Ordering::SeqCst), 2);
    let client = store
        .get("proxy/oauth/oauth_client")
        .await
        .unwrap()
        .unwrap();
    assert!(
        client.expose().contains("client-1"),
        "the new registration was stored"
    );
    assert!(
        store
            .get("proxy/other/oauth_token")
            .await
            .unwrap()
            .is_some(),
        "other proxies' tokens untouched"
    );
}
