//! Status codes, error objects and the panic boundary every exported function runs inside.

use std::any::Any;
use std::ffi::{CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use toolhive_core::ErrorKind;

use crate::strings::cstring;

/// The result of a fallible toolhive function.
///
/// `TOOLHIVE_STATUS_OK` is 0. Numbers are never changed or reused; new codes are appended, so
/// treat unknown values as failures (`toolhive_status_str` names them "unknown").
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum toolhive_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL (the error names the parameter).
    NullArgument = 1,
    /// A string argument, or a string inside a JSON argument, is not valid UTF-8 (the error
    /// names the parameter or the JSON field).
    InvalidUtf8 = 2,
    /// An argument that is not a config is out of range (the error names it).
    InvalidArgument = 3,
    /// The config JSON is malformed or violates the ProxyConfig schema; the error names the
    /// field (`toolhive_error_field`, and the message starts with "field: ").
    InvalidConfig = 4,
    /// Another running proxy of this runtime already uses the name.
    NameInUse = 5,
    /// The local address/port cannot be bound.
    AddressInUse = 6,
    /// No proxy with that name exists.
    NotFound = 7,
    /// The remote server could not be reached or answered unusably.
    Upstream = 8,
    /// A local I/O failure (sockets, files, threads).
    Io = 9,
    /// An unexpected internal condition (a bug), or a process-wide resource is taken
    /// (for example another tracing subscriber is already installed).
    Internal = 10,
    /// A panic inside the library was caught; the call had no effect or an unknown partial
    /// effect. Please report it.
    Panic = 11,
    /// A blocking function was called from inside a toolhive callback (or from a thread that
    /// runs an async runtime), where waiting could deadlock. Call it from another thread.
    InCallback = 12,
    /// A secret (token, injected header value) could not be read or stored.
    Secret = 13,
    /// The remote requires authorization that could not be obtained.
    AuthRequired = 14,
    /// The state directory could not be created, read or written.
    State = 15,
}

impl toolhive_status {
    /// Every status, in numeric order (for tests and `toolhive_status_str`).
    pub(crate) const ALL: [toolhive_status; 16] = [
        toolhive_status::Ok,
        toolhive_status::NullArgument,
        toolhive_status::InvalidUtf8,
        toolhive_status::InvalidArgument,
        toolhive_status::InvalidConfig,
        toolhive_status::NameInUse,
        toolhive_status::AddressInUse,
        toolhive_status::NotFound,
        toolhive_status::Upstream,
        toolhive_status::Io,
        toolhive_status::Internal,
        toolhive_status::Panic,
        toolhive_status::InCallback,
        toolhive_status::Secret,
        toolhive_status::AuthRequired,
        toolhive_status::State,
    ];

    /// The stable snake_case name: for errors from core it equals `ErrorKind::as_str()`.
    pub fn name(self) -> &'static std::ffi::CStr {
        match self {
            toolhive_status::Ok => c"ok",
            toolhive_status::NullArgument => c"null_argument",
            toolhive_status::InvalidUtf8 => c"invalid_utf8",
            toolhive_status::InvalidArgument => c"invalid_argument",
            toolhive_status::InvalidConfig => c"invalid_config",
            toolhive_status::NameInUse => c"name_in_use",
            toolhive_status::AddressInUse => c"address_in_use",
            toolhive_status::NotFound => c"not_found",
            toolhive_status::Upstream => c"upstream",
            toolhive_status::Io => c"io",
            toolhive_status::Internal => c"internal",
            toolhive_status::Panic => c"panic",
            toolhive_status::InCallback => c"in_callback",
            toolhive_status::Secret => c"secret",
            toolhive_status::AuthRequired => c"auth_required",
            toolhive_status::State => c"state",
        }
    }

    fn from_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidConfig => toolhive_status::InvalidConfig,
            ErrorKind::NameInUse => toolhive_status::NameInUse,
            ErrorKind::AddressInUse => toolhive_status::AddressInUse,
            ErrorKind::NotFound => toolhive_status::NotFound,
            ErrorKind::Upstream => toolhive_status::Upstream,
            ErrorKind::Io => toolhive_status::Io,
            ErrorKind::Secret => toolhive_status::Secret,
            ErrorKind::AuthRequired => toolhive_status::AuthRequired,
            ErrorKind::State => toolhive_status::State,
            // Internal, and kinds added to core later until they get a status of their own
            // (the message still says what happened).
            _ => toolhive_status::Internal,
        }
    }
}

