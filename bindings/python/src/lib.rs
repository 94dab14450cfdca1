//! Python binding over toolhive-core: the extension module `toolhive._native`, re-exported by the
//! `toolhive` package (python/toolhive). A thin translation layer: every behaviour lives in core.
//!
//! Threads and the GIL:
//! - one process-wide tokio runtime, created on import, and one current `ProxyManager`
//!   ([`runtime`]), made on first use or by `toolhive.configure` ([`manage`]);
//! - blocking calls release the GIL (`Python::detach`) while they wait on the runtime;
//! - asyncio calls return asyncio futures (pyo3-async-runtimes) that run on the runtime, so the
//!   event loop never waits; cancelling the future drops the Rust future;
//! - Python code (the `logging` bridge, event callbacks, a secret store written in Python
//!   ([`secrets`])) only ever runs on one dispatcher thread of ours ([`dispatch`]), never on a
//!   runtime worker: runtime threads take the GIL only to build the exception of a failed
//!   asyncio call (and pyo3-async-runtimes to set results, on its blocking threads); an async
//!   store method runs on the event loop `configure()` was called from;
//! - interpreter exit (`_shutdown`, registered with `atexit`) stops the proxies while Python
//!   still works; after it, no thread of ours attaches to the interpreter again.

mod config;
mod dispatch;
mod errors;
mod events;
mod manage;
mod proxy;
mod runtime;
mod secrets;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::to_pyerr;
use crate::proxy::{PyProxy, PyProxyInfo};
use crate::runtime::{begin, block_on, manager, shielded};

/// `toolhive.start(url, options=None, /, **options) -> Proxy`: start a proxy and return once its
/// local URL accepts connections. Releases the GIL while it waits.
#[pyfunction]
#[pyo3(signature = (url, options=None, /, **kwargs))]
fn start(
    py: Python<'_>,
    url: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyProxy> {
    dispatch::sync_level(py);
    let config = config::build(url, options, kwargs)?;
    let (manager, busy) = begin();
    let proxy = block_on(py, async move {
        let _busy = busy;
        manager.start(config).await
    })?
    .map_err(to_pyerr)?;
    Ok(PyProxy::new(proxy))
}

/// `await toolhive.start_async(url, options=None, /, **options) -> Proxy`.
#[pyfunction]
#[pyo3(signature = (url, options=None, /, **kwargs))]
fn start_async<'py>(
    py: Python<'py>,
    url: &Bound<'py, PyAny>,
    options: Option<&Bound<'py, PyAny>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    dispatch::sync_level(py);
    // Bad options fail the awaitable (not the call), like every other failure of the start.
    let config = config::build(url, options, kwargs);
    let (manager, busy) = begin();
    runtime::future_into_py(py, async move {
        let _busy = busy;
        let proxy = manager.start(config?).await.map_err(to_pyerr)?;
        Ok(PyProxy::new(proxy))
    })
}

/// Every proxy of this process (running or stopped), plus with a state directory those saved
/// or served by other processes, sorted by name.
#[pyfunction]
fn list(py: Python<'_>) -> Vec<PyProxyInfo> {
    py.detach(|| manager().list())
        .into_iter()
        .map(PyProxyInfo::from)
        .collect()
}

/// The proxy called `name`, or None.
#[pyfunction]
fn get(py: Python<'_>, name: &str) -> Option<PyProxy> {
    py.detach(|| manager().get(name)).map(PyProxy::new)
}

/// Stop the proxy called `name`, here or in the process serving it; its saved config is kept
/// (NotFoundError if there is none; stopping twice is fine).
#[pyfunction]
fn stop(py: Python<'_>, name: String) -> PyResult<()> {
    let manager = manager();
    block_on(py, shielded(async move { manager.stop(&name).await }))?.map_err(to_pyerr)
}

