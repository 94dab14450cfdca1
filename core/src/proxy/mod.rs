//! One running proxy: its shared state, its public handle, and how it starts and stops.

mod body;
mod credentials;
mod guard;
mod health;
mod legacy_sse;
mod probe;
mod router;
mod server;
mod sessions;
mod streamable;
mod upstream;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::auth::challenge::{self, Challenge};
use crate::auth::{AuthState, Authorizer, TokenSet, Unavailable};
use crate::config::{Transport, ValidConfig};
use crate::events::{EventKind, ProxyEvent};
use crate::logs::{LogLine, ProxyLog};
use crate::redact;
use crate::state::ProxyState;
use crate::state_dir::Persist;

pub(crate) use credentials::Credentials;
pub(crate) use probe::TOKEN_HINT;
pub(crate) use upstream::{Redirects, Upstream, UpstreamRequest, build_client};

use body::ErrorAnswer;

/// What the proxy and every request handler share.
pub(crate) struct ProxyShared {
    pub config: ValidConfig,
    /// `http://127.0.0.1:PORT`
    pub local_origin: String,
    /// The local MCP URL: the local origin plus the remote path.
    pub local_url: String,
    pub local_addr: SocketAddr,
    pub started_at: SystemTime,
    pub upstream: Upstream,
    pub sessions: sessions::Sessions,
    pub legacy_paths: legacy_sse::MessagePaths,
    pub health: Mutex<health::UpstreamHealth>,
    pub log: Arc<ProxyLog>,
    /// Fires when the proxy stops accepting connections.
    pub shutdown: CancellationToken,
    /// Fires to end open event streams (they are resumable; in-flight requests are not).
    pub streams: CancellationToken,
    state: Mutex<ProxyState>,
    events: broadcast::Sender<ProxyEvent>,
    /// Keeps the state file current when the manager has a state directory.
    persist: Option<Arc<Persist>>,
    /// The OAuth client, unless static credentials are configured.
    pub auth: Option<Arc<Authorizer>>,
    /// Set by a host shutdown: the state file keeps saying "running" so `restore` brings the
    /// proxy back next time (an explicit stop records "stopped").
    keep_saved_state: std::sync::atomic::AtomicBool,
    /// The serving task; taken by the one `stop` that waits for it.
    server: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl ProxyShared {
    /// Send `req` to the remote with the proxy's credentials. With OAuth: attach the current
    /// token (503 while there is none), and on a 401 or 403 `insufficient_scope` wait for the
    /// refresh, login or step-up and retry once with the new token.
    pub(crate) async fn send(
        &self,
        req: UpstreamRequest,
        timeout: std::time::Duration,
    ) -> Result<reqwest::Response, ErrorAnswer> {
        let result = self.send_authorized(req, timeout).await;
        if let Err(e) = &result
            && e.status != http::StatusCode::SERVICE_UNAVAILABLE
        {
            self.log.warn(e.message.clone());
        }
        result
    }

    async fn send_authorized(
        &self,
        req: UpstreamRequest,
        timeout: std::time::Duration,
    ) -> Result<reqwest::Response, ErrorAnswer> {
        let Some(auth) = &self.auth else {
            return self.upstream.send(req, timeout).await;
        };
        let unavailable = |u: Unavailable| ErrorAnswer::unavailable(u.retry_after, u.reason);
        let token = auth.bearer().await.map_err(unavailable)?;
        let resp = self
            .upstream
            .send(with_bearer(req.clone(), token.as_deref()), timeout)
            .await?;
        let Some(challenges) = auth_challenge(&resp) else {
            return Ok(resp);
        };
        let status = resp.status();
        drop(resp);
        let fresh = auth
            .rejected(token.as_deref(), challenges, status)
            .await
            .map_err(unavailable)?;
        let retried = self
            .upstream
            .send(with_bearer(req, Some(&fresh)), timeout)
            .await?;
        if retried.status() == http::StatusCode::UNAUTHORIZED {
            // Never hand a 401 to the local client: it would start an OAuth flow against us.
            return Err(ErrorAnswer::unavailable(
                std::time::Duration::from_secs(5),
                "the remote MCP server rejected the new token too",
            ));
        }
        Ok(retried)
    }

    pub(crate) fn state(&self) -> ProxyState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_state(&self, to: ProxyState) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if *state == to {
            return;
        }
        let from = std::mem::replace(&mut *state, to.clone());
        let keep = self
            .keep_saved_state
            .load(std::sync::atomic::Ordering::SeqCst)
            && matches!(to, ProxyState::Stopping | ProxyState::Stopped);
        if let Some(persist) = self.persist.as_ref().filter(|_| !keep)
            && let Err(e) = persist.state_changed(&to)
        {
            self.log.warn(format!(
                "could not record the state `{to}` in the state directory: {e}"
            ));
        }
        // Sent under the lock so subscribers see changes in the order they happened.
        let _ = self.events.send(ProxyEvent {
            proxy: self.config.name.clone(),
            kind: EventKind::StateChanged { from, to },
        });
    }

