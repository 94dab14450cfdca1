//! Host callbacks: a thread-local marker set while one runs, so that blocking functions called
//! from inside a callback fail with `TOOLHIVE_STATUS_IN_CALLBACK` instead of deadlocking.

use std::cell::Cell;
use std::ffi::c_void;

use crate::error::{Failure, toolhive_status};

thread_local! {
    /// How many host callbacks are running on this thread (they can nest: a log record
    /// emitted while an event callback runs).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Decrements the depth when a callback returns.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Run `f` (which calls into the host) with this thread marked as "inside a callback".
pub(crate) fn invoke<R>(f: impl FnOnce() -> R) -> R {
    DEPTH.with(|d| d.set(d.get() + 1));
    let _running = Running;
    f()
}

/// True while a host callback runs on this thread.
pub(crate) fn in_callback() -> bool {
    DEPTH.with(Cell::get) > 0
}

/// True when waiting on this thread could deadlock: inside a host callback, or on a thread
/// that runs an async runtime (a Rust host's own, when the library is used as an rlib).
pub(crate) fn must_not_block() -> bool {
    in_callback() || tokio::runtime::Handle::try_current().is_ok()
}

/// Refuse a blocking call (`func`) where it could deadlock.
pub(crate) fn refuse_blocking(func: &str) -> Result<(), Failure> {
    if in_callback() {
        Err(Failure::new(
            toolhive_status::InCallback,
            format!(
                "{func} waits for the library and cannot be called from inside a toolhive \
                 callback; call it from another thread"
            ),
        ))
    } else if tokio::runtime::Handle::try_current().is_ok() {
        Err(Failure::new(
            toolhive_status::InCallback,
            format!(
                "{func} waits for the library and cannot be called from a thread that runs \
                 an async runtime; call it from another thread"
            ),
        ))
    } else {
        Ok(())
    }
}

/// A host userdata pointer and its optional destructor, not yet owned by the library (nothing
/// happens when it is dropped): moved into the thread that will own it as a [`Userdata`].
#[derive(Clone, Copy)]
pub(crate) struct RawUserdata {
    pub ptr: *mut c_void,
    pub free: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
}

// SAFETY: see `Userdata`.
unsafe impl Send for RawUserdata {}

impl RawUserdata {
    /// Take ownership: from now on the destructor runs when the result is dropped.
    pub(crate) fn own(self) -> Userdata {
        Userdata {
            ptr: self.ptr,
            free: self.free,
        }
    }
}

/// A host userdata pointer owned by the library, with its optional destructor.
///
/// The destructor runs when this is dropped (callback replaced, removed, or its owner freed),
/// marked as a callback so it cannot call blocking functions either.
pub(crate) struct Userdata {
    pub ptr: *mut c_void,
    pub free: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
}

// SAFETY: the header requires userdata to be usable from library threads: callbacks run on
// them and the destructor may run on any of them.
unsafe impl Send for Userdata {}
// SAFETY: as above; the log callback may run on several threads at once (documented).
unsafe impl Sync for Userdata {}

impl Drop for Userdata {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the host gave us this destructor for this pointer; called exactly once.
            invoke(|| unsafe { free(self.ptr) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_nests_and_unwinds() {
        assert!(!in_callback());
        invoke(|| {
            assert!(in_callback());
            invoke(|| assert!(refuse_blocking("f").is_err()));
            assert!(in_callback());
        });
        assert!(!in_callback());
        assert!(refuse_blocking("f").is_ok());
        let _ = std::panic::catch_unwind(|| invoke(|| panic!("x")));
        assert!(!in_callback());
    }
}
