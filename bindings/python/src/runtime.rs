//! The one tokio runtime and the one `ProxyManager` of the process, owned by the binding.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::conversion::IntoPyObject;
use pyo3::{Bound, PyAny, PyResult, Python};
use tokio::runtime::Runtime;
use toolhive_core::ProxyManager;

/// How long interpreter exit waits for the proxies to stop (each also has its `stop_grace_ms`).
const EXIT_STOP_LIMIT: Duration = Duration::from_secs(30);

/// How often a blocking call wakes up to let Ctrl-C through.
pub const SIGNAL_POLL: Duration = Duration::from_millis(100);

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static MANAGER: OnceLock<ProxyManager> = OnceLock::new();
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

/// The process-wide manager: `toolhive.list()` sees every proxy started from any thread or loop.
pub fn manager() -> &'static ProxyManager {
    MANAGER.get_or_init(|| ProxyManager::new(runtime().handle().clone()))
}

/// Run `fut` on the runtime and wait for it with the GIL released, waking every
/// [`SIGNAL_POLL`] to run Python's signal handlers: Ctrl-C (KeyboardInterrupt) drops `fut`,
/// which cancels the Rust work, and raises.
pub fn block_on<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    check_process()?;
    let mut fut = std::pin::pin!(fut);
    loop {
        let fut = fut.as_mut();
        let waited = py.detach(|| {
            let waited = runtime().block_on(async {
                let waited = tokio::time::timeout(SIGNAL_POLL, fut).await;
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
            Err(_elapsed) => py.check_signals()?,
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
/// [`EXIT_STOP_LIMIT`].
pub fn shutdown(py: Python<'_>) {
    let _ = EXITING_THREAD.set(std::thread::current().id());
    if let Some(manager) = MANAGER.get() {
        py.detach(|| {
            runtime().block_on(async {
                let _ = tokio::time::timeout(EXIT_STOP_LIMIT, manager.stop_all()).await;
            })
        });
    }
}
