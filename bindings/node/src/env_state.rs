//! Per-environment state (the main thread and each worker thread have their own): the proxy
//! manager, the event pump to the JS thread, the event listeners, and the handle that keeps
//! the event loop alive while a proxy runs.
//!
//! Node idiom: a running proxy keeps the process alive like a listening `net.Server` does
//! (unless `proxy.unref()`); once every proxy is stopped or failed nothing of ours holds the
//! loop, and event/log deliveries never do (weak threadsafe functions). The hold ends when the
//! pump has delivered a proxy's last state change (`stopped`/`failed`), so listeners see every
//! event before the process may exit.
//!
//! `configure()` replaces the manager (only while none of its proxies is active). The old
//! manager's pump keeps forwarding until its event channel closes, so the last `stopped`
//! events of its proxies still reach the listeners and release the loop.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Function, FunctionRef, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Result, Status};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::AbortHandle;
use toolhive_core::{EventKind, Proxy, ProxyEvent, ProxyManager};

use crate::convert::{event_to_js, report_uncaught};

/// What the pump carries to the JS thread.
pub(crate) enum Pump {
    Event(ProxyEvent),
    /// Events were dropped (a slow JS thread): re-check the keep-alive anyway.
    Resync,
    /// The grace period of a proxy that stopped is over: let go unless it runs again.
    Recheck(String),
}

/// With a state directory, another process may restart a proxy of this one (through the
/// control socket): core stops it, then starts it again. The loop is held this much longer
/// after a proxy stops, so the process does not end in between.
const RESTART_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

type PumpFn = Arc<ThreadsafeFunction<Pump, (), (), Status, false, true>>;
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

/// Who opens the browser for an OAuth login (`configure({ openBrowser })`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrowserMode {
    /// The binding does, when no `authorization_required` listener is registered as the event
    /// is delivered (core never does).
    Auto,
    /// Core always does (listeners get the event as well).
    Always,
    /// Nobody does: listeners show the URL.
    Never,
}

/// State directories in use by a manager of this process (one per environment at most: the
/// control socket is named after the process).
static CLAIMED_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// This environment's claim on a state directory, released when dropped.
pub(crate) struct DirClaim(PathBuf);

