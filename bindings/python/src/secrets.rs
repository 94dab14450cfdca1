//! Secret stores for Python: the built-in ones (`toolhive.FileSecretStore(path)`,
//! `EnvSecretStore()`, `MemorySecretStore()`), and core's `SecretStore` implemented by any Python
//! object with `get`, `set`, `delete` and `list` methods (`configure(secret_store=obj)`).
//!
//! The host's methods run on the dispatcher thread ([`crate::dispatch`]), one call at a time,
//! never on a runtime thread: the core awaits a channel meanwhile. A method may be `async`: its
//! awaitable is run on the event loop `configure()` was called from, and awaited without
//! blocking anything. A raised exception becomes a core `secret` error naming the store class,
//! the operation and the key; a message containing the value being stored is withheld. Values
//! are never logged.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString, PyTuple};
use pyo3_async_runtimes::TaskLocals;
use tokio::sync::oneshot;
use toolhive_core::secrets::{BoxFuture, EnvStore, FileStore, MemoryStore, Secret, SecretStore};
use toolhive_core::{Error, ErrorKind, Result};

use crate::dispatch;
use crate::errors::to_pyerr;
use crate::runtime::block_on;

/// The methods a host store needs.
pub const METHODS: [&str; 4] = ["get", "set", "delete", "list"];

// ---------------------------------------------------------------------------------------------
// Built-in stores
// ---------------------------------------------------------------------------------------------

/// The common base of the built-in stores: `get`, `set`, `delete`, `list` over a core store.
#[pyclass(module = "toolhive", name = "BuiltinSecretStore", subclass, frozen)]
pub struct PyBuiltinStore {
    pub inner: Arc<dyn SecretStore>,
}

#[pymethods]
impl PyBuiltinStore {
    /// `"file"`, `"env"` or `"memory"`.
    #[getter]
    fn kind(&self) -> String {
        self.inner.kind().to_owned()
    }

    /// The secret under `key`, or None.
    fn get(&self, py: Python<'_>, key: String) -> PyResult<Option<String>> {
        let store = self.inner.clone();
        let value = block_on(py, async move { store.get(&key).await })?.map_err(to_pyerr)?;
        Ok(value.map(|v| v.expose().to_owned()))
    }

    /// Store `value` under `key`, replacing what was there.
    fn set(&self, py: Python<'_>, key: String, value: String) -> PyResult<()> {
        let store = self.inner.clone();
        block_on(py, async move { store.set(&key, Secret::new(value)).await })?.map_err(to_pyerr)
    }

    /// Remove `key` (removing a missing key succeeds).
    fn delete(&self, py: Python<'_>, key: String) -> PyResult<()> {
        let store = self.inner.clone();
        block_on(py, async move { store.delete(&key).await })?.map_err(to_pyerr)
    }

    /// Every key (never the values).
    fn list(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let store = self.inner.clone();
        block_on(py, async move { store.list().await })?.map_err(to_pyerr)
    }

    fn __repr__(&self) -> String {
        format!("<toolhive secret store {}>", self.inner.kind())
    }
}

/// Secrets in one JSON file (mode 0600), shared safely between processes; the default store
/// with a state directory is `FileSecretStore(<state_dir>/secrets.json)`.
#[pyclass(module = "toolhive", name = "FileSecretStore", extends = PyBuiltinStore, frozen)]
pub struct PyFileStore {
    path: PathBuf,
}

#[pymethods]
impl PyFileStore {
    #[new]
    fn new(path: PathBuf) -> PyClassInitializer<Self> {
        let inner = Arc::new(FileStore::new(path.clone()));
        PyClassInitializer::from(PyBuiltinStore { inner }).add_subclass(PyFileStore { path })
    }

    /// The file.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    fn __repr__(&self) -> String {
        format!("FileSecretStore({:?})", self.path.display().to_string())
    }
}

impl PyFileStore {
    /// The manager's own file store (the default with a state directory).
    pub fn wrap(py: Python<'_>, inner: Arc<dyn SecretStore>, path: PathBuf) -> PyResult<Py<PyAny>> {
        let init =
            PyClassInitializer::from(PyBuiltinStore { inner }).add_subclass(PyFileStore { path });
        Ok(Py::new(py, init)?.into_any())
    }
}

