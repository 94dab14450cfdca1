//! Secrets in the OS keyring. On Linux that is the freedesktop Secret Service (GNOME Keyring,
//! KWallet, KeePassXC) on the D-Bus session bus, spoken through the `secret-service` crate with
//! an encrypted session, so values never cross the bus in clear.
//!
//! Every secret is one item of the keyring's default collection with the attributes
//! `service=<service>` (`toolhive-embed` unless chosen) and `key=<key>`, labelled
//! `<service>: <key>` so people recognise it in Seahorse or KWalletManager.
//!
//! The store never prompts: a library call must not pop up an unlock dialog from inside a host,
//! nor hang on a headless machine where nobody can answer one. A locked keyring is an error that
//! says so. Every call is bounded by a timeout, and a connection that went stale (the keyring
//! daemon restarted) is replaced once, transparently.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secret_service::{Collection, EncryptionType, SecretService};

use super::{BoxFuture, Secret, SecretStore, store_error};
use crate::error::{Error, Result};

/// How long connecting (or reconnecting) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one store operation may take once connected.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

const CONTENT_TYPE: &str = "text/plain";
const ATTR_SERVICE: &str = "service";
const ATTR_KEY: &str = "key";

type Service = Arc<SecretService<'static>>;

/// A secret store in the OS keyring.
pub struct KeyringStore {
    service: String,
    connection: Mutex<Option<Service>>,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// Why a keyring call failed, before it becomes an [`Error`].
enum Failure {
    Keyring(secret_service::Error),
    Timeout(Duration),
    Other(String),
}

impl From<secret_service::Error> for Failure {
    fn from(e: secret_service::Error) -> Self {
        Failure::Keyring(e)
    }
}

impl Failure {
    /// Whether a fresh connection may succeed where this one failed: D-Bus errors such as an
    /// unknown session or object after the keyring daemon restarted.
    fn stale_connection(&self) -> bool {
        matches!(
            self,
            Failure::Keyring(
                secret_service::Error::Zbus(_)
                    | secret_service::Error::ZbusFdo(_)
                    | secret_service::Error::Unavailable
            )
        )
    }

    fn into_error(self) -> Error {
        use secret_service::Error as E;
        const INSTEAD: &str =
            "or use the file secret store instead (toolhive: --secret-store file)";
        let what = match self {
            Failure::Timeout(limit) => format!(
                "the keyring did not answer within {} s",
                limit.as_secs_f32()
            ),
            Failure::Other(what) => what,
            Failure::Keyring(E::Locked) => format!(
                "the keyring is locked; unlock it (log in to the desktop session, or run \
                 `gnome-keyring-daemon --unlock`) {INSTEAD}"
            ),
            Failure::Keyring(E::NoResult) => format!(
                "the keyring has no default collection; create one (e.g. with Seahorse) {INSTEAD}"
            ),
            Failure::Keyring(E::Prompt | E::PromptDisconnected) => {
                "the keyring asked for a confirmation that was not given".to_owned()
            }
            Failure::Keyring(E::Unavailable) => format!(
                "no Secret Service on the D-Bus session bus (is a keyring daemon running?) \
                 {INSTEAD}"
            ),
            Failure::Keyring(E::Crypto(what)) => {
                format!("cannot decrypt the keyring's reply: {what}")
            }
            Failure::Keyring(e) => format!("D-Bus call failed: {e}"),
        };
        store_error("keyring", what)
    }
}

async fn bounded<T>(
    limit: Duration,
    work: impl Future<Output = std::result::Result<T, Failure>>,
) -> std::result::Result<T, Failure> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(Failure::Timeout(limit)))
}

async fn open() -> std::result::Result<Service, Failure> {
    let service = bounded(CONNECT_TIMEOUT, async {
        Ok(SecretService::connect(EncryptionType::Dh).await?)
    })
    .await?;
    Ok(Arc::new(service))
}

async fn unlocked_collection<'s>(
    ss: &'s SecretService<'static>,
) -> std::result::Result<Collection<'s>, Failure> {
    let collection = ss.get_default_collection().await?;
    collection.ensure_unlocked().await?;
    Ok(collection)
}

fn attributes<'a>(service: &'a str, key: &'a str) -> HashMap<&'a str, &'a str> {
    HashMap::from([(ATTR_SERVICE, service), (ATTR_KEY, key)])
}

async fn get(
    ss: Service,
    service: &str,
    key: &str,
) -> std::result::Result<Option<Secret>, Failure> {
    let collection = unlocked_collection(&ss).await?;
    let items = collection.search_items(attributes(service, key)).await?;
    let Some(item) = items.first() else {
        return Ok(None);
    };
    let bytes = item.get_secret().await?;
    let value = String::from_utf8(bytes).map_err(|_| {
        Failure::Other(format!(
            "the value of `{key}` is not UTF-8 text; set it again"
        ))
    })?;
    Ok(Some(Secret::new(value)))
}

