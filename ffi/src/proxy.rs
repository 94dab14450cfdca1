//! `toolhive_proxy`: a handle to one proxy of a runtime.

use std::ffi::{CStr, CString, c_char};
use std::sync::Arc;

use toolhive_core::Proxy;

use crate::callback;
use crate::error::{
    arg_ref, boundary_or, guarded, report, require_out, toolhive_error, toolhive_status, write_out,
};
use crate::list::toolhive_proxy_info;
use crate::log::toolhive_log_lines;
use crate::runtime::RtShared;
use crate::strings::{cstring, static_cstr};

/// A handle to one proxy of a runtime.
///
/// Owned by the caller: free it with `toolhive_proxy_free`. Freeing the handle does not stop
/// the proxy (the runtime owns the proxy; stop it with `toolhive_proxy_stop`, or free the
/// runtime). Several handles may refer to one proxy. A handle stays valid after its runtime
/// is freed. Thread-safe: every function may be called from several threads at once, except
/// `toolhive_proxy_free`, which must be the last call on the handle.
pub struct toolhive_proxy {
    proxy: Proxy,
    runtime: Arc<RtShared>,
    name: CString,
    url: CString,
    remote_url: CString,
    transport: &'static CStr,
}

impl toolhive_proxy {
    pub(crate) fn new(proxy: Proxy, runtime: Arc<RtShared>) -> Self {
        toolhive_proxy {
            name: cstring(proxy.name()),
            url: cstring(proxy.url()),
            remote_url: cstring(proxy.remote_url()),
            transport: static_cstr(proxy.transport().as_str()),
            proxy,
            runtime,
        }
    }
}

/// Read one borrowed string field of a proxy handle; NULL when the handle is NULL.
fn field(
    proxy: *const toolhive_proxy,
    get: impl Fn(&toolhive_proxy) -> *const c_char,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the exported callers' contract: NULL or a live handle.
        unsafe { proxy.as_ref() }.map_or(std::ptr::null(), get)
    })
}

/// The proxy's unique name within its runtime, e.g. "example". NULL when `proxy` is NULL.
///
/// Ownership: borrowed from the handle, valid until `toolhive_proxy_free(proxy)`.
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `proxy` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_name(proxy: *const toolhive_proxy) -> *const c_char {
    field(proxy, |p| p.name.as_ptr())
}

/// The local MCP URL to give to MCP clients, e.g. "http://127.0.0.1:41873/mcp".
/// NULL when `proxy` is NULL.
///
/// Ownership: borrowed from the handle, valid until `toolhive_proxy_free(proxy)`.
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `proxy` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_url(proxy: *const toolhive_proxy) -> *const c_char {
    field(proxy, |p| p.url.as_ptr())
}

/// The remote MCP URL as configured. NULL when `proxy` is NULL.
///
/// Ownership: borrowed from the handle, valid until `toolhive_proxy_free(proxy)`.
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `proxy` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_remote_url(proxy: *const toolhive_proxy) -> *const c_char {
    field(proxy, |p| p.remote_url.as_ptr())
}

/// The remote's transport: "streamable-http" or "sse". NULL when `proxy` is NULL.
///
/// Ownership: static (valid forever, in particular for the handle's life).
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `proxy` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_transport(proxy: *const toolhive_proxy) -> *const c_char {
    field(proxy, |p| p.transport.as_ptr())
}

/// The proxy's current state: "starting", "running", "unhealthy", "stopping", "stopped" or
/// "failed" (the list and events carry a failure's reason). Read at the time of the call.
/// NULL when `proxy` is NULL.
///
/// Ownership: static (valid forever, in particular for the handle's life).
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `proxy` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_state(proxy: *const toolhive_proxy) -> *const c_char {
    field(proxy, |p| static_cstr(p.proxy.state().as_str()).as_ptr())
}

