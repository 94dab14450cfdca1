//! `toolhive_runtime`: a tokio multi-thread runtime plus a `ProxyManager`, and its options.

use std::ffi::{CString, c_char, c_void};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use toolhive_core::{ManagerOptions, ProxyManager};

use crate::callback;
use crate::error::{
    Failure, arg_ref, boundary_or, guarded, report, require_out, toolhive_error, toolhive_status,
    write_out,
};
use crate::event::{EventDispatcher, toolhive_event_callback};
use crate::list::toolhive_proxy_list;
use crate::proxy::toolhive_proxy;
use crate::secrets::{SecretStoreChoice, StoreLease};
use crate::strings::{arg_config, arg_str, cstring};

/// Most worker threads a runtime may ask for.
const MAX_WORKER_THREADS: usize = 1024;

/// How long runtime shutdown waits for tasks that do not stop by themselves (a DNS lookup on
/// the blocking pool, say) after every proxy has stopped gracefully.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Options for `toolhive_runtime_new`.
///
/// Owned by the caller: create with `toolhive_runtime_options_new`, free with
/// `toolhive_runtime_options_free` (the runtime copies what it needs, so the options may be
/// freed right after `toolhive_runtime_new`). Not thread-safe: use one thread at a time.
pub struct toolhive_runtime_options {
    worker_threads: usize,
    state_dir: Option<String>,
    open_browser: bool,
    pub(crate) secret_store: SecretStoreChoice,
}

/// What proxy handles share with their runtime: the tokio runtime, until the runtime is freed.
pub(crate) struct RtShared {
    /// `None` once `toolhive_runtime_free` has stopped everything. Blocking calls hold a read
    /// guard while they wait, so free (a writer) waits for them, and they never see a runtime
    /// that is being torn down.
    runtime: RwLock<Option<tokio::runtime::Runtime>>,
    /// Cancelled when the runtime is freed, before it waits for `runtime`'s readers: ends the
    /// log followers, which wait inside `block_on`.
    pub(crate) closing: CancellationToken,
}

impl RtShared {
    /// Run `fut` to completion on this runtime from a host thread; `None` once it was freed.
    pub(crate) fn block_on<F: Future>(&self, fut: F) -> Option<F::Output> {
        let guard = self.runtime.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|rt| rt.block_on(fut))
    }

    /// [`RtShared::block_on`] for calls that need the runtime: "the runtime was freed"
    /// otherwise (only possible through a handle that outlived its runtime).
    pub(crate) fn run<F: Future>(&self, fut: F) -> Result<F::Output, Failure> {
        self.block_on(fut).ok_or_else(closed)
    }
}

/// A toolhive runtime: owns worker threads (a tokio multi-thread runtime) and every proxy
/// started on it.
///
/// Owned by the caller: create with `toolhive_runtime_new`, free with `toolhive_runtime_free`
/// (which stops all its proxies). Thread-safe: every function taking a
/// `const toolhive_runtime *` may be called from several threads at once; only
/// `toolhive_runtime_free` must not race with other calls on the same runtime.
pub struct toolhive_runtime {
    shared: Arc<RtShared>,
    manager: ProxyManager,
    state_dir: Option<CString>,
    events: Mutex<Option<EventDispatcher>>,
    /// Keeps a host secret store's userdata alive until the runtime is shut down.
    store_lease: Option<StoreLease>,
}

impl toolhive_runtime {
    /// Stop every proxy gracefully, stop the event dispatcher (delivering what is pending),
    /// and shut the tokio runtime down.
    fn shutdown(self) {
        let toolhive_runtime {
            shared,
            manager,
            state_dir: _,
            events,
            store_lease,
        } = self;
        // Log followers wait inside `block_on` (holding a read guard): end them first.
        shared.closing.cancel();
        let runtime = {
            let mut guard = shared.runtime.write().unwrap_or_else(|p| p.into_inner());
            if let Some(runtime) = guard.as_ref() {
                // Each proxy stops within its own stop_grace_ms (enforced by core).
                runtime.block_on(manager.shutdown());
            }
            guard.take()
        };
        let dispatcher = events.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(dispatcher) = dispatcher {
            dispatcher.stop();
        }
        drop(manager);
        if let Some(runtime) = runtime {
            runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
        }
        // Last: no task of this runtime calls the host store anymore (a call still running
        // on the blocking pool is waited for by the lease).
        drop(store_lease);
    }

