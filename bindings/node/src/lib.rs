//! Node binding over toolhive-core: `require('toolhive-embed')`.
//!
//! A thin translation layer (see ../../shared/DESIGN.md): options objects map generically onto
//! core's one `ProxyConfig` schema (`options.rs`), core errors become JS `Error`s whose `code`
//! is core's `ErrorKind` name, core events and logs reach the JS thread through weak
//! threadsafe functions, and proxies run on napi's Tokio runtime.

#![deny(clippy::all)]

mod browser;
mod convert;
mod env_state;
mod events;
mod logging;
mod manager;
mod options;
mod proxy;
mod secret_store;

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;
use toolhive_core::{ErrorKind, ProxyConfig};

use crate::convert::{build_error, js_error, js_to_json};
use crate::env_state::state;
pub use crate::events::{EventSubscription, ProxyEvents, on_event};
pub use crate::logging::{LogRecord, set_log_level, set_logger};
pub use crate::manager::{
    LogFollower, StateFileError, configure, default_state_dir, delete_secret, follow_logs,
    get_secret, info, list_secrets, logs, remove, restart, restore, set_secret, state_errors, stop,
};
pub use crate::proxy::{AuthState, AuthStateName, LogLevel, LogLine, Proxy, ProxyInfo, ProxyState};

/// The version of toolhive-embed.
#[napi]
#[allow(non_upper_case_globals)]
pub const version: &str = toolhive_core::VERSION;

/// Start a proxy in front of the remote MCP server at `remoteUrl`; resolves once its local URL
/// accepts connections.
///
/// `options` are the fields of the one ProxyConfig schema in camelCase (`name`, `transport`,
/// `port`, `stateless`, `allowHttp`, `healthCheck: { intervalMs }`, ...; see the README).
/// Invalid options reject with an `Error` whose `code` is `'invalid_config'`, whose `field`
/// names the option and whose message starts with it (`port: ...`); other failures carry the
/// other error kinds as `code` (`'name_in_use'`, `'address_in_use'`, `'upstream'`, ...; see
/// `ErrorCode`).
#[napi(ts_args_type = "remoteUrl: string, options?: StartOptions | null")]
pub fn start<'env>(
    env: &'env Env,
    remote_url: Unknown<'env>,
    options: Option<Unknown<'env>>,
) -> Result<PromiseRaw<'env, Proxy>> {
    let st = state(env)?;
    let manager = st.manager();
    let config = translate(env, remote_url, options);
    st.set_pending(true);
    env.spawn_future_with_callback(
        async move {
            Ok(match config {
                Err(err) => Err(err),
                Ok((config, words)) => match manager.start(config).await {
                    Ok(proxy) => Ok(proxy),
                    Err(err) => Err(Failure::Core(Box::new((err, words)))),
                },
            })
        },
        |env, result| match result {
            Ok(proxy) => {
                let st = state(env)?;
                st.set_pending(false);
                st.started(env, &proxy, false)?;
                Ok(Proxy { inner: proxy })
            }
            Err(Failure::Core(failure)) => {
                state(env)?.set_pending(false);
                Err(js_error(env, &failure.0, Some(&failure.1)))
            }
            Err(Failure::Options(message)) => {
                state(env)?.set_pending(false);
                Err(build_error(env, ErrorKind::InvalidConfig, &message, None)?)
            }
        },
    )
}

enum Failure {
    Core(Box<(toolhive_core::Error, options::Words)>),
    Options(String),
}

fn translate(
    env: &Env,
    remote_url: Unknown<'_>,
    options: Option<Unknown<'_>>,
) -> std::result::Result<(ProxyConfig, options::Words), Failure> {
    let url = js_to_json(env, remote_url)
        .map_err(|e| Failure::Options(format!("remoteUrl {e}")))?
        .unwrap_or(Value::Null);
    let options = match options {
        None => None,
        Some(o) => js_to_json(env, o).map_err(|e| Failure::Options(format!("options {e}")))?,
    };
    let (json, words) = options::translate(url, options);
    match json.and_then(|json| ProxyConfig::from_json(&json)) {
        Ok(config) => Ok((config, words)),
        Err(err) => Err(Failure::Core(Box::new((err, words)))),
    }
}

/// Every proxy of this process (or worker), running or stopped, sorted by name; with a state
/// directory (`configure({ stateDir })`) also those saved there or served by other processes
/// (`pid`; `stale` when that process died without stopping them).
#[napi]
pub fn list(env: &Env) -> Result<Vec<ProxyInfo>> {
    Ok(state(env)?
        .manager()
        .list()
        .into_iter()
        .map(ProxyInfo::from)
        .collect())
}

/// The proxy called `name` (running or stopped), or `null`.
#[napi]
pub fn get(env: &Env, name: String) -> Result<Option<Proxy>> {
    Ok(state(env)?
        .manager()
        .get(&name)
        .map(|inner| Proxy { inner }))
}

/// Stop every proxy, concurrently, each within its grace period.
#[napi(ts_return_type = "Promise<void>")]
pub fn stop_all<'env>(env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
    let manager = state(env)?.manager();
    env.spawn_future_with_callback(
        async move {
            manager.stop_all().await;
            Ok(())
        },
        // The event pump lets go of the loop once it has delivered the `stopped` events.
        |_env, ()| Ok(()),
    )
}
