//! `toolhive_proxy_list`: a snapshot of a runtime's proxies with length/get accessors, and
//! `toolhive_proxy_info`: one proxy's snapshot (an entry of a list, or standalone).

use std::ffi::{CStr, CString, c_char};
use std::time::UNIX_EPOCH;

use toolhive_core::{ProxyInfo, ProxyState};

use crate::error::boundary_or;
use crate::strings::{cstring, static_cstr};

/// A snapshot of a runtime's proxies (from `toolhive_runtime_list`), sorted by name: those of
/// this runtime and, with a state directory, those saved there or served by other processes.
///
/// Owned by the caller: free it with `toolhive_proxy_list_free`. Immutable: may be read from
/// several threads at once.
pub struct toolhive_proxy_list {
    items: Vec<toolhive_proxy_info>,
}

/// A snapshot of one proxy: an entry of a `toolhive_proxy_list`, or a standalone snapshot.
///
/// Ownership: an entry of a list (`const toolhive_proxy_info *` from `toolhive_proxy_list_get`)
/// is borrowed from its list: it and its strings are valid until the list is freed, and it must
/// never be passed to `toolhive_proxy_info_free`. A standalone snapshot (`toolhive_proxy_info *`
/// from `toolhive_runtime_info`, `toolhive_runtime_restart`, `toolhive_proxy_get_info`) is owned
/// by the caller: free it with `toolhive_proxy_info_free`; its strings are borrowed from it.
/// Immutable: may be read from several threads at once.
pub struct toolhive_proxy_info {
    name: CString,
    local_url: CString,
    remote_url: CString,
    transport: &'static CStr,
    state: &'static CStr,
    failure_reason: Option<CString>,
    auth_state: Option<&'static CStr>,
    started_at_ms: i64,
    pid: u32,
    stale: bool,
    auth_json: Option<CString>,
    json: CString,
}

impl toolhive_proxy_list {
    pub(crate) fn new(infos: Vec<ProxyInfo>) -> Self {
        toolhive_proxy_list {
            items: infos.iter().map(toolhive_proxy_info::new).collect(),
        }
    }
}

impl toolhive_proxy_info {
    pub(crate) fn new(info: &ProxyInfo) -> Self {
        let failure_reason = match &info.state {
            ProxyState::Failed { reason } => Some(cstring(reason.clone())),
            _ => None,
        };
        let started_at_ms = info
            .started_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        toolhive_proxy_info {
            name: cstring(info.name.clone()),
            local_url: cstring(info.local_url.clone()),
            remote_url: cstring(info.remote_url.clone()),
            transport: static_cstr(info.transport.as_str()),
            state: static_cstr(info.state.as_str()),
            failure_reason,
            auth_state: info.auth.as_ref().map(|a| static_cstr(a.as_str())),
            started_at_ms,
            pid: info.pid.unwrap_or(0),
            stale: info.stale,
            auth_json: info
                .auth
                .as_ref()
                .map(|a| cstring(serde_json::to_string(a).expect("auth states always serialize"))),
            json: cstring(info.to_json()),
        }
    }
}

/// The number of proxies in the list; 0 when `list` is NULL.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_list_len(list: *const toolhive_proxy_list) -> usize {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { list.as_ref() }.map_or(0, |l| l.items.len())
    })
}

/// The entry at `index` (0-based), or NULL when `index` is out of range or `list` is NULL.
///
/// Ownership: borrowed from `list`, valid until `toolhive_proxy_list_free(list)`.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `list` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_list_get(
    list: *const toolhive_proxy_list,
    index: usize,
) -> *const toolhive_proxy_info {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { list.as_ref() }
            .and_then(|l| l.items.get(index))
            .map_or(std::ptr::null(), |i| i as *const toolhive_proxy_info)
    })
}

/// Free a list (and every entry and string borrowed from it). NULL is a no-op.
/// Thread safety: any thread, as the last use of the list and its entries.
///
/// # Safety
/// `list` is NULL or a list from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_list_free(list: *mut toolhive_proxy_list) {
    boundary_or((), || {
        if !list.is_null() {
            // SAFETY: from Box::into_raw in toolhive_runtime_list, freed once.
            drop(unsafe { Box::from_raw(list) });
        }
    })
}

fn info_str(
    info: *const toolhive_proxy_info,
    get: impl Fn(&toolhive_proxy_info) -> *const c_char,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the exported callers' contract: NULL or an entry of a live list.
        unsafe { info.as_ref() }.map_or(std::ptr::null(), get)
    })
}

