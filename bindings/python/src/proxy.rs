//! `toolhive.Proxy`, `toolhive.ProxyInfo`, `toolhive.AuthState` and `toolhive.LogLine`.

use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use toolhive_core::{AuthState, LogLine, Proxy, ProxyInfo, ProxyState};

use crate::runtime::{self, block_on, shielded};

/// A running (or stopped) proxy. `with toolhive.start(...) as proxy:` / `async with await
/// toolhive.start_async(...) as proxy:` stop it at the end of the block.
#[pyclass(module = "toolhive", name = "Proxy", frozen)]
pub struct PyProxy {
    proxy: Proxy,
}

impl PyProxy {
    pub fn new(proxy: Proxy) -> Self {
        PyProxy { proxy }
    }
}

#[pymethods]
impl PyProxy {
    /// The local MCP URL to give to MCP clients, e.g. `http://127.0.0.1:41873/mcp`.
    #[getter]
    fn url(&self) -> &str {
        self.proxy.url()
    }

    #[getter]
    fn name(&self) -> &str {
        self.proxy.name()
    }

    #[getter]
    fn remote_url(&self) -> &str {
        self.proxy.remote_url()
    }

    /// `"streamable-http"` or `"sse"`.
    #[getter]
    fn transport(&self) -> &'static str {
        self.proxy.transport().as_str()
    }

    /// `"starting"`, `"running"`, `"unhealthy"`, `"stopping"`, `"stopped"` or `"failed"`.
    #[getter]
    fn state(&self) -> &'static str {
        self.proxy.state().as_str()
    }

    /// The authorization state (`"authenticated"`, `"needs_login"`, ...); None when the proxy
    /// uses static credentials.
    #[getter]
    fn auth_state(&self) -> Option<&'static str> {
        self.proxy.auth_state().map(|state| state.as_str())
    }

    /// The authorization state with its details (expiry, next attempt, reason); None when the
    /// proxy uses static credentials.
    #[getter]
    fn auth(&self) -> Option<PyAuthState> {
        self.proxy.auth_state().map(PyAuthState::from)
    }

    /// A snapshot (with `started_at`, and `reason` when failed).
    fn info(&self) -> PyProxyInfo {
        self.proxy.info().into()
    }

    /// Recent log lines, oldest first.
    fn logs(&self) -> Vec<PyLogLine> {
        self.proxy.logs().into_iter().map(PyLogLine::from).collect()
    }

    /// Stop gracefully (in-flight requests get `stop_grace_ms`); stopping twice is fine.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let proxy = self.proxy.clone();
        block_on(py, shielded(async move { proxy.stop().await }))
    }

    /// `await proxy.stop_async()`. Cancelling the await does not undo the stop: it completes.
    fn stop_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let proxy = self.proxy.clone();
        runtime::future_into_py(py, async move {
            shielded(async move { proxy.stop().await }).await;
            Ok(())
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = (exc_type, exc_value, traceback);
        self.stop(py)
    }

    fn __aenter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        runtime::future_into_py(py, async move { Ok(slf) })
    }

    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        exc_type: Option<&Bound<'py, PyAny>>,
        exc_value: Option<&Bound<'py, PyAny>>,
        traceback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (exc_type, exc_value, traceback);
        self.stop_async(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<toolhive.Proxy name={} url={} transport={} state={}>",
            py_repr(py, self.proxy.name()),
            py_repr(py, self.proxy.url()),
            py_repr(py, self.transport()),
            py_repr(py, self.state())
        )
    }
}

/// A snapshot of one proxy, as `toolhive.list()` returns them.
#[pyclass(module = "toolhive", name = "ProxyInfo", frozen, eq)]
#[derive(PartialEq)]
pub struct PyProxyInfo {
    info: ProxyInfo,
}

impl From<ProxyInfo> for PyProxyInfo {
    fn from(info: ProxyInfo) -> Self {
        PyProxyInfo { info }
    }
}

#[pymethods]
impl PyProxyInfo {
    #[getter]
    fn name(&self) -> &str {
        &self.info.name
    }

    #[getter]
    fn remote_url(&self) -> &str {
        &self.info.remote_url
    }

    /// The local MCP URL.
    #[getter]
    fn local_url(&self) -> &str {
        &self.info.local_url
    }

