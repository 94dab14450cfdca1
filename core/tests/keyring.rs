//! The OS keyring store against a real Secret Service (on CI: a private gnome-keyring started by
//! `tests/keyring/run.sh`). Without a reachable, unlocked keyring each test says why and passes,
//! unless `TOOLHIVE_KEYRING_REQUIRED=1` (set by that script), which makes it a failure.
//!
//! Every test writes under its own `service` attribute, so running them on a desktop never
//! touches the user's own toolhive-embed secrets, and removes what it wrote.
#![cfg(feature = "keyring")]

#[path = "it/support.rs"]
#[allow(dead_code)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use toolhive_core::secrets::{
    self, KeyringStore, Secret, SecretRef, SecretStore, StoreChoice, delete_proxy_secrets,
};
use toolhive_core::{ErrorKind, ManagerOptions, ProxyConfig, ProxyManager};

use support::*;

const REQUIRED_ENV: &str = "TOOLHIVE_KEYRING_REQUIRED";

/// A store under a service name of this test alone, or `None` (the test is skipped) when no
/// usable keyring is reachable and none is required.
async fn store(test: &str) -> Option<KeyringStore> {
    static N: AtomicU32 = AtomicU32::new(0);
    let service = format!(
        "toolhive-embed-test-{}-{}-{test}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let why = match KeyringStore::connect_service(&service).await {
        Ok(store) => match store.is_locked().await {
            Ok(false) => return Some(store),
            Ok(true) => "the keyring is locked".to_owned(),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    if std::env::var(REQUIRED_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRED_ENV}=1 but the OS keyring is not usable: {why}");
    }
    eprintln!("skipped {test}: no usable OS keyring ({why}); tests/keyring/run.sh provides one");
    None
}

/// Remove everything the test left under its service.
async fn clean(store: &KeyringStore) {
    for key in store.list().await.unwrap() {
        store.delete(&key).await.unwrap();
    }
    assert!(store.list().await.unwrap().is_empty());
}

async fn value(store: &dyn SecretStore, key: &str) -> Option<String> {
    store.get(key).await.unwrap().map(|s| s.expose().to_owned())
}

#[tokio::test]
async fn set_get_overwrite_list_delete() {
    let Some(store) = store("crud").await else {
        return;
    };
    assert_eq!(store.kind(), "keyring");
    assert!(store.list().await.unwrap().is_empty());
    assert_eq!(value(&store, "app/token").await, None);

    store.set("app/token", Secret::new("first")).await.unwrap();
    assert_eq!(value(&store, "app/token").await.as_deref(), Some("first"));

    // Overwriting replaces the item: still one key, the new value.
    let awkward = "second wert ü 🔑 \"quoted\"\twith tab";
    store.set("app/token", Secret::new(awkward)).await.unwrap();
    store.set("app/token", Secret::new(awkward)).await.unwrap();
    assert_eq!(value(&store, "app/token").await.as_deref(), Some(awkward));
    assert_eq!(store.list().await.unwrap(), ["app/token"]);

    store.set("other", Secret::new("x")).await.unwrap();
    assert_eq!(store.list().await.unwrap(), ["app/token", "other"]);

    // Another service sees none of it.
    let neighbour = KeyringStore::connect_service(&format!("{}-neighbour", store.service()))
        .await
        .unwrap();
    assert!(neighbour.list().await.unwrap().is_empty());
    assert_eq!(value(&neighbour, "app/token").await, None);

    store.delete("app/token").await.unwrap();
    assert_eq!(value(&store, "app/token").await, None);
    store.delete("app/token").await.unwrap(); // a missing key deletes fine
    assert_eq!(store.list().await.unwrap(), ["other"]);

    // Values appear in no Debug output.
    assert!(!format!("{store:?}").contains("first"));
    clean(&store).await;
}

#[tokio::test]
async fn bearer_token_from_the_keyring_reaches_the_remote_and_rm_removes_it() {
    let Some(store) = store("bearer").await else {
        return;
    };
    const TOKEN: &str = "tok-KEYRING-77e1";
    let up = upstream(|seen| async move {
        let auth = seen.headers.get("authorization").map(|v| v.as_bytes());
        if auth == Some(format!("Bearer {TOKEN}").as_bytes()) {
            json(200, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
        } else {
            let mut r = json(401, r#"{"error":"unauthorized"}"#);
            r.headers_mut()
                .insert("www-authenticate", "Bearer".parse().unwrap());
            r
        }
    })
    .await;
    let store: Arc<KeyringStore> = Arc::new(store);
    store.set("remote/token", Secret::new(TOKEN)).await.unwrap();

    let dir = std::env::temp_dir().join(format!("toolhive-keyring-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let m = ProxyManager::with_options(
        tokio::runtime::Handle::current(),
        ManagerOptions {
            state_dir: Some(dir.clone()),
            secret_store: Some(store.clone()),
            ..Default::default()
        },
    )
    .unwrap();

    // `{"secret": ...}` resolved from the keyring; the start-up probe checks the remote takes it.
    let mut config: ProxyConfig = serde_json::from_value(serde_json::json!({
        "remote_url": up.url("/mcp"),
        "name": "kr",
        "bearer_token": {"secret": "remote/token"},
    }))
    .unwrap();
    config.probe_on_start = true;
    let p = m
        .start(config)
        .await
        .expect("starts with the keyring's token");
    let resp = post(p.url(), INIT, None).await;
    assert_eq!(resp.status(), 200);
    assert!(
        up.seen()
            .iter()
            .all(|s| s.headers["authorization"] == format!("Bearer {TOKEN}"))
    );

    // A missing key names the keyring store and the key, not a value.
    let mut missing = ProxyConfig::new(up.url("/mcp"));
    missing.name = Some("kr-missing".into());
    missing.bearer_token = Some(SecretRef::Secret("remote/absent".into()));
    let err = m.start(missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Secret);
    assert!(err.to_string().contains("keyring"), "{err}");
    assert!(err.to_string().contains("remote/absent"), "{err}");

    // A value given inline is saved into the keyring under the proxy's key ...
    let mut inline = ProxyConfig::new(up.url("/mcp"));
    inline.name = Some("kr-inline".into());
    inline.probe_on_start = false;
    inline.bearer_token = Some(SecretRef::Value(TOKEN.into()));
    m.start(inline).await.unwrap();
    let key = secrets::proxy_key("kr-inline", "bearer_token");
    assert_eq!(value(&*store, &key).await.as_deref(), Some(TOKEN));

    // ... and `remove` takes it out again, leaving the user's own secret alone.
    m.remove("kr-inline").await.unwrap();
    assert_eq!(value(&*store, &key).await, None);
    assert_eq!(value(&*store, "remote/token").await.as_deref(), Some(TOKEN));

    m.stop_all().await;
    let _ = std::fs::remove_dir_all(&dir);
    clean(&store).await;
}

#[tokio::test]
async fn delete_proxy_secrets_removes_only_that_proxys_keys() {
    let Some(store) = store("proxy-keys").await else {
        return;
    };
    for key in [
        "proxy/a/bearer_token",
        "proxy/a/header/x-key",
        "proxy/ab/bearer_token",
        "proxy/b/bearer_token",
        "a/bearer_token",
    ] {
        store
            .set(key, Secret::new(format!("v-{key}")))
            .await
            .unwrap();
    }
    assert_eq!(delete_proxy_secrets(&store, "a").await.unwrap(), 2);
    assert_eq!(
        store.list().await.unwrap(),
        [
            "a/bearer_token",
            "proxy/ab/bearer_token",
            "proxy/b/bearer_token"
        ]
    );
    assert_eq!(delete_proxy_secrets(&store, "a").await.unwrap(), 0);
    assert_eq!(
        value(&store, "proxy/ab/bearer_token").await.as_deref(),
        Some("v-proxy/ab/bearer_token")
    );
    clean(&store).await;
}

#[tokio::test]
async fn auto_picks_the_reachable_unlocked_keyring() {
    if store("auto").await.is_none() {
        return;
    }
    let chosen = secrets::select_store(StoreChoice::Auto).await.unwrap();
    assert_eq!(chosen.expect("a keyring store").kind(), "keyring");
    let chosen = secrets::select_store(StoreChoice::Keyring).await.unwrap();
    assert_eq!(chosen.expect("a keyring store").kind(), "keyring");
    assert!(
        secrets::select_store(StoreChoice::File)
            .await
            .unwrap()
            .is_none()
    );
}

/// Run by `tests/keyring/run.sh` alone (the others must not see the daemon go away), with
/// `TOOLHIVE_KEYRING_RESTART` set to a shell command that replaces the keyring daemon.
#[tokio::test]
async fn a_restarted_keyring_daemon_is_reconnected_transparently() {
    let Ok(restart) = std::env::var("TOOLHIVE_KEYRING_RESTART") else {
        eprintln!("skipped: TOOLHIVE_KEYRING_RESTART is not set (tests/keyring/run.sh sets it)");
        return;
    };
    let Some(store) = store("reconnect").await else {
        return;
    };
    store
        .set("kept", Secret::new("across-restart"))
        .await
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(restart)
            .status()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "the restart command failed: {status}");
    // The old connection's session is gone with the old daemon: the store reconnects once.
    assert_eq!(
        value(&store, "kept").await.as_deref(),
        Some("across-restart")
    );
    store.set("kept", Secret::new("again")).await.unwrap();
    assert_eq!(store.list().await.unwrap(), ["kept"]);
    clean(&store).await;
}
