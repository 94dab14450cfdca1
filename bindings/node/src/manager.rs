//! The environment's proxy manager: `configure()` (state directory, secret store, browser),
//! managing proxies by name across processes (`stop`, `restart`, `remove`, `restore`, `info`,
//! `logs`, `followLogs`, `stateErrors`), and the secret store's own operations.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use napi::bindgen_prelude::{
    Array, Function, JsObjectValue, Object, PromiseRaw, ToNapiValue, Unknown,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Result, Status, ValueType};
use napi_derive::napi;
use toolhive_core::secrets::{EnvStore, MemoryStore, Secret, SecretStore};
use toolhive_core::{ErrorKind, ManagerOptions, ProxyManager};

use crate::convert::{a_type, build_error, error_object, js_error};
use crate::env_state::{BrowserMode, DirClaim, state};
use crate::options::Words;
use crate::proxy::{LogLine, Proxy, ProxyInfo};
use crate::secret_store::JsSecretStore;

/// What `configure()` was given, checked.
struct Config {
    state_dir: Option<PathBuf>,
    secret_store: StoreChoice,
    browser: BrowserMode,
}

enum StoreChoice {
    /// Core's default: the file store in the state directory, or memory without one.
    Default,
    File,
    Memory,
    Env,
    Js(JsSecretStore),
}

const KNOWN: [&str; 3] = ["stateDir", "secretStore", "openBrowser"];

/// An `invalid_config` error about `field`, its message starting with it.
fn invalid(env: &Env, field: &str, message: &str) -> napi::Error {
    build_error(
        env,
        ErrorKind::InvalidConfig,
        &format!("{field}: {message}"),
        Some(field.to_owned()),
    )
    .unwrap_or_else(|e| e)
}

fn string_of(value: Unknown<'_>) -> Result<String> {
    let v = value.value();
    // SAFETY: a live string value of its env.
    unsafe { <String as napi::bindgen_prelude::FromNapiValue>::from_napi_value(v.env, v.value) }
}

fn parse(env: &Env, options: Option<Unknown<'_>>) -> Result<Config> {
    let mut config = Config {
        state_dir: None,
        secret_store: StoreChoice::Default,
        browser: BrowserMode::Auto,
    };
    let Some(options) = options else {
        return Ok(config);
    };
    match options.get_type()? {
        ValueType::Undefined | ValueType::Null => return Ok(config),
        ValueType::Object => {}
        _ => {
            return Err(build_error(
                env,
                ErrorKind::InvalidConfig,
                "options must be an object such as { stateDir: '/path' }",
                None,
            )?);
        }
    }
    // Checked to be an object.
    let object: Object<'_> = Object::from_raw(env.raw(), options.raw());
    for key in Object::keys(&object)? {
        if !KNOWN.contains(&key.as_str()) {
            return Err(invalid(
                env,
                &key,
                &format!(
                    "unknown option `{key}`; the options are {}",
                    KNOWN.map(|k| format!("`{k}`")).join(", ")
                ),
            ));
        }
    }
    let get = |key: &str| object.get_named_property_unchecked::<Unknown<'_>>(key);

    let dir = get("stateDir")?;
    match dir.get_type()? {
        ValueType::Undefined | ValueType::Null => {}
        ValueType::String => {
            let dir = string_of(dir)?;
            if dir.is_empty() {
                return Err(invalid(
                    env,
                    "stateDir",
                    "must not be empty (leave it out to keep everything in memory)",
                ));
            }
            config.state_dir = Some(PathBuf::from(dir));
        }
        other => {
            return Err(invalid(
                env,
                "stateDir",
                &format!("must be a directory path (a string), not {}", a_type(other)),
            ));
        }
    }

    let store = get("secretStore")?;
    config.secret_store = match store.get_type()? {
        ValueType::Undefined | ValueType::Null => StoreChoice::Default,
        ValueType::String => match string_of(store)?.as_str() {
            "default" => StoreChoice::Default,
            "file" if config.state_dir.is_some() => StoreChoice::File,
            "file" => {
                return Err(invalid(
                    env,
                    "secretStore",
                    "the file store lives in the state directory: give `stateDir` too",
                ));
            }
            "memory" => StoreChoice::Memory,
            "env" => StoreChoice::Env,
            other => {
                return Err(invalid(
                    env,
                    "secretStore",
                    &format!(
                        "`{other}` is not a secret store; use 'default', 'file', 'memory', \
                         'env', or an object with get, set, delete and list methods"
                    ),
                ));
            }
        },
        ValueType::Object => {
            // Checked to be an object.
            let object: Object<'_> = Object::from_raw(env.raw(), store.raw());
            match JsSecretStore::new(&object) {
                Ok(store) => StoreChoice::Js(store),
                Err(message) => {
                    let message = message.strip_prefix("secretStore.").unwrap_or(&message);
                    let (field, message) = message
                        .split_once(": ")
                        .map(|(f, m)| (format!("secretStore.{f}"), m.to_owned()))
                        .unwrap_or(("secretStore".to_owned(), message.to_owned()));
                    return Err(invalid(env, &field, &message));
                }
            }
        }
        other => {
            return Err(invalid(
                env,
                "secretStore",
                &format!("must be a store name or an object, not {}", a_type(other)),
            ));
        }
    };

    let browser = get("openBrowser")?;
    config.browser = match browser.get_type()? {
        ValueType::Undefined | ValueType::Null => BrowserMode::Auto,
        ValueType::Boolean => {
            let v = browser.value();
            // SAFETY: checked to be a boolean.
            let yes = unsafe {
                <bool as napi::bindgen_prelude::FromNapiValue>::from_napi_value(v.env, v.value)
            }?;
            if yes {
                BrowserMode::Always
            } else {
                BrowserMode::Never
            }
        }
        ValueType::String if string_of(browser)? == "auto" => BrowserMode::Auto,
        _ => {
            return Err(invalid(env, "openBrowser", "must be true, false or 'auto'"));
        }
    };
    Ok(config)
}

