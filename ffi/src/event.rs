//! The per-runtime event callback: core's `ProxyEvent`s delivered on a dedicated thread.

use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio_util::sync::CancellationToken;
use toolhive_core::{EventKind, ProxyEvent};

use crate::callback::{self, RawUserdata, Userdata};
use crate::error::{Failure, boundary_or, toolhive_status};
use crate::strings::{cstring, static_cstr};

/// One event of a proxy, as passed to a `toolhive_event_callback`.
///
/// Ownership: borrowed by the callback; it and its strings are valid only until the callback
/// returns (copy what you need).
pub struct toolhive_event {
    proxy: CString,
    kind: &'static CStr,
    from: Option<&'static CStr>,
    to: Option<&'static CStr>,
    url: Option<CString>,
    auth_state: Option<&'static CStr>,
    json: CString,
}

impl toolhive_event {
    fn new(event: &ProxyEvent) -> Self {
        let mut c = toolhive_event {
            proxy: cstring(event.proxy.clone()),
            kind: static_cstr(event.kind.as_str()),
            from: None,
            to: None,
            url: None,
            auth_state: None,
            json: cstring(event.to_json()),
        };
        match &event.kind {
            EventKind::StateChanged { from, to } => {
                c.from = Some(static_cstr(from.as_str()));
                c.to = Some(static_cstr(to.as_str()));
            }
            EventKind::AuthorizationRequired { url } => c.url = Some(cstring(url.clone())),
            EventKind::AuthStateChanged { state } => {
                c.auth_state = Some(static_cstr(state.as_str()))
            }
            // Kinds added to core later: their type and JSON still describe them.
            #[allow(unreachable_patterns)]
            _ => {}
        }
        c
    }
}

/// Receives the events of one runtime's proxies (see `toolhive_runtime_set_event_callback`).
/// Runs on the runtime's event thread, never concurrently with itself.
pub type toolhive_event_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const toolhive_event)>;

type EventFn = unsafe extern "C" fn(userdata: *mut c_void, event: *const toolhive_event);

/// The thread that delivers a runtime's events to the host callback.
pub(crate) struct EventDispatcher {
    cancel: CancellationToken,
    thread: JoinHandle<()>,
}

impl EventDispatcher {
    pub(crate) fn spawn(
        runtime: tokio::runtime::Handle,
        mut events: broadcast::Receiver<ProxyEvent>,
        callback: EventFn,
        userdata: RawUserdata,
    ) -> Result<Self, Failure> {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("toolhive-events".into())
            .spawn(move || {
                // Owned only once the thread runs: if it cannot start, the caller keeps it.
                let userdata = userdata.own();
                loop {
                    let next = runtime.block_on(async {
                        tokio::select! {
                            biased;
                            next = events.recv() => Some(next),
                            () = stop.cancelled() => None,
                        }
                    });
                    match next {
                        Some(Ok(event)) => deliver(callback, &userdata, &event),
                        // A slow callback missed some events; go on with the newest.
                        Some(Err(RecvError::Lagged(_))) => continue,
                        Some(Err(RecvError::Closed)) => break,
                        None => {
                            // Deliver what was sent before the stop, then end.
                            loop {
                                match events.try_recv() {
                                    Ok(event) => deliver(callback, &userdata, &event),
                                    Err(TryRecvError::Lagged(_)) => continue,
                                    Err(_) => break,
                                }
                            }
                            break;
                        }
                    }
                }
                // `userdata` drops here: its destructor runs on this thread, after the last call.
            })
            .map_err(|e| {
                Failure::new(
                    toolhive_status::Io,
                    format!("cannot start the event thread: {e}"),
                )
            })?;
        Ok(EventDispatcher { cancel, thread })
    }

    /// Deliver what is pending, end the thread and wait for it (and the userdata destructor).
    pub(crate) fn stop(self) {
        self.cancel.cancel();
        let _ = self.thread.join();
    }
}

