//! Configuring the manager (`toolhive.configure`) and managing proxies by name, across processes
//! that share a state directory: `restart`, `remove`, `restore`, `state_errors`, `info`, `logs`,
//! `follow_logs`, `secret_store`.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBool;
use tokio_util::sync::CancellationToken;
use toolhive_core::{Error, LogLine, ManagerOptions, Proxy};

use crate::errors::to_pyerr;
use crate::events::{self, BrowserMode};
use crate::proxy::{PyLogLine, PyProxy, PyProxyInfo, py_repr};
use crate::runtime::{self, Managed, begin, block_on, manager, shielded};
use crate::secrets::{self, PyFileStore, PyMemoryStore};

/// `toolhive.configure(*, state_dir=None, secret_store=None, open_browser=None)`: how this
/// process's proxies are kept. Call it before starting proxies; again (e.g. in tests) only
/// while none of this process is active. Proxies stopped before are forgotten by `get`.
#[pyfunction]
#[pyo3(signature = (*, state_dir=None, secret_store=None, open_browser=None))]
pub fn configure(
    state_dir: Option<&Bound<'_, PyAny>>,
    secret_store: Option<&Bound<'_, PyAny>>,
    open_browser: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    runtime::check_process()?;
    let state_dir = match state_dir.filter(|d| !d.is_none()) {
        None => None,
        Some(dir) => {
            let path: PathBuf = dir.extract().map_err(|_| {
                invalid(
                    "state_dir",
                    format!(
                        "must be a directory path (str or os.PathLike), not {}",
                        type_name(dir)
                    ),
                )
            })?;
            if path.as_os_str().is_empty() {
                return Err(invalid(
                    "state_dir",
                    "must not be empty (leave it out to keep everything in memory)".to_owned(),
                ));
            }
            Some(path)
        }
    };
    let browser = match open_browser.filter(|b| !b.is_none()) {
        None => BrowserMode::Auto,
        Some(b) => match b.cast::<PyBool>() {
            Ok(b) if b.is_true() => BrowserMode::Always,
            Ok(_) => BrowserMode::Never,
            Err(_) => {
                return Err(invalid(
                    "open_browser",
                    format!("must be True, False or None, not {}", type_name(b)),
                ));
            }
        },
    };
    let (store, object) = match secret_store.filter(|s| !s.is_none()) {
        None => (None, None),
        Some(object) => {
            let store = secrets::from_python(object)
                .map_err(|(field, message)| to_pyerr(Error::invalid(field, message)))?;
            (Some(store), Some(object.clone().unbind()))
        }
    };
    let options = ManagerOptions {
        state_dir,
        secret_store: store,
        suppress_browser: false, // set from `browser` by Managed::new
    };
    runtime::replace(move || Managed::new(options, browser, object)).map_err(to_pyerr)
}

fn invalid(field: &str, message: String) -> PyErr {
    to_pyerr(Error::invalid(field, message))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "value".to_owned())
}

/// The per-user default state directory (`$XDG_STATE_HOME/toolhive-embed`), for
/// `configure(state_dir=toolhive.default_state_dir())`; None if the home is unknown.
#[pyfunction]
pub fn default_state_dir() -> Option<PathBuf> {
    ManagerOptions::default_state_dir()
}

/// The secret store proxies use: the object given to `configure(secret_store=...)`, or the
/// default one (`FileSecretStore(<state_dir>/secrets.json)` with a state directory, else the
/// process's `MemorySecretStore`).
#[pyfunction]
pub fn secret_store(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let current = runtime::current();
    if let Some(object) = &current.store {
        return Ok(object.clone_ref(py));
    }
    let inner = current.manager.secret_store().clone();
    match &current.state_dir {
        Some(dir) => PyFileStore::wrap(
            py,
            inner,
            toolhive_core::ManagerOptions::default_secrets_file(dir),
        ),
        None => PyMemoryStore::wrap(py, inner),
    }
}

/// `toolhive.restart(name) -> ProxyInfo`: stop the proxy and start it again with the same
/// config on the same port (in the process serving it; a saved, stopped one starts here).
#[pyfunction]
pub fn restart(py: Python<'_>, name: String) -> PyResult<PyProxyInfo> {
    let (manager, busy) = begin();
    let info = block_on(py, async move {
        let _busy = busy;
        manager.restart(&name).await
    })?
    .map_err(to_pyerr)?;
    Ok(info.into())
}

