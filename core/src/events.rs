//! Typed notifications for hosts: every binding delivers these in its own idiom.

use crate::state::ProxyState;

/// Something a host may want to show or react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEvent {
    /// The proxy it concerns.
    pub proxy: String,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`ProxyEvent`]. Append-only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The proxy moved to a new state.
    StateChanged {
        /// The state it left.
        from: ProxyState,
        /// The state it is in now.
        to: ProxyState,
    },
}
