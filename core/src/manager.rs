//! [`ProxyManager`]: many proxies in one process, each on its own listener, with unique names;
//! with a state directory, proxies outlive the process and other processes can list, stop,
//! restart and remove them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::broadcast;

use crate::auth::{Authorizer, AuthorizerParts};
use crate::config::{ProxyConfig, ValidConfig};
use crate::control::{self, ControlGuard, Op};
use crate::error::{Error, ErrorKind, Result};
use crate::events::ProxyEvent;
use crate::headers::HeaderSource;
use crate::logs::{LogLine, ProxyLog};
use crate::proxy::{Credentials, Proxy, ProxyInfo, Redirects, SpawnParts, Upstream, build_client};
use crate::secrets::{self, MemoryStore, SecretRef, SecretStore};
use crate::state::ProxyState;
use crate::state_dir::{
    Persist, SCHEMA_VERSION, SavedProxy, SavedStatus, StateDir, StateFileError, pid_alive,
};

/// Events buffered per subscriber before a slow one starts missing some.
const EVENT_BUFFER: usize = 1024;

/// How a [`ProxyManager`] keeps state and secrets.
#[derive(Clone, Default)]
pub struct ManagerOptions {
    /// Where proxies are saved; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// Where secrets live; default: a file store in the state directory, or memory.
    pub secret_store: Option<Arc<dyn SecretStore>>,
    /// Never open a browser for OAuth logins: the host shows the URL of the
    /// `AuthorizationRequired` event itself.
    pub suppress_browser: bool,
}

impl std::fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("state_dir", &self.state_dir)
            .field(
                "secret_store",
                &self.secret_store.as_ref().map(|s| s.kind().to_owned()),
            )
            .finish()
    }
}

impl ManagerOptions {
    /// The file secret store a manager uses by default with `state_dir`.
    pub fn default_secrets_file(state_dir: &std::path::Path) -> PathBuf {
        crate::state_dir::secrets_path(state_dir)
    }

    /// The per-user default: `$XDG_STATE_HOME/toolhive-embed` (`~/.local/state/toolhive-embed`).
    pub fn default_state_dir() -> Option<PathBuf> {
        dirs::state_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local").join("state")))
            .map(|d| d.join("toolhive-embed"))
    }
}

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
    /// Upstream HTTP clients by connect timeout and redirect rule: shared so idle proxies cost
    /// little memory.
    clients: Mutex<HashMap<(Duration, Redirects), reqwest::Client>>,
    state: Option<StateDir>,
    secrets: Arc<dyn SecretStore>,
    /// Started with the first proxy when there is a state directory.
    control: Mutex<Option<ControlGuard>>,
    suppress_browser: bool,
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
            .field("proxies", &self.proxies().keys().collect::<Vec<_>>())
            .field(
                "state_dir",
                &self.inner.state.as_ref().map(|s| s.root().to_owned()),
            )
            .field("secret_store", &self.inner.secrets.kind())
            .finish()
    }
}

/// Where a proxy that is not served by this manager stands, from its state file.
enum Elsewhere {
    /// Served by another live process.
    Live { pid: u32 },
    /// Saved, not served by anyone (stopped, or its process died).
    Saved(Box<SavedProxy>),
}

impl ProxyManager {
    /// A manager whose proxies run on `runtime`, keeping everything in memory.
    pub fn new(runtime: Handle) -> Self {
        Self::build(runtime, None, Arc::new(MemoryStore::new()), false)
    }

    /// A manager with a state directory and/or secret store.
    pub fn with_options(runtime: Handle, options: ManagerOptions) -> Result<Self> {
        let state = match options.state_dir {
            None => None,
            Some(root) => Some(StateDir::new(root.clone()).map_err(|e| {
                Error::new(
                    ErrorKind::State,
                    format!("cannot create the state directory {}: {e}", root.display()),
                )
                .with_field("state_dir")
            })?),
        };
        let secrets = match (options.secret_store, &state) {
            (Some(store), _) => store,
            (None, Some(dir)) => Arc::new(secrets::FileStore::new(dir.secrets_path())),
            (None, None) => Arc::new(MemoryStore::new()),
        };
        Ok(Self::build(
            runtime,
            state,
            secrets,
            options.suppress_browser,
        ))
    }