    pub(crate) fn manager(&self) -> &ProxyManager {
        &self.manager
    }

    pub(crate) fn shared(&self) -> &Arc<RtShared> {
        &self.shared
    }
}

/// New runtime options with defaults: as many worker threads as CPUs, no state directory
/// (everything in memory), the default secret store (see
/// `toolhive_runtime_options_set_secret_store`), open a browser for OAuth logins.
///
/// Returns NULL only if the library panicked. Ownership: the caller frees the result with
/// `toolhive_runtime_options_free`.
/// Thread safety: one thread at a time per options object; also inside callbacks.
#[unsafe(no_mangle)]
pub extern "C" fn toolhive_runtime_options_new() -> *mut toolhive_runtime_options {
    boundary_or(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(toolhive_runtime_options {
            worker_threads: 0,
            state_dir: None,
            open_browser: true,
            secret_store: SecretStoreChoice::Default,
        }))
    })
}

/// Set the number of worker threads (1..1024); 0 means "one per CPU" (the default).
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (opts), `TOOLHIVE_STATUS_INVALID_ARGUMENT`
/// (more than 1024; the error's field is "worker_threads").
/// Thread safety: one thread at a time per options object; also inside callbacks.
///
/// # Safety
/// `opts` is NULL or live options; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_options_set_worker_threads(
    opts: *mut toolhive_runtime_options,
    worker_threads: usize,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `opts`.
        let opts = unsafe { opts.as_mut() }.ok_or_else(|| Failure::null("opts"))?;
        if worker_threads > MAX_WORKER_THREADS {
            return Err(Failure::new(
                toolhive_status::InvalidArgument,
                format!("must be at most {MAX_WORKER_THREADS} (0 means one per CPU)"),
            )
            .with_field("worker_threads"));
        }
        opts.worker_threads = worker_threads;
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Set the directory where the runtime keeps its state: saved proxies, their logs, and
/// (without another secret store) secrets such as OAuth tokens, in files readable only by the
/// user. `toolhive_runtime_new` creates it if missing. NULL clears it (the default: keep
/// everything in memory). The string is copied.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (opts), `TOOLHIVE_STATUS_INVALID_UTF8` (field
/// "state_dir"), `TOOLHIVE_STATUS_INVALID_ARGUMENT` (empty string).
/// Thread safety: one thread at a time per options object; also inside callbacks.
///
/// # Safety
/// `opts` is NULL or live options; `state_dir` is NULL or NUL-terminated; `err` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_options_set_state_dir(
    opts: *mut toolhive_runtime_options,
    state_dir: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `opts`.
        let opts = unsafe { opts.as_mut() }.ok_or_else(|| Failure::null("opts"))?;
        if state_dir.is_null() {
            opts.state_dir = None;
            return Ok(());
        }
        // SAFETY: non-NULL, NUL-terminated per the contract.
        let dir = unsafe { arg_str(state_dir, "state_dir") }?;
        if dir.is_empty() {
            return Err(Failure::new(
                toolhive_status::InvalidArgument,
                "must not be empty (pass NULL for none)",
            )
            .with_field("state_dir"));
        }
        opts.state_dir = Some(dir.to_owned());
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Whether an OAuth login opens the user's browser (`true`, the default) or not (`false`).
///
/// Every login publishes an "authorization_required" event carrying the authorization URL to
/// the runtime's event callback (`toolhive_runtime_set_event_callback`, `toolhive_event_url`)
/// either way. A host that shows the URL itself (its own window, a notification, a copyable
/// link) sets `false`, so the library never starts a browser behind its back (core's
/// `ManagerOptions::suppress_browser`). Setting an event callback alone does not change this:
/// a callback that only watches state changes still gets the default browser behaviour. A
/// proxy's own `oauth.skip_browser` config also keeps the browser closed.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (opts).
/// Thread safety: one thread at a time per options object; also inside callbacks.
///
/// # Safety
/// `opts` is NULL or live options; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_options_set_open_browser(
    opts: *mut toolhive_runtime_options,
    open_browser: bool,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `opts`.
        let opts = unsafe { opts.as_mut() }.ok_or_else(|| Failure::null("opts"))?;
        opts.open_browser = open_browser;
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Free runtime options. NULL is a no-op.
/// Thread safety: any thread, as the last use of the options.
///
/// # Safety
/// `opts` is NULL or options from `toolhive_runtime_options_new` not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_options_free(opts: *mut toolhive_runtime_options) {
    boundary_or((), || {
        if !opts.is_null() {
            // SAFETY: from Box::into_raw in toolhive_runtime_options_new, freed once.
            drop(unsafe { Box::from_raw(opts) });
        }
    })
}

