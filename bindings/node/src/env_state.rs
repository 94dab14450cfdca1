//! Per-environment state (the main thread and each worker thread have their own): the proxy
//! manager, the event pump to the JS thread, the event listeners, and the handle that keeps
//! the event loop alive while a proxy runs.
//!
//! Node idiom: a running proxy keeps the process alive like a listening `net.Server` does
//! (unless `proxy.unref()`); once every proxy is stopped or failed nothing of ours holds the
//! loop, and event/log deliveries never do (weak threadsafe functions). The hold ends when the
//! pump has delivered a proxy's last state change (`stopped`/`failed`), so listeners see every
//! event before the process may exit.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::{Rc, Weak};

use napi::bindgen_prelude::{Function, FunctionRef, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Result, Status};
use tokio::sync::broadcast::error::RecvError;
use toolhive_core::{EventKind, Proxy, ProxyEvent, ProxyManager};

use crate::convert::{event_to_js, report_uncaught};

/// What the pump carries to the JS thread.
pub(crate) enum Pump {
    Event(ProxyEvent),
    /// Events were dropped (a slow JS thread): re-check the keep-alive anyway.
    Resync,
}

type PumpFn = ThreadsafeFunction<Pump, (), (), Status, false, true>;
type KeepAliveFn = ThreadsafeFunction<(), (), (), Status, false, false>;
pub(crate) type ListenerFn = FunctionRef<Unknown<'static>, Unknown<'static>>;

/// One event listener, from `onEvent` or a `ProxyEvents` emitter.
pub(crate) struct Listener {
    pub id: u32,
    /// The emitter it belongs to (0: `onEvent`).
    pub owner: u32,
    /// `None`: every event (`'event'` on an emitter, or `onEvent`); else one `type`.
    pub event: Option<String>,
    pub once: bool,
    pub func: ListenerFn,
}

pub(crate) struct EnvState {
    pub manager: ProxyManager,
    keepalive: RefCell<Option<KeepAliveFn>>,
    /// Proxies started here whose stop or failure the pump has not delivered yet.
    live: RefCell<HashSet<String>>,
    /// Names of proxies whose `unref()` was called.
    unrefd: RefCell<HashSet<String>>,
    listeners: RefCell<Vec<Rc<Listener>>>,
    next_id: Cell<u32>,
    pump_task: RefCell<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for EnvState {
    fn drop(&mut self) {
        // Runs when the environment is torn down; dropping the manager (the last clone, unless a
        // start is in flight) asks every proxy to stop.
        if let Some(task) = self.pump_task.get_mut().take() {
            task.abort();
        }
    }
}

/// This environment's state, created on first use.
pub(crate) fn state(env: &Env) -> Result<Rc<EnvState>> {
    if let Some(state) = env.get_instance_data::<Rc<EnvState>>()? {
        return Ok(state.clone());
    }
    // napi's Tokio runtime: it lives as long as a Node environment uses this addon.
    let runtime =
        napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::current);
    let manager = ProxyManager::new(runtime);
    let events = manager.subscribe();
    let state = Rc::new(EnvState {
        manager,
        keepalive: RefCell::new(None),
        live: RefCell::new(HashSet::new()),
        unrefd: RefCell::new(HashSet::new()),
        listeners: RefCell::new(Vec::new()),
        next_id: Cell::new(1),
        pump_task: RefCell::new(None),
    });
    let weak: Weak<EnvState> = Rc::downgrade(&state);
    let pump: PumpFn = noop(env, "toolhiveEventPump")?
        .build_threadsafe_function::<Pump>()
        .weak::<true>()
        .callee_handled::<false>()
        .build_callback(move |ctx| {
            if let Some(state) = weak.upgrade() {
                state.dispatch(&ctx.env, ctx.value);
            }
            Ok(())
        })?;
    let task = state.manager.runtime().spawn(forward(events, pump));
    *state.pump_task.borrow_mut() = Some(task);
    env.set_instance_data(state.clone(), (), |_| {})?;
    Ok(state)
}

/// A JS function that does nothing: threadsafe functions need one to exist.
fn noop<'env>(env: &'env Env, name: &str) -> Result<Function<'env, (), ()>> {
    env.create_function_from_closure(name, |_| Ok(()))
}

/// Core's event stream -> the JS thread, in order.
async fn forward(mut events: tokio::sync::broadcast::Receiver<ProxyEvent>, pump: PumpFn) {
    loop {
        let msg = match events.recv().await {
            Ok(event) => Pump::Event(event),
            Err(RecvError::Lagged(_)) => Pump::Resync,
            Err(RecvError::Closed) => return,
        };
        if pump.call(msg, ThreadsafeFunctionCallMode::NonBlocking) == Status::Closing {
            return;
        }
    }
}

impl EnvState {
    /// Hold or release the event loop: held while a live proxy is not unref'd.
    fn update_keepalive(&self, env: &Env) -> Result<()> {
        let unrefd = self.unrefd.borrow();
        let wanted = self.live.borrow().iter().any(|name| !unrefd.contains(name));
        drop(unrefd);
        let mut keepalive = self.keepalive.borrow_mut();
        match (wanted, keepalive.is_some()) {
            (true, false) => {
                let tsfn: KeepAliveFn = noop(env, "toolhiveKeepAlive")?
                    .build_threadsafe_function::<()>()
                    .callee_handled::<false>()
                    .build_callback(|_| Ok(()))?;
                *keepalive = Some(tsfn);
            }
            // Dropping the threadsafe function releases it, and with it the loop.
            (false, true) => *keepalive = None,
            _ => {}
        }
        Ok(())
    }