/// Read-only secrets from environment variables: key `proxy/x/bearer_token` is read from
/// `TOOLHIVE_SECRET_PROXY_X_BEARER_TOKEN`.
#[pyclass(module = "toolhive", name = "EnvSecretStore", extends = PyBuiltinStore, frozen)]
pub struct PyEnvStore;

#[pymethods]
impl PyEnvStore {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        PyClassInitializer::from(PyBuiltinStore {
            inner: Arc::new(EnvStore),
        })
        .add_subclass(PyEnvStore)
    }

    /// The environment variable that holds `key`.
    #[staticmethod]
    fn variable(key: &str) -> String {
        EnvStore::variable(key)
    }
}

/// Secrets in process memory (gone when the process ends); the default without a state
/// directory.
#[pyclass(module = "toolhive", name = "MemorySecretStore", extends = PyBuiltinStore, frozen)]
pub struct PyMemoryStore;

#[pymethods]
impl PyMemoryStore {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        PyClassInitializer::from(PyBuiltinStore {
            inner: Arc::new(MemoryStore::new()),
        })
        .add_subclass(PyMemoryStore)
    }
}

impl PyMemoryStore {
    /// The manager's own memory store (the default without a state directory).
    pub fn wrap(py: Python<'_>, inner: Arc<dyn SecretStore>) -> PyResult<Py<PyAny>> {
        let init = PyClassInitializer::from(PyBuiltinStore { inner }).add_subclass(PyMemoryStore);
        Ok(Py::new(py, init)?.into_any())
    }
}

// ---------------------------------------------------------------------------------------------
// A store implemented by a Python object
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set,
    Delete,
    List,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::List => "list",
        }
    }
}

/// What a method answered, checked.
enum Reply {
    Value(Option<String>),
    Keys(Vec<String>),
    Done,
}

/// One call: what it is about, for messages and for the answer's check.
struct Call {
    class: String,
    op: Op,
    key: Option<String>,
    /// The value being stored (`set`): withheld from messages.
    value: Option<Secret>,
}

impl Call {
    fn what(&self) -> String {
        match &self.key {
            Some(key) => format!("{}.{}(`{key}`)", self.class, self.op.name()),
            None => format!("{}.{}()", self.class, self.op.name()),
        }
    }

    /// The message of a failed call (no values in it).
    fn failed(&self, py: Python<'_>, err: &PyErr) -> String {
        let kind = err
            .get_type(py)
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "an exception".to_owned());
        let text = err
            .value(py)
            .str()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let leaks = self
            .value
            .as_ref()
            .is_some_and(|v| !v.expose().is_empty() && text.contains(v.expose()));
        let text = if leaks {
            "(message withheld: it contains the value)".to_owned()
        } else {
            text.chars().take(500).collect()
        };
        if text.is_empty() {
            format!("{} raised {kind}", self.what())
        } else {
            format!("{} raised {kind}: {text}", self.what())
        }
    }

    /// Check what the method returned (after awaiting it, for an async one).
    fn reply(&self, value: &Bound<'_, PyAny>) -> std::result::Result<Reply, String> {
        match self.op {
            Op::Set | Op::Delete => Ok(Reply::Done),
            Op::Get => {
                if value.is_none() {
                    Ok(Reply::Value(None))
                } else if let Ok(s) = value.cast::<PyString>() {
                    Ok(Reply::Value(Some(s.to_string())))
                } else {
                    Err(format!(
                        "{} returned {}; return a str, or None for a missing key",
                        self.what(),
                        type_name(value)
                    ))
                }
            }
            Op::List => {
                let wrong = || {
                    format!(
                        "{} returned {}; return a list of key names (str)",
                        self.what(),
                        type_name(value)
                    )
                };
                if value.cast::<PyString>().is_ok() {
                    return Err(wrong());
                }
                let items = value.try_iter().map_err(|_| wrong())?;
                let mut keys = Vec::new();
                for item in items {
                    let item = item.map_err(|e| self.failed(value.py(), &e))?;
                    match item.cast::<PyString>() {
                        Ok(s) => keys.push(s.to_string()),
                        Err(_) => {
                            return Err(format!(
                                "{} returned a {} among the keys; keys are str",
                                self.what(),
                                type_name(&item)
                            ));
                        }
                    }
                }
                Ok(Reply::Keys(keys))
            }
        }
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "a value".to_owned())
}