/// Create a runtime: starts its worker threads (named "toolhive-worker").
///
/// `opts` may be NULL for the defaults; it is only read during the call. On success `*out`
/// receives a runtime the caller owns and must free with `toolhive_runtime_free`; on failure
/// `*out` is left untouched.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (out), `TOOLHIVE_STATUS_IO` (threads could not be
/// started), `TOOLHIVE_STATUS_STATE` (the state directory cannot be created; field
/// "state_dir"). Thread safety: any thread; blocking, so not from inside a callback.
///
/// # Safety
/// `opts` is NULL or live options; `out` is NULL or writable; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_new(
    opts: *const toolhive_runtime_options,
    out: *mut *mut toolhive_runtime,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_new")?;
        require_out(out, "out")?;
        // SAFETY: the caller's contract for `opts`.
        let opts = unsafe { opts.as_ref() };
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all().thread_name("toolhive-worker");
        if let Some(n) = opts.map(|o| o.worker_threads).filter(|n| *n > 0) {
            builder.worker_threads(n);
        }
        let runtime = builder.build().map_err(|e| {
            Failure::new(
                toolhive_status::Io,
                format!("cannot start the runtime's worker threads: {e}"),
            )
        })?;
        let options = ManagerOptions {
            state_dir: opts.and_then(|o| o.state_dir.as_ref()).map(PathBuf::from),
            secret_store: opts.and_then(|o| o.secret_store.build()),
            suppress_browser: opts.is_some_and(|o| !o.open_browser),
        };
        let manager = ProxyManager::with_options(runtime.handle().clone(), options)?;
        let rt = Box::new(toolhive_runtime {
            shared: Arc::new(RtShared {
                runtime: RwLock::new(Some(runtime)),
                closing: CancellationToken::new(),
            }),
            manager,
            state_dir: opts.and_then(|o| o.state_dir.clone()).map(cstring),
            events: Mutex::new(None),
            store_lease: opts.and_then(|o| o.secret_store.lease()),
        });
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(rt)) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// The state directory given in the options, or NULL when none was set (or `rt` is NULL).
///
/// Ownership: borrowed from `rt`, valid until `toolhive_runtime_free(rt)`.
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `rt` is NULL or a live runtime.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_state_dir(rt: *const toolhive_runtime) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { rt.as_ref() }
            .and_then(|rt| rt.state_dir.as_ref())
            .map_or(std::ptr::null(), |d| d.as_ptr())
    })
}

