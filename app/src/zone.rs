//! Times in the reader's time zone, with a switch to UTC.
//!
//! The server renders UTC: it cannot know the browser's zone. Once the page is live it shows the
//! browser's zone, unless the reader chose UTC (remembered in the browser's local storage). Every
//! time carries its exact value in both zones on hover, and its machine-readable form in
//! `datetime`; relative times ("3 min ago") keep ticking with the page's clock.

use flowlens_core::time::offset_label;
use flowlens_core::Millis;
use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    Utc,
    Local,
}

impl Zone {
    pub fn key(self) -> &'static str {
        match self {
            Zone::Utc => "utc",
            Zone::Local => "local",
        }
    }
}

/// The zone times are shown in, for every page, and whether the page is live: until then it
/// shows what the server rendered, so hydration finds the same text, and only then what needs
/// the browser (its zone's offset) — a value computed during hydration would never be drawn.
#[derive(Clone, Copy)]
pub struct ZoneChoice {
    pub zone: RwSignal<Zone>,
    pub live: RwSignal<bool>,
}

const STORED: &str = "flowlens.zone";

/// Starts in UTC, as the server rendered the page, and moves to the reader's choice once live.
pub fn provide() {
    let (zone, live) = (RwSignal::new(Zone::Utc), RwSignal::new(false));
    provide_context(ZoneChoice { zone, live });
    Effect::new(move |_| {
        zone.set(if stored().as_deref() == Some("utc") { Zone::Utc } else { Zone::Local });
        live.set(true);
    });
}

fn choice() -> ZoneChoice {
    use_context::<ZoneChoice>().unwrap_or_else(|| ZoneChoice { zone: RwSignal::new(Zone::Utc), live: RwSignal::new(false) })
}

pub(crate) fn current() -> RwSignal<Zone> {
    choice().zone
}

#[cfg(feature = "hydrate")]
fn stored() -> Option<String> {
    window().local_storage().ok().flatten()?.get_item(STORED).ok().flatten()
}

#[cfg(not(feature = "hydrate"))]
fn stored() -> Option<String> {
    None
}

fn store(zone: Zone) {
    #[cfg(feature = "hydrate")]
    if let Some(storage) = window().local_storage().ok().flatten() {
        let _ = storage.set_item(STORED, zone.key());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (zone, STORED);
}

/// Minutes the browser's zone is ahead of UTC at `at` (daylight saving included).
#[cfg(feature = "hydrate")]
fn offset_minutes(at: Millis) -> i64 {
    -(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.0 as f64)).get_timezone_offset() as i64)
}

#[cfg(not(feature = "hydrate"))]
fn offset_minutes(_: Millis) -> i64 {
    0
}

/// `at` as the reader reads it in `zone`: `2026-11-29 23:45:34`.
pub fn show(at: Millis, zone: Zone) -> String {
    match zone {
        Zone::Utc => at.to_display(),
        Zone::Local => Millis(at.0 + offset_minutes(at) * 60_000).to_display(),
    }
}

/// Both readings, for hovering: `2026-11-29 23:45:34 UTC · 2026-11-30 00:45:34 UTC+01:00`
/// (UTC alone until the page is live and knows the browser's zone).
pub fn exact(at: Millis, live: bool) -> String {
    let off = if live { offset_minutes(at) } else { 0 };
    if off == 0 {
        format!("{} UTC", at.to_display())
    } else {
        format!("{} UTC · {} {}", at.to_display(), show(at, Zone::Local), offset_label(off))
    }
}

/// A time in the reader's zone, exact on hover.
#[component]
pub fn Time(at: Option<Millis>) -> impl IntoView {
    let ZoneChoice { zone, live } = choice();
    match at {
        Some(at) => view! {
            <time datetime=at.to_rfc3339() title=move || exact(at, live.get()) data-zone=move || zone.get().key()>
                {move || show(at, zone.get())}
            </time>
        }
        .into_any(),
        None => view! { <time>"—"</time> }.into_any(),
    }
}

/// How long ago, ticking with `now`; the exact time in the reader's zone on hover.
#[component]
pub fn Ago(at: Millis, now: ReadSignal<Millis>) -> impl IntoView {
    let live = choice().live;
    view! {
        <time datetime=at.to_rfc3339() title=move || exact(at, live.get()) data-ago="">
            {move || at.ago(now.get())}
        </time>
    }
}

/// The header's switch: the browser's zone or UTC, remembered.
#[component]
pub fn ZoneSwitch() -> impl IntoView {
    let ZoneChoice { zone, live } = choice();
    let pick = move |z: Zone| {
        move |_| {
            zone.set(z);
            store(z);
        }
    };
    let local = move || if live.get() { format!("Local ({})", offset_label(offset_minutes(Millis(js_now())))) } else { "Local".into() };
    view! {
        <span class="zone-switch" title="The time zone times are shown in">
            <button type="button" class:current=move || zone.get() == Zone::Local data-zone-pick="local" on:click=pick(Zone::Local)>
                {local}
            </button>
            <button type="button" class:current=move || zone.get() == Zone::Utc data-zone-pick="utc" on:click=pick(Zone::Utc)>"UTC"</button>
        </span>
    }
}

/// The browser's clock (the server's, rendering).
fn js_now() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}
