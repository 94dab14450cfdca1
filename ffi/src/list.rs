//! `toolhive_proxy_list`: a snapshot of a runtime's proxies with length/get accessors.

use std::ffi::{CStr, CString, c_char};
use std::time::UNIX_EPOCH;

use toolhive_core::{ProxyInfo, ProxyState};

use crate::error::boundary_or;
use crate::strings::{cstring, static_cstr};

/// A snapshot of a runtime's proxies (from `toolhive_runtime_list`), sorted by name.
///
/// Owned by the caller: free it with `toolhive_proxy_list_free`. Immutable: may be read from
/// several threads at once.
pub struct toolhive_proxy_list {
    items: Vec<toolhive_proxy_info>,
}

/// One entry of a `toolhive_proxy_list`.
///
/// Ownership: borrowed from its list; it and its strings are valid until the list is freed.
pub struct toolhive_proxy_info {
    name: CString,
    local_url: CString,
    remote_url: CString,
    transport: &'static CStr,
    state: &'static CStr,
    failure_reason: Option<CString>,
    auth_state: Option<&'static CStr>,
    started_at_ms: i64,
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
    fn new(info: &ProxyInfo) -> Self {
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

/// The proxy's name. NULL when `info` is NULL. Borrowed from the list.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_name(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.name.as_ptr())
}

/// The local MCP URL. NULL when `info` is NULL. Borrowed from the list.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_url(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.local_url.as_ptr())
}

/// The remote MCP URL as configured. NULL when `info` is NULL. Borrowed from the list.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list.
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
/// `info` is NULL or an entry of a live list.
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
/// `info` is NULL or an entry of a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_state(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.state.as_ptr())
}

/// Why the proxy failed, when its state is "failed"; NULL otherwise. Borrowed from the list.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list.
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
/// `info` is NULL or an entry of a live list.
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
/// `info` is NULL or an entry of a live list.
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
/// "state":"running","started_at":"2026-11-27T02:13:39.059Z"}` (plus "reason" when failed).
/// NULL when `info` is NULL. Borrowed from the list.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `info` is NULL or an entry of a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_proxy_info_json(
    info: *const toolhive_proxy_info,
) -> *const c_char {
    info_str(info, |i| i.json.as_ptr())
}