/// An error: a status code, a message and (for config errors) the field it concerns.
///
/// Returned through the optional `toolhive_error **err` parameter of fallible functions.
/// Owned by the caller: free it with `toolhive_error_free`. Its strings are borrowed from it.
/// Immutable: may be read from any thread.
pub struct toolhive_error {
    status: toolhive_status,
    message: CString,
    field: Option<CString>,
}

/// A failure inside the library, before it becomes a `toolhive_error`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: toolhive_status,
    pub message: String,
    pub field: Option<String>,
}

impl Failure {
    pub(crate) fn new(status: toolhive_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            field: None,
        }
    }

    pub(crate) fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A NULL required argument called `name`.
    pub(crate) fn null(name: &str) -> Self {
        Failure::new(toolhive_status::NullArgument, "must not be NULL").with_field(name)
    }

    fn panic(payload: Box<dyn Any + Send>) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Failure::new(
            toolhive_status::Panic,
            format!("internal panic in toolhive (please report this bug): {what}"),
        )
    }

    /// The text of `toolhive_error_message`: "field: message", like core's Display.
    fn display(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl From<toolhive_core::Error> for Failure {
    fn from(err: toolhive_core::Error) -> Self {
        Failure {
            status: toolhive_status::from_kind(err.kind()),
            message: err.message().to_owned(),
            field: err.field().map(str::to_owned),
        }
    }
}

impl toolhive_error {
    /// The error object for `failure` (also kept inside result lists, e.g. restore results).
    pub(crate) fn from_failure(failure: Failure) -> Self {
        toolhive_error {
            status: failure.status,
            message: cstring(failure.display()),
            field: failure.field.map(cstring),
        }
    }
}

/// Store `failure` in `*out_err` when the caller asked for errors.
///
/// # Safety
/// `out_err` is NULL or valid for a pointer write.
unsafe fn write_error(out_err: *mut *mut toolhive_error, failure: Failure) {
    if out_err.is_null() {
        return;
    }
    let error = Box::new(toolhive_error::from_failure(failure));
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe { *out_err = Box::into_raw(error) };
}

/// The panic boundary of a fallible function: runs `body`; a panic becomes a
/// `TOOLHIVE_STATUS_PANIC` failure. Every exported fallible function does
/// `let result = guarded(|| { ... }); unsafe { report(err, result) }`.
pub(crate) fn guarded(body: impl FnOnce() -> Result<(), Failure>) -> Result<(), Failure> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| Err(Failure::panic(p)))
}

/// Turn the result of [`guarded`] into a status plus (if `out_err` is not NULL) an error
/// object.
///
/// # Safety
/// `out_err` is NULL or valid for a pointer write.
pub(crate) unsafe fn report(
    out_err: *mut *mut toolhive_error,
    result: Result<(), Failure>,
) -> toolhive_status {
    match result {
        Ok(()) => toolhive_status::Ok,
        Err(failure) => {
            let status = failure.status;
            // Building the error only allocates; guard it anyway so nothing unwinds into C.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: forwarded contract.
                unsafe { write_error(out_err, failure) }
            }));
            status
        }
    }
}

/// The panic boundary of an infallible function: `fallback` if `body` panics.
pub(crate) fn boundary_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Write `value` to the output `out`; call this last, so outputs are written only on success.
///
/// # Safety
/// `out` was checked non-NULL with [`require_out`] and is valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: the caller's contract.
    unsafe { out.write(value) }
}

/// Fail early when the required output pointer `out` (named `name`) is NULL.
pub(crate) fn require_out<T>(out: *mut T, name: &str) -> Result<(), Failure> {
    if out.is_null() {
        Err(Failure::null(name))
    } else {
        Ok(())
    }
}

/// A required handle argument `p` (named `name`) as a reference.
///
/// # Safety
/// `p` is NULL or points to a live object of type `T`.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: NULL checked here; liveness is the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::null(name))
}