    fn build(
        runtime: Handle,
        state: Option<StateDir>,
        secrets: Arc<dyn SecretStore>,
        suppress_browser: bool,
    ) -> Self {
        ProxyManager {
            inner: Arc::new(Inner {
                runtime,
                proxies: Mutex::new(BTreeMap::new()),
                events: broadcast::channel(EVENT_BUFFER).0,
                clients: Mutex::new(HashMap::new()),
                state,
                secrets,
                control: Mutex::new(None),
                suppress_browser,
            }),
        }
    }

    /// The secret store this manager reads and writes.
    pub fn secret_store(&self) -> &Arc<dyn SecretStore> {
        &self.inner.secrets
    }

    /// The state directory, if any.
    pub fn state_dir(&self) -> Option<&std::path::Path> {
        self.inner.state.as_ref().map(StateDir::root)
    }

    /// Validate `config`, resolve its secrets, check the remote accepts us, bind the listener
    /// and start serving; returns once the local URL accepts connections.
    pub async fn start(&self, config: ProxyConfig) -> Result<Proxy> {
        let config = config.validate()?;
        let name = config.name().to_owned();
        if let Some(Elsewhere::Live { pid }) = self.elsewhere(&name)? {
            return Err(name_in_use(&name, &format!("process {pid}")));
        }
        let credentials = Credentials::resolve(&config, &*self.inner.secrets).await?;
        let upstream = Upstream::new(
            self.client_for(config.connect_timeout, Redirects::SameHost),
            credentials,
        );
        let log = match &self.inner.state {
            Some(dir) => ProxyLog::new(&name)
                .with_file(&dir.log_path(&name))
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot open the log file: {e}")))?,
            None => ProxyLog::new(&name),
        };
        let log = Arc::new(log);
        let auth = match &config.oauth {
            Some(settings) => Some(
                Authorizer::new(AuthorizerParts {
                    proxy: name.clone(),
                    settings: settings.clone(),
                    remote: config.remote.clone(),
                    http: self.client_for(config.connect_timeout, Redirects::SameOrigin),
                    store: self.inner.secrets.clone(),
                    events: self.inner.events.clone(),
                    open_browser: !self.inner.suppress_browser,
                    log: log.clone(),
                })
                .await,
            ),
            None => None,
        };
        let saved_config = match &self.inner.state {
            Some(_) => Some(self.move_secrets_to_store(&config).await?),
            None => None,
        };
        let probe = config.source.probe_on_start;
        let proxy = self.spawn(config, upstream, log, auth, saved_config)?;
        proxy.log_started();
        if self.inner.state.is_some() {
            self.ensure_control_socket();
        }
        // From here the proxy serves; if this future is dropped before `start` returns (a
        // timeout, a cancelled binding call), the guard stops it instead of leaking it.
        let guard = StartGuard {
            proxy: Some(proxy.clone()),
            manager: self.clone(),
        };
        if probe {
            match proxy.probe().await {
                Ok(None) => {}
                Ok(Some(warning)) => proxy.log_warning(warning),
                Err(e) => {
                    guard.disarm();
                    proxy.fail(e.to_string()).await;
                    return Err(e);
                }
            }
        }
        guard.disarm();
        Ok(proxy)
    }

    fn spawn(
        &self,
        config: ValidConfig,
        upstream: Upstream,
        log: Arc<ProxyLog>,
        auth: Option<Arc<Authorizer>>,
        saved_config: Option<ProxyConfig>,
    ) -> Result<Proxy> {
        let name = config.name().to_owned();
        // Held across bind and spawn so two starts can't both take one name.
        let mut proxies = self.proxies();
        if let Some(existing) = proxies.get(&name)
            && existing.state().is_active()
        {
            return Err(name_in_use(&name, existing.url()));
        }
        let listener =
            std::net::TcpListener::bind(config.bind).map_err(|e| bind_error(&config, e))?;
        let io = |e: std::io::Error| {
            Error::new(ErrorKind::Io, format!("could not start serving: {e}")).with_source(e)
        };
        let mut persist = None;
        if let (Some(dir), Some(mut saved)) = (&self.inner.state, saved_config) {
            let addr = listener.local_addr().map_err(io)?;
            // Saved with the port actually bound, so a restart comes back on it.
            saved.port = addr.port();
            saved.name = Some(name.clone());
            persist = Some(Arc::new(Persist::new(
                dir.clone(),
                SavedProxy {
                    schema_version: SCHEMA_VERSION,
                    config: saved,
                    status: SavedStatus {
                        state: ProxyState::Stopped,
                        pid: Some(std::process::id()),
                        local_url: Some(format!(
                            "{}{}",
                            crate::proxy::local_origin(addr),
                            config.local_path
                        )),
                        started_at: Some(std::time::SystemTime::now()),
                        auth: None,
                    },
                },
            )));
        }
        let parts = SpawnParts {
            config,
            listener,
            upstream,
            log,
            persist,
            auth,
            events: self.inner.events.clone(),
        };
        let proxy = Proxy::spawn(parts, &self.inner.runtime).map_err(io)?;
        proxies.insert(name, proxy.clone());
        Ok(proxy)
    }