    /// `proxy.ref()` / `proxy.unref()`.
    pub fn set_ref(&self, env: &Env, name: &str, referenced: bool) -> Result<()> {
        if referenced {
            self.unrefd.borrow_mut().remove(name);
        } else {
            self.unrefd.borrow_mut().insert(name.to_owned());
        }
        self.update_keepalive(env)
    }

    /// `start` resolved (on the JS thread): the proxy starts referenced and holds the loop.
    pub fn started(&self, env: &Env, proxy: &Proxy) -> Result<()> {
        self.unrefd.borrow_mut().remove(proxy.name());
        // Checked live: if it is still active, its final state change is sent after this, so
        // the pump will see it and let go; if not, that event may be delivered already.
        if proxy.state().is_active() {
            self.live.borrow_mut().insert(proxy.name().to_owned());
        }
        self.update_keepalive(env)
    }

    pub fn add_listener(
        &self,
        owner: u32,
        event: Option<String>,
        once: bool,
        func: &Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<u32> {
        let id = self.new_id();
        let func: ListenerFn = func.create_ref()?;
        self.listeners.borrow_mut().push(Rc::new(Listener {
            id,
            owner,
            event,
            once,
            func,
        }));
        Ok(id)
    }

    pub fn new_id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(1));
        id
    }

    pub fn remove_listener_id(&self, id: u32) -> bool {
        let mut listeners = self.listeners.borrow_mut();
        let before = listeners.len();
        listeners.retain(|l| l.id != id);
        listeners.len() != before
    }

    /// Remove the most recently added listener of `owner` for `event` that is `func`
    /// (EventEmitter's `off`).
    pub fn remove_listener(
        &self,
        env: &Env,
        owner: u32,
        event: Option<&str>,
        func: &Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<bool> {
        let candidates: Vec<Rc<Listener>> = self
            .listeners
            .borrow()
            .iter()
            .filter(|l| l.owner == owner && l.event.as_deref() == event)
            .cloned()
            .collect();
        for l in candidates.iter().rev() {
            let f = l.func.borrow_back(env)?;
            if env.strict_equals(f, *func)? {
                return Ok(self.remove_listener_id(l.id));
            }
        }
        Ok(false)
    }

    /// Remove every listener of `owner` (for `event` only, when given).
    pub fn remove_all(&self, owner: u32, event: Option<Option<&str>>) {
        self.listeners
            .borrow_mut()
            .retain(|l| l.owner != owner || event.is_some_and(|e| l.event.as_deref() != e));
    }

    pub fn count(&self, owner: u32, event: Option<&str>) -> u32 {
        self.listeners
            .borrow()
            .iter()
            .filter(|l| l.owner == owner && l.event.as_deref() == event)
            .count() as u32
    }

    /// The distinct event names `owner` listens to, in first-registration order.
    pub fn event_names(&self, owner: u32) -> Vec<Option<String>> {
        let mut names: Vec<Option<String>> = Vec::new();
        for l in self.listeners.borrow().iter().filter(|l| l.owner == owner) {
            if !names.contains(&l.event) {
                names.push(l.event.clone());
            }
        }
        names
    }

    /// On the JS thread: one message from the pump.
    fn dispatch(&self, env: &Env, msg: Pump) {
        match &msg {
            Pump::Event(ProxyEvent {
                proxy,
                kind: EventKind::StateChanged { to, .. },
            }) if !to.is_active() => {
                self.live.borrow_mut().remove(proxy);
            }
            Pump::Event(_) => {}
            // Events were lost: fall back to the live states.
            Pump::Resync => self.live.borrow_mut().retain(|name| {
                self.manager
                    .get(name)
                    .is_some_and(|p| p.state().is_active())
            }),
        }
        // Released before the listeners run, but within this callback: they still get it.
        if let Err(err) = self.update_keepalive(env) {
            report_uncaught(env, err);
        }
        let Pump::Event(event) = msg else { return };
        let kind = event.kind.as_str();
        // Snapshot first (EventEmitter semantics): listeners added or removed by a listener
        // take effect from the next event on; `once` listeners are gone before they run.
        let due: Vec<Rc<Listener>> = {
            let mut listeners = self.listeners.borrow_mut();
            let due: Vec<Rc<Listener>> = listeners
                .iter()
                .filter(|l| l.event.as_deref().is_none_or(|e| e == kind))
                .cloned()
                .collect();
            listeners.retain(|l| !(l.once && due.iter().any(|d| d.id == l.id)));
            due
        };
        if due.is_empty() {
            return;
        }
        let value = match event_to_js(env, &event) {
            Ok(value) => value,
            Err(err) => return report_uncaught(env, err),
        };
        for listener in due {
            let result = listener
                .func
                .borrow_back(env)
                .and_then(|f| f.call(value).map(|_| ()));
            if let Err(err) = result {
                // A throwing listener is an uncaught exception, as in an EventEmitter fed
                // from I/O; the other listeners still get the event.
                report_uncaught(env, err);
            }
        }
    }
}
