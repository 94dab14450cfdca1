//! Per-proxy log lines: each is emitted as a `tracing` event (with the proxy name as a field,
//! for hosts that install a subscriber) and kept in a bounded ring that hosts can read back
//! without installing anything.
//!
//! Nothing secret is ever passed here: callers log redacted URLs and header names only.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

/// How many recent lines each proxy keeps.
pub const LOG_RING_CAPACITY: usize = 500;

/// Severity of a [`LogLine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Details for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something went wrong but the proxy goes on.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One recent log line of a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When it was logged.
    pub at: SystemTime,
    /// Its severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:5} {}",
            humantime::format_rfc3339_millis(self.at),
            self.level.as_str().to_uppercase(),
            self.message
        )
    }
}

/// The log of one proxy.
#[derive(Debug)]
pub(crate) struct ProxyLog {
    name: String,
    ring: Mutex<VecDeque<LogLine>>,
}

impl ProxyLog {
    pub(crate) fn new(name: &str) -> Self {
        ProxyLog {
            name: name.to_owned(),
            ring: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn log(&self, level: LogLevel, message: impl Into<String>) {
        let message = message.into();
        let proxy = self.name.as_str();
        match level {
            LogLevel::Debug => tracing::debug!(proxy, "{message}"),
            LogLevel::Info => tracing::info!(proxy, "{message}"),
            LogLevel::Warn => tracing::warn!(proxy, "{message}"),
            LogLevel::Error => tracing::error!(proxy, "{message}"),
        }
        // Debug lines go to tracing only: the ring is for what a host shows its user.
        if level == LogLevel::Debug {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == LOG_RING_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(LogLine {
            at: SystemTime::now(),
            level,
            message,
        });
    }

    pub(crate) fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message)
    }
    pub(crate) fn warn(&self, message: impl Into<String>) {
        self.log(LogLevel::Warn, message)
    }
    pub(crate) fn error(&self, message: impl Into<String>) {
        self.log(LogLevel::Error, message)
    }
    pub(crate) fn debug(&self, message: impl Into<String>) {
        self.log(LogLevel::Debug, message)
    }

    pub(crate) fn recent(&self) -> Vec<LogLine> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().cloned().collect()
    }
}