/// `await toolhive.restart_async(name)`.
#[pyfunction]
pub fn restart_async(py: Python<'_>, name: String) -> PyResult<Bound<'_, PyAny>> {
    let (manager, busy) = begin();
    runtime::future_into_py(py, async move {
        let _busy = busy;
        let info = manager.restart(&name).await.map_err(to_pyerr)?;
        Ok(PyProxyInfo::from(info))
    })
}

/// `toolhive.remove(name)`: stop the proxy (wherever it runs) and delete its saved config, its
/// log file and its secrets (every key under `proxy/<name>/`). Runs to the end even if the
/// caller stops waiting.
#[pyfunction]
pub fn remove(py: Python<'_>, name: String) -> PyResult<()> {
    let manager = manager();
    block_on(py, shielded(async move { manager.remove(&name).await }))?.map_err(to_pyerr)
}

/// `await toolhive.remove_async(name)`.
#[pyfunction]
pub fn remove_async(py: Python<'_>, name: String) -> PyResult<Bound<'_, PyAny>> {
    let manager = manager();
    runtime::future_into_py(py, async move {
        shielded(async move { manager.remove(&name).await })
            .await
            .map_err(to_pyerr)
    })
}

/// One proxy `restore()` tried: `proxy` when it runs again, else `error`.
#[pyclass(module = "toolhive", name = "RestoreResult", frozen)]
pub struct PyRestoreResult {
    name: String,
    result: Result<Proxy, Error>,
    proxy: PyOnceLock<Py<PyProxy>>,
    error: PyOnceLock<Py<PyAny>>,
}

impl PyRestoreResult {
    fn new((name, result): (String, Result<Proxy, Error>)) -> Self {
        PyRestoreResult {
            name,
            result,
            proxy: PyOnceLock::new(),
            error: PyOnceLock::new(),
        }
    }
}

#[pymethods]
impl PyRestoreResult {
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The proxy, running again; None if it could not be started.
    #[getter]
    fn proxy(&self, py: Python<'_>) -> PyResult<Option<Py<PyProxy>>> {
        match &self.result {
            Ok(proxy) => Ok(Some(
                self.proxy
                    .get_or_try_init(py, || Py::new(py, PyProxy::new(proxy.clone())))?
                    .clone_ref(py),
            )),
            Err(_) => Ok(None),
        }
    }

    /// Why it could not be started (a `ToolhiveError`), or None.
    #[getter]
    fn error(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match &self.result {
            Ok(_) => Ok(None),
            Err(err) => Ok(Some(
                self.error
                    .get_or_try_init(py, || {
                        let exc = crate::errors::build(py, err)?;
                        Ok::<_, PyErr>(exc.into_value(py).into_any())
                    })?
                    .clone_ref(py),
            )),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match &self.result {
            Ok(proxy) => format!(
                "RestoreResult(name={}, url={})",
                py_repr(py, &self.name),
                py_repr(py, proxy.url())
            ),
            Err(err) => format!(
                "RestoreResult(name={}, error={})",
                py_repr(py, &self.name),
                py_repr(py, &err.to_string())
            ),
        }
    }
}

/// `toolhive.restore() -> list[RestoreResult]`: start every saved proxy that was running when
/// its process ended (call it at startup); proxies served by a live process are left alone.
#[pyfunction]
pub fn restore(py: Python<'_>) -> PyResult<Vec<PyRestoreResult>> {
    let (manager, busy) = begin();
    let results = block_on(py, async move {
        let _busy = busy;
        manager.restore().await
    })?;
    Ok(results.into_iter().map(PyRestoreResult::new).collect())
}

/// `await toolhive.restore_async()`.
#[pyfunction]
pub fn restore_async(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let (manager, busy) = begin();
    runtime::future_into_py(py, async move {
        let _busy = busy;
        let results = manager.restore().await;
        Ok(results
            .into_iter()
            .map(PyRestoreResult::new)
            .collect::<Vec<_>>())
    })
}

/// A state file that could not be used (corrupt, unreadable, from a newer version): `list()`
/// and `restore()` skip it and nothing overwrites it. A record, not an exception.
#[pyclass(module = "toolhive", name = "BadStateFile", frozen, eq)]
#[derive(PartialEq)]
pub struct PyBadStateFile {
    path: PathBuf,
    message: String,
}

#[pymethods]
impl PyBadStateFile {
    /// The file.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// What is wrong with it.
    #[getter]
    fn message(&self) -> &str {
        &self.message
    }

    fn __str__(&self) -> String {
        format!("{}: {}", self.path.display(), self.message)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "BadStateFile(path={}, message={})",
            py_repr(py, &self.path.display().to_string()),
            py_repr(py, &self.message)
        )
    }
}

/// `toolhive.state_errors() -> list[BadStateFile]`: the state files `list()` and `restore()`
/// had to skip.
#[pyfunction]
pub fn state_errors(py: Python<'_>) -> Vec<PyBadStateFile> {
    py.detach(|| manager().state_errors())
        .into_iter()
        .map(|e| PyBadStateFile {
            path: e.path,
            message: e.message,
        })
        .collect()
}

/// `toolhive.info(name) -> ProxyInfo`: the proxy called `name`, wherever it runs
/// (NotFoundError if none).
#[pyfunction]
pub fn info(py: Python<'_>, name: &str) -> PyResult<PyProxyInfo> {
    let info = py.detach(|| manager().info(name)).map_err(to_pyerr)?;
    Ok(info.into())
}

/// `toolhive.logs(name) -> list[LogLine]`: recent log lines of the proxy called `name` (from its
/// log file when another process serves it).
#[pyfunction]
pub fn logs(py: Python<'_>, name: &str) -> PyResult<Vec<PyLogLine>> {
    let lines = py.detach(|| manager().logs(name)).map_err(to_pyerr)?;
    Ok(lines.into_iter().map(PyLogLine::from).collect())
}

struct Follow {
    follower: tokio::sync::Mutex<toolhive_core::LogFollower>,
    name: String,
    closed: CancellationToken,
}

impl Follow {
    async fn next(&self) -> Option<LogLine> {
        let mut follower = tokio::select! {
            f = self.follower.lock() => f,
            _ = self.closed.cancelled() => return None,
        };
        tokio::select! {
            biased;
            _ = self.closed.cancelled() => None,
            line = follower.next() => line,
        }
    }
}

/// `toolhive.follow_logs(name)`: the proxy's new log lines as they are written, with
/// `async for` (or a blocking `for`). Close it (or leave its `with` block) to end it.
#[pyclass(module = "toolhive", name = "LogFollower", frozen)]
pub struct PyLogFollower {
    inner: Arc<Follow>,
}

#[pymethods]
impl PyLogFollower {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        runtime::future_into_py(py, async move {
            match inner.next().await {
                Some(line) => Ok(PyLogLine::from(line)),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyLogLine>> {
        let inner = self.inner.clone();
        Ok(block_on(py, async move { inner.next().await })?.map(PyLogLine::from))
    }

    /// End the iteration (a waiting `__anext__` / `__next__` returns at once).
    fn close(&self) {
        self.inner.closed.cancel();
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __exit__(
        &self,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) {
        let _ = (exc_type, exc_value, traceback);
        self.close();
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
        self.close();
        runtime::future_into_py(py, async move { Ok(()) })
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = if self.closed() { "closed" } else { "open" };
        format!(
            "<toolhive.LogFollower proxy={} {state}>",
            py_repr(py, &self.inner.name)
        )
    }
}

/// `toolhive.follow_logs(name) -> LogFollower`: the log lines of `name` from now on (from its
/// log file when another process serves it). NotFoundError if there is no such proxy.
#[pyfunction]
pub fn follow_logs(py: Python<'_>, name: String) -> PyResult<PyLogFollower> {
    runtime::check_process()?;
    let follower = py
        .detach(|| manager().follow_logs(&name))
        .map_err(to_pyerr)?;
    Ok(PyLogFollower {
        inner: Arc::new(Follow {
            follower: tokio::sync::Mutex::new(follower),
            name,
            closed: events::child_token(),
        }),
    })
}
