//! Core events for Python: `toolhive.subscribe(callback)` calls a callable (on the dispatcher
//! thread) and `toolhive.events()` is an async (and blocking) iterator.

use std::sync::{Arc, LazyLock};

use pyo3::exceptions::{PyStopAsyncIteration, PyTypeError};
use pyo3::prelude::*;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use toolhive_core::{AuthState, EventKind, ProxyEvent, ProxyState};

use crate::dispatch;
use crate::proxy::{json_to_py, py_repr};
use crate::runtime::{self, block_on, manager};

/// Parent of every stream's and subscription's token: interpreter exit closes them all.
static ALL: LazyLock<CancellationToken> = LazyLock::new(CancellationToken::new);

pub fn close_all() {
    ALL.cancel();
}

/// One event: `proxy`, `type` and `data` (its JSON form as a dict), plus typed shortcuts:
/// `from_state` / `to_state` for `"state_changed"`, `url` for `"authorization_required"` (show
/// it to the user), `auth_state` for `"auth_state_changed"`, and `reason` where one applies.
/// Kinds added to the core later arrive with their `type` and `data`.
#[pyclass(module = "toolhive", name = "Event", frozen, eq)]
#[derive(PartialEq)]
pub struct PyEvent {
    event: ProxyEvent,
}

impl From<ProxyEvent> for PyEvent {
    fn from(event: ProxyEvent) -> Self {
        PyEvent { event }
    }
}

impl PyEvent {
    fn states(&self) -> Option<(&ProxyState, &ProxyState)> {
        match &self.event.kind {
            EventKind::StateChanged { from, to } => Some((from, to)),
            _ => None,
        }
    }
}

#[pymethods]
impl PyEvent {
    #[getter]
    fn proxy(&self) -> &str {
        &self.event.proxy
    }

    #[getter(r#type)]
    fn kind(&self) -> &'static str {
        self.event.kind.as_str()
    }

    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.event.to_json())
    }

    #[getter(from_state)]
    fn left_state(&self) -> Option<&'static str> {
        self.states().map(|(from, _)| from.as_str())
    }

    #[getter]
    fn to_state(&self) -> Option<&'static str> {
        self.states().map(|(_, to)| to.as_str())
    }

    /// The URL the user must open to log in (`"authorization_required"` only).
    #[getter]
    fn url(&self) -> Option<&str> {
        match &self.event.kind {
            EventKind::AuthorizationRequired { url } => Some(url),
            _ => None,
        }
    }

    /// `"authenticated"`, `"refreshing"`, `"needs_login"`, ... (`"auth_state_changed"` only).
    #[getter]
    fn auth_state(&self) -> Option<&'static str> {
        match &self.event.kind {
            EventKind::AuthStateChanged { state } => Some(state.as_str()),
            _ => None,
        }
    }

    /// Why: for a move to `"failed"`, or an auth state that failed.
    #[getter]
    fn reason(&self) -> Option<&str> {
        match &self.event.kind {
            EventKind::StateChanged {
                to: ProxyState::Failed { reason },
                ..
            } => Some(reason),
            EventKind::AuthStateChanged {
                state: AuthState::AuthRetrying { reason, .. } | AuthState::NeedsLogin { reason },
            } => Some(reason),
            _ => None,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.states() {
            Some((from, to)) => format!(
                "<toolhive.Event {} proxy={} {} -> {}>",
                self.kind(),
                py_repr(py, &self.event.proxy),
                from.as_str(),
                to.as_str()
            ),
            None => format!(
                "<toolhive.Event {} proxy={}>",
                self.kind(),
                py_repr(py, &self.event.proxy)
            ),
        }
    }
}

/// A receiver of the manager's events, optionally of one proxy only.
struct Receiver {
    rx: tokio::sync::Mutex<broadcast::Receiver<ProxyEvent>>,
    proxy: Option<String>,
    closed: CancellationToken,
}

impl Receiver {
    fn new(proxy: Option<String>) -> Self {
        Receiver {
            rx: tokio::sync::Mutex::new(manager().subscribe()),
            proxy,
            closed: ALL.child_token(),
        }
    }

    /// The next event, or None once closed.
    async fn next(&self) -> Option<ProxyEvent> {
        let mut rx = tokio::select! {
            rx = self.rx.lock() => rx,
            _ = self.closed.cancelled() => return None,
        };
        loop {
            tokio::select! {
                biased;
                _ = self.closed.cancelled() => return None,
                got = rx.recv() => match got {
                    Ok(event) => {
                        if self.proxy.as_ref().is_none_or(|p| *p == event.proxy) {
                            return Some(event);
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!("an event receiver fell behind and missed {missed} events");
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

/// `toolhive.events(proxy=None)`: iterate over events from now on, with `async for` (or a
/// blocking `for`). Close it (or leave its `with` / `async with` block) to end the iteration.
#[pyclass(module = "toolhive", name = "EventStream", frozen)]
pub struct PyEventStream {
    inner: Arc<Receiver>,
}

#[pymethods]
impl PyEventStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        runtime::future_into_py(py, async move {
            match inner.next().await {
                Some(event) => Ok(PyEvent::from(event)),
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        let inner = self.inner.clone();
        Ok(block_on(py, async move { inner.next().await })?.map(PyEvent::from))
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
        match &self.inner.proxy {
            Some(proxy) => format!(
                "<toolhive.EventStream proxy={} {state}>",
                py_repr(py, proxy)
            ),
            None => format!("<toolhive.EventStream {state}>"),
        }
    }
}

/// `toolhive.events(proxy=None) -> EventStream`: every event from now on (of one proxy, if named).
#[pyfunction]
#[pyo3(signature = (proxy=None))]
pub fn events(proxy: Option<String>) -> PyResult<PyEventStream> {
    runtime::check_process()?;
    Ok(PyEventStream {
        inner: Arc::new(Receiver::new(proxy)),
    })
}

/// The handle of a callback subscription; `close()` ends it.
#[pyclass(module = "toolhive", name = "Subscription", frozen)]
pub struct PySubscription {
    closed: CancellationToken,
}

#[pymethods]
impl PySubscription {
    /// Stop calling the callback (a call already running finishes).
    fn close(&self) {
        self.closed.cancel();
    }

    #[getter]
    fn closed(&self) -> bool {
        self.closed.is_cancelled()
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

    fn __repr__(&self) -> String {
        let state = if self.closed() { "closed" } else { "open" };
        format!("<toolhive.Subscription {state}>")
    }
}

/// `toolhive.subscribe(callback, proxy=None) -> Subscription`: call `callback(event)` for every
/// event from now on, on a background thread of toolhive's, one call at a time, in order.
#[pyfunction]
#[pyo3(signature = (callback, proxy=None))]
pub fn subscribe(callback: &Bound<'_, PyAny>, proxy: Option<String>) -> PyResult<PySubscription> {
    runtime::check_process()?;
    if !callback.is_callable() {
        return Err(PyTypeError::new_err(format!(
            "callback must be callable, not {}",
            callback.get_type().name()?
        )));
    }
    let callback = Arc::new(callback.clone().unbind());
    // Subscribed before returning: no event after `subscribe()` returns is missed.
    let receiver = Receiver::new(proxy);
    let closed = receiver.closed.clone();
    runtime::runtime().spawn(async move {
        while let Some(event) = receiver.next().await {
            dispatch::call(callback.clone(), event, receiver.closed.clone());
        }
    });
    Ok(PySubscription { closed })
}
