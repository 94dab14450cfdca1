//! The one tokio runtime and the current `ProxyManager` of the process, owned by the binding.
//!
//! The manager is made with the defaults (everything in memory) on first use, or by
//! `toolhive.configure(...)` (see [`crate::manage`]), which replaces it while no proxy of this
//! process is active and no start, restart or restore is under way.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::ThreadId;
use std::time::Duration;

use pyo3::conversion::IntoPyObject;
use pyo3::{Bound, Py, PyAny, PyResult, Python};
use tokio::runtime::Runtime;
use toolhive_core::{Error, ErrorKind, ManagerOptions, ProxyManager};

use crate::events::BrowserMode;

/// How long interpreter exit waits for the proxies to stop (each also has its `stop_grace_ms`).
const EXIT_STOP_LIMIT: Duration = Duration::from_secs(30);

/// How often a blocking call wakes up to let Ctrl-C through.
pub const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// How often a blocking call made on the dispatcher thread (from an event callback) looks for
/// secret-store calls it must run meanwhile.
const NESTED_POLL: Duration = Duration::from_millis(5);

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// The current manager; `None` until first used or configured.
static CURRENT: RwLock<Option<Arc<Managed>>> = RwLock::new(None);
/// Calls under way that may start proxies (start, restart, restore): `configure` waits for none.
static BUSY: AtomicUsize = AtomicUsize::new(0);
/// Threads waiting in [`block_on`] (an async secret store's loop must not be one of them).
static BLOCKED: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());
/// The thread running interpreter exit (`_shutdown`), once it has begun.
static EXITING_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// The process-wide multi-thread runtime; pyo3-async-runtimes runs asyncio futures on it too.
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("toolhive-runtime")
            .build()
            .expect("cannot start the toolhive runtime")
    })
}

/// The process that imported the module: the runtime's threads exist only there.
static OWNER_PID: OnceLock<u32> = OnceLock::new();

/// Refuse to work in a forked child (e.g. multiprocessing's "fork" start method): the runtime's
/// threads were not copied, so every call would wait forever.
pub fn check_process() -> PyResult<()> {
    match OWNER_PID.get() {
        Some(pid) if *pid != std::process::id() => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "toolhive cannot be used in a process forked from the one that imported it; \
             import it in the child (e.g. multiprocessing's \"spawn\" start method)",
        )),
        _ => Ok(()),
    }
}

/// Called once on import: asyncio futures run on [`runtime`] too.
pub fn init() {
    let _ = OWNER_PID.set(std::process::id());
    // Err only when already set, and only this module sets it.
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime());
}

/// A manager and what it was configured with.
pub struct Managed {
    pub manager: ProxyManager,
    pub state_dir: Option<PathBuf>,
    /// The store object given to `configure` (a built-in store or the host's), if any.
    pub store: Option<Py<PyAny>>,
}

impl Managed {
    /// A manager with `options` whose events reach Python through [`crate::events::pump`].
    /// `options.suppress_browser` is set from `browser`.
    pub fn new(
        mut options: ManagerOptions,
        browser: BrowserMode,
        store: Option<Py<PyAny>>,
    ) -> Result<Self, Error> {
        options.suppress_browser = browser != BrowserMode::Always;
        let state_dir = options.state_dir.clone();
        let manager = ProxyManager::with_options(runtime().handle().clone(), options)?;
        crate::events::pump(&manager, browser);
        Ok(Managed {
            manager,
            state_dir,
            store,
        })
    }
}

/// The current manager and its configuration (the default one on first use).
pub fn current() -> Arc<Managed> {
    if let Some(current) = CURRENT.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return current.clone();
    }
    let mut slot = CURRENT.write().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| {
        Arc::new(
            Managed::new(ManagerOptions::default(), BrowserMode::Auto, None)
                .expect("a manager without a state directory cannot fail"),
        )
    })
    .clone()
}

/// The process-wide manager: `toolhive.list()` sees every proxy started from any thread or loop.
pub fn manager() -> ProxyManager {
    current().manager.clone()
}

/// Held by a call that may start proxies (start, restart, restore) while it runs.
pub struct Busy(());

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The manager for a call that may start proxies; `configure` refuses while the guard lives.
pub fn begin() -> (ProxyManager, Busy) {
    let _ = current();
    let slot = CURRENT.read().unwrap_or_else(|p| p.into_inner());
    // Counted under the lock `configure` takes to write: it either sees this call or the call
    // gets the new manager.
    BUSY.fetch_add(1, Ordering::AcqRel);
    let manager = slot
        .as_ref()
        .expect("made by current() above")
        .manager
        .clone();
    (manager, Busy(()))
}

