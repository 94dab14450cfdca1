//! Opening the user's browser for an OAuth login when the host does not handle the
//! `authorization_required` event (`configure({ openBrowser: 'auto' })`, the default).
//!
//! Core opens the browser itself when told to (`openBrowser: true`), but it decides when the
//! proxy starts; "does a listener handle it" can only be answered as the event is delivered,
//! on the JS thread, so in `'auto'` mode the binding asks core to open it then.

use napi::Env;
use napi::bindgen_prelude::{Function, JsObjectValue, Object};

/// Ask the desktop to open `url`; a failure becomes a process warning (`process.emitWarning`,
/// shown on stderr unless the host listens for `'warning'`). Never blocks on the browser.
pub(crate) fn open(env: &Env, proxy: &str, url: &str) {
    if let Err(e) = toolhive_core::auth::open_browser(url) {
        warn(
            env,
            &format!(
                "toolhive-embed: proxy `{proxy}` needs a login but no browser could be opened \
                 ({e}); listen for 'authorization_required' events to show the URL yourself"
            ),
        );
    }
}

fn warn(env: &Env, message: &str) {
    let _ = (|| -> napi::Result<()> {
        let process: Object<'_> = env.get_global()?.get_named_property_unchecked("process")?;
        let emit: Function<'_, String, ()> = process.get_named_property_unchecked("emitWarning")?;
        emit.apply(process, message.to_owned())?;
        Ok(())
    })();
}
