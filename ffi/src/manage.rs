//! Managing proxies by name, across restarts and processes (through the runtime's state
//! directory): info, stop, restart, remove, restore, state-file errors, logs.

use std::ffi::{CString, c_char};
use std::path::Path;

use crate::callback;
use crate::error::{
    Failure, arg_ref, boundary_or, guarded, report, require_out, toolhive_error, toolhive_status,
    write_out,
};
use crate::list::toolhive_proxy_info;
use crate::log::toolhive_log_lines;
use crate::runtime::toolhive_runtime;
use crate::strings::{arg_str, cstring};

/// Write a standalone snapshot to `out`.
///
/// # Safety
/// `out` was checked non-NULL and is writable.
unsafe fn write_info(out: *mut *mut toolhive_proxy_info, info: &toolhive_core::ProxyInfo) {
    let info = Box::new(toolhive_proxy_info::new(info));
    // SAFETY: the caller's contract.
    unsafe { write_out(out, Box::into_raw(info)) };
}

/// A snapshot of the proxy called `name`, wherever it runs: this runtime's, or (with a state
/// directory) saved there or served by another process (see `toolhive_proxy_info_pid`,
/// `toolhive_proxy_info_stale`).
///
/// On success `*out` receives a standalone snapshot the caller owns (free with
/// `toolhive_proxy_info_free`). Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`,
/// `TOOLHIVE_STATUS_INVALID_UTF8`, `TOOLHIVE_STATUS_NOT_FOUND`.
/// Thread safety: any thread, also inside callbacks (it does not block).
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `out` and `err` are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_info(
    rt: *const toolhive_runtime,
    name: *const c_char,
    out: *mut *mut toolhive_proxy_info,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_str(name, "name") }?;
        require_out(out, "out")?;
        let info = rt.manager().info(name)?;
        // SAFETY: checked non-NULL above.
        unsafe { write_info(out, &info) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Stop the proxy called `name` gracefully, wherever it runs: one of this runtime's (like
/// `toolhive_proxy_stop`), one served by another process through the state directory (asked
/// over its control socket), or a stale one whose process died (recorded as stopped). The saved
/// config is kept (`toolhive_runtime_restart` brings it back). Stopping a stopped proxy
/// succeeds.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`, `TOOLHIVE_STATUS_INVALID_UTF8`,
/// `TOOLHIVE_STATUS_NOT_FOUND`, `TOOLHIVE_STATUS_STATE` (its state file is unusable),
/// `TOOLHIVE_STATUS_IO` (the other process could not be asked), `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread, concurrently with other calls; blocking, so not from inside a
/// callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_stop(
    rt: *const toolhive_runtime,
    name: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_stop")?;
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_str(name, "name") }?;
        rt.shared().run(rt.manager().stop(name))??;
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Stop the proxy called `name` and start it again with the same config on the same port
/// (returns once it accepts connections again). One of this runtime's, or a saved one that no
/// process serves, is started in this runtime; one served by another process is restarted
/// there. Handles to the old proxy stay valid but refer to the stopped instance: get a new one
/// with `toolhive_runtime_get_proxy`.
///
/// `out` may be NULL; otherwise on success `*out` receives a standalone snapshot of the
/// restarted proxy the caller owns (free with `toolhive_proxy_info_free`).
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (rt, name), `TOOLHIVE_STATUS_INVALID_UTF8`,
/// `TOOLHIVE_STATUS_NOT_FOUND`, `TOOLHIVE_STATUS_ADDRESS_IN_USE` (the port was taken
/// meanwhile), `TOOLHIVE_STATUS_SECRET` (a secret it refers to is gone), and the errors of
/// `toolhive_runtime_start`. Thread safety: any thread; blocking, so not from inside a
/// callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `out` and `err` are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_restart(
    rt: *const toolhive_runtime,
    name: *const c_char,
    out: *mut *mut toolhive_proxy_info,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_restart")?;
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let info = rt.shared().run(rt.manager().restart(name))??;
        if !out.is_null() {
            // SAFETY: non-NULL, writable per the contract.
            unsafe { write_info(out, &info) };
        }
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Remove the proxy called `name`: stop it (wherever it runs), then delete its saved config,
/// its log file and every secret of it in the runtime's secret store (keys starting with
/// "proxy/<name>/"). Secrets a config merely refers to (`{"secret": "name"}`) are the user's
/// and stay. Handles to it stay valid (state "stopped").
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`, `TOOLHIVE_STATUS_INVALID_UTF8`,
/// `TOOLHIVE_STATUS_NOT_FOUND`, `TOOLHIVE_STATUS_STATE` (files could not be deleted),
/// `TOOLHIVE_STATUS_SECRET` (the store failed; the config is gone already, remove the secrets
/// with `toolhive_runtime_delete_secret`), `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread; blocking, so not from inside a callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_remove(
    rt: *const toolhive_runtime,
    name: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_remove")?;
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_str(name, "name") }?;
        rt.shared().run(rt.manager().remove(name))??;
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// The outcome of `toolhive_runtime_restore`: one entry per saved proxy it tried to start.
///
/// Owned by the caller: free it with `toolhive_restore_results_free`. Immutable: may be read
/// from several threads at once.
pub struct toolhive_restore_results {
    items: Vec<toolhive_restore_result>,
}