    /// Move to `to` only from `from` (the health monitor must not revive a stopping proxy).
    pub(crate) fn transition(&self, from: ProxyState, to: ProxyState) {
        if self.state() == from {
            self.set_state(to);
        }
    }
}

fn with_bearer(mut req: UpstreamRequest, token: Option<&TokenSet>) -> UpstreamRequest {
    if let Some(token) = token
        && let Ok(mut value) =
            http::HeaderValue::from_str(&format!("Bearer {}", token.access_token))
    {
        value.set_sensitive(true);
        req.headers.insert(http::header::AUTHORIZATION, value);
    }
    req
}

/// The parsed challenges when `resp` asks for (more) authorization: a 401, or a 403 whose
/// challenge says `insufficient_scope`.
pub(crate) fn auth_challenge(resp: &reqwest::Response) -> Option<Vec<Challenge>> {
    let challenges = || {
        challenge::parse(
            resp.headers()
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    };
    match resp.status() {
        http::StatusCode::UNAUTHORIZED => Some(challenges()),
        http::StatusCode::FORBIDDEN => {
            let c = challenges();
            challenge::bearer(&c)
                .is_some_and(|b| b.param("error") == Some("insufficient_scope"))
                .then_some(c)
        }
        _ => None,
    }
}

/// Everything [`Proxy::spawn`] needs.
pub(crate) struct SpawnParts {
    pub config: ValidConfig,
    pub listener: std::net::TcpListener,
    pub upstream: Upstream,
    pub log: Arc<ProxyLog>,
    pub persist: Option<Arc<Persist>>,
    pub auth: Option<Arc<Authorizer>>,
    pub events: broadcast::Sender<ProxyEvent>,
}

/// `http://127.0.0.1:PORT` for a listener on `addr` (loopback when bound to every interface).
pub(crate) fn local_origin(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A proxy in front of one remote MCP server. Cheap to clone; all clones are the same proxy.
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<ProxyShared>,
}

/// A snapshot of a proxy for listings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProxyInfo {
    /// Unique name within its manager.
    pub name: String,
    /// The remote MCP URL as configured.
    pub remote_url: String,
    /// The local MCP URL clients connect to.
    pub local_url: String,
    /// The remote's transport.
    pub transport: Transport,
    /// Current state.
    #[serde(flatten)]
    pub state: ProxyState,
    /// When it started.
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    /// The process serving it, while it runs.
    pub pid: Option<u32>,
    /// Where it stands with the remote's authorization server (`None`: static credentials).
    pub auth: Option<AuthState>,
    /// Its state file says it runs, but its process is gone (it was not stopped cleanly).
    pub stale: bool,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

impl ProxyInfo {
    /// The snapshot as JSON: `{"name":…,"remote_url":…,"local_url":…,"transport":"sse",
    /// "state":"running","started_at":"2026-11-27T02:13:39.059Z","pid":4242,"stale":false}`
    /// (`reason` when failed).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("infos always serialize")
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("name", &self.name())
            .field("url", &self.url())
            .field("remote", &redact::url(&self.shared.config.remote))
            .field("state", &self.state())
            .finish()
    }
}

impl Proxy {
    /// Serve on the already bound `listener`.
    pub(crate) fn spawn(
        parts: SpawnParts,
        runtime: &tokio::runtime::Handle,
    ) -> std::io::Result<Proxy> {
        let SpawnParts {
            config,
            listener,
            upstream,
            log,
            persist,
            auth,
            events,
        } = parts;
        let local_addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let local_origin = local_origin(local_addr);
        let shared = Arc::new(ProxyShared {
            local_url: format!("{local_origin}{}", config.local_path),
            local_origin,
            local_addr,
            started_at: SystemTime::now(),
            upstream,
            sessions: Default::default(),
            legacy_paths: Default::default(),
            health: Default::default(),
            log,
            shutdown: CancellationToken::new(),
            streams: CancellationToken::new(),
            state: Mutex::new(ProxyState::Stopped),
            events,
            persist,
            auth,
            keep_saved_state: std::sync::atomic::AtomicBool::new(false),
            server: tokio::sync::Mutex::new(None),
            config,
        });
        if let (Some(auth), Some(persist)) = (&shared.auth, &shared.persist) {
            let persist = persist.clone();
            // The log is not available here without a cycle; a failed write shows up as a
            // stale auth state in other processes' listings, nothing worse.
            auth.observe(move |state| {
                let _ = persist.auth_changed(state);
            });
        }
        shared.set_state(ProxyState::Starting);
        // Every task of this proxy runs in a span naming it, so host subscribers can tell
        // proxies apart in anything logged below (hyper, reqwest, ours).
        let span = tracing::info_span!("proxy", name = %shared.config.name);
        let task = runtime.spawn(server::serve(listener, shared.clone()).instrument(span.clone()));
        *shared
            .server
            .try_lock()
            .expect("new proxy is not shared yet") = Some(task);
        if let Some(check) = shared.config.health_check.clone() {
            runtime.spawn(health::monitor(shared.clone(), check).instrument(span));
        }
        shared.set_state(ProxyState::Running);
        Ok(Proxy { shared })
    }