fn deliver(callback: EventFn, userdata: &Userdata, event: &ProxyEvent) {
    // A panic while building the event must not end the thread (the host would lose events
    // silently and the userdata would be freed early); skip that event instead.
    let Ok(event) = catch_unwind(AssertUnwindSafe(|| toolhive_event::new(event))) else {
        return;
    };
    // SAFETY: the host registered this callback for this userdata; `event` outlives the call.
    callback::invoke(|| unsafe { callback(userdata.ptr, &event) });
}

/// The name of the proxy the event concerns; NULL when `event` is NULL.
/// Ownership: borrowed, valid until the callback returns. Thread safety: inside the callback.
///
/// # Safety
/// `event` is NULL or the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_event_proxy(event: *const toolhive_event) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { event.as_ref() }.map_or(std::ptr::null(), |e| e.proxy.as_ptr())
    })
}

/// The kind of event as a stable snake_case name: "state_changed" (the proxy's state, see
/// `toolhive_event_from_state`/`_to_state`), "authorization_required" (the user must log in at
/// `toolhive_event_url`), "auth_state_changed" (see `toolhive_event_auth_state`). More kinds
/// will be added: handle unknown ones generically, e.g. with `toolhive_event_json`.
/// NULL when `event` is NULL.
/// Ownership: static (valid forever).
/// Thread safety: only inside the callback that received the event.
///
/// # Safety
/// `event` is NULL or the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_event_type(event: *const toolhive_event) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { event.as_ref() }.map_or(std::ptr::null(), |e| e.kind.as_ptr())
    })
}

/// For "state_changed": the state the proxy left ("starting", "running", "unhealthy",
/// "stopping", "stopped", "failed"). NULL for other kinds or when `event` is NULL.
/// Ownership: static (valid forever).
/// Thread safety: only inside the callback that received the event.
///
/// # Safety
/// `event` is NULL or the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_event_from_state(event: *const toolhive_event) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { event.as_ref() }
            .and_then(|e| e.from)
            .map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// For "state_changed": the state the proxy is in now (see `toolhive_event_from_state`).
/// NULL for other kinds or when `event` is NULL. Ownership: static (valid forever).
/// Thread safety: only inside the callback that received the event.
///
/// # Safety
/// `event` is NULL or the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_event_to_state(event: *const toolhive_event) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { event.as_ref() }
            .and_then(|e| e.to)
            .map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// For "authorization_required": the URL the user must open to log in (a browser is opened
/// for it unless the runtime's options say otherwise). NULL for other kinds or when `event` is
/// NULL. Ownership: borrowed, valid until the callback returns.
/// Thread safety: only inside the callback that received the event.
///
/// # Safety
/// `event` is NULL or the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_event_url(event: *const toolhive_event) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { event.as_ref() }
            .and_then(|e| e.url.as_ref())
            .map_or(std::ptr::null(), |u| u.as_ptr())
    })
}

/// For "auth_state_changed": the proxy's new authorization state ("unauthenticated",
/// "authorizing", "authenticated", "refreshing", "auth_retrying", "needs_login"; details such
/// as a reason are in `toolhive_event_json`). NULL for other kinds or when `event` is NULL.
/// Ownership: static (valid forever).
/// Thread safety: only inside the callback that received the event.
///
/// # Safety
/// `event` is NULL or the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_event_auth_state(event: *const toolhive_event) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { event.as_ref() }
            .and_then(|e| e.auth_state)
            .map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// The whole event as one line of JSON, e.g.
/// `{"proxy":"notion","type":"state_changed","from":{"state":"starting"},"to":{"state":"running"}}`
/// (a failed state carries `"reason"`). NULL when `event` is NULL.
/// Ownership: borrowed, valid until the callback returns.
/// Thread safety: only inside the callback that received the event.
///
/// # Safety
/// `event` is NULL or the event passed to the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_event_json(event: *const toolhive_event) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { event.as_ref() }.map_or(std::ptr::null(), |e| e.json.as_ptr())
    })
}
