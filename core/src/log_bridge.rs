//! A `tracing` layer that hands every record to a host callback: the C log callback, Python's
//! `logging` and Node's log callback all sit on this one bridge.
//!
//! The core never installs it; a surface does, once per process ([`LogBridge::install`]).
//! Records carry the proxy name when they come from inside a proxy (its `proxy` span or a
//! `proxy` field), so hosts can route them.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::{Error, ErrorKind, Result};
use crate::logs::LogLevel;

/// One log record as a host sees it.
#[derive(Debug, Clone, Copy)]
pub struct LogRecord<'a> {
    /// Severity (tracing's TRACE is reported as debug).
    pub level: LogLevel,
    /// The Rust module that logged it, e.g. `toolhive_core::logs`.
    pub target: &'a str,
    /// The proxy it concerns, if any.
    pub proxy: Option<&'a str>,
    /// The text, with any extra fields appended as `key=value`.
    pub message: &'a str,
}

type Sink = dyn Fn(&LogRecord<'_>) + Send + Sync;

/// Forwards `tracing` records at or above a (changeable) level to a callback.
#[derive(Clone)]
pub struct LogBridge {
    min: Arc<AtomicU8>,
    sink: Arc<Sink>,
}

impl std::fmt::Debug for LogBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBridge")
            .field("level", &self.level())
            .finish()
    }
}

fn rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 0,
        LogLevel::Info => 1,
        LogLevel::Warn => 2,
        LogLevel::Error => 3,
    }
}

fn from_rank(rank: u8) -> LogLevel {
    match rank {
        0 => LogLevel::Debug,
        1 => LogLevel::Info,
        2 => LogLevel::Warn,
        _ => LogLevel::Error,
    }
}

fn level_of(level: &tracing::Level) -> LogLevel {
    match *level {
        tracing::Level::ERROR => LogLevel::Error,
        tracing::Level::WARN => LogLevel::Warn,
        tracing::Level::INFO => LogLevel::Info,
        _ => LogLevel::Debug,
    }
}

impl LogBridge {
    /// A bridge passing records at `min` and above to `sink` (called on the logging thread).
    pub fn new(min: LogLevel, sink: impl Fn(&LogRecord<'_>) + Send + Sync + 'static) -> Self {
        LogBridge {
            min: Arc::new(AtomicU8::new(rank(min))),
            sink: Arc::new(sink),
        }
    }

    /// Change the threshold; takes effect for the next record.
    pub fn set_level(&self, min: LogLevel) {
        self.min.store(rank(min), Ordering::Relaxed);
    }

    /// The current threshold.
    pub fn level(&self) -> LogLevel {
        from_rank(self.min.load(Ordering::Relaxed))
    }

    /// Make this bridge the process-wide `tracing` subscriber. Fails when the process already
    /// has one (then the host's own subscriber gets toolhive's records instead).
    pub fn install(&self) -> Result<()> {
        tracing_subscriber::registry()
            .with(self.clone())
            .try_init()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!(
                        "cannot install the log bridge: a tracing subscriber is already set ({e})"
                    ),
                )
            })
    }
}

/// The proxy name stored on a `proxy` span.
struct ProxyName(String);

#[derive(Default)]
struct Fields {
    message: String,
    proxy: Option<String>,
    extra: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "proxy" | "name" => self.proxy = Some(value.to_owned()),
            other => {
                let _ = write!(self.extra, " {other}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "proxy" | "name" => {
                self.proxy = Some(format!("{value:?}").trim_matches('"').to_owned())
            }
            other => {
                let _ = write!(self.extra, " {other}={value:?}");
            }
        }
    }
}

impl<S> Layer<S> for LogBridge
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change at run time: ask `enabled` every time instead of caching.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        // Spans are always let through: they carry the proxy name for later events.
        metadata.is_span() || rank(level_of(metadata.level())) >= self.min.load(Ordering::Relaxed)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "proxy" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(name), Some(span)) = (fields.proxy, ctx.span(id)) {
            span.extensions_mut().insert(ProxyName(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let proxy = fields.proxy.clone().or_else(|| {
            ctx.event_scope(event)?.find_map(|span| {
                span.extensions()
                    .get::<ProxyName>()
                    .map(|name| name.0.clone())
            })
        });
        let message = if fields.extra.is_empty() {
            fields.message
        } else {
            fields.message + &fields.extra
        };
        (self.sink)(&LogRecord {
            level: level_of(event.metadata().level()),
            target: event.metadata().target(),
            proxy: proxy.as_deref(),
            message: &message,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn forwards_with_proxy_name_and_level_filter() {
        let got = Arc::new(Mutex::new(Vec::<(LogLevel, Option<String>, String)>::new()));
        let sink_got = got.clone();
        let bridge = LogBridge::new(LogLevel::Info, move |r| {
            sink_got.lock().unwrap().push((
                r.level,
                r.proxy.map(str::to_owned),
                r.message.to_owned(),
            ))
        });
        let subscriber = tracing_subscriber::registry().with(bridge.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("hidden");
            tracing::info!(proxy = "a", "direct field");
            let span = tracing::info_span!("proxy", name = %"b");
            span.in_scope(|| tracing::warn!(count = 3, "inside span"));
            bridge.set_level(LogLevel::Debug);
            tracing::debug!("now shown");
        });
        let got = got.lock().unwrap();
        assert_eq!(
            *got,
            [
                (LogLevel::Info, Some("a".into()), "direct field".into()),
                (
                    LogLevel::Warn,
                    Some("b".into()),
                    "inside span count=3".into()
                ),
                (LogLevel::Debug, None, "now shown".into()),
            ]
        );
    }
}
