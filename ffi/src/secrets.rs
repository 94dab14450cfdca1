//! Secret stores: one implemented by the host through C callbacks (`toolhive_secret_store`, an
//! implementation of core's `SecretStore`), the built-in ones chosen in the runtime options,
//! and the runtime's secret operations (the CLI's `toolhive secret set/get/list/delete`).

use std::ffi::{CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use toolhive_core::secrets::{BoxFuture, EnvStore, FileStore, MemoryStore, Secret, SecretStore};
use toolhive_core::{Error, ErrorKind};

use crate::callback::{self, RawUserdata, Userdata};
use crate::error::{
    Failure, arg_ref, boundary_or, guarded, report, require_out, toolhive_error, toolhive_status,
    write_out,
};
use crate::runtime::{toolhive_runtime, toolhive_runtime_options};
use crate::strings::{arg_str, cstring};

/// The version of `toolhive_secret_store` this header describes: put it in the struct's
/// `version` field. Later versions only append fields, and the library keeps accepting the
/// versions it accepted before.
pub const TOOLHIVE_SECRET_STORE_VERSION: u32 = 1;

/// What the host secret store's callbacks answer through (see `toolhive_secret_store`).
///
/// Ownership: owned by the library and passed to one callback call; valid only until that call
/// returns. Use it only on the thread running the callback.
pub struct toolhive_secret_reply {
    op: Op,
    value: Option<String>,
    keys: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set,
    Remove,
    List,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Remove => "remove",
            Op::List => "list",
        }
    }
}

/// The `get` callback of a `toolhive_secret_store`.
pub type toolhive_secret_get_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        key: *const c_char,
        reply: *mut toolhive_secret_reply,
    ) -> c_int,
>;
/// The `set` callback of a `toolhive_secret_store`.
pub type toolhive_secret_set_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        key: *const c_char,
        value: *const c_char,
        reply: *mut toolhive_secret_reply,
    ) -> c_int,
>;
/// The `remove` callback of a `toolhive_secret_store`.
pub type toolhive_secret_remove_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        key: *const c_char,
        reply: *mut toolhive_secret_reply,
    ) -> c_int,
>;
/// The `list` callback of a `toolhive_secret_store`.
pub type toolhive_secret_list_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, reply: *mut toolhive_secret_reply) -> c_int>;

type GetFn = unsafe extern "C" fn(*mut c_void, *const c_char, *mut toolhive_secret_reply) -> c_int;
type SetFn = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *mut toolhive_secret_reply,
) -> c_int;
type RemoveFn =
    unsafe extern "C" fn(*mut c_void, *const c_char, *mut toolhive_secret_reply) -> c_int;
type ListFn = unsafe extern "C" fn(*mut c_void, *mut toolhive_secret_reply) -> c_int;

