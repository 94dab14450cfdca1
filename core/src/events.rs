//! Typed notifications for hosts: every binding delivers these in its own idiom.

use crate::auth::AuthState;
use crate::state::ProxyState;

/// Something a host may want to show or react to.
///
/// As JSON (for bindings that pass events as text):
/// `{"proxy":"notion","type":"state_changed","from":{"state":"starting"},"to":{"state":"running"}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProxyEvent {
    /// The proxy it concerns.
    pub proxy: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of [`ProxyEvent`]. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The proxy moved to a new state.
    StateChanged {
        /// The state it left.
        from: ProxyState,
        /// The state it is in now.
        to: ProxyState,
    },
    /// The user must log in: show them `url` (a browser is opened unless the host or the
    /// config says otherwise).
    AuthorizationRequired {
        /// The authorization URL.
        url: String,
    },
    /// The authorization state changed (authenticated, refreshing, needs_login, …).
    AuthStateChanged {
        /// The new state.
        state: AuthState,
    },
}

impl EventKind {
    /// The stable snake_case name of this kind (the JSON `type`).
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::StateChanged { .. } => "state_changed",
            EventKind::AuthorizationRequired { .. } => "authorization_required",
            EventKind::AuthStateChanged { .. } => "auth_state_changed",
        }
    }
}

impl ProxyEvent {
    /// The event as one line of JSON (see the type's docs for the shape).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }
}
