//! [`ProxyManager`]: many proxies in one process, each on its own listener, with unique names.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::broadcast;

use crate::config::{ProxyConfig, ValidConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::events::ProxyEvent;
use crate::logs::LogLine;
use crate::proxy::{Proxy, ProxyInfo, build_client};

/// Events buffered per subscriber before a slow one starts missing some.
const EVENT_BUFFER: usize = 1024;

/// Starts, lists and stops proxies. Cheap to clone; clones share the proxies.
///
/// Dropping the last clone asks every proxy to stop (without waiting); call
/// [`ProxyManager::stop_all`] first for a graceful shutdown.
#[derive(Clone)]
pub struct ProxyManager {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Handle,
    proxies: Mutex<BTreeMap<String, Proxy>>,
    events: broadcast::Sender<ProxyEvent>,
    /// Upstream HTTP clients by connect timeout: shared so idle proxies cost little memory.
    clients: Mutex<HashMap<Duration, reqwest::Client>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for proxy in self
            .proxies
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            proxy.begin_stop();
        }
    }
}

impl std::fmt::Debug for ProxyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyManager")
            .field("proxies", &self.names())
            .finish()
    }
}

impl ProxyManager {
    /// A manager whose proxies run on `runtime` (a multi-thread runtime is recommended).
    pub fn new(runtime: Handle) -> Self {
        ProxyManager {
            inner: Arc::new(Inner {
                runtime,
                proxies: Mutex::new(BTreeMap::new()),
                events: broadcast::channel(EVENT_BUFFER).0,
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Validate `config`, bind its listener and start serving; returns once the local URL
    /// accepts connections.
    pub async fn start(&self, config: ProxyConfig) -> Result<Proxy> {
        let config = config.validate()?;
        self.start_valid(config)
    }

    fn start_valid(&self, config: ValidConfig) -> Result<Proxy> {
        // Held across bind and spawn so two starts can't both take one name.
        let mut proxies = self.proxies();
        if let Some(existing) = proxies.get(config.name())
            && existing.state().is_active()
        {
            return Err(Error::new(
                ErrorKind::NameInUse,
                format!(
                    "a proxy named `{}` is already running at {}; choose another name or stop it first",
                    config.name(),
                    existing.url()
                ),
            )
            .with_field("name"));
        }
        let listener =
            std::net::TcpListener::bind(config.bind).map_err(|e| bind_error(&config, e))?;
        let client = self.client_for(config.connect_timeout);
        let proxy = Proxy::spawn(
            config,
            listener,
            client,
            self.inner.events.clone(),
            &self.inner.runtime,
        )
        .map_err(|e| {
            Error::new(ErrorKind::Io, format!("could not start serving: {e}")).with_source(e)
        })?;
        proxies.insert(proxy.name().to_owned(), proxy.clone());
        Ok(proxy)
    }

    fn client_for(&self, connect_timeout: Duration) -> reqwest::Client {
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(connect_timeout)
            .or_insert_with(|| build_client(connect_timeout))
            .clone()
    }

    /// Stop the proxy called `name` gracefully (see [`Proxy::stop`]); it stays listed as
    /// stopped. Stopping a stopped proxy succeeds.
    pub async fn stop(&self, name: &str) -> Result<()> {
        let proxy = self.get(name).ok_or_else(|| not_found(name))?;
        proxy.stop().await;
        Ok(())
    }

    /// Stop every proxy, concurrently, each within its grace period.
    pub async fn stop_all(&self) {
        let proxies: Vec<Proxy> = self.proxies().values().cloned().collect();
        futures_util::future::join_all(proxies.iter().map(Proxy::stop)).await;
    }

    /// The proxy called `name`, running or stopped.
    pub fn get(&self, name: &str) -> Option<Proxy> {
        self.proxies().get(name).cloned()
    }

    /// A snapshot of every proxy, sorted by name.
    pub fn list(&self) -> Vec<ProxyInfo> {
        self.proxies().values().map(Proxy::info).collect()
    }

    /// Recent log lines of the proxy called `name`.
    pub fn logs(&self, name: &str) -> Result<Vec<LogLine>> {
        Ok(self.get(name).ok_or_else(|| not_found(name))?.logs())
    }

    /// Receive every event of every proxy of this manager from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ProxyEvent> {
        self.inner.events.subscribe()
    }

    /// The runtime the proxies run on.
    pub fn runtime(&self) -> &Handle {
        &self.inner.runtime
    }

    fn names(&self) -> Vec<String> {
        self.proxies().keys().cloned().collect()
    }

    fn proxies(&self) -> MutexGuard<'_, BTreeMap<String, Proxy>> {
        self.inner.proxies.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn not_found(name: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no proxy named `{name}`; list the proxies to see their names"),
    )
}

fn bind_error(config: &ValidConfig, err: std::io::Error) -> Error {
    let addr = config.bind;
    let (kind, field, message) = match err.kind() {
        std::io::ErrorKind::AddrInUse => (
            ErrorKind::AddressInUse,
            "port",
            format!(
                "port {} on {} is already in use; choose another port, or 0 for a free one",
                addr.port(),
                addr.ip()
            ),
        ),
        std::io::ErrorKind::AddrNotAvailable => (
            ErrorKind::InvalidConfig,
            "host",
            format!(
                "{} is not an address of this machine; use 127.0.0.1",
                addr.ip()
            ),
        ),
        std::io::ErrorKind::PermissionDenied => (
            ErrorKind::AddressInUse,
            "port",
            format!(
                "not allowed to listen on port {}; use a port above 1023, or 0 for a free one",
                addr.port()
            ),
        ),
        _ => (
            ErrorKind::Io,
            "port",
            format!("cannot listen on {addr}: {err}"),
        ),
    };
    Error::new(kind, message).with_field(field).with_source(err)
}