    /// The unique name of this proxy.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The local MCP URL to give to MCP clients, e.g. `http://127.0.0.1:41873/mcp`.
    pub fn url(&self) -> &str {
        &self.shared.local_url
    }

    /// The local address the proxy listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The remote MCP URL as configured.
    pub fn remote_url(&self) -> &str {
        &self.shared.config.source.remote_url
    }

    /// The remote's transport.
    pub fn transport(&self) -> Transport {
        self.shared.config.transport
    }

    /// The current state.
    pub fn state(&self) -> ProxyState {
        self.shared.state()
    }

    /// The validated config this proxy runs with.
    pub fn config(&self) -> &ValidConfig {
        &self.shared.config
    }

    /// A snapshot for listings.
    pub fn info(&self) -> ProxyInfo {
        let state = self.state();
        ProxyInfo {
            name: self.name().to_owned(),
            remote_url: self.remote_url().to_owned(),
            local_url: self.url().to_owned(),
            transport: self.transport(),
            pid: state.is_active().then(std::process::id),
            state,
            started_at: self.shared.started_at,
            stale: false,
            auth: self.shared.auth.as_ref().map(|a| a.state()),
        }
    }

    /// The current authorization state (`None` with static credentials).
    pub fn auth_state(&self) -> Option<AuthState> {
        self.shared.auth.as_ref().map(|a| a.state())
    }

    /// Run the start-up probe; `Ok(Some(warning))` when the remote could not be asked.
    pub(crate) async fn probe(&self) -> crate::Result<Option<String>> {
        probe::check_auth(&self.shared).await
    }

    /// Stop and record why the proxy could not run.
    pub(crate) async fn fail(&self, reason: String) {
        self.stop().await;
        self.shared.set_state(ProxyState::Failed { reason });
    }

    pub(crate) fn log_warning(&self, message: String) {
        self.shared.log.warn(message);
    }

    /// The first log line; logged by the manager once it released its locks, because a host's
    /// log callback may call back into the manager.
    pub(crate) fn log_started(&self) {
        let shared = &self.shared;
        shared.log.info(format!(
            "proxying {} ({}) at {}",
            redact::url(&shared.config.remote),
            shared.config.transport,
            shared.local_url
        ));
    }

    /// Recent log lines (oldest first), at most [`crate::LOG_RING_CAPACITY`].
    pub fn logs(&self) -> Vec<LogLine> {
        self.shared.log.recent()
    }

    /// Every log line from now on.
    pub fn follow_logs(&self) -> broadcast::Receiver<LogLine> {
        self.shared.log.subscribe()
    }

    /// Number of MCP sessions the proxy is tracking.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Stop gracefully: stop accepting, end open event streams, let in-flight requests finish
    /// within `stop_grace_ms`, release the port. Stopping a stopped proxy does nothing;
    /// concurrent calls all return once it is stopped.
    pub async fn stop(&self) {
        // The stopping runs as its own task: a caller that gives up waiting (a timeout, a
        // cancelled binding call) must not leave the proxy half-stopped.
        let shared = self.shared.clone();
        let stopping = tokio::spawn(async move {
            let mut server = shared.server.lock().await;
            let Some(task) = server.take() else {
                return;
            };
            shared.set_state(ProxyState::Stopping);
            shared.shutdown.cancel();
            if let Err(err) = task.await {
                shared
                    .log
                    .error(format!("the serving task ended abnormally: {err}"));
            }
            shared.log.info("stopped");
            shared.set_state(ProxyState::Stopped);
        });
        let _ = stopping.await;
    }

    /// Stop as [`Proxy::stop`] does, but leave the saved state saying it runs, so the next
    /// process's `restore` brings it back (a host shutting down, not the user stopping it).
    pub(crate) async fn shut_down(&self) {
        self.shared
            .keep_saved_state
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop().await;
    }

    /// True when both handles are the same proxy.
    pub(crate) fn same_as(&self, other: &Proxy) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Start closing without waiting (used when the manager is dropped).
    pub(crate) fn begin_stop(&self) {
        self.shared.shutdown.cancel();
    }
}
