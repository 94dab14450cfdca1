//! Secrets in process memory: for tests and hosts that persist nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{BoxFuture, Secret, SecretStore};
use crate::error::Result;

/// A store that forgets everything when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    secrets: Mutex<BTreeMap<String, Secret>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Secret>> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SecretStore for MemoryStore {
    fn kind(&self) -> &str {
        "memory"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Secret>>> {
        let value = self.map().get(key).cloned();
        Box::pin(async move { Ok(value) })
    }

    fn set<'a>(&'a self, key: &'a str, value: Secret) -> BoxFuture<'a, Result<()>> {
        self.map().insert(key.to_owned(), value);
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        self.map().remove(key);
        Box::pin(async { Ok(()) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        let keys = self.map().keys().cloned().collect();
        Box::pin(async move { Ok(keys) })
    }
}