type Answer = oneshot::Sender<std::result::Result<Reply, String>>;

/// The event loop the store's async methods run on.
pub struct StoreLoop {
    pub locals: TaskLocals,
    /// The loop's thread (the one that called `configure`).
    pub thread: ThreadId,
}

/// Core's `SecretStore` over a Python object.
pub struct PySecretStore {
    object: Arc<Py<PyAny>>,
    class: String,
    event_loop: Option<Arc<StoreLoop>>,
}

impl PySecretStore {
    /// Check `object` has the methods; `event_loop` is where async methods run.
    pub fn new(
        object: &Bound<'_, PyAny>,
        event_loop: Option<StoreLoop>,
    ) -> std::result::Result<Self, (String, String)> {
        for method in METHODS {
            let callable = object
                .getattr(method)
                .map(|m| m.is_callable())
                .unwrap_or(false);
            if !callable {
                return Err((
                    format!("secret_store.{method}"),
                    format!(
                        "`{}` has no `{method}` method; a secret store implements get(key), \
                         set(key, value), delete(key) and list() (or use \
                         toolhive.FileSecretStore, EnvSecretStore or MemorySecretStore)",
                        type_name(object)
                    ),
                ));
            }
        }
        Ok(PySecretStore {
            object: Arc::new(object.clone().unbind()),
            class: type_name(object),
            event_loop: event_loop.map(Arc::new),
        })
    }

    async fn call(&self, op: Op, key: Option<&str>, value: Option<Secret>) -> Result<Reply> {
        let call = Call {
            class: self.class.clone(),
            op,
            key: key.map(str::to_owned),
            value,
        };
        let object = self.object.clone();
        let event_loop = self.event_loop.clone();
        let (tx, rx) = oneshot::channel();
        let queued = dispatch::run(Box::new(move |py| {
            invoke(py, &object, event_loop.as_deref(), call, tx)
        }));
        let gone = || store_error("the Python interpreter is exiting");
        if !queued {
            return Err(gone());
        }
        match rx.await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(message)) => Err(store_error(&message)),
            Err(_) => Err(gone()),
        }
    }
}

fn store_error(what: &str) -> Error {
    Error::new(ErrorKind::Secret, format!("python secret store: {what}"))
}

/// On the dispatcher thread: call the method and answer through `tx`, now or (async) once the
/// awaitable is done on the store's event loop.
fn invoke(
    py: Python<'_>,
    object: &Py<PyAny>,
    event_loop: Option<&StoreLoop>,
    call: Call,
    tx: Answer,
) {
    let object = object.bind(py);
    let args = match (&call.key, &call.value) {
        (Some(key), Some(value)) => PyTuple::new(py, [key.as_str(), value.expose()]),
        (Some(key), None) => PyTuple::new(py, [key.as_str()]),
        _ => Ok(PyTuple::empty(py)),
    };
    let returned = args.and_then(|args| object.call_method1(call.op.name(), args));
    let returned = match returned {
        Ok(returned) => returned,
        Err(err) => {
            let _ = tx.send(Err(call.failed(py, &err)));
            return;
        }
    };
    if !returned.hasattr("__await__").unwrap_or(false) {
        let _ = tx.send(call.reply(&returned));
        return;
    }
    if let Err(message) = schedule(py, &returned, event_loop, &call) {
        let _ = returned.call_method0("close"); // a coroutine never awaited: no warning
        let _ = tx.send(Err(message));
        return;
    }
    // `schedule` checked it can run; hand it to the loop with a done-callback.
    let slot = Arc::new(Mutex::new(Some((call, tx))));
    let done = Done { call: slot.clone() };
    let scheduled = (|| -> PyResult<()> {
        let event_loop = event_loop.expect("checked by schedule");
        static AWAIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let wrap = AWAIT.import(py, "toolhive._secrets", "_await")?;
        let coroutine = wrap.call1((&returned,))?;
        let future = py.import("asyncio")?.call_method1(
            "run_coroutine_threadsafe",
            (coroutine, event_loop.locals.event_loop(py)),
        )?;
        future.call_method1("add_done_callback", (Py::new(py, done)?,))?;
        Ok(())
    })();
    if let Err(err) = scheduled
        && let Some((call, tx)) = slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    {
        let _ = tx.send(Err(call.failed(py, &err)));
    }
}