impl DirClaim {
    /// Claim `dir` (canonical) for this environment; `None` if another one has it.
    pub fn take(dir: PathBuf) -> Option<DirClaim> {
        let mut claimed = CLAIMED_DIRS.lock().unwrap_or_else(|p| p.into_inner());
        if claimed.contains(&dir) {
            return None;
        }
        claimed.push(dir.clone());
        Some(DirClaim(dir))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for DirClaim {
    fn drop(&mut self) {
        let mut claimed = CLAIMED_DIRS.lock().unwrap_or_else(|p| p.into_inner());
        claimed.retain(|d| *d != self.0);
    }
}

pub(crate) struct EnvState {
    manager: RefCell<ProxyManager>,
    browser: Cell<BrowserMode>,
    /// The state directory the manager uses, claimed for this environment.
    claim: RefCell<Option<DirClaim>>,
    /// Operations that may create proxies (start, restart, restore) still running.
    pending: Cell<u32>,
    pump: PumpFn,
    keepalive: RefCell<Option<KeepAliveFn>>,
    /// Active proxies of this environment whose stop or failure the pump has not delivered yet
    /// (or, with a state directory, whose restart grace period is not over).
    live: RefCell<HashSet<String>>,
    /// Names of proxies whose `unref()` was called.
    unrefd: RefCell<HashSet<String>>,
    listeners: RefCell<Vec<Rc<Listener>>>,
    next_id: Cell<u32>,
    /// Event pumps (one per manager this environment had) and log followers: ended with the
    /// environment.
    tasks: RefCell<Vec<AbortHandle>>,
}

impl Drop for EnvState {
    fn drop(&mut self) {
        // Runs when the environment is torn down; dropping the manager (the last clone, unless a
        // start is in flight) asks every proxy to stop.
        for task in self.tasks.get_mut().drain(..) {
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
    // In memory, core opens no browser: see `BrowserMode::Auto`.
    let manager = ProxyManager::with_options(
        runtime,
        toolhive_core::ManagerOptions {
            suppress_browser: true,
            ..Default::default()
        },
    )
    .map_err(|e| napi::Error::from_reason(e.to_string()))?;
    // The pump finds the state through this cell, filled in once the state exists.
    let cell: Rc<RefCell<Weak<EnvState>>> = Rc::new(RefCell::new(Weak::new()));
    let target = cell.clone();
    let pump: PumpFn = Arc::new(
        noop(env, "toolhiveEventPump")?
            .build_threadsafe_function::<Pump>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(move |ctx| {
                if let Some(state) = target.borrow().upgrade() {
                    state.dispatch(&ctx.env, ctx.value);
                }
                Ok(())
            })?,
    );
    let state = Rc::new(EnvState {
        manager: RefCell::new(manager.clone()),
        browser: Cell::new(BrowserMode::Auto),
        claim: RefCell::new(None),
        pending: Cell::new(0),
        pump,
        keepalive: RefCell::new(None),
        live: RefCell::new(HashSet::new()),
        unrefd: RefCell::new(HashSet::new()),
        listeners: RefCell::new(Vec::new()),
        next_id: Cell::new(1),
        tasks: RefCell::new(Vec::new()),
    });
    *cell.borrow_mut() = Rc::downgrade(&state);
    state.start_pump(&manager);
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
    /// The current manager (a clone: it is cheap, and `configure` may replace it).
    pub fn manager(&self) -> ProxyManager {
        self.manager.borrow().clone()
    }

    /// Forward `manager`'s events to the JS thread.
    fn start_pump(&self, manager: &ProxyManager) {
        let task = manager
            .runtime()
            .spawn(forward(manager.subscribe(), self.pump.clone()));
        self.track(task.abort_handle());
    }

    /// End `task` with this environment.
    pub fn track(&self, task: AbortHandle) {
        let mut tasks = self.tasks.borrow_mut();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// The names of this environment's proxies that are active (starting, running, unhealthy,
    /// stopping).
    pub fn active_proxies(&self) -> Vec<String> {
        let manager = self.manager();
        manager
            .list()
            .into_iter()
            .filter_map(|info| manager.get(&info.name))
            .filter(|p| p.state().is_active())
            .map(|p| p.name().to_owned())
            .collect()
    }

    /// Operations that may create proxies still running (start, restart, restore).
    pub fn pending(&self) -> u32 {
        self.pending.get()
    }

    /// An operation that may create a proxy began (`true`) or ended (`false`).
    pub fn set_pending(&self, began: bool) {
        let n = self.pending.get();
        self.pending
            .set(if began { n + 1 } else { n.saturating_sub(1) });
    }

    /// Use `manager` from now on (`configure`); the caller checked nothing is active.
    /// `claim` is the new manager's state directory claim; `keep_claim`: it uses the one this
    /// environment holds already.
    pub fn replace_manager(
        &self,
        manager: ProxyManager,
        browser: BrowserMode,
        claim: Option<DirClaim>,
        keep_claim: bool,
    ) {
        self.start_pump(&manager);
        let old = self.manager.replace(manager);
        self.browser.set(browser);
        let old_claim = if keep_claim {
            None
        } else {
            self.claim.replace(claim)
        };
        // The old manager goes (unless JS still holds its proxies); its pump ends when its
        // event channel closes, after delivering what is left.
        drop(old);
        drop(old_claim);
    }

    /// The state directory claimed by this environment, if any.
    pub fn claimed_dir(&self) -> Option<PathBuf> {
        self.claim.borrow().as_ref().map(|c| c.path().to_owned())
    }

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

    /// `start`/`restart`/`restore` resolved (on the JS thread): the proxy holds the loop while
    /// it is active; it starts referenced unless `keep_ref` (a restart keeps `unref()`).
    pub fn started(&self, env: &Env, proxy: &Proxy, keep_ref: bool) -> Result<()> {
        if !keep_ref {
            self.unrefd.borrow_mut().remove(proxy.name());
        }
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
        let manager = self.manager();
        let active = |name: &str| manager.get(name).is_some_and(|p| p.state().is_active());
        match &msg {
            Pump::Event(ProxyEvent {
                proxy,
                kind: EventKind::StateChanged { to, .. },
            }) if !to.is_active() => {
                // Unless a new proxy of that name runs already (a restart, or a name used
                // again), whose own final state change comes later.
                if !active(proxy) && self.live.borrow().contains(proxy) {
                    if manager.state_dir().is_some() {
                        let pump = self.pump.clone();
                        let name = proxy.clone();
                        manager.runtime().spawn(async move {
                            tokio::time::sleep(RESTART_GRACE).await;
                            pump.call(Pump::Recheck(name), ThreadsafeFunctionCallMode::NonBlocking);
                        });
                    } else {
                        self.live.borrow_mut().remove(proxy);
                    }
                }
            }
            Pump::Event(ProxyEvent {
                proxy,
                kind: EventKind::StateChanged { .. },
            }) => {
                // Active: hold the loop for it, also when it was started by core itself (a
                // restart requested by another process).
                if active(proxy) {
                    self.live.borrow_mut().insert(proxy.clone());
                }
            }
            Pump::Event(_) => {}
            Pump::Recheck(name) => {
                if !active(name) {
                    self.live.borrow_mut().remove(name);
                }
            }
            // Events were lost: fall back to the live states.
            Pump::Resync => self.live.borrow_mut().retain(|name| active(name)),
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
        if let EventKind::AuthorizationRequired { url } = &event.kind
            && self.browser.get() == BrowserMode::Auto
        {
            // Nobody shows the URL (only a listener for this very kind counts, not catch-all
            // ones): open the browser, unless the proxy's config says not to.
            let handled = due.iter().any(|l| l.event.as_deref() == Some(kind));
            let skip = manager.get(&event.proxy).is_some_and(|p| {
                p.config()
                    .config()
                    .oauth
                    .as_ref()
                    .is_some_and(|o| o.skip_browser)
            });
            if !handled && !skip {
                crate::browser::open(env, &event.proxy, url);
            }
        }
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
