//! Strings across the boundary: NUL-terminated UTF-8 in (validated), `CString`s out.

use std::ffi::{CStr, CString, c_char};
use std::sync::Mutex;

use toolhive_core::{ErrorKind, ProxyConfig};

use crate::error::{Failure, toolhive_status};

/// `s` as a C string; an interior NUL (never expected) becomes U+FFFD instead of truncating.
pub(crate) fn cstring(s: impl Into<String>) -> CString {
    let s = s.into();
    match CString::new(s) {
        Ok(c) => c,
        Err(e) => {
            let text = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\u{fffd}");
            CString::new(text).expect("NULs were replaced")
        }
    }
}

/// A `'static` C string with the same text as `s` (state, transport and event-type names).
///
/// Names come from core's `as_str()` (a small fixed set, so the table stays tiny); each is
/// allocated once and kept for the life of the process, so the returned pointer never dangles.
pub(crate) fn static_cstr(s: &'static str) -> &'static CStr {
    // A Vec rather than a HashMap: a handful of entries, and memory checkers see plain
    // pointers to the start of each allocation (still reachable, not "possibly lost").
    static TABLE: Mutex<Vec<(&'static str, &'static CStr)>> = Mutex::new(Vec::new());
    let mut table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = table.iter().find(|(name, _)| *name == s) {
        return c;
    }
    let c: &'static CStr = Box::leak(cstring(s).into_boxed_c_str());
    table.push((s, c));
    c
}

/// The bytes of a required C string argument called `name`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for `'a`.
pub(crate) unsafe fn arg_bytes<'a>(p: *const c_char, name: &str) -> Result<&'a [u8], Failure> {
    if p.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A required C string argument called `name`, validated as UTF-8.
///
/// # Safety
/// As [`arg_bytes`].
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { arg_bytes(p, name) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            toolhive_status::InvalidUtf8,
            format!(
                "not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
        .with_field(name)
    })
}

/// A JSON ProxyConfig argument called `name`, parsed by core's
/// `ProxyConfig::from_json_slice` (which takes bytes, so no UTF-8 pre-pass is needed here).
///
/// Status: `TOOLHIVE_STATUS_INVALID_UTF8` when the bytes are not UTF-8 and that is what stopped
/// the parser (core names the JSON field holding the bad byte; the parameter when it is in no
/// field); otherwise core's error (`TOOLHIVE_STATUS_INVALID_CONFIG` naming the field).
///
/// # Safety
/// As [`arg_bytes`].
pub(crate) unsafe fn arg_config(p: *const c_char, name: &str) -> Result<ProxyConfig, Failure> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { arg_bytes(p, name) }?;
    ProxyConfig::from_json_slice(bytes).map_err(|err| match std::str::from_utf8(bytes) {
        // Core reports a bad byte as a JSON syntax error at that byte ("config is not valid
        // JSON: invalid unicode code point ..."); a schema error in an earlier field wins.
        Err(utf8)
            if err.kind() == ErrorKind::InvalidConfig
                && err.message().starts_with(CORE_SYNTAX_ERROR) =>
        {
            Failure::new(
                toolhive_status::InvalidUtf8,
                format!(
                    "not valid UTF-8 (invalid byte at offset {} of {name})",
                    utf8.valid_up_to()
                ),
            )
            .with_field(err.field().unwrap_or(name))
        }
        _ => Failure::from(err),
    })
}

/// How core's `ProxyConfig::from_json_slice` starts the message of a JSON syntax error.
const CORE_SYNTAX_ERROR: &str = "config is not valid JSON";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_nul_is_replaced() {
        assert_eq!(cstring("a\0b").to_str().unwrap(), "a\u{fffd}b");
    }

    #[test]
    fn static_names_are_shared() {
        let a = static_cstr("running");
        let b = static_cstr("running");
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert_eq!(a.to_str().unwrap(), "running");
    }

    #[test]
    fn bad_utf8_in_json_names_the_field() {
        let json = c"{\"name\":\"ok\",\"remote_url\":\"http://\xff/mcp\"}";
        let err = unsafe { arg_config(json.as_ptr(), "config_json") }.unwrap_err();
        assert_eq!(err.field.as_deref(), Some("remote_url"));
        assert_eq!(err.status, toolhive_status::InvalidUtf8);
        assert!(err.message.contains("offset 34"), "{}", err.message);
        let err = unsafe { arg_config(c"\xff".as_ptr(), "config_json") }.unwrap_err();
        assert_eq!(err.field.as_deref(), Some("config_json"));
        assert_eq!(err.status, toolhive_status::InvalidUtf8);
        // A schema error before the bad byte is reported as such.
        let json = c"{\"port\":\"x\",\"remote_url\":\"http://\xff/mcp\"}";
        let err = unsafe { arg_config(json.as_ptr(), "config_json") }.unwrap_err();
        assert_eq!(err.status, toolhive_status::InvalidConfig);
        assert_eq!(err.field.as_deref(), Some("port"));
    }

    #[test]
    fn malformed_json_has_no_field() {
        for json in [c"{", c"", c"[]", c"\"x\""] {
            let err = unsafe { arg_config(json.as_ptr(), "config_json") }.unwrap_err();
            assert_eq!(err.status, toolhive_status::InvalidConfig, "{json:?}");
            assert_eq!(err.field, None, "{json:?}: {}", err.message);
        }
        let err = unsafe { arg_config(c"[]".as_ptr(), "config_json") }.unwrap_err();
        assert!(
            err.message.contains("must be a JSON object"),
            "{}",
            err.message
        );
    }
}