    #[getter]
    fn transport(&self) -> &'static str {
        self.info.transport.as_str()
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.info.state.as_str()
    }

    /// Why it failed (state `"failed"` only).
    #[getter]
    fn reason(&self) -> Option<&str> {
        match &self.info.state {
            ProxyState::Failed { reason } => Some(reason),
            _ => None,
        }
    }

    /// The authorization state's name, None with static credentials (`auth.state`).
    #[getter]
    fn auth_state(&self) -> Option<&'static str> {
        self.info.auth.as_ref().map(|state| state.as_str())
    }

    /// The authorization state with its details, None with static credentials.
    #[getter]
    fn auth(&self) -> Option<PyAuthState> {
        self.info.auth.clone().map(PyAuthState::from)
    }

    /// The process serving it, while it runs (this one, or another using the same state
    /// directory).
    #[getter]
    fn pid(&self) -> Option<u32> {
        self.info.pid
    }

    /// Its state file says it runs but its process is gone (a crash): `restore()` starts it
    /// again.
    #[getter]
    fn stale(&self) -> bool {
        self.info.stale
    }

    /// When it started (an aware UTC datetime).
    #[getter]
    fn started_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, self.info.started_at)
    }

    /// The snapshot as a JSON-shaped dict (the core's JSON form).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.info.to_json())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "ProxyInfo(name={}, local_url={}, transport={}, state={}{})",
            py_repr(py, &self.info.name),
            py_repr(py, &self.info.local_url),
            py_repr(py, self.transport()),
            py_repr(py, self.state()),
            if self.info.stale { ", stale=True" } else { "" }
        )
    }
}

/// Where a proxy stands with the remote's authorization server (OAuth): `state` is
/// `"unauthenticated"`, `"authorizing"` (waiting for the user's login), `"authenticated"`,
/// `"refreshing"`, `"auth_retrying"` (a transient failure; next try at `next_attempt_at`) or
/// `"needs_login"`; `expires_at` (authenticated) and `reason` where they apply.
#[pyclass(module = "toolhive", name = "AuthState", frozen, eq)]
#[derive(PartialEq)]
pub struct PyAuthState {
    state: AuthState,
}

impl From<AuthState> for PyAuthState {
    fn from(state: AuthState) -> Self {
        PyAuthState { state }
    }
}

#[pymethods]
impl PyAuthState {
    #[getter]
    fn state(&self) -> &'static str {
        self.state.as_str()
    }

    /// When the access token expires (`"authenticated"`, if the server said).
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match &self.state {
            AuthState::Authenticated {
                expires_at: Some(at),
            } => datetime(py, *at).map(Some),
            _ => Ok(None),
        }
    }

    /// When the proxy tries again (`"auth_retrying"`).
    #[getter]
    fn next_attempt_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match &self.state {
            AuthState::AuthRetrying {
                next_attempt_at, ..
            } => datetime(py, *next_attempt_at).map(Some),
            _ => Ok(None),
        }
    }

    /// What failed (`"auth_retrying"`, `"needs_login"`).
    #[getter]
    fn reason(&self) -> Option<&str> {
        match &self.state {
            AuthState::AuthRetrying { reason, .. } | AuthState::NeedsLogin { reason } => {
                Some(reason)
            }
            _ => None,
        }
    }

    /// The core's JSON form as a dict (`{"state": "authenticated", "expires_at": "..."}`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = serde_json::to_string(&self.state)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        json_to_py(py, &json)
    }

    fn __str__(&self) -> &'static str {
        self.state.as_str()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.reason() {
            Some(reason) => format!(
                "AuthState(state={}, reason={})",
                py_repr(py, self.state()),
                py_repr(py, reason)
            ),
            None => format!("AuthState(state={})", py_repr(py, self.state())),
        }
    }
}

/// One recent log line of a proxy; `str(line)` is the formatted line.
#[pyclass(module = "toolhive", name = "LogLine", frozen)]
pub struct PyLogLine {
    line: LogLine,
}

impl From<LogLine> for PyLogLine {
    fn from(line: LogLine) -> Self {
        PyLogLine { line }
    }
}

#[pymethods]
impl PyLogLine {
    /// When it was logged (an aware UTC datetime).
    #[getter]
    fn at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, self.line.at)
    }

    /// `"debug"`, `"info"`, `"warn"` or `"error"`.
    #[getter]
    fn level(&self) -> &'static str {
        self.line.level.as_str()
    }

    #[getter]
    fn message(&self) -> &str {
        &self.line.message
    }

    fn __str__(&self) -> String {
        self.line.to_string()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "LogLine(level={}, message={})",
            py_repr(py, self.level()),
            py_repr(py, &self.line.message)
        )
    }
}

/// `datetime.datetime` (aware, UTC) for a `SystemTime`.
pub fn datetime(py: Python<'_>, at: SystemTime) -> PyResult<Bound<'_, PyAny>> {
    let seconds = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    };
    let datetime = py.import("datetime")?;
    let utc = datetime.getattr("timezone")?.getattr("utc")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("tz", utc)?;
    datetime
        .getattr("datetime")?
        .call_method("fromtimestamp", (seconds,), Some(&kwargs))
}

/// A JSON text from the core as Python objects (`json.loads`).
pub fn json_to_py<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOADS.import(py, "json", "loads")?.call1((json,))
}

/// A string as Python's `repr()` writes it (for `__repr__`s).
pub fn py_repr(py: Python<'_>, s: &str) -> String {
    pyo3::types::PyString::new(py, s)
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| format!("{s:?}"))
}