/// Configure this process's (or worker's) proxy manager: where proxies are saved, where
/// secrets live, and who opens the browser for OAuth logins. Call it before starting proxies:
/// it throws (code `'state'`) while a proxy of this process is active or a `start`, `restart`
/// or `restore` is under way. Proxies stopped before are forgotten (`get` no longer finds
/// them; with the old state directory they stay saved there).
///
/// Without it (or with `{}`) everything is in memory, secrets too, and the browser opens for a
/// login unless an `authorization_required` listener is registered (`openBrowser: 'auto'`).
/// Invalid options throw with code `'invalid_config'` and the `field`; a state directory that
/// cannot be created throws with code `'state'`.
#[napi(ts_args_type = "options?: ManagerOptions | null")]
pub fn configure(env: &Env, options: Option<Unknown<'_>>) -> Result<()> {
    let config = parse(env, options)?;
    let st = state(env)?;
    let active = st.active_proxies();
    if !active.is_empty() || st.pending() > 0 {
        let what = if active.is_empty() {
            "a start, restart or restore is under way".to_owned()
        } else {
            format!(
                "proxies of this process are active ({}); stop them first",
                active.join(", ")
            )
        };
        return Err(build_error(
            env,
            ErrorKind::State,
            &format!("configure() must come before proxies start: {what}"),
            None,
        )?);
    }
    let secret_store: Option<Arc<dyn SecretStore>> = match config.secret_store {
        StoreChoice::Default | StoreChoice::File => None,
        StoreChoice::Memory => Some(Arc::new(MemoryStore::new())),
        StoreChoice::Env => Some(Arc::new(EnvStore)),
        StoreChoice::Js(store) => Some(Arc::new(store)),
    };
    let runtime = st.manager().runtime().clone();
    let manager = ProxyManager::with_options(
        runtime,
        ManagerOptions {
            state_dir: config.state_dir,
            secret_store,
            // 'auto': the binding decides as the event is delivered (src/browser.rs).
            suppress_browser: config.browser != BrowserMode::Always,
        },
    )
    .map_err(|e| {
        let message = Words::default().rewrite(e.message());
        build_error(
            env,
            e.kind(),
            &format!("stateDir: {message}"),
            Some("stateDir".to_owned()),
        )
        .unwrap_or_else(|e| e)
    })?;
    let claim = match manager.state_dir() {
        None => None,
        Some(dir) => {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            if st.claimed_dir().as_ref() == Some(&dir) {
                Some(ClaimChange::Keep)
            } else {
                match DirClaim::take(dir.clone()) {
                    Some(claim) => Some(ClaimChange::New(claim)),
                    None => {
                        return Err(invalid(
                            env,
                            "stateDir",
                            &format!(
                                "{} is used by another thread of this process (a worker or the \
                                 main thread); give each its own state directory",
                                dir.display()
                            ),
                        ));
                    }
                }
            }
        }
    };
    match claim {
        Some(ClaimChange::Keep) => st.replace_manager(manager, config.browser, None, true),
        Some(ClaimChange::New(claim)) => {
            st.replace_manager(manager, config.browser, Some(claim), false)
        }
        None => st.replace_manager(manager, config.browser, None, false),
    }
    Ok(())
}

