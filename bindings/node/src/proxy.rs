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
        }
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

/// One recent log line of a proxy (`proxy.logs()`).
#[napi(object, object_from_js = false)]
pub struct LogLine {
    #[napi(ts_type = "Date")]
    pub at: Timestamp,
    pub level: LogLevel,
    pub message: String,
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
/// lets the process exit while it runs.
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

    /// A snapshot like the entries of `list()` (also what `JSON.stringify(proxy)` gives).
    #[napi(js_name = "toJSON")]
    pub fn to_json(&self) -> ProxyInfo {
        self.inner.info().into()
    }

    /// Recent log lines, oldest first (a bounded ring; debug lines are not kept).
    #[napi]
    pub fn logs(&self) -> Vec<LogLine> {
        self.inner
            .logs()
            .into_iter()
            .map(|line| LogLine {
                at: Timestamp(line.at),
                level: line.level.into(),
                message: line.message,
            })
            .collect()
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
