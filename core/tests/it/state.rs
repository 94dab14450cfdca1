//! Proxies saved in a state directory: restart on the same port, restore after a crash,
//! remove without leftovers, and corrupt files reported, never overwritten.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use toolhive_core::secrets::{FileStore, Secret, SecretRef, SecretStore};
use toolhive_core::{ErrorKind, HeaderSource, ManagerOptions, ProxyManager, ProxyState};

use crate::support::*;

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("toolhive-state-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn saving_manager(dir: &Path) -> ProxyManager {
    ProxyManager::with_options(
        tokio::runtime::Handle::current(),
        ManagerOptions {
            state_dir: Some(dir.to_owned()),
            secret_store: None,
            ..Default::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn saved_configs_hold_references_never_values() {
    let dir = temp_dir("refs");
    let up = upstream(|_| async { json(200, "{}") }).await;
    let m = saving_manager(&dir);
    let p = proxy(&m, &up.url("/mcp"), |c| {
        c.name = Some("s".into());
        c.bearer_token = Some(SecretRef::Value("tok-SECRET".into()));
        c.headers.insert(
            "X-Key".into(),
            HeaderSource::Secret(SecretRef::Value("hdr-SECRET".into())),
        );
        c.headers
            .insert("X-Plain".into(), HeaderSource::Plain("plain".into()));
    })
    .await;
    let saved = std::fs::read_to_string(dir.join("proxies/s.json")).unwrap();
    assert!(!saved.contains("SECRET"), "{saved}");
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["schema_version"], 1);
    assert_eq!(
        saved["config"]["bearer_token"]["secret"],
        "proxy/s/bearer_token"
    );
    assert_eq!(
        saved["config"]["headers"]["X-Key"]["secret"],
        "proxy/s/header/x-key"
    );
    assert_eq!(saved["config"]["headers"]["X-Plain"], "plain");
    assert_eq!(saved["config"]["port"], p.local_addr().port());
    assert_eq!(saved["status"]["state"], "running");
    assert_eq!(saved["status"]["pid"], std::process::id());
    let store = FileStore::new(dir.join("secrets.json"));
    assert_eq!(
        store
            .get("proxy/s/bearer_token")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "tok-SECRET"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("secrets.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let log = std::fs::read_to_string(dir.join("logs/s.log")).unwrap();
    assert!(log.contains("proxying"), "{log}");
    assert!(!log.contains("SECRET"));
}

#[tokio::test]
async fn restart_keeps_the_port_and_remove_leaves_nothing() {
    let dir = temp_dir("restart");
    let up = upstream(|seen| async move {
        let auth = seen
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        json(
            200,
            &format!(r#"{{"auth":{:?}}}"#, auth.unwrap_or_default()),
        )
    })
    .await;
    let m = saving_manager(&dir);
    let p = proxy(&m, &up.url("/mcp"), |c| {
        c.name = Some("r".into());
        c.bearer_token = Some(SecretRef::Value("tok".into()));
    })
    .await;
    let port = p.local_addr().port();
    m.stop("r").await.unwrap();
    assert_eq!(m.info("r").unwrap().state, ProxyState::Stopped);
    let saved = std::fs::read_to_string(dir.join("proxies/r.json")).unwrap();
    assert!(
        saved.contains(r#""state": "stopped""#),
        "stop keeps the config: {saved}"
    );

    let info = m.restart("r").await.unwrap();
    assert_eq!(info.state, ProxyState::Running);
    assert!(
        info.local_url.contains(&format!(":{port}/")),
        "{}",
        info.local_url
    );
    let resp = post(&info.local_url, "{}", None).await;
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"auth":"Bearer tok"}"#,
        "token from the store"
    );

    m.remove("r").await.unwrap();
    assert!(m.list().is_empty());
    assert!(!dir.join("proxies/r.json").exists());
    assert!(!dir.join("logs/r.log").exists());
    let keys = m.secret_store().list().await.unwrap();
    assert!(keys.iter().all(|k| !k.starts_with("proxy/r/")), "{keys:?}");
    assert_eq!(m.remove("r").await.unwrap_err().kind(), ErrorKind::NotFound);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port free after rm");
}

#[tokio::test]
async fn restore_brings_back_proxies_whose_process_died() {
    let dir = temp_dir("restore");
    let up = upstream(|_| async { json(200, r#"{"ok":1}"#) }).await;
    let port;
    {
        let m = saving_manager(&dir);
        let p = proxy(&m, &up.url("/mcp"), |c| c.name = Some("crashy".into())).await;
        port = p.local_addr().port();
        proxy(&m, &up.url("/mcp"), |c| c.name = Some("stopped".into())).await;
        m.stop("stopped").await.unwrap();
        m.stop("crashy").await.unwrap();
    }
    // Make it look like the serving process died while running: pid of no process.
    let path = dir.join("proxies/crashy.json");
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    saved["status"]["state"] = "running".into();
    saved["status"]["pid"] = (i32::MAX as u32).into();
    std::fs::write(&path, saved.to_string()).unwrap();

    let m = saving_manager(&dir);
    let listed = m.info("crashy").unwrap();
    assert!(listed.stale, "a dead process's proxy is shown as stale");
    let restored = m.restore().await;
    assert_eq!(restored.len(), 1, "only the one that was running");
    let (name, result) = &restored[0];
    assert_eq!(name, "crashy");
    let p = result.as_ref().unwrap();
    assert_eq!(p.local_addr().port(), port, "same port as before");
    assert_eq!(post(p.url(), "{}", None).await.status(), 200);
    assert_eq!(m.info("stopped").unwrap().state, ProxyState::Stopped);
}

#[tokio::test]
async fn corrupt_and_future_state_files_are_reported_and_left_alone() {
    let dir = temp_dir("corrupt");
    let up = upstream(|_| async { json(200, "{}") }).await;
    let m = saving_manager(&dir);
    proxy(&m, &up.url("/mcp"), |c| c.name = Some("good".into())).await;
    std::fs::write(dir.join("proxies/broken.json"), "{not json").unwrap();
    std::fs::write(
        dir.join("proxies/future.json"),
        r#"{"schema_version":99,"config":{},"status":{}}"#,
    )
    .unwrap();
    let names: Vec<String> = m.list().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["good"]);
    let errors = m.state_errors();
    assert_eq!(errors.len(), 2);
    assert!(errors[0].path.ends_with("broken.json") && errors[0].message.contains("corrupt"));
    assert!(errors[1].path.ends_with("future.json") && errors[1].message.contains("newer"));

    let err = m
        .start({
            let mut c = toolhive_core::ProxyConfig::new(up.url("/mcp"));
            c.name = Some("broken".into());
            c
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::State);
    assert_eq!(
        std::fs::read_to_string(dir.join("proxies/broken.json")).unwrap(),
        "{not json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_shared_by_many_writers_loses_nothing() {
    let dir = temp_dir("store");
    let path = dir.join("secrets.json");
    // Separate store objects open the file separately, so they contend through the file lock
    // exactly as separate processes do (the CLI test runs real processes too).
    let writers = (0..8).map(|w| {
        let store = Arc::new(FileStore::new(path.clone()));
        tokio::spawn(async move {
            for i in 0..25 {
                store
                    .set(&format!("w{w}/k{i}"), Secret::new(format!("v{w}-{i}")))
                    .await
                    .unwrap();
            }
        })
    });
    for w in futures_util::future::join_all(writers).await {
        w.unwrap();
    }
    let store = FileStore::new(path.clone());
    assert_eq!(store.list().await.unwrap().len(), 200);
    assert_eq!(store.get("w3/k7").await.unwrap().unwrap().expose(), "v3-7");
    store.set("w3/k7", Secret::new("new")).await.unwrap();
    assert_eq!(
        store.get("w3/k7").await.unwrap().unwrap().expose(),
        "new",
        "overwrites"
    );
    store.delete("w3/k7").await.unwrap();
    store.delete("w3/k7").await.unwrap();
    assert!(store.get("w3/k7").await.unwrap().is_none());

    std::fs::write(&path, "garbage").unwrap();
    let err = store.set("x", Secret::new("y")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Secret);
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "garbage",
        "never overwritten"
    );
}

#[tokio::test]
async fn env_and_memory_stores() {
    use toolhive_core::secrets::{EnvStore, MemoryStore};
    // SAFETY: this variable is only used by this test.
    unsafe { std::env::set_var("TOOLHIVE_SECRET_PROXY_A_BEARER_TOKEN", "from-env") };
    let env = EnvStore;
    assert_eq!(
        env.get("proxy/a/bearer_token")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "from-env"
    );
    assert!(
        env.set("x", Secret::new("y"))
            .await
            .unwrap_err()
            .to_string()
            .contains("read-only")
    );
    let mem = MemoryStore::new();
    mem.set("k", Secret::new("v")).await.unwrap();
    assert_eq!(mem.list().await.unwrap(), ["k"]);
    assert_eq!(
        format!("{:?}", mem.get("k").await.unwrap().unwrap()),
        "Secret(<redacted>)"
    );
}

#[tokio::test]
async fn a_host_shutdown_is_restored_an_explicit_stop_is_not() {
    let dir = temp_dir("shutdown");
    let up = upstream(|_| async { json(200, "{}") }).await;
    {
        let m = saving_manager(&dir);
        proxy(&m, &up.url("/mcp"), |c| c.name = Some("kept".into())).await;
        proxy(&m, &up.url("/mcp"), |c| c.name = Some("stopped".into())).await;
        m.stop("stopped").await.unwrap();
        m.shutdown().await;
        assert!(m.list().iter().all(|i| !i.state.is_active()));
    }
    let m = saving_manager(&dir);
    let restored: Vec<String> = m
        .restore()
        .await
        .into_iter()
        .map(|(n, r)| {
            r.unwrap();
            n
        })
        .collect();
    assert_eq!(restored, ["kept"]);
}
