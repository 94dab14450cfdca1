//! C ABI over toolhive-core: `libtoolhive.a` / `libtoolhive.so` and `include/toolhive.h`.
//!
//! Conventions (see `../shared/DESIGN.md`, "C ABI conventions", and the header's preamble in
//! `cbindgen.toml`): opaque handles only; fallible functions return [`toolhive_status`] and
//! take an optional `toolhive_error **` last; every exported body runs inside a panic boundary
//! written in the function ([`error::boundary`]), so cbindgen sees plain `extern "C"` functions
//! and a panic becomes `TOOLHIVE_STATUS_PANIC`.
//!
//! This crate only translates: configs go to `ProxyConfig::from_json`, errors come from
//! `toolhive_core::Error`, logs from `toolhive_core::log_bridge::LogBridge`, events from
//! `ProxyManager::subscribe`.
//!
//! The doc comments on exported items are written for C readers: cbindgen copies them into the
//! header.

#![allow(non_camel_case_types)]

// Declared in the order the header presents them (cbindgen follows this order; each module
// is its own group so that rustfmt keeps it).
mod version;
// Status codes, error objects, the panic boundary.
mod error;
// Runtime options, runtime, start/list/get, event callback registration, free.
mod runtime;
// Proxy handles: accessors, stop, logs.
mod proxy;
// List snapshots.
mod list;
// Log callback and log-line snapshots.
mod log;
// Event objects passed to the event callback.
mod event;
// Internal helpers.
mod callback;
mod strings;

pub use error::{toolhive_error, toolhive_status};
pub use event::toolhive_event;
pub use list::{toolhive_proxy_info, toolhive_proxy_list};
pub use log::{toolhive_log_level, toolhive_log_line, toolhive_log_lines, toolhive_log_record};
pub use proxy::toolhive_proxy;
pub use runtime::{toolhive_runtime, toolhive_runtime_options};
pub use version::{TOOLHIVE_VERSION_MAJOR, TOOLHIVE_VERSION_MINOR, TOOLHIVE_VERSION_PATCH};