/// The static snake_case name of a status code, e.g. "ok", "invalid_config", "panic";
/// "unknown" for a number that is not a `toolhive_status` of this version.
///
/// Ownership: the string is static (never free it). Thread safety: any thread, any time,
/// also inside callbacks.
#[unsafe(no_mangle)]
pub extern "C" fn toolhive_status_str(status: c_int) -> *const c_char {
    boundary_or(c"unknown".as_ptr(), || {
        toolhive_status::ALL
            .iter()
            .find(|s| **s as c_int == status)
            .map_or(c"unknown".as_ptr(), |s| s.name().as_ptr())
    })
}

/// The status code of `err` (`TOOLHIVE_STATUS_NULL_ARGUMENT` when `err` is NULL).
///
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `err` is NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_error_code(err: *const toolhive_error) -> toolhive_status {
    boundary_or(toolhive_status::Panic, || {
        // SAFETY: the caller's contract.
        unsafe { err.as_ref() }.map_or(toolhive_status::NullArgument, |e| e.status)
    })
}

/// The human-readable message of `err`, e.g. "port: invalid type: string \"x\", expected
/// u16". Config errors start with the field name. NULL when `err` is NULL.
///
/// Ownership: borrowed from `err`, valid until `toolhive_error_free(err)`.
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `err` is NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_error_message(err: *const toolhive_error) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { err.as_ref() }.map_or(std::ptr::null(), |e| e.message.as_ptr())
    })
}

/// The config field (e.g. "port", "health_check.interval_ms") or the parameter name
/// (e.g. "config_json") the error is about; NULL when it concerns none, or `err` is NULL.
///
/// Ownership: borrowed from `err`, valid until `toolhive_error_free(err)`.
/// Thread safety: any thread, also inside callbacks.
///
/// # Safety
/// `err` is NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_error_field(err: *const toolhive_error) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { err.as_ref() }
            .and_then(|e| e.field.as_ref())
            .map_or(std::ptr::null(), |f| f.as_ptr())
    })
}

/// Free an error. NULL is a no-op.
///
/// Thread safety: any thread, once per error.
///
/// # Safety
/// `err` is NULL or an error from this library that was not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_error_free(err: *mut toolhive_error) {
    boundary_or((), || {
        if !err.is_null() {
            // SAFETY: created by Box::into_raw in write_error; freed once per the contract.
            drop(unsafe { Box::from_raw(err) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn panic_becomes_status_and_error() {
        let mut err: *mut toolhive_error = std::ptr::null_mut();
        let status = unsafe { report(&mut err, guarded(|| panic!("boom"))) };
        assert_eq!(status, toolhive_status::Panic);
        assert!(!err.is_null());
        unsafe {
            assert_eq!(toolhive_error_code(err), toolhive_status::Panic);
            let msg = CStr::from_ptr(toolhive_error_message(err))
                .to_str()
                .unwrap();
            assert!(msg.contains("boom"), "{msg}");
            assert!(toolhive_error_field(err).is_null());
            toolhive_error_free(err);
        }
        // Without an error out-pointer only the status is reported.
        let status = unsafe { report(std::ptr::null_mut(), guarded(|| panic!("again"))) };
        assert_eq!(status, toolhive_status::Panic);
        assert_eq!(boundary_or(7, || panic!("value")), 7);
    }

    #[test]
    fn status_numbers_and_names_are_stable() {
        for (i, s) in toolhive_status::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "{s:?}");
            let name = unsafe { CStr::from_ptr(toolhive_status_str(i as c_int)) };
            assert_eq!(name, s.name());
        }
        let unknown = unsafe { CStr::from_ptr(toolhive_status_str(-1)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown");
        // Names of core error kinds are the same strings.
        assert_eq!(
            toolhive_status::from_kind(ErrorKind::NameInUse)
                .name()
                .to_str(),
            Ok(ErrorKind::NameInUse.as_str())
        );
    }

    #[test]
    fn core_errors_keep_field_and_message() {
        let err =
            toolhive_core::ProxyConfig::from_json(r#"{"remote_url":"https://x/mcp","port":"x"}"#)
                .unwrap_err();
        let failure = Failure::from(err);
        assert_eq!(failure.status, toolhive_status::InvalidConfig);
        assert_eq!(failure.field.as_deref(), Some("port"));
        assert!(failure.display().starts_with("port: "));
    }
}