/// One entry of `toolhive_restore_results`.
///
/// Ownership: borrowed from its results; it, its strings and its error are valid until the
/// results are freed.
pub struct toolhive_restore_result {
    name: CString,
    url: Option<CString>,
    status: toolhive_status,
    error: Option<toolhive_error>,
}

/// Start every proxy saved in the state directory that was running when its process ended
/// (crashed, killed, or exited without stopping it); hosts call this once at startup. Proxies
/// served by another live process, and those that were stopped, are left alone; so are state
/// files that cannot be read (see `toolhive_runtime_state_errors`). Each comes back on its
/// saved port with its saved config (secrets from the runtime's secret store). Without a state
/// directory there is nothing to restore (an empty result).
///
/// On success (even when some proxies failed to start: see each entry) `*out` receives the
/// results the caller owns (free with `toolhive_restore_results_free`).
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`, `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread; blocking, so not from inside a callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `out` and `err` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_restore(
    rt: *const toolhive_runtime,
    out: *mut *mut toolhive_restore_results,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_restore")?;
        // SAFETY: the caller's contract for `rt`.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        require_out(out, "out")?;
        let restored = rt.shared().run(rt.manager().restore())?;
        let items = restored
            .into_iter()
            .map(|(name, result)| match result {
                Ok(proxy) => toolhive_restore_result {
                    name: cstring(name),
                    url: Some(cstring(proxy.url())),
                    status: toolhive_status::Ok,
                    error: None,
                },
                Err(e) => {
                    let failure = Failure::from(e);
                    toolhive_restore_result {
                        name: cstring(name),
                        url: None,
                        status: failure.status,
                        error: Some(toolhive_error::from_failure(failure)),
                    }
                }
            })
            .collect();
        let results = Box::new(toolhive_restore_results { items });
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(results)) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// The number of entries; 0 when `results` is NULL.
/// Thread safety: any thread, concurrently (results are immutable), also inside callbacks.
///
/// # Safety
/// `results` is NULL or live results.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_restore_results_len(
    results: *const toolhive_restore_results,
) -> usize {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { results.as_ref() }.map_or(0, |r| r.items.len())
    })
}

/// The entry at `index` (0-based, in name order), or NULL when out of range or `results` is
/// NULL. Borrowed from `results`.
/// Thread safety: any thread, concurrently (results are immutable), also inside callbacks.
///
/// # Safety
/// `results` is NULL or live results.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_restore_results_get(
    results: *const toolhive_restore_results,
    index: usize,
) -> *const toolhive_restore_result {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { results.as_ref() }
            .and_then(|r| r.items.get(index))
            .map_or(std::ptr::null(), |r| r as *const toolhive_restore_result)
    })
}

/// Free restore results (and every entry, string and error borrowed from them). NULL is a
/// no-op. Thread safety: any thread, as the last use of the results.
///
/// # Safety
/// `results` is NULL or results from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_restore_results_free(results: *mut toolhive_restore_results) {
    boundary_or((), || {
        if !results.is_null() {
            // SAFETY: from Box::into_raw in toolhive_runtime_restore, freed once.
            drop(unsafe { Box::from_raw(results) });
        }
    })
}

/// The name of the proxy. NULL when `result` is NULL. Borrowed from the results.
/// Thread safety: any thread, concurrently (results are immutable), also inside callbacks.
///
/// # Safety
/// `result` is NULL or an entry of live results.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_restore_result_name(
    result: *const toolhive_restore_result,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { result.as_ref() }.map_or(std::ptr::null(), |r| r.name.as_ptr())
    })
}

/// `TOOLHIVE_STATUS_OK` when the proxy runs again, else why it could not start (details in
/// `toolhive_restore_result_error`). `TOOLHIVE_STATUS_NULL_ARGUMENT` when `result` is NULL.
/// Thread safety: any thread, concurrently (results are immutable), also inside callbacks.
///
/// # Safety
/// `result` is NULL or an entry of live results.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_restore_result_status(
    result: *const toolhive_restore_result,
) -> toolhive_status {
    boundary_or(toolhive_status::Panic, || {
        // SAFETY: the caller's contract.
        unsafe { result.as_ref() }.map_or(toolhive_status::NullArgument, |r| r.status)
    })
}

/// Why the proxy could not start, as an error object (read it with `toolhive_error_code`,
/// `toolhive_error_message`, `toolhive_error_field`); NULL when it started or `result` is NULL.
/// Borrowed from the results: never pass it to `toolhive_error_free`.
/// Thread safety: any thread, concurrently (results are immutable), also inside callbacks.
///
/// # Safety
/// `result` is NULL or an entry of live results.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_restore_result_error(
    result: *const toolhive_restore_result,
) -> *const toolhive_error {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { result.as_ref() }
            .and_then(|r| r.error.as_ref())
            .map_or(std::ptr::null(), |e| e as *const toolhive_error)
    })
}

