//! C ABI over toolhive-core: `libtoolhive.a` / `libtoolhive.so` and `include/toolhive.h`.
//!
//! Conventions (see `../shared/DESIGN.md`, "C ABI conventions", and the header's preamble in
//! `cbindgen.toml`): opaque handles only; fallible functions return [`toolhive_status`] and
//! take an optional `toolhive_error **` last; every exported body runs inside a panic boundary
//! written in the function ([`error::boundary`]), so cbindgen sees plain `extern "C"` functions
//! and a panic becomes `TOOLHIVE_STATUS_PANIC`.
//!
//! This crate only translates: configs go to `ProxyConfig::from_json_slice`, errors come from
//! `toolhive_core::Error`, logs from `toolhive_core::log_bridge::LogBridge` and
//! `ProxyManager::follow_logs`, events from `ProxyManager::subscribe`, and the host's secret
//! store (C callbacks) becomes a `toolhive_core::secrets::SecretStore`.
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
// Secret stores: the host's (C callbacks), the built-in ones, the runtime's secret operations.
mod secrets;
// Managing proxies by name across restarts and processes: info, stop, restart, remove,
// restore, state-file errors, logs.
mod manage;
// Proxy handles: accessors, stop, logs.
mod proxy;
// List snapshots and standalone proxy snapshots.
mod list;
// Log callback and log-line snapshots.
mod log;
// Following a proxy's log.
mod follow;
// Event objects passed to the event callback.
mod event;
// Internal helpers.
mod callback;
mod strings;

pub use error::{toolhive_error, toolhive_status};
pub use event::toolhive_event;
pub use follow::toolhive_log_follow;
pub use list::{toolhive_proxy_info, toolhive_proxy_list};
pub use log::{toolhive_log_level, toolhive_log_line, toolhive_log_lines, toolhive_log_record};
pub use manage::{
    toolhive_restore_result, toolhive_restore_results, toolhive_state_error, toolhive_state_errors,
};
pub use proxy::toolhive_proxy;
pub use runtime::{toolhive_runtime, toolhive_runtime_options};
pub use secrets::{
    TOOLHIVE_SECRET_STORE_VERSION, toolhive_secret_reply, toolhive_secret_store, toolhive_strings,
};
pub use version::{TOOLHIVE_VERSION_MAJOR, TOOLHIVE_VERSION_MINOR, TOOLHIVE_VERSION_PATCH};
