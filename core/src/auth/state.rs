//! [`AuthState`]: where a proxy stands with the remote's authorization server.

use std::time::SystemTime;

/// The authorization state of a proxy, shown in listings and published as events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthState {
    /// No authorization needed so far.
    Unauthenticated,
    /// Waiting for the user to complete a login in the browser.
    Authorizing,
    /// Holding a valid token.
    Authenticated {
        /// When the access token expires, if known.
        expires_at: Option<SystemTime>,
    },
    /// Refreshing the access token.
    Refreshing,
    /// A transient failure (network, 5xx); the next attempt is at `next_attempt_at`.
    AuthRetrying {
        /// When the proxy tries again.
        next_attempt_at: SystemTime,
        /// What failed.
        reason: String,
    },
    /// The authorization server rejected the refresh token (or the login failed): the user
    /// must log in again; a new login has been started.
    NeedsLogin {
        /// What happened.
        reason: String,
    },
}

impl AuthState {
    /// The stable snake_case name of the state.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthState::Unauthenticated => "unauthenticated",
            AuthState::Authorizing => "authorizing",
            AuthState::Authenticated { .. } => "authenticated",
            AuthState::Refreshing => "refreshing",
            AuthState::AuthRetrying { .. } => "auth_retrying",
            AuthState::NeedsLogin { .. } => "needs_login",
        }
    }
}

impl serde::Serialize for AuthState {
    /// `{"state":"auth_retrying","next_attempt_at":"…","reason":"…"}`, fields as they apply.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let time = |t: &SystemTime| humantime::format_rfc3339_millis(*t).to_string();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("state", self.as_str())?;
        match self {
            AuthState::Authenticated {
                expires_at: Some(t),
            } => map.serialize_entry("expires_at", &time(t))?,
            AuthState::AuthRetrying {
                next_attempt_at,
                reason,
            } => {
                map.serialize_entry("next_attempt_at", &time(next_attempt_at))?;
                map.serialize_entry("reason", reason)?;
            }
            AuthState::NeedsLogin { reason } => map.serialize_entry("reason", reason)?,
            _ => {}
        }
        map.end()
    }
}

impl std::fmt::Display for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for AuthState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            state: String,
            expires_at: Option<String>,
            next_attempt_at: Option<String>,
            reason: Option<String>,
        }
        let raw = Raw::deserialize(d)?;
        let time = |t: Option<String>| t.and_then(|t| humantime::parse_rfc3339(&t).ok());
        Ok(match raw.state.as_str() {
            "unauthenticated" => AuthState::Unauthenticated,
            "authorizing" => AuthState::Authorizing,
            "authenticated" => AuthState::Authenticated {
                expires_at: time(raw.expires_at),
            },
            "refreshing" => AuthState::Refreshing,
            "auth_retrying" => AuthState::AuthRetrying {
                next_attempt_at: time(raw.next_attempt_at).unwrap_or(SystemTime::UNIX_EPOCH),
                reason: raw.reason.unwrap_or_default(),
            },
            "needs_login" => AuthState::NeedsLogin {
                reason: raw.reason.unwrap_or_default(),
            },
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown auth state `{other}`"
                )));
            }
        })
    }
}
