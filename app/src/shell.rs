//! The HTML document, the router and the chrome shared by every page.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use crate::live::Connection;
use crate::pages::{DeadLetters, InstanceList, InstancePage, NotFound};

pub fn shell(options: LeptosOptions) -> impl IntoView {
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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let connected = RwSignal::new(false);
    provide_context(Connection(connected));
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
            <header class="top">
                <A href="/" attr:class="brand">
                    <span class="logo">"◇"</span>
                    " Flowlens"
                </A>
                <nav>
                    <A href="/">"Instances"</A>
                    <A href="/dead-letters">"Dead letters"</A>
                </nav>
                <span class="live" data-live=move || if connected.get() { "open" } else { "closed" }>
                    {move || if connected.get() { "● live" } else { "○ connecting…" }}
                </span>
            </header>
            <main>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=InstanceList/>
                    <Route path=path!("/instances/:id") view=InstancePage/>
                    <Route path=path!("/dead-letters") view=DeadLetters/>
                </Routes>
            </main>
        </Router>
    }
}