/// The local MCP URL of the restored proxy (the same as before the crash); NULL when it did not
/// start or `result` is NULL. Borrowed from the results.
/// Thread safety: any thread, concurrently (results are immutable), also inside callbacks.
///
/// # Safety
/// `result` is NULL or an entry of live results.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_restore_result_url(
    result: *const toolhive_restore_result,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { result.as_ref() }
            .and_then(|r| r.url.as_ref())
            .map_or(std::ptr::null(), |u| u.as_ptr())
    })
}

/// State files of the runtime's state directory that cannot be used (from
/// `toolhive_runtime_state_errors`).
///
/// Owned by the caller: free it with `toolhive_state_errors_free`. Immutable: may be read from
/// several threads at once.
pub struct toolhive_state_errors {
    items: Vec<toolhive_state_error>,
}

/// One entry of `toolhive_state_errors`.
///
/// Ownership: borrowed from its list; it and its strings are valid until the list is freed.
pub struct toolhive_state_error {
    path: CString,
    message: CString,
}

/// The path as the OS spells it (bytes on Unix).
fn path_cstring(path: &Path) -> CString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        CString::new(path.as_os_str().as_bytes())
            .unwrap_or_else(|_| cstring(path.to_string_lossy()))
    }
    #[cfg(not(unix))]
    {
        cstring(path.to_string_lossy())
    }
}

/// The state files that cannot be used: corrupt, unreadable, or written by a newer version of
/// the library. They are skipped by `toolhive_runtime_list` and `toolhive_runtime_restore` and
/// never overwritten (starting a proxy of that name fails with `TOOLHIVE_STATUS_STATE`), so a
/// host can show them to the user; the other proxies are unaffected. Empty without a state
/// directory.
///
/// On success `*out` receives a list the caller owns (free with `toolhive_state_errors_free`).
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`.
/// Thread safety: any thread, also inside callbacks (it does not block).
///
/// # Safety
/// `rt` is NULL or a live runtime; `out` and `err` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_state_errors(
    rt: *const toolhive_runtime,
    out: *mut *mut toolhive_state_errors,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `rt`.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        require_out(out, "out")?;
        let items = rt
            .manager()
            .state_errors()
            .into_iter()
            .map(|e| toolhive_state_error {
                path: path_cstring(&e.path),
                message: cstring(e.message),
            })
            .collect();
        let list = Box::new(toolhive_state_errors { items });
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(list)) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// The number of entries; 0 when `errors` is NULL.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `errors` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_state_errors_len(errors: *const toolhive_state_errors) -> usize {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { errors.as_ref() }.map_or(0, |e| e.items.len())
    })
}

/// The entry at `index` (0-based, in file name order), or NULL when out of range or `errors`
/// is NULL. Borrowed from `errors`.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `errors` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_state_errors_get(
    errors: *const toolhive_state_errors,
    index: usize,
) -> *const toolhive_state_error {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { errors.as_ref() }
            .and_then(|e| e.items.get(index))
            .map_or(std::ptr::null(), |e| e as *const toolhive_state_error)
    })
}

/// Free a list of state errors (and every entry and string borrowed from it). NULL is a no-op.
/// Thread safety: any thread, as the last use of the list.
///
/// # Safety
/// `errors` is NULL or a list from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_state_errors_free(errors: *mut toolhive_state_errors) {
    boundary_or((), || {
        if !errors.is_null() {
            // SAFETY: from Box::into_raw in toolhive_runtime_state_errors, freed once.
            drop(unsafe { Box::from_raw(errors) });
        }
    })
}

/// The file, e.g. "/home/me/.local/state/app/proxies/notion.json", as the OS spells it (bytes,
/// usable with fopen). NULL when `error` is NULL. Borrowed from the list.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `error` is NULL or an entry of a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_state_error_path(
    error: *const toolhive_state_error,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { error.as_ref() }.map_or(std::ptr::null(), |e| e.path.as_ptr())
    })
}

/// What is wrong with the file, e.g. "corrupt state file (...); it was left as is, fix or
/// remove it". NULL when `error` is NULL. Borrowed from the list.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `error` is NULL or an entry of a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_state_error_message(
    error: *const toolhive_state_error,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { error.as_ref() }.map_or(std::ptr::null(), |e| e.message.as_ptr())
    })
}

/// The recent log lines of the proxy called `name` (oldest first, at most 500; info and
/// above), wherever it runs: from memory for this runtime's proxies, from its log file in the
/// state directory for one saved there or served by another process.
///
/// On success `*out` receives a snapshot the caller owns (free with
/// `toolhive_log_lines_free`). Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`,
/// `TOOLHIVE_STATUS_INVALID_UTF8`, `TOOLHIVE_STATUS_NOT_FOUND`, `TOOLHIVE_STATUS_STATE`.
/// Thread safety: any thread, also inside callbacks (it does not block).
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `out` and `err` are NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_logs(
    rt: *const toolhive_runtime,
    name: *const c_char,
    out: *mut *mut toolhive_log_lines,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_str(name, "name") }?;
        require_out(out, "out")?;
        let lines = toolhive_log_lines::new(rt.manager().logs(name)?);
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(Box::new(lines))) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}
