//! The one thread of ours that runs Python code: it hands Rust log records to the `logging`
//! logger `toolhive` and calls event callbacks.
//!
//! Runtime threads never wait for the GIL: the log sink, the event forwarders and the Python
//! secret store only queue jobs here. That keeps a slow handler or callback from stalling
//! proxies, and rules out deadlocks between the GIL and the core's locks.
//!
//! A callback may call a blocking toolhive function (`toolhive.restart(name)` on a failure,
//! say). That call waits on this thread, so while it waits it runs the secret-store calls and
//! log records queued meanwhile ([`serve_nested`]); event callbacks queued meanwhile wait until
//! the callback returns (no re-entered callbacks).

use std::cell::{OnceCell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tokio_util::sync::CancellationToken;
use toolhive_core::log_bridge::{LogBridge, LogRecord};
use toolhive_core::{LogLevel, ProxyEvent};

use crate::events::PyEvent;

/// The `logging` logger that receives Rust log records.
pub const LOGGER_NAME: &str = "toolhive";
/// How often the logger's level is read again when nothing is logged, so that lowering it later
/// (e.g. `setLevel(logging.DEBUG)`) takes effect without any toolhive call.
const LEVEL_REFRESH: Duration = Duration::from_secs(1);
/// Log records waiting for the dispatcher before new ones are dropped (a handler too slow).
const MAX_PENDING_LOGS: usize = 10_000;
/// Jobs run per GIL acquisition.
const BATCH: usize = 256;
/// How long a call waits for the log records it caused to reach `logging` (a slow handler).
const FLUSH_LIMIT: Duration = Duration::from_secs(1);
/// How long interpreter exit waits for the queued jobs to finish.
const EXIT_DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Python code to run on the dispatcher thread (a secret-store call).
pub type Task = Box<dyn FnOnce(Python<'_>) + Send>;

enum Job {
    Log(Record),
    Run(Task),
    Call {
        callback: Arc<Py<PyAny>>,
        event: ProxyEvent,
        closed: CancellationToken,
    },
    /// Answered once every job queued before it has run.
    Flush(tokio::sync::oneshot::Sender<()>),
    Stop,
}

struct Record {
    level: LogLevel,
    target: String,
    proxy: Option<String>,
    message: String,
}

static SENDER: OnceLock<Sender<Job>> = OnceLock::new();
static DONE: Mutex<Option<Receiver<()>>> = Mutex::new(None);
static BRIDGE: OnceLock<LogBridge> = OnceLock::new();
static PENDING_LOGS: AtomicUsize = AtomicUsize::new(0);
static DROPPED_LOGS: AtomicUsize = AtomicUsize::new(0);
static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DISPATCHER_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

thread_local! {
    /// The job queue, on the dispatcher thread.
    static RX: OnceCell<Receiver<Job>> = const { OnceCell::new() };
    /// Jobs taken off the queue by [`serve_nested`] that wait for the callback to return.
    static DEFERRED: RefCell<VecDeque<Job>> = const { RefCell::new(VecDeque::new()) };
}

/// On import: start the dispatcher and make the log bridge the process's tracing subscriber.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    if SENDER.set(tx).is_err() {
        return Ok(()); // already installed
    }
    *DONE.lock().unwrap_or_else(|p| p.into_inner()) = Some(done_rx);
    std::thread::Builder::new()
        .name("toolhive-python".to_owned())
        .spawn(move || {
            let _ = DISPATCHER_THREAD.set(std::thread::current().id());
            run_loop(rx, done_tx)
        })
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a thread: {e}"))
        })?;
    let bridge = LogBridge::new(effective_level(py).unwrap_or(LogLevel::Warn), queue_log);
    // Fails only when this process already has a tracing subscriber (from this library); the
    // records then go there.
    if bridge.install().is_ok() {
        let _ = BRIDGE.set(bridge);
    }
    Ok(())
}

/// Make the bridge's threshold follow the `toolhive` logger's effective level now.
pub fn sync_level(py: Python<'_>) {
    if let (Some(bridge), Ok(level)) = (BRIDGE.get(), effective_level(py)) {
        bridge.set_level(level);
    }
}

/// True on the dispatcher thread.
pub fn is_dispatcher_thread() -> bool {
    DISPATCHER_THREAD.get() == Some(&std::thread::current().id())
}

/// Queue `task` to run with the GIL on the dispatcher thread; false when it will never run
/// (interpreter exit). A task dropped unrun (the dispatcher stopped) drops what it captured.
pub fn run(task: Task) -> bool {
    SENDER
        .get()
        .is_some_and(|tx| tx.send(Job::Run(task)).is_ok())
}

/// Called by a blocking call waiting on the dispatcher thread: run the secret-store calls and
/// log records queued meanwhile; keep event callbacks for after the current one.
pub fn serve_nested(py: Python<'_>) {
    RX.with(|rx| {
        let Some(rx) = rx.get() else { return };
        while let Ok(job) = rx.try_recv() {
            match job {
                job @ (Job::Run(_) | Job::Log(_) | Job::Flush(_)) => run_job(py, job),
                job => DEFERRED.with(|d| d.borrow_mut().push_back(job)),
            }
        }
    });
}

fn next_deferred() -> Option<Job> {
    DEFERRED.with(|d| d.borrow_mut().pop_front())
}

/// Queue a call of `callback(Event)`, skipped if `closed` fires before it runs.
pub fn call(callback: Arc<Py<PyAny>>, event: ProxyEvent, closed: CancellationToken) {
    if let Some(tx) = SENDER.get() {
        let _ = tx.send(Job::Call {
            callback,
            event,
            closed,
        });
    }
}