/// Start a proxy from a JSON ProxyConfig (the schema of the Rust API and of the CLI's
/// `--config`), e.g. `{"remote_url":"https://mcp.example.com/mcp","name":"example"}`.
/// Returns once the local URL accepts connections.
///
/// On success `*out` receives a proxy handle the caller owns and must free with
/// `toolhive_proxy_free` (freeing the handle does not stop the proxy); on failure `*out` is
/// left untouched.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (rt, config_json, out),
/// `TOOLHIVE_STATUS_INVALID_UTF8` (field: the JSON field holding the bad bytes),
/// `TOOLHIVE_STATUS_INVALID_CONFIG` (malformed JSON, unknown field, bad value; the error names
/// the field), `TOOLHIVE_STATUS_NAME_IN_USE`, `TOOLHIVE_STATUS_ADDRESS_IN_USE`,
/// `TOOLHIVE_STATUS_IO`, `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread, concurrently with other calls on the same runtime; blocking, so
/// not from inside a callback (returns `TOOLHIVE_STATUS_IN_CALLBACK` there).
///
/// # Safety
/// `rt` is NULL or a live runtime; `config_json` is NULL or NUL-terminated; `out` and `err`
/// are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_start(
    rt: *const toolhive_runtime,
    config_json: *const c_char,
    out: *mut *mut toolhive_proxy,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_start")?;
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let config = unsafe { arg_config(config_json, "config_json") }?;
        require_out(out, "out")?;
        let proxy = rt
            .shared
            .block_on(rt.manager.start(config))
            .ok_or_else(closed)??;
        let handle = toolhive_proxy::new(proxy, rt.shared.clone());
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(Box::new(handle))) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

pub(crate) fn closed() -> Failure {
    Failure::new(toolhive_status::Internal, "the runtime was freed")
}