enum ClaimChange {
    Keep,
    New(DirClaim),
}

/// The per-user default state directory (`$XDG_STATE_HOME/toolhive-embed`, i.e.
/// `~/.local/state/toolhive-embed`), shared with the `toolhive` CLI; `null` when there is no
/// home directory. Pass it to `configure({ stateDir })` to see and manage the CLI's proxies.
#[napi]
pub fn default_state_dir() -> Option<String> {
    ManagerOptions::default_state_dir().map(|d| d.to_string_lossy().into_owned())
}

/// Words for errors about the proxy `name`.
fn about(name: &str) -> Words {
    Words::with_values([name.to_owned()])
}

/// Stop the proxy called `name` gracefully, in this process or in the one serving it (with a
/// shared state directory); its saved config is kept. Rejects with `'not_found'` for an
/// unknown name.
#[napi(ts_return_type = "Promise<void>")]
pub fn stop<'env>(env: &'env Env, name: String) -> Result<PromiseRaw<'env, ()>> {
    let manager = state(env)?.manager();
    env.spawn_future_with_callback(
        async move {
            let result = manager.stop(&name).await;
            Ok((result, name))
        },
        |env, (result, name)| result.map_err(|e| js_error(env, &e, Some(&about(&name)))),
    )
}

/// Stop `name` and start it again with the same config on the same port; resolves with its
/// new snapshot. A proxy served by another process is restarted there; a saved, stopped one
/// (or one whose process died) is started here. The restarted proxy is a new `Proxy`: handles
/// from before show the old one, stopped; `get(name)` gives the new one (it keeps `unref()`).
#[napi(ts_return_type = "Promise<ProxyInfo>")]
pub fn restart<'env>(env: &'env Env, name: String) -> Result<PromiseRaw<'env, ProxyInfo>> {
    let st = state(env)?;
    let manager = st.manager();
    st.set_pending(true);
    env.spawn_future_with_callback(
        async move {
            let result = manager.restart(&name).await;
            let here = manager.get(&name);
            Ok((result, here, name))
        },
        |env, (result, here, name)| {
            let st = state(env)?;
            st.set_pending(false);
            let info = result.map_err(|e| js_error(env, &e, Some(&about(&name))))?;
            if let Some(proxy) = here {
                st.started(env, &proxy, true)?;
            }
            Ok(ProxyInfo::from(info))
        },
    )
}

/// Stop `name` (here or in its process) and delete its saved config, its log file and its
/// secrets (every key starting with `proxy/<name>/` in the secret store). Rejects with
/// `'not_found'` for an unknown name.
#[napi(ts_return_type = "Promise<void>")]
pub fn remove<'env>(env: &'env Env, name: String) -> Result<PromiseRaw<'env, ()>> {
    let manager = state(env)?.manager();
    env.spawn_future_with_callback(
        async move {
            let result = manager.remove(&name).await;
            Ok((result, name))
        },
        |env, (result, name)| result.map_err(|e| js_error(env, &e, Some(&about(&name)))),
    )
}