async fn set(
    ss: Service,
    service: &str,
    key: &str,
    value: &Secret,
) -> std::result::Result<(), Failure> {
    let collection = unlocked_collection(&ss).await?;
    let label = format!("{service}: {key}");
    let created = collection
        .create_item(
            &label,
            attributes(service, key),
            value.expose().as_bytes(),
            true,
            CONTENT_TYPE,
        )
        .await?;
    // `replace` replaces an item with the same attributes, but not every keyring honours it
    // and an older duplicate may exist: leave exactly the item just written.
    for item in collection.search_items(attributes(service, key)).await? {
        if item.item_path != created.item_path {
            item.delete().await?;
        }
    }
    Ok(())
}

async fn delete(ss: Service, service: &str, key: &str) -> std::result::Result<(), Failure> {
    let collection = unlocked_collection(&ss).await?;
    for item in collection.search_items(attributes(service, key)).await? {
        item.delete().await?;
    }
    Ok(())
}

async fn list(ss: Service, service: &str) -> std::result::Result<Vec<String>, Failure> {
    let collection = unlocked_collection(&ss).await?;
    let items = collection
        .search_items(HashMap::from([(ATTR_SERVICE, service)]))
        .await?;
    let mut keys = Vec::with_capacity(items.len());
    for item in items {
        if let Some(key) = item.get_attributes().await?.remove(ATTR_KEY) {
            keys.push(key);
        }
    }
    keys.sort();
    Ok(keys)
}

impl KeyringStore {
    /// The `service` attribute of the items this store writes, unless chosen otherwise.
    pub const DEFAULT_SERVICE: &str = "toolhive-embed";

    /// How long [`KeyringStore::connect`] waits at most for the session bus, the Secret Service
    /// and its default collection.
    pub const CONNECT_TIMEOUT: Duration = CONNECT_TIMEOUT;

    /// Connect to the OS keyring, with items under the service `toolhive-embed`.
    ///
    /// Fails within [`KeyringStore::CONNECT_TIMEOUT`] with an error saying why when there is no
    /// session bus, no Secret Service on it, or no default collection. A locked collection is
    /// not an error here (see [`KeyringStore::is_locked`]); it is one for every later operation.
    pub async fn connect() -> Result<Self> {
        Self::connect_service(Self::DEFAULT_SERVICE).await
    }

    /// Like [`KeyringStore::connect`], with items under `service` instead, so that several
    /// hosts (or tests) keep separate sets of secrets in one keyring.
    pub async fn connect_service(service: &str) -> Result<Self> {
        if service.is_empty() {
            return Err(store_error("keyring", "the service name is empty"));
        }
        let connected = bounded(CONNECT_TIMEOUT, async {
            let ss = SecretService::connect(EncryptionType::Dh).await?;
            ss.get_default_collection().await?;
            Ok(ss)
        })
        .await
        .map_err(|failure| match failure {
            Failure::Keyring(
                e @ (secret_service::Error::Zbus(_) | secret_service::Error::ZbusFdo(_)),
            ) => store_error(
                "keyring",
                format!(
                    "cannot reach a Secret Service on the D-Bus session bus ({e}); use the \
                     file secret store instead (toolhive: --secret-store file)"
                ),
            ),
            failure => failure.into_error(),
        })?;
        Ok(KeyringStore {
            service: service.to_owned(),
            connection: Mutex::new(Some(Arc::new(connected))),
        })
    }

    /// The `service` attribute of this store's items.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Whether the default collection is locked (every operation would fail) right now.
    pub async fn is_locked(&self) -> Result<bool> {
        self.call(|ss| async move {
            let collection = ss.get_default_collection().await?;
            Ok(collection.is_locked().await?)
        })
        .await
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Service>> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `op` on the current connection, opening one if an earlier failure dropped it. When
    /// an established connection fails in a way a fresh one may fix, reconnect and run `op`
    /// once more: every operation is idempotent, so running it twice is safe.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(Service) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let mut may_retry = true;
        loop {
            let current = self.cached().clone();
            let ss = match current {
                Some(ss) => ss,
                None => {
                    may_retry = false;
                    let ss = open().await.map_err(Failure::into_error)?;
                    self.cached().get_or_insert(ss).clone()
                }
            };
            let failure = match bounded(CALL_TIMEOUT, op(ss.clone())).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if !failure.stale_connection() {
                return Err(failure.into_error());
            }
            {
                let mut cached = self.cached();
                if cached.as_ref().is_some_and(|c| Arc::ptr_eq(c, &ss)) {
                    *cached = None;
                }
            }
            if !may_retry {
                return Err(failure.into_error());
            }
            tracing::debug!("keyring call failed on an old connection; reconnecting once");
            may_retry = false;
        }
    }
}

impl SecretStore for KeyringStore {
    fn kind(&self) -> &str {
        "keyring"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Secret>>> {
        Box::pin(self.call(move |ss| get(ss, &self.service, key)))
    }

    fn set<'a>(&'a self, key: &'a str, value: Secret) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let value = &value;
            self.call(move |ss| set(ss, &self.service, key, value))
                .await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.call(move |ss| delete(ss, &self.service, key)))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(self.call(move |ss| list(ss, &self.service)))
    }
}