/// The proxy's authorization state ("unauthenticated", "authorizing", "authenticated",
/// "refreshing", "auth_retrying", "needs_login"), read at the time of the call; NULL when the
/// proxy uses static credentials (no OAuth) or `proxy` is NULL. Details (next_attempt_at,
/// reason, expires_at): `toolhive_proxy_get_info` + `toolhive_proxy_info_auth_json`.
///
/// Ownership: static (valid forever). Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `proxy` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_auth_state(proxy: *const toolhive_proxy) -> *const c_char {
    field(proxy, |p| {
        p.proxy
            .auth_state()
            .map_or(std::ptr::null(), |s| static_cstr(s.as_str()).as_ptr())
    })
}

/// The local TCP port the proxy listens on; 0 when `proxy` is NULL.
///
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `proxy` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_port(proxy: *const toolhive_proxy) -> u16 {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { proxy.as_ref() }.map_or(0, |p| p.proxy.local_addr().port())
    })
}

/// Stop the proxy gracefully: stop accepting, end open event streams, let in-flight requests
/// finish within the config's `stop_grace_ms`, release the port. Returns once it is stopped.
/// The proxy stays listed as "stopped"; the handle stays valid.
///
/// Stopping a stopped proxy returns `TOOLHIVE_STATUS_OK` (so does a second, or concurrent,
/// stop). After `toolhive_runtime_free` of its runtime (which stopped it already) this
/// returns `TOOLHIVE_STATUS_OK` at once.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`, `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread, concurrently with other calls; blocking, so not from inside a
/// callback (returns `TOOLHIVE_STATUS_IN_CALLBACK` there).
///
/// # Safety
/// `proxy` is NULL or a live handle; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_stop(
    proxy: *const toolhive_proxy,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_proxy_stop")?;
        // SAFETY: the caller's contract for `proxy`.
        let handle = unsafe { arg_ref(proxy, "proxy") }?;
        // `None`: the runtime was freed, and it stopped every proxy before that.
        let _ = handle.runtime.block_on(handle.proxy.stop());
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// The recent log lines of this proxy (oldest first, at most 500; info and above) as a
/// snapshot.
///
/// On success `*out` receives a snapshot the caller owns (free with
/// `toolhive_log_lines_free`). Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`.
/// Thread safety: any thread, also inside callbacks (it does not block).
///
/// # Safety
/// `proxy` is NULL or a live handle; `out` and `err` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_logs(
    proxy: *const toolhive_proxy,
    out: *mut *mut toolhive_log_lines,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `proxy`.
        let handle = unsafe { arg_ref(proxy, "proxy") }?;
        require_out(out, "out")?;
        let lines = toolhive_log_lines::new(handle.proxy.logs());
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(Box::new(lines))) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// A standalone snapshot of this proxy now (state, pid, auth state with details as JSON, ...;
/// see `toolhive_proxy_info`), e.g. to read `toolhive_proxy_info_auth_json`.
///
/// On success `*out` receives a snapshot the caller owns (free with
/// `toolhive_proxy_info_free`). Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`.
/// Thread safety: any thread, also inside callbacks (it does not block).
///
/// # Safety
/// `proxy` is NULL or a live handle; `out` and `err` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_get_info(
    proxy: *const toolhive_proxy,
    out: *mut *mut toolhive_proxy_info,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `proxy`.
        let handle = unsafe { arg_ref(proxy, "proxy") }?;
        require_out(out, "out")?;
        let info = Box::new(toolhive_proxy_info::new(&handle.proxy.info()));
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(info)) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Free a proxy handle (the proxy itself keeps running). NULL is a no-op.
///
/// Thread safety: any thread, as the last call on this handle.
///
/// # Safety
/// `proxy` is NULL or a handle from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_free(proxy: *mut toolhive_proxy) {
    boundary_or((), || {
        if !proxy.is_null() {
            // SAFETY: from Box::into_raw in start/get_proxy, freed once per the contract.
            drop(unsafe { Box::from_raw(proxy) });
        }
    })
}
