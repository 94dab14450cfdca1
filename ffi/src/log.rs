//! Logs: the process-wide log callback (fed by core's `LogBridge`) and per-proxy log snapshots.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::UNIX_EPOCH;

use toolhive_core::log_bridge::{LogBridge, LogRecord};
use toolhive_core::{LogLevel, LogLine};

use crate::callback::{self, RawUserdata, Userdata};
use crate::error::{Failure, boundary_or, guarded, report, toolhive_error, toolhive_status};
use crate::strings::cstring;

/// Severity of a log record or line. Append-only.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum toolhive_log_level {
    /// Details for debugging (also the library's trace output).
    Debug = 0,
    /// Normal operation.
    Info = 1,
    /// Something went wrong but the proxy goes on.
    Warn = 2,
    /// Something failed.
    Error = 3,
}

impl toolhive_log_level {
    fn from_core(level: LogLevel) -> Self {
        match level {
            LogLevel::Debug => toolhive_log_level::Debug,
            LogLevel::Info => toolhive_log_level::Info,
            LogLevel::Warn => toolhive_log_level::Warn,
            LogLevel::Error => toolhive_log_level::Error,
        }
    }

    /// A level passed in by the host as a plain int (so a bad number is an error, not UB).
    fn parse(level: c_int) -> Result<LogLevel, Failure> {
        match level {
            0 => Ok(LogLevel::Debug),
            1 => Ok(LogLevel::Info),
            2 => Ok(LogLevel::Warn),
            3 => Ok(LogLevel::Error),
            other => Err(Failure::new(
                toolhive_status::InvalidArgument,
                format!("{other} is not a toolhive_log_level (0 = debug ... 3 = error)"),
            )
            .with_field("min_level")),
        }
    }
}

/// One log record, as passed to a `toolhive_log_callback`.
///
/// Ownership: borrowed by the callback; it and its strings are valid only until the callback
/// returns (copy what you need).
pub struct toolhive_log_record {
    level: toolhive_log_level,
    target: CString,
    proxy: Option<CString>,
    message: CString,
}

/// Receives the library's log records at or above the configured level (see
/// `toolhive_set_log_callback`). Runs on the library's log thread ("toolhive-log"), one record
/// at a time, in the order they were logged.
pub type toolhive_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, record: *const toolhive_log_record)>;

type LogFn = unsafe extern "C" fn(userdata: *mut c_void, record: *const toolhive_log_record);

struct Sink {
    callback: LogFn,
    userdata: Userdata,
}

/// Records waiting for the log thread before new ones are dropped (and counted).
const QUEUE_CAPACITY: usize = 4096;

/// A record copied off the thread that logged it.
struct Owned {
    level: LogLevel,
    target: String,
    proxy: Option<String>,
    message: String,
}

enum Message {
    Record(Owned),
    /// Answer once every message queued before this one was handled.
    Flush(SyncSender<()>),
}

/// The bridge, installed as the process's tracing subscriber on first use.
static BRIDGE: Mutex<Option<LogBridge>> = Mutex::new(None);
/// The queue to the log thread, created with it on first use; the thread lives as long as
/// the process.
static QUEUE: OnceLock<SyncSender<Message>> = OnceLock::new();
/// Records dropped because the queue was full, reported with the next delivered record.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// The current host callback (the bridge and the thread stay when it is removed).
static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);

thread_local! {
    /// Set on the log thread while it runs the host callback: records logged by toolhive
    /// functions the callback calls are dropped rather than fed back to it.
    static IN_LOG_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// The bridge's sink: runs on whatever thread logged, possibly while core holds a lock, so it
/// only copies the record into the queue. The host callback runs on the log thread, where it
/// can safely call back into the library.
fn forward(record: &LogRecord<'_>) {
    if IN_LOG_CALLBACK.with(Cell::get) {
        return;
    }
    let Some(queue) = QUEUE.get() else {
        return;
    };
    // Never let a panic escape into the code that logged.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let owned = Owned {
            level: record.level,
            target: record.target.to_owned(),
            proxy: record.proxy.map(str::to_owned),
            message: record.message.to_owned(),
        };
        if let Err(TrySendError::Full(_)) = queue.try_send(Message::Record(owned)) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }));
}

fn log_thread(queue: Receiver<Message>) {
    for message in queue {
        match message {
            Message::Record(record) => {
                let dropped = DROPPED.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    deliver(&Owned {
                        level: LogLevel::Warn,
                        target: module_path!().to_owned(),
                        proxy: None,
                        message: format!(
                            "{dropped} log records were dropped: the log callback is too slow"
                        ),
                    });
                }
                deliver(&record);
            }
            Message::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

fn deliver(record: &Owned) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Some(sink) = SINK.read().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let c_record = toolhive_log_record {
            level: toolhive_log_level::from_core(record.level),
            target: cstring(record.target.as_str()),
            proxy: record.proxy.as_deref().map(cstring),
            message: cstring(record.message.as_str()),
        };
        IN_LOG_CALLBACK.with(|f| f.set(true));
        // SAFETY: the host registered this callback for this userdata; the record outlives
        // the call.
        callback::invoke(|| unsafe { (sink.callback)(sink.userdata.ptr, &c_record) });
        IN_LOG_CALLBACK.with(|f| f.set(false));
        // `sink` may be the last reference (callback replaced meanwhile): its userdata
        // destructor then runs here, after this last call.
    }));
}