    /// The config to save: `value` and `env` secrets are written to the secret store under
    /// the proxy's stable keys and replaced by references to them.
    async fn move_secrets_to_store(&self, config: &ValidConfig) -> Result<ProxyConfig> {
        let name = config.name();
        let mut saved = config.source.clone();
        if let Some(token) = &saved.bearer_token {
            saved.bearer_token = Some(self.keep_secret(name, "bearer_token", token).await?);
        }
        for (header, source) in saved.headers.iter_mut() {
            if let HeaderSource::Secret(reference) = source {
                let purpose = format!("header/{}", header.to_ascii_lowercase());
                *reference = self.keep_secret(name, &purpose, reference).await?;
            }
        }
        Ok(saved)
    }

    async fn keep_secret(
        &self,
        proxy: &str,
        purpose: &str,
        reference: &SecretRef,
    ) -> Result<SecretRef> {
        match reference {
            SecretRef::Value(_) | SecretRef::Env(_) => {
                let value = reference.resolve(&*self.inner.secrets, purpose).await?;
                let key = secrets::proxy_key(proxy, purpose);
                self.inner.secrets.set(&key, value).await?;
                Ok(SecretRef::Secret(key))
            }
            SecretRef::File(_) | SecretRef::Secret(_) => Ok(reference.clone()),
        }
    }

