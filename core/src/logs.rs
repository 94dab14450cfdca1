//! Per-proxy log lines: each is emitted as a `tracing` event (with the proxy name as a field,
//! for hosts that install a subscriber) and kept in a bounded ring that hosts can read back
//! without installing anything.
//!
//! Nothing secret is ever passed here: callers log redacted URLs and header names only.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::broadcast;

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

impl LogLevel {
    fn parse(text: &str) -> Option<LogLevel> {
        Some(match text {
            "DEBUG" => LogLevel::Debug,
            "INFO" => LogLevel::Info,
            "WARN" => LogLevel::Warn,
            "ERROR" => LogLevel::Error,
            _ => return None,
        })
    }
}

impl LogLine {
    /// Read back a line written by this type's `Display` (the log file format).
    pub fn parse(line: &str) -> Option<LogLine> {
        let (at, rest) = line.split_once(' ')?;
        let rest = rest.trim_start();
        let (level, message) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(LogLine {
            at: humantime::parse_rfc3339(at).ok()?,
            level: LogLevel::parse(level)?,
            message: message.trim_start().to_owned(),
        })
    }
}

/// Lines buffered per follower before a slow one misses some.
const FOLLOW_BUFFER: usize = 256;
/// A log file larger than this when its proxy starts is moved to `<name>.log.1`.
const LOG_FILE_ROTATE_BYTES: u64 = 10 * 1024 * 1024;

/// The log of one proxy.
#[derive(Debug)]
pub(crate) struct ProxyLog {
    name: String,
    ring: Mutex<VecDeque<LogLine>>,
    file: Mutex<Option<File>>,
    /// Created by the first follower: an idle proxy should not carry a 256-slot channel.
    follow: std::sync::OnceLock<broadcast::Sender<LogLine>>,
}

impl ProxyLog {
    pub(crate) fn new(name: &str) -> Self {
        ProxyLog {
            name: name.to_owned(),
            ring: Mutex::new(VecDeque::new()),
            file: Mutex::new(None),
            follow: std::sync::OnceLock::new(),
        }
    }

    /// Also append every line to `path` (so other processes can read and follow it).
    pub(crate) fn with_file(self, path: &Path) -> std::io::Result<Self> {
        if std::fs::metadata(path).is_ok_and(|m| m.len() > LOG_FILE_ROTATE_BYTES) {
            std::fs::rename(path, crate::fsutil::sibling(path, ".1"))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(options.open(path)?);
        Ok(self)
    }

    /// Every line logged from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.follow
            .get_or_init(|| broadcast::channel(FOLLOW_BUFFER).0)
            .subscribe()
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
        let line = LogLine {
            at: SystemTime::now(),
            level,
            message,
        };
        if let Some(file) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            // A full disk must not take the proxy down; the ring still has the line.
            let _ = writeln!(file, "{line}");
        }
        if let Some(follow) = self.follow.get() {
            let _ = follow.send(line.clone());
        }
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == LOG_RING_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(line);
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

/// How often a followed log file is checked for new lines.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// New log lines of one proxy as they are written: from memory when this process serves it,
/// from its log file when another process does.
#[derive(Debug)]
pub struct LogFollower(Follow);

#[derive(Debug)]
enum Follow {
    Live(broadcast::Receiver<LogLine>),
    File {
        path: std::path::PathBuf,
        offset: u64,
        pending: String,
    },
}

impl LogFollower {
    pub(crate) fn live(rx: broadcast::Receiver<LogLine>) -> Self {
        LogFollower(Follow::Live(rx))
    }

    pub(crate) fn file(path: std::path::PathBuf) -> Self {
        let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        LogFollower(Follow::File {
            path,
            offset,
            pending: String::new(),
        })
    }

    /// The next line; `None` once the log can have no more lines.
    pub async fn next(&mut self) -> Option<LogLine> {
        match &mut self.0 {
            Follow::Live(rx) => loop {
                match rx.recv().await {
                    Ok(line) => return Some(line),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
            Follow::File {
                path,
                offset,
                pending,
            } => loop {
                if let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    match LogLine::parse(line.trim_end()) {
                        Some(line) => return Some(line),
                        None => continue,
                    }
                }
                let len = tokio::fs::metadata(&*path)
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                if len < *offset {
                    // Rotated or truncated: start over at the top of the new file.
                    *offset = 0;
                }
                if len > *offset {
                    use tokio::io::{AsyncReadExt, AsyncSeekExt};
                    if let Ok(mut file) = tokio::fs::File::open(&*path).await {
                        let mut bytes = Vec::new();
                        if file.seek(std::io::SeekFrom::Start(*offset)).await.is_ok()
                            && file.read_to_end(&mut bytes).await.is_ok()
                        {
                            *offset += bytes.len() as u64;
                            pending.push_str(&String::from_utf8_lossy(&bytes));
                            continue;
                        }
                    }
                }
                tokio::time::sleep(FOLLOW_POLL).await;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_from_their_file_format() {
        let line = LogLine {
            at: humantime::parse_rfc3339("2026-11-27T02:13:39.059Z").unwrap(),
            level: LogLevel::Warn,
            message: "remote stream broke off: reset".into(),
        };
        let text = line.to_string();
        assert_eq!(
            text,
            "2026-11-27T02:13:39.059Z WARN  remote stream broke off: reset"
        );
        assert_eq!(LogLine::parse(&text), Some(line));
        assert_eq!(LogLine::parse("garbage"), None);
    }
}
