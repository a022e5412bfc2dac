//! Tokens and embed links, for admins: create a read-only embed link for a flow or an instance
//! (its URL is shown once), see who made which, and revoke them.

use flowlens_core::{Role, TokenInfo};
use leptos::prelude::*;

use crate::api::{list_tokens, CreateEmbed, RevokeToken};
use crate::parts::{sentence, Time};
use crate::session::{can, Session};

#[component]
pub fn Admin() -> impl IntoView {
    let session = expect_context::<Session>();
    let create = ServerAction::<CreateEmbed>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    view! {
        <h1>"Embeds and tokens"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = session.me().await;
                if !can(&me, Role::Admin) {
                    return view! { <p class="error">"Only admins manage embeds and tokens."</p> }.into_any();
                }
                let csrf = me.map(|m| m.csrf).unwrap_or_default();
                let created = move || create.value().get().map(|r| match r {
                    Ok(path) => {
                        let origin = window_origin();
                        let url = format!("{origin}{path}");
                        let snippet = format!("<iframe src=\"{url}\" width=\"100%\" height=\"600\" style=\"border:0\"></iframe>");
                        view! {
                            <div class="outcome ok created">
                                <p>"Embed link created. Copy it now: it is not shown again."</p>
                                <input class="embed-url" readonly prop:value=url.clone() data-embed-url=url/>
                                <pre class="payload">{snippet}</pre>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="outcome error">{sentence(&e)}</p> }.into_any(),
                });
                let revoke_csrf = csrf.clone();
                view! {
                    <section class="card">
                        <h2>"New embed link"</h2>
                        <p class="muted">"A read-only view for a wiki iframe: the overview of a flow (" <code>"flow:onboarding"</code> ") or one instance (" <code>"instance:42"</code> "). Which sites may frame it is set by FLOWLENS_EMBED_ORIGINS."</p>
                        <ActionForm action=create attr:class="filters">
                            <label>"Name" <input name="name" placeholder="team wiki" required/></label>
                            <label>"Shows" <input name="scope" placeholder="flow:onboarding" required/></label>
                            <input type="hidden" name="csrf" value=csrf.clone()/>
                            <button class="op primary" type="submit">"Create link"</button>
                        </ActionForm>
                        {created}
                    </section>
                    <section class="card">
                        <h2>"Tokens"</h2>
                        <Transition fallback=|| ()>
                            {move || {
                                let csrf = revoke_csrf.clone();
                                Suspend::new(async move {
                                    match tokens.await {
                                        Err(e) => view! { <p class="error">{sentence(&e)}</p> }.into_any(),
                                        Ok(list) if list.is_empty() => view! { <p class="muted">"No tokens yet."</p> }.into_any(),
                                        Ok(list) => view! { <TokenTable list revoke csrf/> }.into_any(),
                                    }
                                })
                            }}
                        </Transition>
                    </section>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn TokenTable(list: Vec<TokenInfo>, revoke: ServerAction<RevokeToken>, csrf: String) -> impl IntoView {
    view! {
        <table class="audit tokens">
            <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Made by"</th><th>"Created"</th><th>"State"</th><th></th></tr></thead>
            <tbody>
                {list.into_iter().map(|t| {
                    let kind = t.scope.clone().map(|s| format!("embed {s}")).unwrap_or_else(|| format!("bearer, {}", t.role.as_str()));
                    let csrf = csrf.clone();
                    let id = t.id;
                    let state = match t.revoked_at {
                        Some(at) => format!("revoked {}", at.to_display()),
                        None => "active".into(),
                    };
                    view! {
                        <tr data-token=id.to_string()>
                            <td>{t.name}</td>
                            <td>{kind}</td>
                            <td>{t.created_by}</td>
                            <td><Time at=Some(t.created_at)/></td>
                            <td>{state}</td>
                            <td>{t.revoked_at.is_none().then(|| view! {
                                <button class="op danger" data-revoke=id.to_string() on:click=move |_| { revoke.dispatch(RevokeToken { id, csrf: csrf.clone() }); }>"Revoke"</button>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

fn window_origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}