    fn ensure_control_socket(&self) {
        let Some(dir) = &self.inner.state else { return };
        let mut control = self.inner.control.lock().unwrap_or_else(|p| p.into_inner());
        if control.is_some() {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let served = control::serve(
            dir.control_path(std::process::id()),
            &self.inner.runtime,
            move |op, name| {
                let manager = weak.upgrade().map(|inner| ProxyManager { inner });
                async move {
                    let manager = manager.ok_or_else(|| {
                        Error::new(ErrorKind::NotFound, "this process is shutting down")
                    })?;
                    // Only proxies this process serves: never bounce a request onward.
                    let proxy = manager.get(&name).ok_or_else(|| not_found(&name))?;
                    match op {
                        Op::Stop => proxy.stop().await,
                        Op::Restart => {
                            manager.restart(&name).await?;
                        }
                    }
                    Ok(())
                }
            },
        );
        match served {
            Ok(guard) => *control = Some(guard),
            Err(e) => tracing::warn!(
                "cannot open the control socket; other processes cannot stop these proxies: {e}"
            ),
        }
    }

    fn client_for(&self, connect_timeout: Duration, redirects: Redirects) -> reqwest::Client {
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry((connect_timeout, redirects))
            .or_insert_with(|| build_client(connect_timeout, redirects))
            .clone()
    }

    /// Where `name` stands outside this manager, from the state directory.
    fn elsewhere(&self, name: &str) -> Result<Option<Elsewhere>> {
        let Some(dir) = &self.inner.state else {
            return Ok(None);
        };
        if self.get(name).is_some() {
            return Ok(None);
        }
        let saved = dir.load(name).map_err(state_error)?;
        Ok(saved.map(|saved| match saved.status.pid {
            Some(pid)
                if saved.status.state.is_active()
                    && pid != std::process::id()
                    && pid_alive(pid) =>
            {
                Elsewhere::Live { pid }
            }
            _ => Elsewhere::Saved(Box::new(saved)),
        }))
    }

    fn control_socket(&self, pid: u32) -> PathBuf {
        self.inner
            .state
            .as_ref()
            .expect("only called for proxies found in the state directory")
            .control_path(pid)
    }

    /// Stop the proxy called `name` gracefully (see [`Proxy::stop`]), in this process or in
    /// the one serving it; its saved config is kept. Stopping a stopped proxy succeeds.
    pub async fn stop(&self, name: &str) -> Result<()> {
        if let Some(proxy) = self.get(name) {
            proxy.stop().await;
            return Ok(());
        }
        match self.elsewhere(name)? {
            Some(Elsewhere::Live { pid }) => {
                control::request(&self.control_socket(pid), Op::Stop, name).await
            }
            Some(Elsewhere::Saved(saved)) => self.mark_stopped(*saved),
            None => Err(not_found(name)),
        }
    }

    /// Record that a proxy whose process died is stopped.
    fn mark_stopped(&self, mut saved: SavedProxy) -> Result<()> {
        if saved.status.state.is_active() {
            saved.status.state = ProxyState::Stopped;
            saved.status.pid = None;
            let dir = self
                .inner
                .state
                .as_ref()
                .expect("saved proxies come from a state dir");
            let name = saved.config.name.clone().unwrap_or_default();
            dir.save(&name, &saved).map_err(|e| {
                Error::new(
                    ErrorKind::State,
                    format!("cannot update the state of `{name}`: {e}"),
                )
            })?;
        }
        Ok(())
    }

    /// Stop every proxy of this manager, concurrently, each within its grace period.
    pub async fn stop_all(&self) {
        let proxies: Vec<Proxy> = self.proxies().values().cloned().collect();
        futures_util::future::join_all(proxies.iter().map(Proxy::stop)).await;
    }

    /// The host is shutting down: stop every proxy gracefully but keep their saved state, so
    /// `restore()` in the next process brings back exactly what was running. Without a state
    /// directory this is [`ProxyManager::stop_all`].
    pub async fn shutdown(&self) {
        let proxies: Vec<Proxy> = self.proxies().values().cloned().collect();
        futures_util::future::join_all(proxies.iter().map(Proxy::shut_down)).await;
    }

    /// Stop `name` and start it again with the same config on the same port. A proxy served by
    /// another process is restarted there; a saved, stopped one is started here.
    pub async fn restart(&self, name: &str) -> Result<ProxyInfo> {
        let config = if let Some(proxy) = self.get(name) {
            proxy.stop().await;
            match self.saved_config(name)? {
                Some(saved) => saved,
                None => {
                    let mut config = proxy.config().config().clone();
                    config.port = proxy.local_addr().port();
                    config.name = Some(name.to_owned());
                    config
                }
            }
        } else {
            match self.elsewhere(name)? {
                Some(Elsewhere::Live { pid }) => {
                    control::request(&self.control_socket(pid), Op::Restart, name).await?;
                    return self.info(name);
                }
                Some(Elsewhere::Saved(saved)) => saved.config,
                None => return Err(not_found(name)),
            }
        };
        Ok(self.start(config).await?.info())
    }

    fn saved_config(&self, name: &str) -> Result<Option<ProxyConfig>> {
        match &self.inner.state {
            None => Ok(None),
            Some(dir) => Ok(dir.load(name).map_err(state_error)?.map(|s| s.config)),
        }
    }

    /// Stop `name` (here or in its process) and delete its saved config, log file and secrets.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let known_here = self.get(name).is_some();
        let saved = self.elsewhere(name)?;
        if !known_here && saved.is_none() {
            return Err(not_found(name));
        }
        self.stop(name).await?;
        self.proxies().remove(name);
        if let Some(dir) = &self.inner.state {
            dir.remove(name).map_err(|e| {
                Error::new(
                    ErrorKind::State,
                    format!("cannot delete the state of `{name}`: {e}"),
                )
            })?;
        }
        secrets::delete_proxy_secrets(&*self.inner.secrets, name).await?;
        Ok(())
    }

    /// Start every saved proxy that was running when its process ended (hosts call this at
    /// startup). Proxies served by another live process are left alone. Returns one result
    /// per proxy it tried.
    pub async fn restore(&self) -> Vec<(String, Result<Proxy>)> {
        let Some(dir) = &self.inner.state else {
            return Vec::new();
        };
        let (saved, _errors) = dir.load_all();
        let mut results = Vec::new();
        for saved in saved {
            let name = saved.config.name.clone().unwrap_or_default();
            let orphaned = saved.status.state.is_active()
                && saved
                    .status
                    .pid
                    .is_none_or(|pid| !pid_alive(pid) || pid == std::process::id());
            if orphaned && self.get(&name).is_none() {
                results.push((name, self.start(saved.config).await));
            }
        }
        results
    }

