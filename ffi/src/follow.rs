//! Following a proxy's log: core's `LogFollower` driven on a library thread that hands each
//! new line to a host callback, until the host cancels, the log ends or the runtime is freed.

use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio_util::sync::CancellationToken;
use toolhive_core::{LogFollower, LogLine};

use crate::callback::{self, RawUserdata, Userdata};
use crate::error::{
    Failure, arg_ref, boundary_or, guarded, report, require_out, toolhive_error, toolhive_status,
    write_out,
};
use crate::log::toolhive_log_line;
use crate::runtime::{RtShared, toolhive_runtime};
use crate::strings::arg_str;

/// Receives the new lines of a followed log (see `toolhive_runtime_follow_logs`), one at a
/// time, in order, on that follow's library thread ("toolhive-follow"). `line` is borrowed
/// (valid until the callback returns); it is NULL exactly once, as the last call, when the
/// follow ends by itself (not after `toolhive_log_follow_cancel`/`_free`).
pub type toolhive_log_follow_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, line: *const toolhive_log_line)>;

type FollowFn = unsafe extern "C" fn(userdata: *mut c_void, line: *const toolhive_log_line);

/// A running follow of a proxy's log (from `toolhive_runtime_follow_logs`).
///
/// Owned by the caller: free it with `toolhive_log_follow_free` (which ends the follow).
/// `toolhive_log_follow_cancel` may be called from any thread, also concurrently and from
/// inside the follow's own callback; `toolhive_log_follow_free` must be the last call.
pub struct toolhive_log_follow {
    cancel: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

enum Next {
    Line(LogLine),
    /// The log can have no more lines, or the runtime is being freed.
    Ended,
    /// The host cancelled.
    Cancelled,
}

fn follow_thread(
    shared: Arc<RtShared>,
    mut follower: LogFollower,
    stop: CancellationToken,
    callback: FollowFn,
    userdata: RawUserdata,
) {
    // Owned only once the thread runs: if it cannot start, the caller keeps it.
    let userdata = userdata.own();
    let closing = shared.closing.clone();
    loop {
        // `None`: the runtime was freed meanwhile.
        let next = shared.block_on(async {
            tokio::select! {
                biased;
                () = stop.cancelled() => Next::Cancelled,
                () = closing.cancelled() => Next::Ended,
                line = follower.next() => line.map_or(Next::Ended, Next::Line),
            }
        });
        match next {
            Some(Next::Line(line)) => {
                if stop.is_cancelled() {
                    break;
                }
                deliver(callback, &userdata, Some(&line));
            }
            Some(Next::Cancelled) => break,
            Some(Next::Ended) | None => {
                if !stop.is_cancelled() {
                    deliver(callback, &userdata, None);
                }
                break;
            }
        }
    }
    // `userdata` drops here: its destructor runs on this thread, after the last call.
}

fn deliver(callback: FollowFn, userdata: &Userdata, line: Option<&LogLine>) {
    // A panic while building the line must not end the thread: skip that line.
    let Ok(line) = catch_unwind(AssertUnwindSafe(|| line.map(toolhive_log_line::new))) else {
        return;
    };
    let ptr = line
        .as_ref()
        .map_or(std::ptr::null(), |l| l as *const toolhive_log_line);
    // SAFETY: the host registered this callback for this userdata; `line` outlives the call.
    callback::invoke(|| unsafe { callback(userdata.ptr, ptr) });
}

/// Follow the log of the proxy called `name` from now on: `callback` receives each new line
/// (info and above), wherever the proxy runs: live for this runtime's proxies, from its log
/// file in the state directory (checked every 200 ms) for one served by another process.
///
/// Lines are delivered on a library thread of this follow ("toolhive-follow"), one at a time,
/// in order, never on the caller's thread; a callback too slow to keep up misses lines (never
/// blocks the proxy). Inside the callback, non-blocking functions may be used (including
/// `toolhive_log_follow_cancel` and `toolhive_log_follow_free` of this very follow); blocking
/// ones return `TOOLHIVE_STATUS_IN_CALLBACK`. It must not unwind.
///
/// The follow ends when the caller cancels it (`toolhive_log_follow_cancel`/`_free`), or by
/// itself, with one last call whose line is NULL: when the runtime is freed, or when the log
/// can have no more lines: the proxy was removed, or restarted in this runtime (a restart
/// starts a new log: follow again). A log stays open while a `toolhive_proxy` handle of its
/// instance is alive, so with such a handle a follow of a restarted proxy only goes quiet. `userdata` is passed to every call; `userdata_free` (may be
/// NULL) is called once with it on the follow's thread after the last call.
///
/// On success `*out` receives the follow, which the caller owns and must free with
/// `toolhive_log_follow_free` (also after it ended by itself). On failure nothing was started
/// and `userdata_free` is not called (the caller keeps `userdata`).
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (rt, name, callback, out),
/// `TOOLHIVE_STATUS_INVALID_UTF8`, `TOOLHIVE_STATUS_NOT_FOUND`, `TOOLHIVE_STATUS_STATE`,
/// `TOOLHIVE_STATUS_IO` (thread). Thread safety: any thread, also inside callbacks (it does not
/// block).
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `callback` and
/// `userdata_free` are NULL or valid functions; `userdata` is usable from the follow's thread;
/// `out` and `err` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_follow_logs(
    rt: *const toolhive_runtime,
    name: *const c_char,
    callback: toolhive_log_follow_callback,
    userdata: *mut c_void,
    userdata_free: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
    out: *mut *mut toolhive_log_follow,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_str(name, "name") }?;
        let callback = callback.ok_or_else(|| Failure::null("callback"))?;
        require_out(out, "out")?;
        let follower = rt.manager().follow_logs(name)?;
        let shared = rt.shared().clone();
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let userdata = RawUserdata {
            ptr: userdata,
            free: userdata_free,
        };
        let thread = std::thread::Builder::new()
            .name("toolhive-follow".into())
            .spawn(move || follow_thread(shared, follower, stop, callback, userdata))
            .map_err(|e| {
                Failure::new(
                    toolhive_status::Io,
                    format!("cannot start the log follow thread: {e}"),
                )
            })?;
        let follow = Box::new(toolhive_log_follow {
            cancel,
            thread: Some(thread),
        });
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(follow)) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Stop delivering lines, without waiting: a call already running (or just starting) may
/// still complete; `toolhive_log_follow_free` waits for it. Cancelling twice, or after the
/// follow ended, does nothing. The callback is not called with a NULL line after a cancel.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`.
/// Thread safety: any thread, concurrently, also inside callbacks (including its own).
///
/// # Safety
/// `follow` is NULL or a live follow; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_follow_cancel(
    follow: *const toolhive_log_follow,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `follow`.
        let follow = unsafe { arg_ref(follow, "follow") }?;
        follow.cancel.cancel();
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// End the follow (as `toolhive_log_follow_cancel`) and free it; waits until the callback's
/// last call and the userdata destructor have returned, so the caller may release what they use
/// right after. NULL is a no-op. Called from inside a callback (its own or any other), it does
/// not wait: the follow's thread finishes by itself.
///
/// Thread safety: any thread, as the last call on `follow`.
///
/// # Safety
/// `follow` is NULL or a follow from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_log_follow_free(follow: *mut toolhive_log_follow) {
    boundary_or((), || {
        if follow.is_null() {
            return;
        }
        // SAFETY: from Box::into_raw in toolhive_runtime_follow_logs, freed once.
        let mut follow = unsafe { Box::from_raw(follow) };
        follow.cancel.cancel();
        if let Some(thread) = follow.thread.take()
            && !callback::must_not_block()
        {
            let _ = thread.join();
        }
    })
}