/// Replace the manager with one made by `make`, unless proxies of this process are active or a
/// start, restart or restore is under way (a `state` error saying which).
pub fn replace(make: impl FnOnce() -> Result<Managed, Error>) -> Result<(), Error> {
    let mut slot = CURRENT.write().unwrap_or_else(|p| p.into_inner());
    if BUSY.load(Ordering::Acquire) > 0 {
        return Err(too_late(
            "a start, restart or restore is under way; wait for it first",
        ));
    }
    if let Some(current) = slot.as_ref() {
        let manager = &current.manager;
        let active: Vec<String> = manager
            .list()
            .into_iter()
            .filter(|info| {
                manager
                    .get(&info.name)
                    .is_some_and(|proxy| proxy.state().is_active())
            })
            .map(|info| format!("`{}`", info.name))
            .collect();
        if !active.is_empty() {
            return Err(too_late(&format!(
                "proxies of this process are active ({}); stop them first \
                 (toolhive.stop_all())",
                active.join(", ")
            )));
        }
    }
    *slot = Some(Arc::new(make()?));
    Ok(())
}

fn too_late(why: &str) -> Error {
    Error::new(
        ErrorKind::State,
        format!("configure() must come before proxies are started: {why}"),
    )
}

/// True while `thread` waits in [`block_on`].
pub fn is_blocked(thread: ThreadId) -> bool {
    BLOCKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&thread)
}

/// Records the current thread in [`BLOCKED`] while it lives.
struct Blocked(ThreadId);

impl Blocked {
    fn enter() -> Self {
        let me = std::thread::current().id();
        BLOCKED.lock().unwrap_or_else(|p| p.into_inner()).push(me);
        Blocked(me)
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let mut blocked = BLOCKED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = blocked.iter().position(|t| *t == self.0) {
            blocked.swap_remove(i);
        }
    }
}

/// Run `fut` on the runtime and wait for it with the GIL released, waking every
/// [`SIGNAL_POLL`] to run Python's signal handlers: Ctrl-C (KeyboardInterrupt) drops `fut`,
/// which cancels the Rust work, and raises.
///
/// On the dispatcher thread (a blocking call from an event callback) it also runs the Python
/// secret-store calls `fut` may be waiting for, which would otherwise wait for this thread.
pub fn block_on<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    check_process()?;
    let _blocked = Blocked::enter();
    let nested = crate::dispatch::is_dispatcher_thread();
    let poll = if nested { NESTED_POLL } else { SIGNAL_POLL };
    let mut fut = std::pin::pin!(fut);
    loop {
        let fut = fut.as_mut();
        let waited = py.detach(|| {
            let waited = runtime().block_on(async {
                let waited = tokio::time::timeout(poll, fut).await;
                if waited.is_ok() {
                    crate::dispatch::flush().await;
                }
                waited
            });
            if exiting_elsewhere() {
                park_forever();
            }
            waited
        });
        match waited {
            Ok(output) => return Ok(output),
            Err(_elapsed) => {
                py.check_signals()?;
                if nested {
                    crate::dispatch::serve_nested(py);
                }
            }
        }
    }
}

/// `fut` as an asyncio future (pyo3-async-runtimes): it runs on the runtime, its result is set
/// on the caller's event loop, and cancelling the asyncio future drops `fut`.
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    check_process()?;
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let output = fut.await;
        crate::dispatch::flush().await;
        if exiting() {
            // Setting the result would attach to an interpreter that is going away.
            std::future::pending::<()>().await;
        }
        output
    })
}

/// Run `fut` as a task of its own, so it completes even when the caller stops waiting (an
/// asyncio cancellation drops the waiting future, never a half-done stop).
pub async fn shielded<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match runtime().spawn(fut).await {
        Ok(output) => output,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("toolhive task ended abnormally: {err}"),
    }
}

/// True once interpreter exit has begun.
pub fn exiting() -> bool {
    EXITING_THREAD.get().is_some()
}

/// True once interpreter exit has begun on another thread: this thread must not attach again.
pub fn exiting_elsewhere() -> bool {
    EXITING_THREAD
        .get()
        .is_some_and(|id| *id != std::thread::current().id())
}

/// Where a thread waiting in toolhive ends up at interpreter exit: re-attaching to a finalizing
/// interpreter would hang or kill the thread from under Rust frames; the process ends instead.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// At interpreter exit: from now on no other thread of ours attaches to the interpreter (the
/// dispatcher is stopped by `dispatch::shutdown`); then stop every proxy within
/// [`EXIT_STOP_LIMIT`]. With a state directory their saved state keeps saying "running", so
/// `toolhive.restore()` in the next process brings back what was running (a proxy stopped on
/// purpose stays stopped).
pub fn shutdown(py: Python<'_>) {
    let _ = EXITING_THREAD.set(std::thread::current().id());
    let current = CURRENT
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|m| m.manager.clone());
    if let Some(manager) = current {
        py.detach(|| {
            runtime().block_on(async {
                let _ = tokio::time::timeout(EXIT_STOP_LIMIT, manager.shutdown()).await;
            })
        });
    }
}
