//! Read-only secrets from environment variables: key `proxy/notion/bearer_token` is read from
//! `TOOLHIVE_SECRET_PROXY_NOTION_BEARER_TOKEN` (upper case, every other character `_`).

use super::{BoxFuture, Secret, SecretStore, store_error};
use crate::error::Result;

/// Prefix of the variables this store reads.
pub const ENV_PREFIX: &str = "TOOLHIVE_SECRET_";

/// A read-only store over the process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvStore;

impl EnvStore {
    /// The variable that holds `key`.
    pub fn variable(key: &str) -> String {
        let mut var = String::from(ENV_PREFIX);
        var.extend(key.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
        var
    }
}

impl SecretStore for EnvStore {
    fn kind(&self) -> &str {
        "env"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Secret>>> {
        let value = std::env::var(Self::variable(key))
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        Box::pin(async move { Ok(value) })
    }

    fn set<'a>(&'a self, key: &'a str, _value: Secret) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            Err(store_error(
                "env",
                format!("is read-only; export {} instead", Self::variable(key)),
            ))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            Err(store_error(
                "env",
                format!("is read-only; unset {} instead", Self::variable(key)),
            ))
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        // Variable names lose the key's punctuation, so they are listed as variables.
        let names = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with(ENV_PREFIX))
            .collect();
        Box::pin(async move { Ok(names) })
    }
}