/// Start the log thread once.
fn ensure_log_thread() -> Result<&'static SyncSender<Message>, Failure> {
    if let Some(queue) = QUEUE.get() {
        return Ok(queue);
    }
    let (tx, rx) = sync_channel(QUEUE_CAPACITY);
    std::thread::Builder::new()
        .name("toolhive-log".into())
        .spawn(move || log_thread(rx))
        .map_err(|e| {
            Failure::new(
                toolhive_status::Io,
                format!("cannot start the log thread: {e}"),
            )
        })?;
    Ok(QUEUE.get_or_init(|| tx))
}

/// Wait until the log thread handled everything queued so far (not on the log thread itself,
/// nor inside any callback, where waiting could deadlock).
fn flush() {
    if callback::in_callback() {
        return;
    }
    if let Some(queue) = QUEUE.get() {
        let (done, wait) = sync_channel(1);
        if queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

/// Set (or, with `callback` NULL, remove) the process-wide log callback, which receives the
/// library's log records at `min_level` (a `toolhive_log_level` value) and above, from every
/// runtime and proxy.
///
/// The first call with a callback installs the library as the process's Rust `tracing`
/// subscriber; it fails with `TOOLHIVE_STATUS_INTERNAL` if another Rust component of the
/// process already installed one. Without a callback nothing is logged anywhere (read a
/// proxy's recent lines with `toolhive_proxy_logs`).
///
/// Records are queued and delivered on one library thread ("toolhive-log"), one at a time, in
/// order, so the callback never runs on the caller's threads nor concurrently with itself
/// (but it must tolerate running on that other thread). If it is too slow and more than 4096
/// records wait, new ones are dropped and a warning says how many. It must not unwind (no C++
/// exceptions, no longjmp). Inside it, blocking functions return
/// `TOOLHIVE_STATUS_IN_CALLBACK`, and records logged by functions it calls are dropped.
///
/// Before switching, this waits until records logged before the call have been delivered to
/// the previous callback (not when called from inside a callback). `userdata` is passed to
/// every call; `userdata_free` (may be NULL) is called once with it when the callback is
/// replaced or removed, after its last call has returned. Remove the callback before the
/// process exits to deliver the last records; a callback still set at exit is never freed.
///
/// On failure nothing changes and `userdata_free` is not called (the caller keeps
/// `userdata`). Errors: `TOOLHIVE_STATUS_INVALID_ARGUMENT` (min_level),
/// `TOOLHIVE_STATUS_INTERNAL` (another subscriber is installed), `TOOLHIVE_STATUS_IO`.
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `callback` and `userdata_free` are NULL or valid functions; `userdata` is usable from the
/// log thread; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_set_log_callback(
    callback: toolhive_log_callback,
    min_level: c_int,
    userdata: *mut c_void,
    userdata_free: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        let level = toolhive_log_level::parse(min_level)?;
        let mut bridge = BRIDGE.lock().unwrap_or_else(|p| p.into_inner());
        if callback.is_some() && bridge.is_none() {
            let new = LogBridge::new(level, forward);
            new.install()?;
            *bridge = Some(new);
        }
        if callback.is_some() {
            ensure_log_thread()?;
        }
        if let Some(bridge) = bridge.as_ref() {
            bridge.set_level(level);
        }
        drop(bridge);
        flush();
        let new = callback.map(|callback| {
            Arc::new(Sink {
                callback,
                userdata: RawUserdata {
                    ptr: userdata,
                    free: userdata_free,
                }
                .own(),
            })
        });
        let old = std::mem::replace(&mut *SINK.write().unwrap_or_else(|p| p.into_inner()), new);
        // Runs the old userdata destructor now, unless the log thread is in a call of the old
        // callback (then it runs it when that call returns).
        drop(old);
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Change the minimum level of the log callback (a `toolhive_log_level` value).
///
/// Errors: `TOOLHIVE_STATUS_INVALID_ARGUMENT`. Thread safety: any thread, also inside
/// callbacks.
///
/// # Safety
/// `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_set_log_level(
    min_level: c_int,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        let level = toolhive_log_level::parse(min_level)?;
        if let Some(bridge) = BRIDGE.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bridge.set_level(level);
        }
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// The record's severity (`TOOLHIVE_LOG_LEVEL_DEBUG` when `record` is NULL).
/// Thread safety: only inside the callback that received the record.
///
/// # Safety
/// `record` is NULL or the record passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_record_level(
    record: *const toolhive_log_record,
) -> toolhive_log_level {
    boundary_or(toolhive_log_level::Debug, || {
        // SAFETY: the caller's contract.
        unsafe { record.as_ref() }.map_or(toolhive_log_level::Debug, |r| r.level)
    })
}

