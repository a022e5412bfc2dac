//! Server push: pages subscribe to `/api/v1/stream` (server-sent events) once hydrated.
//!
//! On the server this does nothing: a rendered page has no connection. In the browser each page
//! holds one EventSource for as long as it is shown, and resyncs on every (re)connect so nothing
//! pushed while it was offline is missed.

use flowlens_core::Millis;
use leptos::prelude::*;
use serde::de::DeserializeOwned;

/// Whether the push connection is up; shown on screen and used by tests to know when to act.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Copy)]
pub struct Connection(pub RwSignal<bool>);

/// Opens `url` and calls `on_message` with each message of kind `kind` (`instance`, `rows`,
/// `moved`: see the server's `/api/v1/stream`), and `on_open` on every (re)connect and resync.
#[cfg(feature = "hydrate")]
pub fn subscribe<T: DeserializeOwned + 'static>(url: String, kind: &'static str, on_open: impl Fn() + 'static, on_message: impl Fn(T) + 'static) {
    use wasm_bindgen::{closure::Closure, JsCast};
    let connected = use_context::<Connection>().map(|c| c.0);
    let Ok(source) = web_sys::EventSource::new(&url) else {
        leptos::logging::error!("cannot open {url}");
        return;
    };
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
        match ev.data().as_string().map(|text| serde_json::from_str::<T>(&text)) {
            Some(Ok(message)) => on_message(message),
            Some(Err(e)) => leptos::logging::error!("unreadable push message: {e}"),
            None => {}
        }
    });
    let on_open = std::rc::Rc::new(on_open);
    let resync_now = on_open.clone();
    // The server says this page missed changes (it read too slowly): reload, like after a reconnect.
    let resync = Closure::<dyn FnMut()>::new(move || resync_now());
    let opened = Closure::<dyn FnMut()>::new(move || {
        if let Some(c) = connected {
            c.set(true);
        }
        on_open();
    });
    let failed = Closure::<dyn FnMut()>::new(move || {
        // The browser reconnects by itself; the page shows that it is not live meanwhile.
        if let Some(c) = connected {
            c.set(false);
        }
    });
    let _ = source.add_event_listener_with_callback(kind, on_message.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("resync", resync.as_ref().unchecked_ref());
    source.set_onopen(Some(opened.as_ref().unchecked_ref()));
    source.set_onerror(Some(failed.as_ref().unchecked_ref()));
    let held = send_wrapper::SendWrapper::new((source, on_message, resync, opened, failed));
    on_cleanup(move || {
        held.0.close();
        if let Some(c) = connected {
            c.set(false);
        }
    });
}

#[cfg(not(feature = "hydrate"))]
pub fn subscribe<T: DeserializeOwned + 'static>(_url: String, _kind: &'static str, _on_open: impl Fn() + 'static, _on_message: impl Fn(T) + 'static) {}

/// A clock for countdowns: starts at the server's time (so the hydrated page matches the rendered
/// one) and follows the browser's clock from then on.
pub fn clock(server_now: Millis) -> ReadSignal<Millis> {
    let (now, _set_now) = signal(server_now);
    #[cfg(feature = "hydrate")]
    {
        let tick = move || _set_now.set(Millis(js_sys::Date::now() as i64));
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_secs(1)) {
            on_cleanup(move || handle.clear());
        }
    }
    now
}