/// A new handle to the proxy called `name` (running or stopped).
///
/// On success `*out` receives a handle the caller owns (free with `toolhive_proxy_free`).
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`, `TOOLHIVE_STATUS_INVALID_UTF8`,
/// `TOOLHIVE_STATUS_NOT_FOUND`. Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `out` and `err` are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_get_proxy(
    rt: *const toolhive_runtime,
    name: *const c_char,
    out: *mut *mut toolhive_proxy,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_str(name, "name") }?;
        require_out(out, "out")?;
        let proxy = rt.manager.get(name).ok_or_else(|| {
            Failure::new(
                toolhive_status::NotFound,
                format!("no proxy named `{name}`; list the proxies to see their names"),
            )
        })?;
        let handle = toolhive_proxy::new(proxy, rt.shared.clone());
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(Box::new(handle))) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// A snapshot of every proxy of the runtime (running and stopped), sorted by name; with a
/// state directory also those saved there (stopped ones, and stale ones whose process died:
/// `toolhive_proxy_info_stale`) and those served by other processes sharing it
/// (`toolhive_proxy_info_pid`). Unreadable state files are skipped: see
/// `toolhive_runtime_state_errors`.
///
/// On success `*out` receives a list the caller owns (free with `toolhive_proxy_list_free`).
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`. Thread safety: any thread, concurrently with
/// other calls, also inside callbacks (it does not block).
///
/// # Safety
/// `rt` is NULL or a live runtime; `out` and `err` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_list(
    rt: *const toolhive_runtime,
    out: *mut *mut toolhive_proxy_list,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `rt`.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        require_out(out, "out")?;
        let list = toolhive_proxy_list::new(rt.manager().list());
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(Box::new(list))) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Set (or, with `callback` NULL, remove) the runtime's event callback.
///
/// The callback receives every event of every proxy of this runtime from now on (state
/// changes, OAuth "authorization_required" with the login URL and "auth_state_changed"; more
/// kinds later, see `toolhive_event_type`), one at a time, in order, on one library thread of
/// this runtime ("toolhive-events"), never on the caller's thread. A host that shows the login
/// URL itself creates the runtime with `toolhive_runtime_options_set_open_browser(opts, false)`:
/// by default a browser is opened as well.
/// `userdata` is passed to every call; `userdata_free` (may be NULL) is called once with
/// `userdata` when the callback is replaced or removed or the runtime is freed, after the
/// last call of the callback. Events already pending when the callback is replaced or removed
/// are still delivered to the old callback before this returns.
///
/// Inside the callback, non-blocking functions (accessors, list, info, logs, get_proxy,
/// follow_logs, errors) may be used; blocking ones (start, stop, restart, remove, restore,
/// secret operations, set_event_callback, runtime_new) return `TOOLHIVE_STATUS_IN_CALLBACK`. The callback must not unwind (no C++ exceptions, no
/// longjmp) and should return quickly.
///
/// On failure nothing changes and `userdata_free` is not called (the caller still owns
/// `userdata`). Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (rt), `TOOLHIVE_STATUS_IO` (thread),
/// `TOOLHIVE_STATUS_IN_CALLBACK`. Thread safety: any thread; blocking (waits for the previous
/// callback's last call), so not from inside a callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `err` is NULL or writable; `callback` and `userdata_free`
/// are NULL or valid functions; `userdata` is usable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_set_event_callback(
    rt: *const toolhive_runtime,
    callback: toolhive_event_callback,
    userdata: *mut c_void,
    userdata_free: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_set_event_callback")?;
        // SAFETY: the caller's contract for `rt`.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let mut slot = rt.events.lock().unwrap_or_else(|p| p.into_inner());
        let new = match callback {
            Some(callback) => Some(EventDispatcher::spawn(
                rt.manager.runtime().clone(),
                rt.manager.subscribe(),
                callback,
                callback::RawUserdata {
                    ptr: userdata,
                    free: userdata_free,
                },
            )?),
            None => None,
        };
        if let Some(old) = std::mem::replace(&mut *slot, new) {
            old.stop();
        }
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Free a runtime: end its log follows (each gets its last call, with a NULL line), stop every
/// proxy it owns gracefully (each within its config's `stop_grace_ms`, in parallel; with a
/// state directory their saved state still says they run, so `toolhive_runtime_restore` in
/// the host's next start brings back exactly what was running; stop a proxy first to keep it
/// stopped), deliver pending events and release the event callback's userdata, then stop the
/// worker threads (waiting at most 5 more seconds for stray tasks). NULL is a no-op.
///
/// Proxy handles stay valid after this (free them as usual): their accessors keep working,
/// their state reads "stopped", and `toolhive_proxy_stop` on them returns
/// `TOOLHIVE_STATUS_OK` at once.
///
/// Thread safety: no other call may use `rt` concurrently or afterwards (calls on proxy
/// handles may: a concurrent `toolhive_proxy_stop` finishes first). Called from inside a
/// callback (or a thread that runs an async runtime) it does not block: the shutdown then
/// completes on a new thread ("toolhive-shutdown") after this returns.
///
/// # Safety
/// `rt` is NULL or a runtime from `toolhive_runtime_new` not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_free(rt: *mut toolhive_runtime) {
    boundary_or((), || {
        if rt.is_null() {
            return;
        }
        // SAFETY: from Box::into_raw in toolhive_runtime_new, freed once per the contract.
        let rt = unsafe { Box::from_raw(rt) };
        if callback::must_not_block() {
            let slot = Arc::new(Mutex::new(Some(*rt)));
            let theirs = slot.clone();
            let spawned = std::thread::Builder::new()
                .name("toolhive-shutdown".into())
                .spawn(move || {
                    let rt = theirs.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(rt) = rt {
                        rt.shutdown();
                    }
                });
            if spawned.is_err() {
                // No thread can be started: leak the runtime rather than risk a deadlock
                // here; its proxies keep running until the process exits.
                std::mem::forget(slot.lock().unwrap_or_else(|p| p.into_inner()).take());
            }
        } else {
            (*rt).shutdown();
        }
    })
}
