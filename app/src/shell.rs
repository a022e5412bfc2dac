//! The HTML document, the router and the chrome shared by every page.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::admin::Admin;
use crate::list::InstanceList;
use crate::live::Connection;
use crate::overview::{EmbedOverview, OverviewPage};
use crate::pages::{DeadLetters, EmbedInstance, InstancePage, NotFound};
use crate::session::{Session, SignIn, StatusStrip, WhoAmI};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    tell_the_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The server's security-headers layer builds the Content-Security-Policy: it needs the nonce
/// this render gave its inline scripts (the hydration bootstrap, streamed resources). Told through
/// a response header the layer removes before the response leaves.
fn tell_the_nonce() {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(res)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) {
        if let Ok(value) = http::HeaderValue::from_str(&nonce) {
            res.insert_header(http::HeaderName::from_static("x-flowlens-script-nonce"), value);
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let connected = RwSignal::new(false);
    provide_context(Connection(connected));
    provide_context(Session::new());
    crate::zone::provide();
    // Tests (and curious people) can tell a hydrated page from a server-rendered one.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/flowlens.css"/>
        <Title text="Flowlens"/>
        <Router>
            <Chrome connected/>
            <main>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=OverviewPage/>
                    <Route path=path!("/instances") view=InstanceList/>
                    <Route path=path!("/discovery") view=crate::discovery::DiscoveryPage/>
                    <Route path=path!("/instances/:id") view=InstancePage/>
                    <Route path=path!("/dead-letters") view=DeadLetters/>
                    <Route path=path!("/admin") view=Admin/>
                    <Route path=path!("/login") view=SignIn/>
                    <Route path=path!("/embed/flows/:flow") view=EmbedOverview/>
                    <Route path=path!("/embed/instances/:id") view=EmbedInstance/>
                </Routes>
            </main>
        </Router>
    }
}

/// Header and status strip; embeds get a one-line brand instead, and sign-in gets no strip.
#[component]
fn Chrome(connected: RwSignal<bool>) -> impl IntoView {
    let location = use_location();
    let embed = move || location.pathname.get().starts_with("/embed/");
    let signing_in = move || location.pathname.get() == "/login";
    let live = move || {
        view! {
            <span class="live" data-live=move || if connected.get() { "open" } else { "closed" }>
                {move || if connected.get() { "● live" } else { "○ connecting…" }}
            </span>
        }
    };
    move || {
        if embed() {
            view! { <div class="embed-bar"><span class="logo">"◇"</span>" Flowlens · read-only " {live()}</div> }.into_any()
        } else {
            view! {
                <header class="top">
                    <A href="/" attr:class="brand">
                        <span class="logo">"◇"</span>
                        " Flowlens"
                    </A>
                    <nav>
                        <A href="/" exact=true>"Overview"</A>
                        <A href="/instances">"Instances"</A>
                        <A href="/discovery">"Discovery"</A>
                        <A href="/dead-letters">"Dead letters"</A>
                        <A href="/admin">"Embeds"</A>
                    </nav>
                    <crate::zone::ZoneSwitch/>
                    <WhoAmI/>
                    {live()}
                </header>
                {(!signing_in()).then(|| view! { <StatusStrip/> })}
            }
            .into_any()
        }
    }
}
