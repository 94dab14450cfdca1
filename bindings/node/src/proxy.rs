//! `Proxy` (a handle on one running proxy) and the plain objects `list()` and `logs()` return.

use napi::bindgen_prelude::PromiseRaw;
use napi::{Env, Result};
use napi_derive::napi;

use crate::convert::Timestamp;
use crate::env_state::state;

/// A snapshot of one proxy, as `list()` returns it.
#[napi(object, object_from_js = false)]
pub struct ProxyInfo {
    /// Unique name within this process (or worker).
    pub name: String,
    /// The remote MCP URL as configured.
    pub remote_url: String,
    /// The local MCP URL clients connect to (`proxy.url`).
    pub local_url: String,
    /// `'streamable-http'` or `'sse'`.
    pub transport: String,
    /// `'starting'`, `'running'`, `'unhealthy'`, `'stopping'`, `'stopped'` or `'failed'`.
    #[napi(ts_type = "ProxyState")]
    pub state: String,
    /// Why it failed, when `state` is `'failed'`.
    pub reason: Option<String>,
    /// When it started.
    #[napi(ts_type = "Date")]
    pub started_at: Timestamp,
    /// The process serving it, while it runs (this one, or another one sharing the state
    /// directory).
    pub pid: Option<u32>,
    /// Its state file says it runs but its process is gone: it was not stopped cleanly
    /// (`restore()` starts it again).
    pub stale: bool,
    /// Where it stands with the remote's authorization server; absent with static
    /// credentials (a bearer token, headers) or none.
    pub auth: Option<AuthState>,
}

impl From<toolhive_core::ProxyInfo> for ProxyInfo {
    fn from(info: toolhive_core::ProxyInfo) -> Self {
        ProxyInfo {
            name: info.name,
            remote_url: info.remote_url,
            local_url: info.local_url,
            transport: info.transport.as_str().to_owned(),
            state: info.state.as_str().to_owned(),
            reason: failure_reason(&info.state),
            started_at: Timestamp(info.started_at),
            pid: info.pid,
            stale: info.stale,
            auth: info.auth.as_ref().map(AuthState::from),
        }
    }
}

/// The names of the authorization states (type only: the values are core's names).
#[napi(string_enum = "snake_case")]
pub enum AuthStateName {
    /// No authorization needed so far.
    Unauthenticated,
    /// Waiting for the user to log in (see the `authorization_required` event).
    Authorizing,
    /// Holding a valid token.
    Authenticated,
    /// Refreshing the access token.
    Refreshing,
    /// A transient failure; the next attempt is at `nextAttemptAt`.
    AuthRetrying,
    /// The authorization server rejected the refresh token (or the login failed): the user
    /// must log in again.
    NeedsLogin,
}

/// A proxy's authorization state: `list()` entries' `auth`, `proxy.authState`, and the
/// `state` of `auth_state_changed` events. While no valid token exists the proxy answers MCP
/// clients 503 with `Retry-After`.
#[napi(object, object_from_js = false)]
pub struct AuthState {
    /// `'authenticated'`, `'authorizing'`, `'refreshing'`, `'auth_retrying'`, `'needs_login'`
    /// or `'unauthenticated'`.
    #[napi(ts_type = "AuthStateName")]
    pub state: String,
    /// For `'authenticated'`: when the access token expires, if known.
    #[napi(ts_type = "Date")]
    pub expires_at: Option<Timestamp>,
    /// For `'auth_retrying'`: when the proxy tries again.
    #[napi(ts_type = "Date")]
    pub next_attempt_at: Option<Timestamp>,
    /// For `'auth_retrying'` and `'needs_login'`: what went wrong.
    pub reason: Option<String>,
}

impl From<&toolhive_core::AuthState> for AuthState {
    fn from(state: &toolhive_core::AuthState) -> Self {
        use toolhive_core::AuthState as Core;
        let mut out = AuthState {
            state: state.as_str().to_owned(),
            expires_at: None,
            next_attempt_at: None,
            reason: None,
        };
        match state {
            Core::Authenticated { expires_at } => out.expires_at = expires_at.map(Timestamp),
            Core::AuthRetrying {
                next_attempt_at,
                reason,
            } => {
                out.next_attempt_at = Some(Timestamp(*next_attempt_at));
                out.reason = Some(reason.clone());
            }
            Core::NeedsLogin { reason } => out.reason = Some(reason.clone()),
            _ => {}
        }
        out
    }
}

/// The lifecycle states of a proxy (type only: the values are core's state names).
#[napi(string_enum = "lowercase")]
pub enum ProxyState {
    Starting,
    Running,
    Unhealthy,
    Stopping,
    Stopped,
    Failed,
}