/// Start every saved proxy that was running when its process ended (a crash, a kill, a
/// reboot); call it at startup with a state directory configured. Proxies served by another
/// live process are left alone. Resolves with one result per proxy it tried: `{ name, proxy }`
/// or `{ name, error }`. Without a state directory there is nothing to restore.
#[napi(ts_return_type = "Promise<RestoreResult[]>")]
pub fn restore<'env>(env: &'env Env) -> Result<PromiseRaw<'env, Array<'env>>> {
    let st = state(env)?;
    let manager = st.manager();
    st.set_pending(true);
    env.spawn_future_with_callback(
        async move { Ok(manager.restore().await) },
        |env, results| {
            let st = state(env)?;
            st.set_pending(false);
            let mut array = env.create_array(results.len() as u32)?;
            for (i, (name, result)) in results.into_iter().enumerate() {
                let mut item = Object::new(env)?;
                item.set_named_property("name", name.as_str())?;
                match result {
                    Ok(proxy) => {
                        st.started(env, &proxy, false)?;
                        item.set_named_property("proxy", Proxy { inner: proxy })?;
                    }
                    Err(e) => {
                        let words = about(&name);
                        let error =
                            error_object(env, e.kind(), &words.message(&e), words.field(&e))?;
                        item.set_named_property("error", error)?;
                    }
                }
                array.set(i as u32, item)?;
            }
            Ok(array)
        },
    )
}

/// A state file that could not be used (`stateErrors()`).
#[napi(object, object_from_js = false)]
pub struct StateFileError {
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// State files of the state directory that could not be read (corrupt, unreadable, or from a
/// newer version). `list()` and `restore()` skip them; nothing overwrites them.
#[napi]
pub fn state_errors(env: &Env) -> Result<Vec<StateFileError>> {
    Ok(state(env)?
        .manager()
        .state_errors()
        .into_iter()
        .map(|e| StateFileError {
            path: e.path.to_string_lossy().into_owned(),
            message: e.message,
        })
        .collect())
}

/// A snapshot of the proxy called `name`, wherever it runs; throws with code `'not_found'`.
#[napi]
pub fn info(env: &Env, name: String) -> Result<ProxyInfo> {
    state(env)?
        .manager()
        .info(&name)
        .map(ProxyInfo::from)
        .map_err(|e| js_error(env, &e, Some(&about(&name))))
}

/// Recent log lines of the proxy called `name`, oldest first (from its log file when another
/// process serves it); throws with code `'not_found'`.
#[napi]
pub fn logs(env: &Env, name: String) -> Result<Vec<LogLine>> {
    state(env)?
        .manager()
        .logs(&name)
        .map(|lines| lines.into_iter().map(LogLine::from).collect())
        .map_err(|e| js_error(env, &e, Some(&about(&name))))
}

/// Lines queued for the JS thread at most; more are dropped until it catches up.
const FOLLOW_QUEUE: usize = 1024;

type FollowFn =
    ThreadsafeFunction<LogLine, Unknown<'static>, LogLine, Status, false, true, FOLLOW_QUEUE>;

/// Call `listener` on the JS thread with every new log line of the proxy called `name` (from
/// memory when this process serves it, from its log file when another one does), until
/// `close()`; throws with code `'not_found'`. Like events, following never keeps the process
/// alive; a throwing listener is an uncaught exception.
#[napi(ts_args_type = "name: string, listener: (line: LogLine) => void")]
pub fn follow_logs(
    env: &Env,
    name: String,
    listener: Function<'_, LogLine, Unknown<'static>>,
) -> Result<LogFollower> {
    let st = state(env)?;
    let manager = st.manager();
    let mut follower = manager
        .follow_logs(&name)
        .map_err(|e| js_error(env, &e, Some(&about(&name))))?;
    let tsfn: FollowFn = listener
        .build_threadsafe_function::<LogLine>()
        .weak::<true>()
        .callee_handled::<false>()
        .max_queue_size::<FOLLOW_QUEUE>()
        .build_callback(|ctx| Ok(ctx.value))?;
    let ended = Arc::new(AtomicBool::new(false));
    let done = ended.clone();
    let task = manager.runtime().spawn(async move {
        while let Some(line) = follower.next().await {
            if tsfn.call(LogLine::from(line), ThreadsafeFunctionCallMode::NonBlocking)
                == Status::Closing
            {
                break;
            }
        }
        done.store(true, Ordering::SeqCst);
    });
    let abort = task.abort_handle();
    st.track(abort.clone());
    Ok(LogFollower {
        task: Some(abort),
        ended,
    })
}

/// What `followLogs` returns.
#[napi]
pub struct LogFollower {
    task: Option<tokio::task::AbortHandle>,
    ended: Arc<AtomicBool>,
}

#[napi]
impl LogFollower {
    /// Stop following (idempotent).
    #[napi]
    pub fn close(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// True once `close()` was called or the log ended (its proxy was removed).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.task.is_none() || self.ended.load(Ordering::SeqCst)
    }
}

/// A secret name, checked like `toolhive secret set NAME`: 1 to 200 of `A-Z a-z 0-9 . _ - /`.
fn secret_name(env: &Env, name: &str) -> Result<()> {
    toolhive_core::secrets::check_name(name).map_err(|e| {
        build_error(
            env,
            e.kind(),
            &format!("name: {}", e.message()),
            Some("name".to_owned()),
        )
        .unwrap_or_else(|e| e)
    })
}

/// A Promise rejected with `err` (Promise-returning functions reject, never throw).
fn rejected<'env, V: ToNapiValue + 'static>(
    env: &'env Env,
    err: napi::Error,
) -> Result<PromiseRaw<'env, V>> {
    env.spawn_future_with_callback(async { Ok(()) }, move |_, ()| Err::<V, _>(err))
}

