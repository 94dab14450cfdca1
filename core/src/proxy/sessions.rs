//! MCP sessions seen through the proxy, so a session the remote forgot (server restart, expiry)
//! can be re-created behind the client's back.
//!
//! The client keeps the session id it was first given; after a re-initialization the remote
//! knows the session under a new id, and this table maps one to the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// One session the proxy saw being created.
#[derive(Debug)]
pub(crate) struct Session {
    /// The client's `initialize` request, replayed to re-create the session upstream.
    pub init_request: Bytes,
    /// The id the remote currently knows this session by.
    upstream_id: Mutex<String>,
    /// Held while re-initializing, so concurrent requests share one re-initialization.
    pub reinit: tokio::sync::Mutex<()>,
}

impl Session {
    pub(crate) fn upstream_id(&self) -> String {
        self.upstream_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_upstream_id(&self, id: String) {
        *self.upstream_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }
}

/// Sessions of one proxy, keyed by the id the local client uses.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_client_id: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    pub(crate) fn get(&self, client_id: &str) -> Option<Arc<Session>> {
        self.lock().get(client_id).cloned()
    }

    /// Remember a session the remote just created for `init_request`.
    pub(crate) fn created(&self, id: String, init_request: Bytes) {
        let session = Arc::new(Session {
            init_request,
            upstream_id: Mutex::new(id.clone()),
            reinit: tokio::sync::Mutex::new(()),
        });
        self.lock().insert(id, session);
    }

    pub(crate) fn remove(&self, client_id: &str) {
        self.lock().remove(client_id);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.by_client_id.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// True when `body` is a JSON-RPC `initialize` request (alone or in a 2025-03-26 batch).
pub(crate) fn is_initialize(body: &[u8]) -> bool {
    // Cheap pre-check: most POSTs are not initialize and need no JSON parse here.
    if !body.windows(10).any(|w| w == b"initialize") {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Message {
        method: Option<String>,
    }
    let is_init = |m: &Message| m.method.as_deref() == Some("initialize");
    if let Ok(m) = serde_json::from_slice::<Message>(body) {
        return is_init(&m);
    }
    serde_json::from_slice::<Vec<Message>>(body).is_ok_and(|batch| batch.iter().any(is_init))
}

/// True when a 400 body says the session is unknown (servers word it in many ways, but all
/// name the session).
pub(crate) fn mentions_session(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("session")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_initialize() {
        assert!(is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#
        ));
        assert!(is_initialize(
            br#"[{"jsonrpc":"2.0","id":1,"method":"initialize"}]"#
        ));
        assert!(!is_initialize(
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
        ));
        assert!(!is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"initialize"}}"#
        ));
        assert!(!is_initialize(b"not json initialize"));
    }

    #[test]
    fn session_table_maps_and_forgets() {
        let s = Sessions::default();
        s.created("client-id".into(), Bytes::from_static(b"{}"));
        let session = s.get("client-id").unwrap();
        session.set_upstream_id("new".into());
        assert_eq!(s.get("client-id").unwrap().upstream_id(), "new");
        s.remove("client-id");
        assert!(s.get("client-id").is_none());
    }
}