/// Severity of a log line or record.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl From<toolhive_core::LogLevel> for LogLevel {
    fn from(level: toolhive_core::LogLevel) -> Self {
        match level {
            toolhive_core::LogLevel::Debug => LogLevel::Debug,
            toolhive_core::LogLevel::Info => LogLevel::Info,
            toolhive_core::LogLevel::Warn => LogLevel::Warn,
            toolhive_core::LogLevel::Error => LogLevel::Error,
        }
    }
}

impl From<LogLevel> for toolhive_core::LogLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Debug => toolhive_core::LogLevel::Debug,
            LogLevel::Info => toolhive_core::LogLevel::Info,
            LogLevel::Warn => toolhive_core::LogLevel::Warn,
            LogLevel::Error => toolhive_core::LogLevel::Error,
        }
    }
}

/// One log line of a proxy (`proxy.logs()`, `logs(name)`, `followLogs`).
#[napi(object, object_from_js = false)]
pub struct LogLine {
    #[napi(ts_type = "Date")]
    pub at: Timestamp,
    pub level: LogLevel,
    pub message: String,
}

impl From<toolhive_core::LogLine> for LogLine {
    fn from(line: toolhive_core::LogLine) -> Self {
        LogLine {
            at: Timestamp(line.at),
            level: line.level.into(),
            message: line.message,
        }
    }
}

fn failure_reason(state: &toolhive_core::ProxyState) -> Option<String> {
    match state {
        toolhive_core::ProxyState::Failed { reason } => Some(reason.clone()),
        _ => None,
    }
}

/// A proxy in front of one remote MCP server, running in this process. Give `url` to any MCP
/// client.
///
/// A running proxy keeps the Node process alive, like a listening `net.Server`; `unref()`
/// lets the process exit while it runs. `restart(name)` replaces it with a new `Proxy` on the
/// same port: this handle then shows the old one, stopped (`get(name)` gives the new one).
#[napi]
pub struct Proxy {
    pub(crate) inner: toolhive_core::Proxy,
}

#[napi]
impl Proxy {
    /// The local MCP URL, e.g. `http://127.0.0.1:41873/mcp`.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.inner.url().to_owned()
    }

    /// The unique name of this proxy.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// The remote MCP URL as configured.
    #[napi(getter)]
    pub fn remote_url(&self) -> String {
        self.inner.remote_url().to_owned()
    }

    /// `'streamable-http'` or `'sse'`.
    #[napi(getter)]
    pub fn transport(&self) -> String {
        self.inner.transport().as_str().to_owned()
    }

    /// The current state (read live).
    #[napi(getter, ts_return_type = "ProxyState")]
    pub fn state(&self) -> String {
        self.inner.state().as_str().to_owned()
    }

    /// Why it failed, when `state` is `'failed'`; else `null`.
    #[napi(getter)]
    pub fn reason(&self) -> Option<String> {
        failure_reason(&self.inner.state())
    }

    /// The authorization state (read live); `null` with static credentials (a bearer token,
    /// headers) or none.
    #[napi(getter)]
    pub fn auth_state(&self) -> Option<AuthState> {
        self.inner.auth_state().as_ref().map(AuthState::from)
    }

    /// A snapshot like the entries of `list()` (also what `JSON.stringify(proxy)` gives).
    #[napi(js_name = "toJSON")]
    pub fn to_json(&self) -> ProxyInfo {
        self.inner.info().into()
    }

    /// Recent log lines, oldest first (a bounded ring; debug lines are not kept).
    #[napi]
    pub fn logs(&self) -> Vec<LogLine> {
        self.inner.logs().into_iter().map(LogLine::from).collect()
    }

    /// Stop gracefully: in-flight requests finish (within `stopGraceMs`), the port is released.
    /// Stopping a stopped proxy resolves at once.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let proxy = self.inner.clone();
        env.spawn_future_with_callback(
            async move {
                proxy.stop().await;
                Ok(())
            },
            // The keep-alive is released by the event pump once it has delivered `stopped`, so
            // listeners see every event up to it before the process may exit.
            |_env, ()| Ok(()),
        )
    }

    /// Let the process exit even while this proxy runs (like `server.unref()`).
    #[napi]
    pub fn unref(&self, env: &Env) -> Result<()> {
        state(env)?.set_ref(env, self.inner.name(), false)
    }

    /// Undo `unref()`: a running proxy keeps the process alive again.
    #[napi(js_name = "ref")]
    pub fn reference(&self, env: &Env) -> Result<()> {
        state(env)?.set_ref(env, self.inner.name(), true)
    }
}