/// A secret store implemented by the host (for example over an IDE's or the OS's secret
/// storage), passed by pointer to `toolhive_runtime_options_set_secret_store`, which copies it.
///
/// The library keeps in it: the OAuth tokens and client registrations of each proxy, and, for
/// a runtime with a state directory, the bearer tokens and secret header values given as
/// `{"value": ...}` or `{"env": ...}` in a config (the saved config then refers to them).
/// Configs may also refer to the host's own entries directly: `"bearer_token": {"secret":
/// "name"}` reads key "name". Keys are stable per proxy and purpose, e.g.
/// "proxy/<name>/bearer_token", "proxy/<name>/header/<lowercase header>",
/// "proxy/<name>/oauth_token", "proxy/<name>/oauth_client"; removing a proxy
/// (`toolhive_runtime_remove`) deletes every key starting with "proxy/<name>/" (found through
/// `list`).
///
/// Each callback returns 0 on success and anything else on failure; it may describe the
/// failure with `toolhive_secret_reply_set_error` (the message ends up in the error of the
/// operation that needed the secret, so it must not contain secret values). Strings passed to
/// the callbacks (`key`, `value`) are borrowed: valid only during the call, copy what you keep.
/// Strings the callbacks hand back go through the reply functions, which copy them: the host
/// keeps ownership of its own memory and frees it as it likes, also right after the call.
///
/// Threads: the callbacks run on library threads (the runtime's "toolhive-worker" blocking
/// pool), several at once (also several calls of one callback), never on the thread that set
/// the store, so they must be thread-safe. They may block briefly (a keychain or IPC round
/// trip), but a proxy waits for them when it needs a secret (starting, refreshing a token),
/// so keep them short. Inside them blocking toolhive functions return
/// `TOOLHIVE_STATUS_IN_CALLBACK`. They must not unwind (no C++ exceptions, no longjmp).
///
/// Lifetime: `userdata` is passed to every callback; `userdata_free` (may be NULL) is called
/// once with it when the options are freed (or given another store) and every runtime created
/// with them has been freed, whichever comes last, inside that `toolhive_runtime_options_free`
/// / `toolhive_runtime_options_set_*` / `toolhive_runtime_free` call (on its background
/// thread when `toolhive_runtime_free` is called from inside a callback). It waits for
/// callbacks still running and no callback runs after it; proxy handles that outlive their
/// runtime never call the store.
///
/// Append-only: new versions add fields at the end (see `TOOLHIVE_SECRET_STORE_VERSION`).
#[repr(C)]
pub struct toolhive_secret_store {
    /// Must be `TOOLHIVE_SECRET_STORE_VERSION`.
    pub version: u32,
    /// A short name used in error messages, e.g. "keychain" (copied; NULL gives "host").
    pub kind: *const c_char,
    /// Passed to every callback and to `userdata_free`.
    pub userdata: *mut c_void,
    /// Called once with `userdata` when the store is no longer used (may be NULL).
    pub userdata_free: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
    /// Look up `key`: when it exists, hand its value to `toolhive_secret_reply_set_value`;
    /// a missing key is not a failure (return 0 without a value). Required.
    pub get: toolhive_secret_get_fn,
    /// Store `value` under `key`, replacing what was there. Required (a read-only store
    /// returns non-zero with a message).
    pub set: toolhive_secret_set_fn,
    /// Delete `key`; deleting a missing key succeeds. Required.
    pub remove: toolhive_secret_remove_fn,
    /// Hand every key (never values) to `toolhive_secret_reply_add_key`, in any order.
    /// Required.
    pub list: toolhive_secret_list_fn,
}

/// The host's store as a core `SecretStore` (proxies keep clones of it).
pub(crate) struct HostStore {
    inner: Arc<HostInner>,
}

struct HostInner {
    kind: String,
    /// `None` once released: calls then fail, and never reach the host.
    userdata: RwLock<Option<Userdata>>,
    /// Holders of a [`StoreLease`]: the options and every runtime created with them.
    leases: AtomicUsize,
    get: GetFn,
    set: SetFn,
    remove: RemoveFn,
    list: ListFn,
}

/// A counted use of a host store by options or a runtime; the host's userdata is released
/// (its destructor run) when the last lease is dropped, after calls in progress returned.
pub(crate) struct StoreLease {
    inner: Arc<HostInner>,
}

impl StoreLease {
    /// Another lease on the same store (for a runtime created from options).
    pub(crate) fn lease(&self) -> StoreLease {
        self.inner.leases.fetch_add(1, Ordering::SeqCst);
        StoreLease {
            inner: self.inner.clone(),
        }
    }

    /// The store, for core.
    pub(crate) fn store(&self) -> Arc<dyn SecretStore> {
        Arc::new(HostStore {
            inner: self.inner.clone(),
        })
    }
}

impl Drop for StoreLease {
    fn drop(&mut self) {
        if self.inner.leases.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Waits for callbacks in progress (they hold read guards).
            let userdata = self
                .inner
                .userdata
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            // The destructor runs here, as a callback, outside the lock.
            drop(userdata);
        }
    }
}

