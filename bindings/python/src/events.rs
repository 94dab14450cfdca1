//! Core events for Python: `toolhive.subscribe(callback)` calls a callable (on the dispatcher
//! thread) and `toolhive.events()` is an async (and blocking) iterator;
//! `toolhive.on_authorization_required(handler)` registers who shows login URLs.
//!
//! Every manager's events go through one pump ([`pump`]) into the binding's own channel, so
//! streams and subscriptions outlive a `configure()` that replaces the manager. In the default
//! browser mode ([`BrowserMode::Auto`]) the pump also opens the system browser for an
//! "authorization required" event that no authorization handler takes.

use std::sync::{Arc, LazyLock, Mutex};

use pyo3::exceptions::{PyStopAsyncIteration, PyTypeError};
use pyo3::prelude::*;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use toolhive_core::{AuthState, EventKind, ProxyEvent, ProxyManager, ProxyState};

use crate::dispatch;
use crate::proxy::{PyAuthState, json_to_py, py_repr};
use crate::runtime::{self, block_on, manager};

/// Events buffered per stream or subscription before a slow one starts missing some.
const EVENT_BUFFER: usize = 1024;

/// Parent of every stream's and subscription's token: interpreter exit closes them all.
static ALL: LazyLock<CancellationToken> = LazyLock::new(CancellationToken::new);

/// The events of every manager this process had, for streams and subscriptions.
static EVENTS: LazyLock<broadcast::Sender<ProxyEvent>> =
    LazyLock::new(|| broadcast::channel(EVENT_BUFFER).0);

/// The live authorization handlers: (proxy filter, closed).
static HANDLERS: Mutex<Vec<(Option<String>, CancellationToken)>> = Mutex::new(Vec::new());

pub fn close_all() {
    ALL.cancel();
}

/// A token that interpreter exit cancels (for iterators that must end then).
pub fn child_token() -> CancellationToken {
    ALL.child_token()
}

/// Who opens the system browser when a proxy needs an OAuth login (`configure(open_browser=)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserMode {
    /// `None` (the default): the binding opens it, unless an authorization handler is
    /// registered for the proxy (or the proxy has `oauth.skip_browser`).
    Auto,
    /// `True`: the core opens it for every login (unless `oauth.skip_browser`).
    Always,
    /// `False`: nobody; the host shows the URL (events, handlers).
    Never,
}

/// Forward `manager`'s events to the binding's channel, from now until it has no proxies left;
/// in [`BrowserMode::Auto`], open the browser for logins nobody handles.
pub fn pump(manager: &ProxyManager, browser: BrowserMode) {
    let mut rx = manager.subscribe();
    runtime::runtime().spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    if browser == BrowserMode::Auto
                        && let EventKind::AuthorizationRequired { url } = &event.kind
                    {
                        open_unless_handled(&event.proxy, url);
                    }
                    let _ = EVENTS.send(event);
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("the event pump fell behind and missed {missed} events");
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// True when a live authorization handler takes `proxy`'s logins.
fn handled(proxy: &str) -> bool {
    let mut handlers = HANDLERS.lock().unwrap_or_else(|p| p.into_inner());
    handlers.retain(|(_, closed)| !closed.is_cancelled());
    handlers
        .iter()
        .any(|(only, _)| only.as_deref().is_none_or(|only| only == proxy))
}

fn open_unless_handled(proxy: &str, url: &str) {
    if handled(proxy) || runtime::exiting() {
        return;
    }
    let skip = manager().get(proxy).is_some_and(|p| {
        p.config()
            .config()
            .oauth
            .as_ref()
            .is_some_and(|oauth| oauth.skip_browser)
    });
    if skip {
        return;
    }
    if let Err(e) = toolhive_core::auth::open_browser(url) {
        tracing::warn!(
            proxy = %proxy,
            "could not open a browser for the login ({e}); open the URL of the \
             authorization_required event yourself, or register \
             toolhive.on_authorization_required(handler) to show it"
        );
    }
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

    /// The new authorization state with its details (`"auth_state_changed"` only).
    #[getter]
    fn auth(&self) -> Option<PyAuthState> {
        match &self.event.kind {
            EventKind::AuthStateChanged { state } => Some(PyAuthState::from(state.clone())),
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

/// A receiver of the events, optionally of one proxy only, or of logins only.
struct Receiver {
    rx: tokio::sync::Mutex<broadcast::Receiver<ProxyEvent>>,
    proxy: Option<String>,
    logins_only: bool,
    closed: CancellationToken,
}

impl Receiver {
    fn new(proxy: Option<String>) -> Self {
        Receiver {
            rx: tokio::sync::Mutex::new(EVENTS.subscribe()),
            proxy,
            logins_only: false,
            closed: ALL.child_token(),
        }
    }

    fn wants(&self, event: &ProxyEvent) -> bool {
        self.proxy.as_ref().is_none_or(|p| *p == event.proxy)
            && (!self.logins_only || matches!(event.kind, EventKind::AuthorizationRequired { .. }))
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
                        if self.wants(&event) {
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
    check_callable(callback, "callback")?;
    // Subscribed before returning: no event after `subscribe()` returns is missed.
    Ok(deliver(callback, Receiver::new(proxy)))
}

fn check_callable(callback: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if !callback.is_callable() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be callable, not {}",
            callback.get_type().name()?
        )));
    }
    Ok(())
}

/// Call `callback` on the dispatcher thread for every event `receiver` takes.
fn deliver(callback: &Bound<'_, PyAny>, receiver: Receiver) -> PySubscription {
    let callback = Arc::new(callback.clone().unbind());
    let closed = receiver.closed.clone();
    runtime::runtime().spawn(async move {
        while let Some(event) = receiver.next().await {
            dispatch::call(callback.clone(), event, receiver.closed.clone());
        }
    });
    PySubscription { closed }
}

/// `toolhive.on_authorization_required(handler, proxy=None) -> Subscription`: call
/// `handler(event)` with every "authorization required" event (of one proxy, if named): the
/// host shows `event.url` to the user its own way. While a handler is registered for a proxy,
/// the default browser mode (`configure(open_browser=None)`) does not open the browser for it.
#[pyfunction]
#[pyo3(signature = (handler, proxy=None))]
pub fn on_authorization_required(
    handler: &Bound<'_, PyAny>,
    proxy: Option<String>,
) -> PyResult<PySubscription> {
    runtime::check_process()?;
    check_callable(handler, "handler")?;
    let mut receiver = Receiver::new(proxy.clone());
    receiver.logins_only = true;
    HANDLERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((proxy, receiver.closed.clone()));
    Ok(deliver(handler, receiver))
}