fn store(env: &Env) -> Result<Arc<dyn SecretStore>> {
    Ok(state(env)?.manager().secret_store().clone())
}

/// Store `value` under `name` in the configured secret store (replacing what was there), for
/// options that refer to it: `bearerToken: { secret: name }`,
/// `headers: { 'X-Api-Key': { secret: name } }`. Rejects with `'invalid_config'` (a bad name,
/// an empty value) or `'secret'` (the store failed, e.g. the read-only `'env'` store).
#[napi(ts_return_type = "Promise<void>")]
pub fn set_secret<'env>(
    env: &'env Env,
    name: String,
    value: String,
) -> Result<PromiseRaw<'env, ()>> {
    if let Err(err) = secret_name(env, &name) {
        return rejected(env, err);
    }
    if value.is_empty() {
        return rejected(env, invalid(env, "value", "must not be empty"));
    }
    let store = store(env)?;
    let value = Secret::new(value);
    env.spawn_future_with_callback(
        async move {
            let result = store.set(&name, value).await;
            Ok((result, name))
        },
        |env, (result, name)| result.map_err(|e| js_error(env, &e, Some(&about(&name)))),
    )
}

/// The value stored under `name` in the configured secret store, or `null`.
#[napi(ts_return_type = "Promise<string | null>")]
pub fn get_secret<'env>(env: &'env Env, name: String) -> Result<PromiseRaw<'env, Option<String>>> {
    if let Err(err) = secret_name(env, &name) {
        return rejected(env, err);
    }
    let store = store(env)?;
    env.spawn_future_with_callback(
        async move {
            let result = store.get(&name).await;
            Ok((result, name))
        },
        |env, (result, name)| {
            result
                .map(|s| s.map(|s| s.expose().to_owned()))
                .map_err(|e| js_error(env, &e, Some(&about(&name))))
        },
    )
}

/// Delete the secret `name` from the configured secret store; deleting a missing one resolves.
#[napi(ts_return_type = "Promise<void>")]
pub fn delete_secret<'env>(env: &'env Env, name: String) -> Result<PromiseRaw<'env, ()>> {
    if let Err(err) = secret_name(env, &name) {
        return rejected(env, err);
    }
    let store = store(env)?;
    env.spawn_future_with_callback(
        async move {
            let result = store.delete(&name).await;
            Ok((result, name))
        },
        |env, (result, name)| result.map_err(|e| js_error(env, &e, Some(&about(&name)))),
    )
}

/// The names of every secret in the configured secret store (never the values), sorted;
/// proxies' own secrets are under `proxy/<name>/`.
#[napi(ts_return_type = "Promise<string[]>")]
pub fn list_secrets<'env>(env: &'env Env) -> Result<PromiseRaw<'env, Vec<String>>> {
    let store = store(env)?;
    env.spawn_future_with_callback(async move { Ok(store.list().await) }, |env, result| {
        let mut names = result.map_err(|e| js_error(env, &e, None))?;
        names.sort();
        names.dedup();
        Ok(names)
    })
}
