//! `toolhive_version()` and the `TOOLHIVE_VERSION_*` macros.
//!
//! cbindgen can only copy literal constants into the header, so the numbers are written out
//! here and checked against Cargo's version at compile time (a mismatch does not build);
//! `ffi/test.sh` also checks the header against `cargo metadata` and `toolhive_version()`.

use std::ffi::c_char;

/// Major version of the library this header belongs to.
pub const TOOLHIVE_VERSION_MAJOR: u32 = 0;
/// Minor version of the library this header belongs to.
pub const TOOLHIVE_VERSION_MINOR: u32 = 1;
/// Patch version of the library this header belongs to.
pub const TOOLHIVE_VERSION_PATCH: u32 = 0;

const fn parse_u32(s: &str) -> u32 {
    let bytes = s.as_bytes();
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "version part is not a number");
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

const _: () = {
    assert!(
        parse_u32(env!("CARGO_PKG_VERSION_MAJOR")) == TOOLHIVE_VERSION_MAJOR,
        "TOOLHIVE_VERSION_MAJOR differs from Cargo's version: update ffi/src/version.rs"
    );
    assert!(
        parse_u32(env!("CARGO_PKG_VERSION_MINOR")) == TOOLHIVE_VERSION_MINOR,
        "TOOLHIVE_VERSION_MINOR differs from Cargo's version: update ffi/src/version.rs"
    );
    assert!(
        parse_u32(env!("CARGO_PKG_VERSION_PATCH")) == TOOLHIVE_VERSION_PATCH,
        "TOOLHIVE_VERSION_PATCH differs from Cargo's version: update ffi/src/version.rs"
    );
};

/// The library's version, e.g. "0.1.0" (Cargo's version of the build; compare with the
/// `TOOLHIVE_VERSION_*` macros to detect a header/library mismatch).
///
/// Ownership: static (never free it). Thread safety: any thread, also inside callbacks.
#[unsafe(no_mangle)]
pub extern "C" fn toolhive_version() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => panic!("the version has no NUL"),
    };
    crate::error::boundary_or(VERSION.as_ptr(), || VERSION.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_cargo_and_core() {
        let v = unsafe { std::ffi::CStr::from_ptr(toolhive_version()) };
        assert_eq!(v.to_str().unwrap(), toolhive_core::VERSION);
        assert_eq!(
            v.to_str().unwrap(),
            format!("{TOOLHIVE_VERSION_MAJOR}.{TOOLHIVE_VERSION_MINOR}.{TOOLHIVE_VERSION_PATCH}")
        );
    }
}
