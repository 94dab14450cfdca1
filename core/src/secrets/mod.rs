//! Secrets: the [`SecretStore`] trait, its stores, the stable keys proxies use, and
//! [`SecretRef`], the way a config points at a secret without containing it.

mod env;
mod file;
#[cfg(feature = "keyring")]
mod keyring;
mod memory;
mod reference;

use std::future::Future;
use std::pin::Pin;

pub use env::EnvStore;
pub use file::FileStore;
#[cfg(feature = "keyring")]
pub use keyring::KeyringStore;
pub use memory::MemoryStore;
pub use reference::SecretRef;

use crate::error::{Error, ErrorKind, Result};

/// A boxed future, so [`SecretStore`] can be used as `dyn SecretStore`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A secret value. `Debug` never shows it; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself: pass it on, never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where secrets live: an OS keyring, a file, the environment, memory, or the host's own
/// storage (an IDE's secret API) through a binding.
///
/// Writing a key overwrites it; deleting a missing key succeeds.
pub trait SecretStore: Send + Sync + 'static {
    /// A short name for messages: `file`, `env`, `memory`, or the host's.
    fn kind(&self) -> &str;
    /// The secret under `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Secret>>>;
    /// Store `value` under `key`, replacing what was there.
    fn set<'a>(&'a self, key: &'a str, value: Secret) -> BoxFuture<'a, Result<()>>;
    /// Remove `key`.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Every key (never the values).
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}

/// The key of a proxy's own secret, stable per (proxy, purpose), e.g.
/// `proxy/notion/bearer_token`.
pub fn proxy_key(proxy: &str, purpose: &str) -> String {
    format!("{}{purpose}", proxy_prefix(proxy))
}

/// Every key of a proxy's own secrets starts with this.
pub fn proxy_prefix(proxy: &str) -> String {
    format!("proxy/{proxy}/")
}

/// Check a user-chosen secret name (`toolhive secret set NAME`).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if !ok {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "secret name `{}` is not valid; use 1 to 200 of A-Z a-z 0-9 . _ - /",
                name.chars().take(200).collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// Delete every secret of `proxy` (used when a proxy is removed).
pub async fn delete_proxy_secrets(store: &dyn SecretStore, proxy: &str) -> Result<usize> {
    let prefix = proxy_prefix(proxy);
    let mut deleted = 0;
    for key in store.list().await? {
        if key.starts_with(&prefix) {
            store.delete(&key).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

pub(crate) fn store_error(store: &str, what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Secret, format!("{store} secret store: {what}"))
}

/// Which secret store a surface asked for: `auto`, `keyring` or `file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreChoice {
    /// The OS keyring when one is reachable and unlocked, else the file store.
    #[default]
    Auto,
    /// The OS keyring; an error when there is none.
    Keyring,
    /// The file store in the state directory.
    File,
}

impl StoreChoice {
    /// The names [`StoreChoice`] parses from, in order.
    pub const NAMES: [&str; 3] = ["auto", "keyring", "file"];

    /// `auto`, `keyring` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreChoice::Auto => "auto",
            StoreChoice::Keyring => "keyring",
            StoreChoice::File => "file",
        }
    }
}

impl std::fmt::Display for StoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StoreChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(StoreChoice::Auto),
            "keyring" => Ok(StoreChoice::Keyring),
            "file" => Ok(StoreChoice::File),
            other => Err(Error::invalid(
                "secret_store",
                format!("`{other}` is not a secret store; use auto, keyring or file"),
            )),
        }
    }
}

/// The store for `choice`, in the form [`crate::ManagerOptions::secret_store`] takes: the OS
/// keyring store, or `None` for the manager's default, the file store in its state directory.
///
/// `Auto` takes the keyring only when it answers within a few seconds (`KeyringStore::connect`)
/// and its default collection is unlocked, so a headless machine (no session bus, or a keyring
/// daemon nobody unlocked) quietly gets the file store. In a build without the `keyring`
/// feature, `Auto` is the file store and `Keyring` an error.
pub async fn select_store(choice: StoreChoice) -> Result<Option<std::sync::Arc<dyn SecretStore>>> {
    match choice {
        StoreChoice::File => Ok(None),
        #[cfg(feature = "keyring")]
        StoreChoice::Keyring => Ok(Some(std::sync::Arc::new(KeyringStore::connect().await?))),
        #[cfg(feature = "keyring")]
        StoreChoice::Auto => {
            let usable = match KeyringStore::connect().await {
                Ok(store) => match store.is_locked().await {
                    Ok(false) => Ok(store),
                    Ok(true) => Err("the keyring is locked".to_owned()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            match usable {
                Ok(store) => Ok(Some(std::sync::Arc::new(store))),
                Err(why) => {
                    tracing::debug!(%why, "no usable OS keyring; using the file secret store");
                    Ok(None)
                }
            }
        }
        #[cfg(not(feature = "keyring"))]
        StoreChoice::Keyring => Err(store_error(
            "keyring",
            "this build has no keyring support (toolhive-core feature `keyring`)",
        )),
        #[cfg(not(feature = "keyring"))]
        StoreChoice::Auto => Ok(None),
    }
}