/// Once the calls that caused log records have returned, the records should already be in
/// `logging` (in order with what the caller prints next): wait until the dispatcher has handled
/// what is queued now. The waiting caller must not hold the GIL (the dispatcher needs it).
pub async fn flush() {
    let Some(tx) = SENDER.get() else { return };
    if PENDING_LOGS.load(Ordering::Acquire) == 0
        || is_dispatcher_thread()
        || crate::runtime::exiting()
    {
        return;
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    if tx.send(Job::Flush(done_tx)).is_ok() {
        let _ = tokio::time::timeout(FLUSH_LIMIT, done_rx).await;
    }
}

/// At interpreter exit (after the proxies stopped): run what is queued, then stop the thread.
pub fn shutdown(py: Python<'_>) {
    let Some(tx) = SENDER.get() else { return };
    let _ = tx.send(Job::Stop);
    let done = DONE.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(done) = done {
        // The thread needs the GIL to finish; `Err` here is the thread's exit (or the limit).
        py.detach(move || {
            let _ = done.recv_timeout(EXIT_DRAIN_LIMIT);
        });
    }
}

fn queue_log(record: &LogRecord<'_>) {
    let Some(tx) = SENDER.get() else { return };
    if PENDING_LOGS.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_LOGS {
        PENDING_LOGS.fetch_sub(1, Ordering::AcqRel);
        DROPPED_LOGS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let job = Job::Log(Record {
        level: record.level,
        target: record.target.to_owned(),
        proxy: record.proxy.map(str::to_owned),
        message: record.message.to_owned(),
    });
    if tx.send(job).is_err() {
        PENDING_LOGS.fetch_sub(1, Ordering::AcqRel);
    }
}

fn run_loop(rx: Receiver<Job>, done: Sender<()>) {
    let _done = done; // dropped when this thread ends: `shutdown` stops waiting
    RX.with(|cell| {
        let _ = cell.set(rx);
    });
    loop {
        let first = match next_deferred() {
            Some(job) => Ok(Some(job)),
            None => RX.with(
                |rx| match rx.get().expect("set above").recv_timeout(LEVEL_REFRESH) {
                    Ok(job) => Ok(Some(job)),
                    Err(RecvTimeoutError::Timeout) => Ok(None),
                    Err(RecvTimeoutError::Disconnected) => Err(()),
                },
            ),
        };
        let first = match first {
            Ok(Some(Job::Stop)) | Err(()) => return,
            Ok(first) => first,
        };
        // `None`: the interpreter is gone or going; nothing more may run.
        let go_on = Python::try_attach(|py| {
            sync_level(py);
            if let Some(job) = first {
                run_job(py, job);
            }
            for _ in 0..BATCH {
                let job = next_deferred()
                    .or_else(|| RX.with(|rx| rx.get().and_then(|rx| rx.try_recv().ok())));
                match job {
                    Some(Job::Stop) => return false,
                    Some(job) => run_job(py, job),
                    None => break,
                }
            }
            report_dropped(py);
            true
        });
        if go_on != Some(true) {
            return;
        }
    }
}

fn run_job(py: Python<'_>, job: Job) {
    match job {
        Job::Log(record) => {
            PENDING_LOGS.fetch_sub(1, Ordering::AcqRel);
            if let Err(err) = log(py, record) {
                err.write_unraisable(py, None);
            }
        }
        Job::Call {
            callback,
            event,
            closed,
        } => {
            if closed.is_cancelled() {
                return;
            }
            let callback = callback.bind(py);
            if let Err(err) = callback.call1((PyEvent::from(event),)) {
                err.write_unraisable(py, Some(callback));
            }
        }
        Job::Run(task) => task(py),
        Job::Flush(done) => {
            let _ = done.send(());
        }
        Job::Stop => {}
    }
}

fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOGGER
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("logging")?
                    .call_method1("getLogger", (LOGGER_NAME,))?
                    .unbind(),
            )
        })
        .map(|logger| logger.bind(py))
}

fn log(py: Python<'_>, record: Record) -> PyResult<()> {
    let logger = logger(py)?;
    let level = python_level(record.level);
    if !logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
        return Ok(());
    }
    let message = match &record.proxy {
        Some(proxy) => format!("{proxy}: {}", record.message),
        None => record.message,
    };
    let extra = PyDict::new(py);
    extra.set_item("proxy", record.proxy)?;
    extra.set_item("rust_target", record.target)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("extra", extra)?;
    logger.call_method("log", (level, message), Some(&kwargs))?;
    Ok(())
}

fn report_dropped(py: Python<'_>) {
    let dropped = DROPPED_LOGS.swap(0, Ordering::Relaxed);
    if dropped > 0
        && let Ok(logger) = logger(py)
    {
        let _ = logger.call_method1(
            "warning",
            (format!(
                "{dropped} log records were dropped: the logging handlers were too slow"
            ),),
        );
    }
}

/// The `logging` level number of a core level.
fn python_level(level: LogLevel) -> u32 {
    match level {
        LogLevel::Debug => 10,
        LogLevel::Info => 20,
        LogLevel::Warn => 30,
        LogLevel::Error => 40,
    }
}

/// The lowest core level the `toolhive` logger lets through.
fn effective_level(py: Python<'_>) -> PyResult<LogLevel> {
    let level: u32 = logger(py)?.call_method0("getEffectiveLevel")?.extract()?;
    Ok(match level {
        0..=10 => LogLevel::Debug,
        11..=20 => LogLevel::Info,
        21..=30 => LogLevel::Warn,
        _ => LogLevel::Error,
    })
}
