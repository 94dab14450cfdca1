//! toolhive-core: remote MCP servers behind local proxies that run inside the host process.
//!
//! ```no_run
//! # async fn demo() -> toolhive_core::Result<()> {
//! use toolhive_core::{ProxyConfig, ProxyManager};
//! let manager = ProxyManager::new(tokio::runtime::Handle::current());
//! let proxy = manager.start(ProxyConfig::new("https://mcp.example.com/mcp")).await?;
//! println!("{}", proxy.url()); // http://127.0.0.1:41873/mcp
//! manager.stop(proxy.name()).await?;
//! # Ok(()) }
//! ```

pub mod auth;
mod config;
mod control;
mod error;
mod events;
mod fsutil;
mod headers;
#[cfg(feature = "log-bridge")]
pub mod log_bridge;
mod logs;
mod manager;
mod name;
mod proxy;
mod redact;
pub mod secrets;
mod state;
mod state_dir;

pub use auth::{AuthState, OAuthConfig};
pub use config::{
    DEFAULT_MAX_REQUEST_BODY_BYTES, HealthCheckConfig, ProxyConfig, Transport, ValidConfig,
};
pub use error::{Error, ErrorKind, Result};
pub use events::{EventKind, ProxyEvent};
pub use headers::{HeaderSource, MAX_HEADER_VALUE_BYTES, RESTRICTED_HEADERS};
pub use logs::{LOG_RING_CAPACITY, LogFollower, LogLevel, LogLine};
pub use manager::{ManagerOptions, ProxyManager};
pub use name::{MAX_NAME_LEN, derive as derive_name};
pub use proxy::{Proxy, ProxyInfo};
pub use state::ProxyState;
pub use state_dir::{SCHEMA_VERSION, StateFileError};

/// The README's Rust example is compiled and run as a doctest, so it stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The version of this library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