/// Whether an awaitable returned by the store can run: a loop was captured, it runs, and it
/// is not the thread waiting for this very call.
fn schedule(
    py: Python<'_>,
    returned: &Bound<'_, PyAny>,
    event_loop: Option<&StoreLoop>,
    call: &Call,
) -> std::result::Result<(), String> {
    let _ = returned;
    let Some(event_loop) = event_loop else {
        return Err(format!(
            "{} returned an awaitable, but toolhive.configure() was not called from a running \
             event loop; call it from the loop the store's async methods should run on",
            call.what()
        ));
    };
    let running = event_loop
        .locals
        .event_loop(py)
        .call_method0("is_running")
        .and_then(|r| r.is_truthy())
        .unwrap_or(false);
    if !running {
        return Err(format!(
            "{} is async, and the event loop toolhive.configure() was called from is not \
             running",
            call.what()
        ));
    }
    if crate::runtime::is_blocked(event_loop.thread) {
        return Err(format!(
            "{} is async, and its event loop is blocked in a synchronous toolhive call; \
             use the *_async functions from that loop",
            call.what()
        ));
    }
    Ok(())
}

/// The done-callback of an async store method's future (runs on the store's event loop).
#[pyclass]
struct Done {
    call: Arc<Mutex<Option<(Call, Answer)>>>,
}

#[pymethods]
impl Done {
    fn __call__(&self, future: &Bound<'_, PyAny>) {
        let Some((call, tx)) = self.call.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let answer = match future.call_method0("result") {
            Ok(value) => call.reply(&value),
            Err(err) => Err(call.failed(future.py(), &err)),
        };
        let _ = tx.send(answer);
    }
}

impl SecretStore for PySecretStore {
    fn kind(&self) -> &str {
        "python"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Secret>>> {
        Box::pin(async move {
            match self.call(Op::Get, Some(key), None).await? {
                Reply::Value(value) => Ok(value.map(Secret::new)),
                _ => unreachable!("get answers a value"),
            }
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Secret) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.call(Op::Set, Some(key), Some(value)).await?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.call(Op::Delete, Some(key), None).await?;
            Ok(())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            match self.call(Op::List, None, None).await? {
                Reply::Keys(keys) => Ok(keys),
                _ => unreachable!("list answers keys"),
            }
        })
    }
}

/// `configure(secret_store=...)`: a built-in store's core store, or a Python object as one.
/// `Err((field, message))` when the object is no store.
pub fn from_python(
    object: &Bound<'_, PyAny>,
) -> std::result::Result<Arc<dyn SecretStore>, (String, String)> {
    if let Ok(builtin) = object.cast::<PyBuiltinStore>() {
        return Ok(builtin.get().inner.clone());
    }
    if object.cast::<PyString>().is_ok() || object.cast::<PyList>().is_ok() {
        return Err((
            "secret_store".to_owned(),
            format!(
                "must be a secret store object (toolhive.FileSecretStore(path), \
                 EnvSecretStore(), MemorySecretStore(), or an object with get, set, delete and \
                 list methods), not {}",
                type_name(object)
            ),
        ));
    }
    let py = object.py();
    let is_async = |method: &str| -> bool {
        (|| -> PyResult<bool> {
            let check = py.import("inspect")?.getattr("iscoroutinefunction")?;
            check.call1((object.getattr(method)?,))?.is_truthy()
        })()
        .unwrap_or(false)
    };
    let event_loop = match pyo3_async_runtimes::get_running_loop(py) {
        Ok(running) => Some(StoreLoop {
            locals: TaskLocals::new(running),
            thread: std::thread::current().id(),
        }),
        Err(_) => {
            if let Some(method) = METHODS.iter().find(|m| is_async(m)) {
                return Err((
                    format!("secret_store.{method}"),
                    "is async: call toolhive.configure() from a coroutine on the event loop the \
                     store's methods should run on (e.g. inside asyncio.run(...))"
                        .to_owned(),
                ));
            }
            None
        }
    };
    Ok(Arc::new(PySecretStore::new(object, event_loop)?))
}
