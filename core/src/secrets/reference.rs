//! [`SecretRef`]: where a config's secret comes from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Secret, SecretStore};
use crate::error::{Error, ErrorKind, Result};

/// Where a secret value comes from. In JSON: `{"value": "…"}`, `{"file": "/path"}`,
/// `{"env": "VAR"}` or `{"secret": "name"}`.
///
/// A saved config never holds a value: `value` and `env` references are moved into the secret
/// store when a proxy is saved and replaced by a `secret` reference.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// The value itself.
    Value(String),
    /// A file whose content (trimmed) is the value.
    File(PathBuf),
    /// An environment variable holding the value.
    Env(String),
    /// A key in the secret store.
    Secret(String),
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Value(_) => f.write_str("Value(<redacted>)"),
            SecretRef::File(p) => f.debug_tuple("File").field(p).finish(),
            SecretRef::Env(v) => f.debug_tuple("Env").field(v).finish(),
            SecretRef::Secret(k) => f.debug_tuple("Secret").field(k).finish(),
        }
    }
}

impl SecretRef {
    /// Check the reference itself (not what it points to).
    pub(crate) fn check(&self, field: &str) -> Result<()> {
        let empty = match self {
            SecretRef::Value(v) => v.trim().is_empty(),
            SecretRef::File(p) => p.as_os_str().is_empty(),
            SecretRef::Env(v) => v.is_empty(),
            SecretRef::Secret(k) => return super::check_name(k).map_err(|e| e.with_field(field)),
        };
        if empty {
            return Err(Error::invalid(field, "is empty"));
        }
        Ok(())
    }

    /// The value, read from wherever it lives. Errors name `field` and never the value.
    pub async fn resolve(&self, store: &dyn SecretStore, field: &str) -> Result<Secret> {
        let value = match self {
            SecretRef::Value(v) => v.clone(),
            SecretRef::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    Error::invalid(field, format!("cannot read {}: {e}", path.display()))
                })?;
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return Err(Error::invalid(
                        field,
                        format!("{} is empty; put the value in it", path.display()),
                    ));
                }
                trimmed.to_owned()
            }
            SecretRef::Env(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
                _ => {
                    return Err(Error::invalid(
                        field,
                        format!("environment variable {var} is not set or empty"),
                    ));
                }
            },
            SecretRef::Secret(key) => match store.get(key).await? {
                Some(secret) => return Ok(secret),
                None => {
                    return Err(Error::new(
                        ErrorKind::Secret,
                        format!(
                            "secret `{key}` is not in the {} secret store; store it there \
                             first (CLI: `toolhive secret set {key}`)",
                            store.kind()
                        ),
                    )
                    .with_field(field));
                }
            },
        };
        Ok(Secret::new(value))
    }
}