    /// State files that could not be read (corrupt, unreadable, from a newer version). They
    /// are skipped by `list` and `restore` and never overwritten.
    pub fn state_errors(&self) -> Vec<StateFileError> {
        self.inner
            .state
            .as_ref()
            .map(|dir| dir.load_all().1)
            .unwrap_or_default()
    }

    /// The proxy called `name` in this process, running or stopped.
    pub fn get(&self, name: &str) -> Option<Proxy> {
        self.proxies().get(name).cloned()
    }

    /// A snapshot of `name`, wherever it runs.
    pub fn info(&self, name: &str) -> Result<ProxyInfo> {
        self.list()
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| not_found(name))
    }

    /// Every proxy of this process, plus (with a state directory) those saved or served by
    /// other processes, sorted by name.
    pub fn list(&self) -> Vec<ProxyInfo> {
        let mut infos: BTreeMap<String, ProxyInfo> = self
            .proxies()
            .values()
            .map(|p| (p.name().to_owned(), p.info()))
            .collect();
        if let Some(dir) = &self.inner.state {
            for saved in dir.load_all().0 {
                let name = saved.config.name.clone().unwrap_or_default();
                infos
                    .entry(name.clone())
                    .or_insert_with(|| saved_info(name, saved));
            }
        }
        infos.into_values().collect()
    }

    /// Recent log lines of the proxy called `name` (from its log file when another process
    /// serves it).
    pub fn logs(&self, name: &str) -> Result<Vec<LogLine>> {
        if let Some(proxy) = self.get(name) {
            return Ok(proxy.logs());
        }
        let path = self.log_path(name)?;
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<LogLine> = text.lines().filter_map(LogLine::parse).collect();
        let skip = lines.len().saturating_sub(crate::LOG_RING_CAPACITY);
        Ok(lines.into_iter().skip(skip).collect())
    }

    /// Follow the log of `name` from now on.
    pub fn follow_logs(&self, name: &str) -> Result<crate::logs::LogFollower> {
        if let Some(proxy) = self.get(name) {
            return Ok(crate::logs::LogFollower::live(proxy.follow_logs()));
        }
        Ok(crate::logs::LogFollower::file(self.log_path(name)?))
    }

    fn log_path(&self, name: &str) -> Result<PathBuf> {
        match (&self.inner.state, self.elsewhere(name)?) {
            (Some(dir), Some(_)) => Ok(dir.log_path(name)),
            _ => Err(not_found(name)),
        }
    }

    /// Receive every event of every proxy of this manager from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ProxyEvent> {
        self.inner.events.subscribe()
    }

    /// The runtime the proxies run on.
    pub fn runtime(&self) -> &Handle {
        &self.inner.runtime
    }

    fn proxies(&self) -> MutexGuard<'_, BTreeMap<String, Proxy>> {
        self.inner.proxies.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Stops and forgets a proxy whose `start` was abandoned half-way: the caller never got it.
struct StartGuard {
    proxy: Option<Proxy>,
    manager: ProxyManager,
}

impl StartGuard {
    fn disarm(mut self) {
        self.proxy = None;
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if let Some(proxy) = self.proxy.take() {
            let manager = self.manager.clone();
            self.manager.inner.runtime.spawn(async move {
                proxy.fail("start was cancelled".to_owned()).await;
                let mut proxies = manager.proxies();
                if proxies.get(proxy.name()).is_some_and(|p| p.same_as(&proxy)) {
                    proxies.remove(proxy.name());
                }
            });
        }
    }
}

fn saved_info(name: String, saved: SavedProxy) -> ProxyInfo {
    let status = saved.status;
    let stale = status.state.is_active() && status.pid.is_none_or(|pid| !pid_alive(pid));
    ProxyInfo {
        name,
        remote_url: saved.config.remote_url,
        local_url: status.local_url.unwrap_or_default(),
        transport: saved.config.transport,
        state: status.state,
        started_at: status.started_at.unwrap_or(std::time::UNIX_EPOCH),
        pid: status.pid,
        stale,
        auth: status.auth,
    }
}

fn name_in_use(name: &str, where_: &str) -> Error {
    Error::new(
        ErrorKind::NameInUse,
        format!(
            "a proxy named `{name}` is already running ({where_}); choose another name or stop it first"
        ),
    )
    .with_field("name")
}

fn state_error(e: StateFileError) -> Error {
    Error::new(ErrorKind::State, e.to_string())
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
            format!("cannot listen on {addr}: {e}", e = err),
        ),
    };
    Error::new(kind, message).with_field(field).with_source(err)
}
