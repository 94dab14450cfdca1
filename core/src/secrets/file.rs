//! Secrets in one JSON file (mode 0600) that works on a headless machine with no keyring
//! daemon. Every change is a locked read-modify-write with an atomic replace, so two processes
//! sharing the file lose nothing and a crash leaves the old or the new file, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BoxFuture, Secret, SecretStore, store_error};
use crate::error::{Error, Result};
use crate::fsutil;

const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Contents {
    version: u32,
    secrets: BTreeMap<String, String>,
}

/// A secret store in a file, shared safely between processes.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store in `path` (created on first write, with its directory, private to the user).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        fsutil::sibling(&self.path, ".lock")
    }

    fn read(&self) -> Result<Contents> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
            Err(e) => return Err(self.error(format!("cannot read it: {e}"))),
        };
        let contents: Contents = serde_json::from_str(&text).map_err(|e| {
            // Never overwrite a file we cannot read: the user's secrets may be in it.
            self.error(format!(
                "it is corrupt ({e}); fix or move it away, it was left as is"
            ))
        })?;
        if contents.version > FORMAT_VERSION {
            return Err(self.error(format!(
                "it was written by a newer toolhive (format {}); upgrade to use it",
                contents.version
            )));
        }
        Ok(contents)
    }

    fn error(&self, what: String) -> Error {
        store_error("file", format!("{}: {what}", self.path.display()))
    }

    /// Run `f` on the contents under the exclusive lock and write the result back.
    fn update(&self, f: impl FnOnce(&mut BTreeMap<String, String>)) -> Result<()> {
        let _lock = fsutil::lock_exclusive(&self.lock_path()).map_err(|e| self.error(e))?;
        let mut contents = self.read()?;
        f(&mut contents.secrets);
        contents.version = FORMAT_VERSION;
        let json = serde_json::to_vec_pretty(&contents).expect("secrets serialize");
        fsutil::write_atomic(&self.path, &json)
            .map_err(|e| self.error(format!("cannot write it: {e}")))
    }

    fn snapshot(&self) -> Result<BTreeMap<String, String>> {
        let _lock = fsutil::lock_shared(&self.lock_path()).map_err(|e| self.error(e))?;
        Ok(self.read()?.secrets)
    }

    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(FileStore) -> Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let store = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(store))
                .await
                .map_err(|e| store_error("file", format!("background task failed: {e}")))?
        })
    }
}

impl SecretStore for FileStore {
    fn kind(&self) -> &str {
        "file"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Secret>>> {
        let key = key.to_owned();
        self.blocking(move |s| Ok(s.snapshot()?.remove(&key).map(Secret::new)))
    }

    fn set<'a>(&'a self, key: &'a str, value: Secret) -> BoxFuture<'a, Result<()>> {
        let key = key.to_owned();
        self.blocking(move |s| {
            s.update(|m| {
                m.insert(key, value.expose().to_owned());
            })
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        let key = key.to_owned();
        self.blocking(move |s| {
            s.update(|m| {
                m.remove(&key);
            })
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        self.blocking(|s| Ok(s.snapshot()?.into_keys().collect()))
    }
}