impl HostStore {
    /// Copy the host's vtable; the userdata is owned (its destructor armed) only on success.
    ///
    /// # Safety
    /// `store` points to a readable `toolhive_secret_store` of at least version 1.
    unsafe fn from_c(store: &toolhive_secret_store) -> Result<StoreLease, Failure> {
        if store.version != TOOLHIVE_SECRET_STORE_VERSION {
            return Err(Failure::new(
                toolhive_status::InvalidArgument,
                format!(
                    "is {}; set it to TOOLHIVE_SECRET_STORE_VERSION ({TOOLHIVE_SECRET_STORE_VERSION})",
                    store.version
                ),
            )
            .with_field("store.version"));
        }
        let kind = if store.kind.is_null() {
            "host".to_owned()
        } else {
            // SAFETY: non-NULL and NUL-terminated per the contract.
            let kind = unsafe { arg_str(store.kind, "store.kind") }?;
            if kind.is_empty() {
                "host".to_owned()
            } else {
                kind.to_owned()
            }
        };
        let get = store.get.ok_or_else(|| Failure::null("store.get"))?;
        let set = store.set.ok_or_else(|| Failure::null("store.set"))?;
        let remove = store.remove.ok_or_else(|| Failure::null("store.remove"))?;
        let list = store.list.ok_or_else(|| Failure::null("store.list"))?;
        Ok(StoreLease {
            inner: Arc::new(HostInner {
                kind,
                userdata: RwLock::new(Some(
                    RawUserdata {
                        ptr: store.userdata,
                        free: store.userdata_free,
                    }
                    .own(),
                )),
                leases: AtomicUsize::new(1),
                get,
                set,
                remove,
                list,
            }),
        })
    }
}

impl HostInner {
    /// Call one host callback with a fresh reply, marked as a callback.
    fn call(
        &self,
        op: Op,
        key: Option<&str>,
        f: impl FnOnce(*mut c_void, *mut toolhive_secret_reply) -> c_int,
    ) -> toolhive_core::Result<toolhive_secret_reply> {
        let mut reply = toolhive_secret_reply {
            op,
            value: None,
            keys: Vec::new(),
            error: None,
        };
        // Held during the call, so the userdata is not released under it.
        let userdata = self.userdata.read().unwrap_or_else(|p| p.into_inner());
        let Some(userdata) = userdata.as_ref() else {
            return Err(self.error(format!(
                "{} after the store was released (its runtimes and options were freed)",
                op.name()
            )));
        };
        let rc = callback::invoke(|| f(userdata.ptr, &mut reply));
        if rc != 0 {
            let what = match key {
                Some(key) => format!("{} `{key}`", op.name()),
                None => op.name().to_owned(),
            };
            let why = reply
                .error
                .take()
                .unwrap_or_else(|| format!("the callback returned {rc}"));
            return Err(self.error(format!("{what} failed: {why}")));
        }
        Ok(reply)
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Secret,
            format!("{} secret store: {message}", self.kind),
        )
    }

    fn get(&self, key: &str) -> toolhive_core::Result<Option<Secret>> {
        let c_key = cstring(key);
        let reply = self.call(Op::Get, Some(key), |userdata, reply| {
            // SAFETY: the host registered this callback; the key and reply outlive the call.
            unsafe { (self.get)(userdata, c_key.as_ptr(), reply) }
        })?;
        Ok(reply.value.map(Secret::new))
    }

    fn set(&self, key: &str, value: Secret) -> toolhive_core::Result<()> {
        let c_key = cstring(key);
        let c_value = CString::new(value.expose()).map_err(|_| {
            self.error(format!(
                "set `{key}`: the value contains a NUL byte, which a C string cannot carry"
            ))
        })?;
        let result = self.call(Op::Set, Some(key), |userdata, reply| {
            // SAFETY: as in `get`.
            unsafe { (self.set)(userdata, c_key.as_ptr(), c_value.as_ptr(), reply) }
        });
        wipe(c_value.into_bytes_with_nul());
        result.map(|_| ())
    }

    fn remove(&self, key: &str) -> toolhive_core::Result<()> {
        let c_key = cstring(key);
        self.call(Op::Remove, Some(key), |userdata, reply| {
            // SAFETY: as in `get`.
            unsafe { (self.remove)(userdata, c_key.as_ptr(), reply) }
        })
        .map(|_| ())
    }

    fn list(&self) -> toolhive_core::Result<Vec<String>> {
        let reply = self.call(Op::List, None, |userdata, reply| {
            // SAFETY: as in `get`.
            unsafe { (self.list)(userdata, reply) }
        })?;
        Ok(reply.keys)
    }
}

