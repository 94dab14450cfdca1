//! Events from core (state changes, OAuth `authorization_required` and `auth_state_changed`),
//! delivered on the JS thread: `onEvent(listener)` and the EventEmitter-style `ProxyEvents`.
//!
//! An event is core's event JSON with camelCase keys:
//! `{ proxy: 'notion', type: 'state_changed', from: { state: 'starting' }, to: { state: 'running' } }`.
//! Kinds that core adds later arrive the same way, with their own `type` and fields. A listener
//! for `'authorization_required'` itself (not a catch-all one) means the host shows the login
//! URL: with `openBrowser: 'auto'` (the default) no browser is opened then.

use napi::bindgen_prelude::{Function, Unknown};
use napi::{Env, Result};
use napi_derive::napi;

use crate::env_state::state;

/// The event name that an emitter delivers every event under.
const ALL: &str = "event";

fn event_filter(event: &str) -> Option<String> {
    (event != ALL).then(|| event.to_owned())
}

/// Call `listener` on the JS thread with every event of every proxy of this process (or
/// worker), from now until `close()`. Listening never keeps the process alive.
#[napi(ts_args_type = "listener: (event: ProxyEvent) => void")]
pub fn on_event(
    env: &Env,
    listener: Function<'_, Unknown<'static>, Unknown<'static>>,
) -> Result<EventSubscription> {
    let id = state(env)?.add_listener(0, None, false, &listener)?;
    Ok(EventSubscription { id: Some(id) })
}

/// What `onEvent` returns.
#[napi]
pub struct EventSubscription {
    id: Option<u32>,
}

#[napi]
impl EventSubscription {
    /// Stop listening (idempotent).
    #[napi]
    pub fn close(&mut self, env: &Env) -> Result<()> {
        if let Some(id) = self.id.take() {
            state(env)?.remove_listener_id(id);
        }
        Ok(())
    }

    /// True once `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.id.is_none()
    }
}

/// An EventEmitter-style view of the events: `on('state_changed', fn)` for one kind (the
/// event's `type`), `on('event', fn)` for every event. Each emitter sees every event of every
/// proxy of this process (or worker); listening never keeps the process alive.
#[napi]
pub struct ProxyEvents {
    owner: u32,
}

#[napi]
impl ProxyEvents {
    #[napi(constructor)]
    pub fn new(env: Env) -> Result<Self> {
        Ok(ProxyEvents {
            owner: state(&env)?.new_id(),
        })
    }

    /// Add `listener` for `event` (`'event'` for all kinds).
    #[napi(
        ts_generic_types = "K extends ProxyEventName",
        ts_args_type = "event: K, listener: ProxyEventListener<K>"
    )]
    pub fn on(
        &self,
        env: &Env,
        event: String,
        listener: Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<()> {
        state(env)?.add_listener(self.owner, event_filter(&event), false, &listener)?;
        Ok(())
    }

    /// Same as `on`.
    #[napi(
        ts_generic_types = "K extends ProxyEventName",
        ts_args_type = "event: K, listener: ProxyEventListener<K>"
    )]
    pub fn add_listener(
        &self,
        env: &Env,
        event: String,
        listener: Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<()> {
        self.on(env, event, listener)
    }

    /// Add `listener` for the next `event` only.
    #[napi(
        ts_generic_types = "K extends ProxyEventName",
        ts_args_type = "event: K, listener: ProxyEventListener<K>"
    )]
    pub fn once(
        &self,
        env: &Env,
        event: String,
        listener: Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<()> {
        state(env)?.add_listener(self.owner, event_filter(&event), true, &listener)?;
        Ok(())
    }

    /// Remove the most recently added `listener` for `event`; true if one was removed.
    #[napi(
        ts_generic_types = "K extends ProxyEventName",
        ts_args_type = "event: K, listener: ProxyEventListener<K>"
    )]
    pub fn off(
        &self,
        env: &Env,
        event: String,
        listener: Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<bool> {
        state(env)?.remove_listener(env, self.owner, event_filter(&event).as_deref(), &listener)
    }

    /// Same as `off`.
    #[napi(
        ts_generic_types = "K extends ProxyEventName",
        ts_args_type = "event: K, listener: ProxyEventListener<K>"
    )]
    pub fn remove_listener(
        &self,
        env: &Env,
        event: String,
        listener: Function<'_, Unknown<'static>, Unknown<'static>>,
    ) -> Result<bool> {
        self.off(env, event, listener)
    }

    /// Remove every listener (of `event` only, when given).
    #[napi(ts_args_type = "event?: ProxyEventName")]
    pub fn remove_all_listeners(&self, env: &Env, event: Option<String>) -> Result<()> {
        let filter = event.as_deref().map(event_filter);
        state(env)?.remove_all(self.owner, filter.as_ref().map(Option::as_deref));
        Ok(())
    }

    /// How many listeners `event` has.
    #[napi(ts_args_type = "event: ProxyEventName")]
    pub fn listener_count(&self, env: &Env, event: String) -> Result<u32> {
        Ok(state(env)?.count(self.owner, event_filter(&event).as_deref()))
    }

    /// The events that have listeners.
    #[napi(ts_return_type = "ProxyEventName[]")]
    pub fn event_names(&self, env: &Env) -> Result<Vec<String>> {
        Ok(state(env)?
            .event_names(self.owner)
            .into_iter()
            .map(|e| e.unwrap_or_else(|| ALL.to_owned()))
            .collect())
    }
}