/// The proxy's name. NULL when `info` is NULL. Borrowed from the list (or standalone
/// snapshot).
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_name(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.name.as_ptr())
}

/// The local MCP URL. NULL when `info` is NULL. Borrowed from the list (or standalone
/// snapshot).
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_url(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.local_url.as_ptr())
}

/// The remote MCP URL as configured. NULL when `info` is NULL. Borrowed from the list (or
/// standalone snapshot).
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_remote_url(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.remote_url.as_ptr())
}

/// "streamable-http" or "sse". NULL when `info` is NULL. Static (valid forever).
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_transport(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.transport.as_ptr())
}

/// The state when the list was taken ("running", "stopped", "failed", ...). NULL when `info`
/// is NULL. Static (valid forever).
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_state(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.state.as_ptr())
}

/// Why the proxy failed, when its state is "failed"; NULL otherwise. Borrowed from the list
/// (or standalone snapshot).
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_failure_reason(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| {
        i.failure_reason
            .as_ref()
            .map_or(std::ptr::null(), |r| r.as_ptr())
    })
}

/// The authorization state when the list was taken ("authenticated", "needs_login", ...;
/// see `toolhive_proxy_auth_state`); NULL with static credentials or when `info` is NULL.
/// Static (valid forever).
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_auth_state(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| {
        i.auth_state.map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// When the proxy started, in milliseconds since the Unix epoch; 0 when `info` is NULL.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_started_at_ms(
    info: *const toolhive_proxy_info,
) -> i64 {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { info.as_ref() }.map_or(0, |i| i.started_at_ms)
    })
}

/// The entry as one line of JSON: `{"name":…,"remote_url":…,"local_url":…,"transport":…,
/// "state":"running","started_at":"2026-11-27T02:13:39.059Z","pid":4242,"auth":null,
/// "stale":false}` ("reason" when failed; "pid" null when not running; "auth" as in
/// `toolhive_proxy_info_auth_json`). More keys may be added. NULL when `info` is NULL.
/// Borrowed from the list (or standalone snapshot).
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_json(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.json.as_ptr())
}

/// The process serving the proxy while it runs (this process for the runtime's own proxies,
/// another one for a proxy served elsewhere through the state directory); 0 when it is not
/// running or `info` is NULL.
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_pid(info: *const toolhive_proxy_info) -> u32 {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { info.as_ref() }.map_or(0, |i| i.pid)
    })
}

/// True when the proxy's state file says it runs but the process serving it is gone (it
/// crashed or was killed without stopping its proxies): `toolhive_runtime_restore` brings it
/// back, `toolhive_runtime_stop` records it as stopped. False otherwise or when `info` is NULL.
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_stale(info: *const toolhive_proxy_info) -> bool {
    boundary_or(false, || {
        // SAFETY: the caller's contract.
        unsafe { info.as_ref() }.is_some_and(|i| i.stale)
    })
}

/// The authorization state with its details as one line of JSON, e.g.
/// `{"state":"auth_retrying","next_attempt_at":"2026-11-27T02:13:39.059Z","reason":"…"}`,
/// `{"state":"authenticated","expires_at":"…"}`, `{"state":"needs_login","reason":"…"}`
/// (times in RFC 3339, UTC; keys as they apply; more may be added). NULL with static
/// credentials (no OAuth) or when `info` is NULL. Borrowed from the list (or standalone
/// snapshot).
/// Thread safety: any thread, concurrently (snapshots are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list or a live standalone snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_auth_json(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| {
        i.auth_json
            .as_ref()
            .map_or(std::ptr::null(), |j| j.as_ptr())
    })
}

/// Free a standalone snapshot (from `toolhive_runtime_info`, `toolhive_runtime_restart` or
/// `toolhive_proxy_get_info`). NULL is a no-op. Never pass an entry of a list (those are
/// `const` and freed with their list).
/// Thread safety: any thread, as the last use of the snapshot.
///
/// # Safety
/// `info` is NULL or a standalone snapshot from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_free(info: *mut toolhive_proxy_info) {
    boundary_or((), || {
        if !info.is_null() {
            // SAFETY: from Box::into_raw of a standalone snapshot, freed once per the contract.
            drop(unsafe { Box::from_raw(info) });
        }
    })
}