/// Overwrite a copy of a secret before its memory is released.
fn wipe(mut bytes: Vec<u8>) {
    for b in bytes.iter_mut() {
        // SAFETY: a valid, exclusive reference; volatile so the write is not optimised away.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

/// Run a host callback off the async workers (on the runtime's blocking pool), so a slow host
/// store does not stall the proxies; inline when there is no runtime. A panic becomes an error.
fn off_workers<T: Send + 'static>(
    f: impl FnOnce() -> toolhive_core::Result<T> + Send + 'static,
) -> BoxFuture<'static, toolhive_core::Result<T>> {
    fn guard<T>(f: impl FnOnce() -> toolhive_core::Result<T>) -> toolhive_core::Result<T> {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Internal,
                "internal panic in the host secret store adapter (please report this bug)",
            ))
        })
    }
    Box::pin(async move {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(move || guard(f))
                .await
                .unwrap_or_else(|e| {
                    Err(Error::new(
                        ErrorKind::Secret,
                        format!("host secret store: the call did not complete ({e})"),
                    ))
                }),
            Err(_) => guard(f),
        }
    })
}

impl SecretStore for HostStore {
    fn kind(&self) -> &str {
        &self.inner.kind
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, toolhive_core::Result<Option<Secret>>> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        off_workers(move || inner.get(&key))
    }

    fn set<'a>(&'a self, key: &'a str, value: Secret) -> BoxFuture<'a, toolhive_core::Result<()>> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        off_workers(move || inner.set(&key, value))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, toolhive_core::Result<()>> {
        let inner = self.inner.clone();
        let key = key.to_owned();
        off_workers(move || inner.remove(&key))
    }

    fn list(&self) -> BoxFuture<'_, toolhive_core::Result<Vec<String>>> {
        let inner = self.inner.clone();
        off_workers(move || inner.list())
    }
}

/// Which secret store a runtime gets (kept in the options; built per runtime).
#[derive(Default)]
pub(crate) enum SecretStoreChoice {
    /// Core's default: a file store in the state directory, or memory without one.
    #[default]
    Default,
    Host(StoreLease),
    File(PathBuf),
    Env,
    Memory,
}

impl SecretStoreChoice {
    /// The store for a new runtime; `None` for core's default. A memory store is new for each
    /// runtime; a host store is shared by every runtime created with the options.
    pub(crate) fn build(&self) -> Option<Arc<dyn SecretStore>> {
        match self {
            SecretStoreChoice::Default => None,
            SecretStoreChoice::Host(lease) => Some(lease.store()),
            SecretStoreChoice::File(path) => Some(Arc::new(FileStore::new(path.clone()))),
            SecretStoreChoice::Env => Some(Arc::new(EnvStore)),
            SecretStoreChoice::Memory => Some(Arc::new(MemoryStore::new())),
        }
    }

    /// The lease a new runtime keeps on a host store (until it is freed).
    pub(crate) fn lease(&self) -> Option<StoreLease> {
        match self {
            SecretStoreChoice::Host(lease) => Some(lease.lease()),
            _ => None,
        }
    }
}

/// Run `body` on mutable options (the shared prologue of the option setters).
///
/// # Safety
/// `opts` is NULL or live options; `err` is NULL or writable.
unsafe fn with_options(
    opts: *mut toolhive_runtime_options,
    err: *mut *mut toolhive_error,
    body: impl FnOnce(&mut toolhive_runtime_options) -> Result<(), Failure>,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `opts`.
        let opts = unsafe { opts.as_mut() }.ok_or_else(|| Failure::null("opts"))?;
        body(opts)
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Use a secret store implemented by the host (see `toolhive_secret_store`) for runtimes
/// created with these options; NULL goes back to the default store (a file store in the state
/// directory, `<state_dir>/secrets.json`, or memory without a state directory).
///
/// The struct is copied (it may live on the caller's stack); from a successful call on, the
/// library owns `store->userdata` and calls `store->userdata_free` once when the options are
/// freed (or given another store) and every runtime created with them has been freed (see
/// `toolhive_secret_store`). On failure nothing changes and the caller keeps the userdata.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (opts; a NULL callback, naming it, e.g.
/// "store.get"), `TOOLHIVE_STATUS_INVALID_ARGUMENT` ("store.version" is not
/// `TOOLHIVE_SECRET_STORE_VERSION`), `TOOLHIVE_STATUS_INVALID_UTF8` ("store.kind").
/// Thread safety: one thread at a time per options object; also inside callbacks.
///
/// # Safety
/// `opts` is NULL or live options; `store` is NULL or points to a `toolhive_secret_store` whose
/// callbacks are valid functions with the documented behaviour; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_options_set_secret_store(
    opts: *mut toolhive_runtime_options,
    store: *const toolhive_secret_store,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_options(opts, err, |opts| {
            opts.secret_store = match store.as_ref() {
                None => SecretStoreChoice::Default,
                // SAFETY: the caller's contract for `store`.
                Some(store) => SecretStoreChoice::Host(HostStore::from_c(store)?),
            };
            Ok(())
        })
    }
}

