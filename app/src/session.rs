//! The signed-in person, the sign-in page, and the status strip under the header.

use flowlens_core::{Me, Millis, Role, StatusInfo};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{get_status, whoami};

/// Who uses the page, read once per page load and shared by every component.
#[derive(Clone, Copy)]
pub struct Session(pub Resource<Result<Option<Me>, ServerFnError>>);

impl Session {
    pub fn new() -> Session {
        Session(Resource::new(|| (), |_| whoami()))
    }

    /// The person, once known (inside a `Suspense`/`Transition`).
    pub async fn me(self) -> Option<Me> {
        self.0.await.ok().flatten()
    }
}

pub fn can(me: &Option<Me>, role: Role) -> bool {
    me.as_ref().is_some_and(|m| m.role >= role)
}

/// Name, role and sign-out in the header; the demo says it signed you in by itself.
#[component]
pub fn WhoAmI() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match session.me().await {
                    None => view! { <a class="who" href="/login">"Sign in"</a> }.into_any(),
                    Some(me) if me.demo => view! {
                        <span class="who demo" data-role=me.role.as_str() title="Only on loopback, only with the demo on">
                            "Local demo: signed in automatically as " <b>"demo"</b> " (" {me.role.as_str()} ")"
                        </span>
                    }
                    .into_any(),
                    Some(me) => view! {
                        <form class="who" method="post" action="/auth/logout">
                            <span data-role=me.role.as_str()>{me.name.clone()} " · " {me.role.as_str()}</span>
                            <input type="hidden" name="csrf" value=me.csrf.clone()/>
                            <button class="link" type="submit">"Sign out"</button>
                        </form>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn SignIn() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error");
    let next = move || query.read().get("next").unwrap_or_else(|| "/".into());
    view! {
        <section class="card sign-in">
            <h1>"Sign in to Flowlens"</h1>
            {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <form method="post" action="/auth/login">
                <label>"Name" <input name="name" autocomplete="username" required autofocus/></label>
                <label>"Password" <input name="password" type="password" autocomplete="current-password" required/></label>
                <input type="hidden" name="next" value=next/>
                <button class="op primary" type="submit">"Sign in"</button>
            </form>
            <p class="muted">
                "On first start Flowlens creates the user " <b>"admin"</b>
                " and writes its password to " <code>"flowlens-admin.txt"</code> " (see the server's log)."
            </p>
        </section>
    }
}

fn ago(t: Option<Millis>, now: Millis) -> String {
    t.map_or_else(|| "never".into(), |t| t.ago(now))
}

/// Store, last event and consumer lag, refreshed every few seconds.
#[component]
pub fn StatusStrip() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_status());
    #[cfg(feature = "hydrate")]
    {
        if let Ok(handle) = set_interval_with_handle(move || info.refetch(), std::time::Duration::from_secs(5)) {
            on_cleanup(move || handle.clear());
        }
    }
    view! {
        <div class="strip">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let Ok(StatusInfo { store, last_event, consumer_lag, partitions, source, now, kafka_problem }) = info.await else {
                        return view! { <span class="muted">"status unavailable"</span> }.into_any();
                    };
                    let now = crate::live::clock(now);
                    let lag = match (consumer_lag, partitions.len()) {
                        (Some(n), 1) => format!("{n} messages (1 partition)"),
                        (Some(n), p) => format!("{n} messages ({p} partitions)"),
                        (None, _) => "—".into(),
                    };
                    view! {
                        <span data-status-store=store.clone()>"Store: " <b>{store.clone()}</b></span>
                        <span>"Events from: " <b>{source}</b></span>
                        <span data-last-event=last_event.map(|t| t.0.to_string()).unwrap_or_default()>
                            "Last event: " <b>{move || ago(last_event, now.get())}</b>
                        </span>
                        <span data-lag=consumer_lag.map(|n| n.to_string()).unwrap_or_default()>"Consumer lag: " <b>{lag}</b></span>
                        {kafka_problem.map(|p| view! {
                            <span class="strip-problem" data-kafka-problem=p.kind.as_str() title=p.message.clone()>"Kafka: " <b>{p.message.clone()}</b></span>
                        })}
                    }
                    .into_any()
                })}
            </Transition>
        </div>
    }
}
