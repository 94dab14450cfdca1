//! Rust logs (`tracing` records from core, hyper, reqwest) to a JS callback, through core's
//! `LogBridge`. Process-wide: the last `setLogger` call wins, across workers too.

use std::sync::{Mutex, OnceLock};

use napi::bindgen_prelude::{Function, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Result, Status};
use napi_derive::napi;
use toolhive_core::log_bridge::{LogBridge, LogRecord as CoreRecord};

use crate::convert::js_error;
use crate::proxy::LogLevel;

/// Records queued for the JS thread at most; more are dropped until it catches up.
const QUEUE: usize = 4096;

/// One Rust log record, as the `setLogger` callback receives it.
#[napi(object, object_from_js = false)]
pub struct LogRecord {
    pub level: LogLevel,
    /// The Rust module that logged it, e.g. `toolhive_core::proxy::server`.
    pub target: String,
    /// The proxy it concerns, if any.
    pub proxy: Option<String>,
    pub message: String,
}

type SinkFn =
    ThreadsafeFunction<LogRecord, Unknown<'static>, LogRecord, Status, false, true, QUEUE>;

static SINK: Mutex<Option<SinkFn>> = Mutex::new(None);
static BRIDGE: OnceLock<LogBridge> = OnceLock::new();

fn sink(record: &CoreRecord<'_>) {
    let mut sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(tsfn) = sink.as_ref() {
        // Never blocks a Rust thread (nor the JS thread, which logs too): a full queue drops.
        let status = tsfn.call(
            LogRecord {
                level: record.level.into(),
                target: record.target.to_owned(),
                proxy: record.proxy.map(str::to_owned),
                message: record.message.to_owned(),
            },
            ThreadsafeFunctionCallMode::NonBlocking,
        );
        if status == Status::Closing {
            // The environment that set the logger (a worker) is gone.
            *sink = None;
        }
    }
}

/// Send Rust log records at `level` and above (default `'info'`) to `callback`, on the JS
/// thread; `null` stops. Installs toolhive's `tracing` subscriber on first use (fails with
/// code `'internal'` if another one is set in this process). Never keeps the process alive.
#[napi(ts_args_type = "callback: ((record: LogRecord) => void) | null, level?: LogLevel")]
pub fn set_logger(
    env: &Env,
    callback: Option<Function<'_, LogRecord, Unknown<'static>>>,
    level: Option<LogLevel>,
) -> Result<()> {
    let level = level.unwrap_or(LogLevel::Info);
    let tsfn = match callback {
        None => None,
        Some(callback) => Some(
            callback
                .build_threadsafe_function::<LogRecord>()
                .weak::<true>()
                .callee_handled::<false>()
                .max_queue_size::<QUEUE>()
                .build_callback(|ctx| Ok(ctx.value))?,
        ),
    };
    if tsfn.is_some() && BRIDGE.get().is_none() {
        let bridge = LogBridge::new(level.into(), sink);
        bridge.install().map_err(|e| js_error(env, &e, None))?;
        let _ = BRIDGE.set(bridge);
    }
    if let Some(bridge) = BRIDGE.get() {
        bridge.set_level(level.into());
    }
    let old = std::mem::replace(&mut *SINK.lock().unwrap_or_else(|p| p.into_inner()), tsfn);
    drop(old);
    Ok(())
}

/// Change the level of the callback given to `setLogger`.
#[napi]
pub fn set_log_level(level: LogLevel) {
    if let Some(bridge) = BRIDGE.get() {
        bridge.set_level(level.into());
    }
}