/// Keep secrets in the built-in file store at `path` (a JSON file readable only by the user,
/// created on first write; several processes may share it) instead of the default. The path is
/// copied.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (opts, path), `TOOLHIVE_STATUS_INVALID_UTF8`
/// (field "path"), `TOOLHIVE_STATUS_INVALID_ARGUMENT` (empty path).
/// Thread safety: one thread at a time per options object; also inside callbacks.
///
/// # Safety
/// `opts` is NULL or live options; `path` is NULL or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_options_set_file_secret_store(
    opts: *mut toolhive_runtime_options,
    path: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_options(opts, err, |opts| {
            // SAFETY: the caller's contract for `path`.
            let path = arg_str(path, "path")?;
            if path.is_empty() {
                return Err(
                    Failure::new(toolhive_status::InvalidArgument, "must not be empty")
                        .with_field("path"),
                );
            }
            opts.secret_store = SecretStoreChoice::File(PathBuf::from(path));
            Ok(())
        })
    }
}

/// Read secrets from environment variables (read-only): key "proxy/notion/bearer_token" is read
/// from `TOOLHIVE_SECRET_PROXY_NOTION_BEARER_TOKEN` (upper case, other characters `_`). Writes
/// fail, so a runtime with a state directory cannot save `{"value": ...}` secrets with it.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (opts).
/// Thread safety: one thread at a time per options object; also inside callbacks.
///
/// # Safety
/// `opts` is NULL or live options; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_options_set_env_secret_store(
    opts: *mut toolhive_runtime_options,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_options(opts, err, |opts| {
            opts.secret_store = SecretStoreChoice::Env;
            Ok(())
        })
    }
}

/// Keep secrets in memory only (each runtime its own, forgotten when it is freed), also with a
/// state directory: saved proxies then need their secrets again after a restart.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (opts).
/// Thread safety: one thread at a time per options object; also inside callbacks.
///
/// # Safety
/// `opts` is NULL or live options; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_options_set_memory_secret_store(
    opts: *mut toolhive_runtime_options,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_options(opts, err, |opts| {
            opts.secret_store = SecretStoreChoice::Memory;
            Ok(())
        })
    }
}

/// Run `body` on the reply of the running secret store callback.
///
/// # Safety
/// `reply` is NULL or the reply passed to the running callback; `err` is NULL or writable.
unsafe fn with_reply(
    reply: *mut toolhive_secret_reply,
    err: *mut *mut toolhive_error,
    body: impl FnOnce(&mut toolhive_secret_reply) -> Result<(), Failure>,
) -> toolhive_status {
    let result = guarded(|| {
        // SAFETY: the caller's contract for `reply`.
        let reply = unsafe { reply.as_mut() }.ok_or_else(|| Failure::null("reply"))?;
        body(reply)
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

fn wrong_callback(reply: &toolhive_secret_reply, func: &str, belongs: &str) -> Failure {
    Failure::new(
        toolhive_status::InvalidArgument,
        format!(
            "{func} belongs in the `{belongs}` callback, not in `{}`",
            reply.op.name()
        ),
    )
    .with_field("reply")
}

/// From the `get` callback: the value found under the key (copied; a second call replaces the
/// first). Not calling it means "no such key".
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (reply, value), `TOOLHIVE_STATUS_INVALID_UTF8`
/// (field "value"), `TOOLHIVE_STATUS_INVALID_ARGUMENT` (not inside `get`).
/// Thread safety: only inside the callback that received `reply`.
///
/// # Safety
/// `reply` is NULL or the reply passed to the running callback; `value` is NULL or
/// NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_secret_reply_set_value(
    reply: *mut toolhive_secret_reply,
    value: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_reply(reply, err, |reply| {
            // SAFETY: the caller's contract for `value`.
            let value = arg_str(value, "value")?;
            if reply.op != Op::Get {
                return Err(wrong_callback(
                    reply,
                    "toolhive_secret_reply_set_value",
                    "get",
                ));
            }
            if let Some(old) = reply.value.replace(value.to_owned()) {
                wipe(old.into_bytes());
            }
            Ok(())
        })
    }
}

/// From the `list` callback: one key of the store (copied); call it once per key.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (reply, key), `TOOLHIVE_STATUS_INVALID_UTF8` (field
/// "key"), `TOOLHIVE_STATUS_INVALID_ARGUMENT` (not inside `list`).
/// Thread safety: only inside the callback that received `reply`.
///
/// # Safety
/// `reply` is NULL or the reply passed to the running callback; `key` is NULL or
/// NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_secret_reply_add_key(
    reply: *mut toolhive_secret_reply,
    key: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_reply(reply, err, |reply| {
            // SAFETY: the caller's contract for `key`.
            let key = arg_str(key, "key")?;
            if reply.op != Op::List {
                return Err(wrong_callback(
                    reply,
                    "toolhive_secret_reply_add_key",
                    "list",
                ));
            }
            reply.keys.push(key.to_owned());
            Ok(())
        })
    }
}

