//! The Flowlens web app: rendered on the server (feature `ssr`), hydrated in the browser
//! (feature `hydrate`), kept live by server push.

mod admin;
pub mod api;
mod diagram;
mod discovery;
mod list;
mod live;
mod overview;
mod pages;
mod parts;
mod session;
mod shell;
mod zone;

pub use shell::{shell, App};

/// The browser's entry point: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