/// `await toolhive.stop_async(name)`.
#[pyfunction]
fn stop_async(py: Python<'_>, name: String) -> PyResult<Bound<'_, PyAny>> {
    let manager = manager();
    runtime::future_into_py(py, async move {
        shielded(async move { manager.stop(&name).await })
            .await
            .map_err(to_pyerr)
    })
}

/// Stop every proxy of this process, concurrently.
#[pyfunction]
fn stop_all(py: Python<'_>) -> PyResult<()> {
    let manager = manager();
    block_on(py, shielded(async move { manager.stop_all().await }))
}

/// `await toolhive.stop_all_async()`.
#[pyfunction]
fn stop_all_async(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let manager = manager();
    runtime::future_into_py(py, async move {
        shielded(async move { manager.stop_all().await }).await;
        Ok(())
    })
}

/// Registered with `atexit` by the package: stop every proxy (each within its grace period),
/// end every event stream and subscription, and hand the last log lines to `logging`; after
/// this, no thread of ours calls into the interpreter again.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    runtime::shutdown(py);
    events::close_all();
    dispatch::shutdown(py);
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", toolhive_core::VERSION)?;
    m.add("ERROR_KINDS", errors::kinds(py)?)?;
    m.add_function(wrap_pyfunction!(start, m)?)?;
    m.add_function(wrap_pyfunction!(start_async, m)?)?;
    m.add_function(wrap_pyfunction!(list, m)?)?;
    m.add_function(wrap_pyfunction!(get, m)?)?;
    m.add_function(wrap_pyfunction!(stop, m)?)?;
    m.add_function(wrap_pyfunction!(stop_async, m)?)?;
    m.add_function(wrap_pyfunction!(stop_all, m)?)?;
    m.add_function(wrap_pyfunction!(stop_all_async, m)?)?;
    m.add_function(wrap_pyfunction!(events::events, m)?)?;
    m.add_function(wrap_pyfunction!(events::subscribe, m)?)?;
    m.add_function(wrap_pyfunction!(events::on_authorization_required, m)?)?;
    m.add_function(wrap_pyfunction!(manage::configure, m)?)?;
    m.add_function(wrap_pyfunction!(manage::default_state_dir, m)?)?;
    m.add_function(wrap_pyfunction!(manage::secret_store, m)?)?;
    m.add_function(wrap_pyfunction!(manage::restart, m)?)?;
    m.add_function(wrap_pyfunction!(manage::restart_async, m)?)?;
    m.add_function(wrap_pyfunction!(manage::remove, m)?)?;
    m.add_function(wrap_pyfunction!(manage::remove_async, m)?)?;
    m.add_function(wrap_pyfunction!(manage::restore, m)?)?;
    m.add_function(wrap_pyfunction!(manage::restore_async, m)?)?;
    m.add_function(wrap_pyfunction!(manage::state_errors, m)?)?;
    m.add_function(wrap_pyfunction!(manage::info, m)?)?;
    m.add_function(wrap_pyfunction!(manage::logs, m)?)?;
    m.add_function(wrap_pyfunction!(manage::follow_logs, m)?)?;
    m.add_function(wrap_pyfunction!(_shutdown, m)?)?;
    m.add_class::<PyProxy>()?;
    m.add_class::<PyProxyInfo>()?;
    m.add_class::<proxy::PyLogLine>()?;
    m.add_class::<proxy::PyAuthState>()?;
    m.add_class::<manage::PyRestoreResult>()?;
    m.add_class::<manage::PyBadStateFile>()?;
    m.add_class::<manage::PyLogFollower>()?;
    m.add_class::<secrets::PyBuiltinStore>()?;
    m.add_class::<secrets::PyFileStore>()?;
    m.add_class::<secrets::PyEnvStore>()?;
    m.add_class::<secrets::PyMemoryStore>()?;
    m.add_class::<events::PyEvent>()?;
    m.add_class::<events::PyEventStream>()?;
    m.add_class::<events::PySubscription>()?;
    // Start the runtime now, not in the middle of the first call.
    runtime::init();
    dispatch::install(py)?;
    Ok(())
}