/// From any store callback that is about to return non-zero: why it failed (copied; shown in
/// the error of the operation that needed the store, so never put a secret value in it).
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT` (reply, message), `TOOLHIVE_STATUS_INVALID_UTF8`
/// (field "message").
/// Thread safety: only inside the callback that received `reply`.
///
/// # Safety
/// `reply` is NULL or the reply passed to the running callback; `message` is NULL or
/// NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_secret_reply_set_error(
    reply: *mut toolhive_secret_reply,
    message: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_reply(reply, err, |reply| {
            // SAFETY: the caller's contract for `message`.
            let message = arg_str(message, "message")?;
            reply.error = Some(message.to_owned());
            Ok(())
        })
    }
}

/// A secret name argument, checked like `toolhive secret set NAME`.
///
/// # Safety
/// As `arg_str`.
unsafe fn arg_secret_name<'a>(p: *const c_char) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    let name = unsafe { arg_str(p, "name") }?;
    toolhive_core::secrets::check_name(name).map_err(|e| {
        Failure::new(toolhive_status::InvalidArgument, e.message()).with_field("name")
    })?;
    Ok(name)
}

/// Store `value` under `name` in the runtime's secret store (replacing what was there), for
/// configs that refer to it as `{"secret": "name"}`. Names: 1 to 200 of `A-Z a-z 0-9 . _ - /`.
/// The value is copied.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`, `TOOLHIVE_STATUS_INVALID_UTF8` (name, value),
/// `TOOLHIVE_STATUS_INVALID_ARGUMENT` (bad name; empty value), `TOOLHIVE_STATUS_SECRET` (the
/// store failed, e.g. the read-only env store), `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread, concurrently with other calls; blocking (waits for the store),
/// so not from inside a callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` and `value` are NULL or NUL-terminated; `err` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_set_secret(
    rt: *const toolhive_runtime,
    name: *const c_char,
    value: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_set_secret")?;
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_secret_name(name) }?;
        let value = unsafe { arg_str(value, "value") }?;
        if value.is_empty() {
            return Err(
                Failure::new(toolhive_status::InvalidArgument, "must not be empty")
                    .with_field("value"),
            );
        }
        let store = rt.manager().secret_store().clone();
        rt.shared()
            .run(store.set(name, Secret::new(value)))?
            .map_err(Failure::from)
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// The value stored under `name` in the runtime's secret store.
///
/// On success `*out_value` receives a new string the caller owns: free it with
/// `toolhive_string_free` (which wipes it). Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`,
/// `TOOLHIVE_STATUS_INVALID_UTF8`, `TOOLHIVE_STATUS_INVALID_ARGUMENT` (bad name),
/// `TOOLHIVE_STATUS_NOT_FOUND` (no such secret), `TOOLHIVE_STATUS_SECRET` (the store failed),
/// `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread; blocking, so not from inside a callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `out_value` and `err` are
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_get_secret(
    rt: *const toolhive_runtime,
    name: *const c_char,
    out_value: *mut *mut c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_get_secret")?;
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_secret_name(name) }?;
        require_out(out_value, "out_value")?;
        let store = rt.manager().secret_store().clone();
        let secret = rt.shared().run(store.get(name))??.ok_or_else(|| {
            Failure::new(
                toolhive_status::NotFound,
                format!(
                    "no secret named `{name}` in the {} secret store",
                    store.kind()
                ),
            )
            .with_field("name")
        })?;
        let value = CString::new(secret.expose()).map_err(|_| {
            Failure::new(
                toolhive_status::Secret,
                format!("secret `{name}` contains a NUL byte, which a C string cannot carry"),
            )
        })?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_value, value.into_raw()) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Delete the secret `name` from the runtime's secret store; deleting a missing one succeeds.
