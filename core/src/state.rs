//! The lifecycle state of a proxy.

use std::fmt;

/// Where a proxy is in its life. Every change is published as a [`crate::ProxyEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyState {
    /// Binding the listener and preparing.
    Starting,
    /// Serving local clients.
    Running,
    /// Serving, but the health monitor saw the remote fail repeatedly.
    Unhealthy,
    /// Finishing in-flight requests before closing.
    Stopping,
    /// Not serving; the port is released.
    Stopped,
    /// Could not start or stopped by an error; the reason says why.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl ProxyState {
    /// The stable snake_case name of the state (without the failure reason).
    pub fn as_str(&self) -> &'static str {
        match self {
            ProxyState::Starting => "starting",
            ProxyState::Running => "running",
            ProxyState::Unhealthy => "unhealthy",
            ProxyState::Stopping => "stopping",
            ProxyState::Stopped => "stopped",
            ProxyState::Failed { .. } => "failed",
        }
    }

    /// True while the proxy holds its port and may serve requests.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            ProxyState::Starting
                | ProxyState::Running
                | ProxyState::Unhealthy
                | ProxyState::Stopping
        )
    }
}

impl serde::Serialize for ProxyState {
    /// `{"state": "running"}`, with `"reason"` for `failed`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let reason = match self {
            ProxyState::Failed { reason } => Some(reason),
            _ => None,
        };
        let mut map = serializer.serialize_map(Some(1 + usize::from(reason.is_some())))?;
        map.serialize_entry("state", self.as_str())?;
        if let Some(reason) = reason {
            map.serialize_entry("reason", reason)?;
        }
        map.end()
    }
}

impl fmt::Display for ProxyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyState::Failed { reason } => write!(f, "failed: {reason}"),
            other => f.write_str(other.as_str()),
        }
    }
}