/// The Rust module that logged the record, e.g. "toolhive_core::logs". NULL when `record` is
/// NULL. Borrowed: valid until the callback returns.
/// Thread safety: only inside the callback that received the record.
///
/// # Safety
/// `record` is NULL or the record passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_record_target(
    record: *const toolhive_log_record,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { record.as_ref() }.map_or(std::ptr::null(), |r| r.target.as_ptr())
    })
}

/// The name of the proxy the record concerns, or NULL when it concerns none (or `record` is
/// NULL). Borrowed: valid until the callback returns.
/// Thread safety: only inside the callback that received the record.
///
/// # Safety
/// `record` is NULL or the record passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_record_proxy(
    record: *const toolhive_log_record,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { record.as_ref() }
            .and_then(|r| r.proxy.as_ref())
            .map_or(std::ptr::null(), |p| p.as_ptr())
    })
}

/// The message. NULL when `record` is NULL. Borrowed: valid until the callback returns.
/// Thread safety: only inside the callback that received the record.
///
/// # Safety
/// `record` is NULL or the record passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_record_message(
    record: *const toolhive_log_record,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { record.as_ref() }.map_or(std::ptr::null(), |r| r.message.as_ptr())
    })
}

/// A snapshot of a proxy's recent log lines (from `toolhive_proxy_logs`), oldest first.
///
/// Owned by the caller: free it with `toolhive_log_lines_free`. Immutable: may be read from
/// several threads at once.
pub struct toolhive_log_lines {
    lines: Vec<toolhive_log_line>,
}

/// One log line: of a `toolhive_log_lines` snapshot, or passed to a
/// `toolhive_log_follow_callback`.
///
/// Ownership: borrowed from its snapshot (valid until the snapshot is freed), or, in a follow
/// callback, valid only until the callback returns.
pub struct toolhive_log_line {
    text: CString,
    message: CString,
    level: toolhive_log_level,
    time_ms: i64,
}

impl toolhive_log_lines {
    pub(crate) fn new(lines: Vec<LogLine>) -> Self {
        toolhive_log_lines {
            lines: lines.iter().map(toolhive_log_line::new).collect(),
        }
    }
}

impl toolhive_log_line {
    pub(crate) fn new(line: &LogLine) -> Self {
        toolhive_log_line {
            text: cstring(line.to_string()),
            message: cstring(line.message.clone()),
            level: toolhive_log_level::from_core(line.level),
            time_ms: line
                .at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

/// The number of lines; 0 when `lines` is NULL.
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `lines` is NULL or a live snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_lines_len(lines: *const toolhive_log_lines) -> usize {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { lines.as_ref() }.map_or(0, |l| l.lines.len())
    })
}

/// The line at `index` (0 = oldest), or NULL when out of range or `lines` is NULL.
/// Borrowed from `lines`.
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `lines` is NULL or a live snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_lines_get(
    lines: *const toolhive_log_lines,
    index: usize,
) -> *const toolhive_log_line {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { lines.as_ref() }
            .and_then(|l| l.lines.get(index))
            .map_or(std::ptr::null(), |l| l as *const toolhive_log_line)
    })
}

/// Free a snapshot (and every line borrowed from it). NULL is a no-op.
/// Thread safety: any thread, as the last use of the snapshot and its lines.
///
/// # Safety
/// `lines` is NULL or a snapshot from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_lines_free(lines: *mut toolhive_log_lines) {
    boundary_or((), || {
        if !lines.is_null() {
            // SAFETY: from Box::into_raw in toolhive_proxy_logs, freed once.
            drop(unsafe { Box::from_raw(lines) });
        }
    })
}

/// The line formatted for display: "2026-11-27T02:13:39.059Z INFO  message". NULL when
/// `line` is NULL. Borrowed from the snapshot.
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `line` is NULL or a line of a live snapshot (or the line passed to a running follow
/// callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_line_text(line: *const toolhive_log_line) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { line.as_ref() }.map_or(std::ptr::null(), |l| l.text.as_ptr())
    })
}

/// The message alone. NULL when `line` is NULL. Borrowed from the snapshot.
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `line` is NULL or a line of a live snapshot (or the line passed to a running follow
/// callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_line_message(
    line: *const toolhive_log_line,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { line.as_ref() }.map_or(std::ptr::null(), |l| l.message.as_ptr())
    })
}

/// The line's severity (`TOOLHIVE_LOG_LEVEL_DEBUG` when `line` is NULL).
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `line` is NULL or a line of a live snapshot (or the line passed to a running follow
/// callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_line_level(
    line: *const toolhive_log_line,
) -> toolhive_log_level {
    boundary_or(toolhive_log_level::Debug, || {
        // SAFETY: the caller's contract.
        unsafe { line.as_ref() }.map_or(toolhive_log_level::Debug, |l| l.level)
    })
}

/// When the line was logged, in milliseconds since the Unix epoch; 0 when `line` is NULL.
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `line` is NULL or a line of a live snapshot (or the line passed to a running follow
/// callback).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_line_time_ms(line: *const toolhive_log_line) -> i64 {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { line.as_ref() }.map_or(0, |l| l.time_ms)
    })
}