///
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`, `TOOLHIVE_STATUS_INVALID_UTF8`,
/// `TOOLHIVE_STATUS_INVALID_ARGUMENT` (bad name), `TOOLHIVE_STATUS_SECRET`,
/// `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread; blocking, so not from inside a callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `name` is NULL or NUL-terminated; `err` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_delete_secret(
    rt: *const toolhive_runtime,
    name: *const c_char,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_delete_secret")?;
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        let name = unsafe { arg_secret_name(name) }?;
        let store = rt.manager().secret_store().clone();
        rt.shared().run(store.delete(name))?.map_err(Failure::from)
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// The names of every secret in the runtime's secret store (never the values), sorted.
///
/// On success `*out` receives a list the caller owns (free with `toolhive_strings_free`).
/// Errors: `TOOLHIVE_STATUS_NULL_ARGUMENT`, `TOOLHIVE_STATUS_SECRET`,
/// `TOOLHIVE_STATUS_IN_CALLBACK`.
/// Thread safety: any thread; blocking, so not from inside a callback.
///
/// # Safety
/// `rt` is NULL or a live runtime; `out` and `err` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_runtime_list_secrets(
    rt: *const toolhive_runtime,
    out: *mut *mut toolhive_strings,
    err: *mut *mut toolhive_error,
) -> toolhive_status {
    let result = guarded(|| {
        callback::refuse_blocking("toolhive_runtime_list_secrets")?;
        // SAFETY: the caller's contract for each pointer.
        let rt = unsafe { arg_ref(rt, "rt") }?;
        require_out(out, "out")?;
        let store = rt.manager().secret_store().clone();
        let mut names = rt.shared().run(store.list())??;
        names.sort();
        names.dedup();
        let list = toolhive_strings {
            items: names.into_iter().map(cstring).collect(),
        };
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, Box::into_raw(Box::new(list))) };
        Ok(())
    });
    // SAFETY: the caller's contract for `err`.
    unsafe { report(err, result) }
}

/// Free a string the library returned as owned (`char *`, e.g. from
/// `toolhive_runtime_get_secret`), wiping its bytes first. NULL is a no-op.
/// Thread safety: any thread, once per string.
///
/// # Safety
/// `s` is NULL or an owned string from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_string_free(s: *mut c_char) {
    boundary_or((), || {
        if !s.is_null() {
            // SAFETY: from CString::into_raw in this library, freed once per the contract.
            wipe(unsafe { CString::from_raw(s) }.into_bytes_with_nul());
        }
    })
}

/// A list of strings (e.g. secret names from `toolhive_runtime_list_secrets`).
///
/// Owned by the caller: free it with `toolhive_strings_free`. Immutable: may be read from
/// several threads at once.
pub struct toolhive_strings {
    items: Vec<CString>,
}

/// The number of strings; 0 when `strings` is NULL.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `strings` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_strings_len(strings: *const toolhive_strings) -> usize {
    boundary_or(0, || {
        // SAFETY: the caller's contract.
        unsafe { strings.as_ref() }.map_or(0, |s| s.items.len())
    })
}

