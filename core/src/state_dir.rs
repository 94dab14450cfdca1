//! The state directory: each proxy's saved config and status (so proxies survive restarts and
//! other processes can list, stop and follow them), its log file, the control sockets, and the
//! default file secret store.
//!
//! ```text
//! <root>/proxies/<name>.json   {"schema_version":1,"config":{…},"status":{…}}
//! <root>/logs/<name>.log       the proxy's log lines
//! <root>/control/<pid>.sock    the control socket of the process serving proxies
//! <root>/secrets.json          the file secret store (when no other store is given)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::auth::AuthState;
use crate::config::ProxyConfig;
use crate::fsutil;
use crate::state::ProxyState;

/// The state file format this version writes (and the newest it reads).
pub const SCHEMA_VERSION: u32 = 1;

/// A proxy as saved on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedProxy {
    pub schema_version: u32,
    /// The config to start it again with: bound port filled in, secrets replaced by references.
    pub config: ProxyConfig,
    pub status: SavedStatus,
}

/// The last known status of a saved proxy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedStatus {
    #[serde(flatten)]
    pub state: ProxyState,
    /// The process serving it while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub started_at: Option<SystemTime>,
    /// The OAuth state, for listings from other processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthState>,
}

mod opt_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(&humantime::format_rfc3339_millis(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_rfc3339(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl<'de> Deserialize<'de> for ProxyState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            state: String,
            reason: Option<String>,
        }
        let raw = Raw::deserialize(d)?;
        Ok(match raw.state.as_str() {
            "starting" => ProxyState::Starting,
            "running" => ProxyState::Running,
            "unhealthy" => ProxyState::Unhealthy,
            "stopping" => ProxyState::Stopping,
            "stopped" => ProxyState::Stopped,
            "failed" => ProxyState::Failed {
                reason: raw.reason.unwrap_or_default(),
            },
            other => {
                return Err(serde::de::Error::custom(format!("unknown state `{other}`")));
            }
        })
    }
}

/// A state file that could not be used. It is reported and left untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for StateFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// A state directory.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub(crate) fn new(root: PathBuf) -> std::io::Result<Self> {
        for dir in ["proxies", "logs", "control"] {
            fsutil::create_private_dir(&root.join(dir))?;
        }
        Ok(StateDir { root })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn proxy_path(&self, name: &str) -> PathBuf {
        self.root.join("proxies").join(format!("{name}.json"))
    }

    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
    }

    pub(crate) fn control_path(&self, pid: u32) -> PathBuf {
        self.root.join("control").join(format!("{pid}.sock"))
    }

    pub(crate) fn secrets_path(&self) -> PathBuf {
        secrets_path(&self.root)
    }

    pub(crate) fn save(&self, name: &str, saved: &SavedProxy) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(saved).expect("saved proxies serialize");
        fsutil::write_atomic(&self.proxy_path(name), &json)
    }

    /// The saved proxy `name`: `Ok(None)` when there is none, `Err` when its file is unusable.
    pub(crate) fn load(&self, name: &str) -> Result<Option<SavedProxy>, StateFileError> {
        let path = self.proxy_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StateFileError {
                    path,
                    message: format!("cannot read it: {e}"),
                });
            }
        };
        parse(&text)
            .map(Some)
            .map_err(|message| StateFileError { path, message })
    }

    /// Every saved proxy, plus the files that could not be read.
    pub(crate) fn load_all(&self) -> (Vec<SavedProxy>, Vec<StateFileError>) {
        let mut saved = Vec::new();
        let mut errors = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.root.join("proxies")) else {
            return (saved, errors);
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
            .collect();
        names.sort();
        for name in names {
            match self.load(&name) {
                Ok(Some(s)) => saved.push(s),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        (saved, errors)
    }

    /// Delete the proxy's state and log files.
    pub(crate) fn remove(&self, name: &str) -> std::io::Result<()> {
        for path in [self.proxy_path(name), self.log_path(name)] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

fn parse(text: &str) -> Result<SavedProxy, String> {
    #[derive(Deserialize)]
    struct Version {
        schema_version: u32,
    }
    let version = serde_json::from_str::<Version>(text)
        .map_err(|e| format!("corrupt state file ({e}); it was left as is, fix or remove it"))?;
    if version.schema_version > SCHEMA_VERSION {
        return Err(format!(
            "written by a newer toolhive (schema {}, this one reads up to {SCHEMA_VERSION}); \
             it was left as is",
            version.schema_version
        ));
    }
    serde_json::from_str(text)
        .map_err(|e| format!("corrupt state file ({e}); it was left as is, fix or remove it"))
}

/// `<root>/secrets.json`, the default file secret store of a state directory.
pub(crate) fn secrets_path(root: &Path) -> PathBuf {
    root.join("secrets.json")
}

/// True while process `pid` exists.
pub(crate) fn pid_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
        // SAFETY: kill with signal 0 sends nothing.
        let rc = unsafe { libc::kill(pid, 0) };
        let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        // A zombie (dead, not yet reaped by its parent) serves nothing.
        exists && !is_zombie(pid)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(unix)]
fn is_zombie(pid: libc::pid_t) -> bool {
    // Linux: the state letter follows the parenthesised command name in /proc/PID/stat.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Keeps one running proxy's state file current.
#[derive(Debug)]
pub(crate) struct Persist {
    dir: StateDir,
    saved: Mutex<SavedProxy>,
}

impl Persist {
    pub(crate) fn new(dir: StateDir, saved: SavedProxy) -> Self {
        Persist {
            dir,
            saved: Mutex::new(saved),
        }
    }

    /// Record `state`; a failed write is returned for the caller to log.
    pub(crate) fn state_changed(&self, state: &ProxyState) -> std::io::Result<()> {
        self.update(|status| {
            status.state = state.clone();
            if !state.is_active() {
                status.pid = None;
            }
        })
    }

    /// Record the OAuth state.
    pub(crate) fn auth_changed(&self, auth: &AuthState) -> std::io::Result<()> {
        self.update(|status| status.auth = Some(auth.clone()))
    }

    fn update(&self, change: impl FnOnce(&mut SavedStatus)) -> std::io::Result<()> {
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut saved.status);
        let name = saved.config.name.clone().unwrap_or_default();
        self.dir.save(&name, &saved)
    }
}