/// The string at `index` (0-based), or NULL when out of range or `strings` is NULL.
/// Ownership: borrowed from `strings`, valid until `toolhive_strings_free(strings)`.
/// Thread safety: any thread, concurrently (lists are immutable), also inside callbacks.
///
/// # Safety
/// `strings` is NULL or a live list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_strings_get(
    strings: *const toolhive_strings,
    index: usize,
) -> *const c_char {
    boundary_or(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { strings.as_ref() }
            .and_then(|s| s.items.get(index))
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// Free a list of strings (and every string borrowed from it). NULL is a no-op.
/// Thread safety: any thread, as the last use of the list.
///
/// # Safety
/// `strings` is NULL or a list from this library not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn toolhive_strings_free(strings: *mut toolhive_strings) {
    boundary_or((), || {
        if !strings.is_null() {
            // SAFETY: from Box::into_raw in this library, freed once.
            drop(unsafe { Box::from_raw(strings) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    static FREED: AtomicBool = AtomicBool::new(false);
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn get(
        _: *mut c_void,
        key: *const c_char,
        reply: *mut toolhive_secret_reply,
    ) -> c_int {
        CALLS.fetch_add(1, Ordering::SeqCst);
        let key = unsafe { std::ffi::CStr::from_ptr(key) };
        if key.to_bytes() == b"known" {
            unsafe { toolhive_secret_reply_set_value(reply, c"v".as_ptr(), std::ptr::null_mut()) };
        }
        0
    }
    unsafe extern "C" fn set(
        _: *mut c_void,
        _: *const c_char,
        _: *const c_char,
        reply: *mut toolhive_secret_reply,
    ) -> c_int {
        unsafe {
            toolhive_secret_reply_set_error(reply, c"read-only".as_ptr(), std::ptr::null_mut())
        };
        7
    }
    unsafe extern "C" fn remove(
        _: *mut c_void,
        _: *const c_char,
        _: *mut toolhive_secret_reply,
    ) -> c_int {
        0
    }
    unsafe extern "C" fn list(_: *mut c_void, reply: *mut toolhive_secret_reply) -> c_int {
        unsafe { toolhive_secret_reply_add_key(reply, c"known".as_ptr(), std::ptr::null_mut()) };
        0
    }
    unsafe extern "C" fn free(_: *mut c_void) {
        FREED.store(true, Ordering::SeqCst);
    }

    #[test]
    fn host_store_calls_and_release() {
        let vtable = toolhive_secret_store {
            version: TOOLHIVE_SECRET_STORE_VERSION,
            kind: c"unit".as_ptr(),
            userdata: std::ptr::null_mut(),
            userdata_free: Some(free),
            get: Some(get),
            set: Some(set),
            remove: Some(remove),
            list: Some(list),
        };
        let lease = unsafe { HostStore::from_c(&vtable) }.unwrap();
        let second = lease.lease();
        let store = lease.store();
        assert_eq!(store.kind(), "unit");
        let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
        rt.block_on(async {
            assert_eq!(store.get("known").await.unwrap().unwrap().expose(), "v");
            assert!(store.get("other").await.unwrap().is_none());
            let err = store.set("k", Secret::new("value")).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Secret);
            assert_eq!(
                err.message(),
                "unit secret store: set `k` failed: read-only"
            );
            assert!(!err.message().contains("value"));
            assert_eq!(store.list().await.unwrap(), ["known"]);
        });
        drop(lease);
        assert!(
            !FREED.load(Ordering::SeqCst),
            "the second lease still holds it"
        );
        drop(second);
        assert!(FREED.load(Ordering::SeqCst));
        // A clone that outlived every lease fails without calling the host.
        let calls = CALLS.load(Ordering::SeqCst);
        let err = rt.block_on(store.get("known")).unwrap_err();
        assert!(err.message().contains("released"), "{}", err.message());
        assert_eq!(CALLS.load(Ordering::SeqCst), calls);
    }

    #[test]
    fn bad_vtables_are_refused() {
        let mut vtable = toolhive_secret_store {
            version: 2,
            kind: std::ptr::null(),
            userdata: std::ptr::null_mut(),
            userdata_free: None,
            get: Some(get),
            set: Some(set),
            remove: Some(remove),
            list: Some(list),
        };
        let err = unsafe { HostStore::from_c(&vtable) }.err().unwrap();
        assert_eq!(err.field.as_deref(), Some("store.version"));
        vtable.version = TOOLHIVE_SECRET_STORE_VERSION;
        vtable.remove = None;
        let err = unsafe { HostStore::from_c(&vtable) }.err().unwrap();
        assert_eq!(err.field.as_deref(), Some("store.remove"));
        vtable.remove = Some(remove);
        let lease = unsafe { HostStore::from_c(&vtable) }.unwrap();
        assert_eq!(lease.store().kind(), "host");
    }
}
