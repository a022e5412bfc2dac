//! The instance list: filters and sort in the URL (so a view can be shared), keyset paging, live
//! rows, and bulk retry/cancel with a confirmation, a progress bar and a result per instance.

use std::collections::BTreeSet;

use flowlens_core::live_list::ListFrame;
use flowlens_core::{InstanceSummary, ListParams, ListQuery, Millis, Role, Sort, Status};
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use leptos_router::location::Url;

use crate::api::{bulk_action, list_instances, matching_ids, BulkResult};
use crate::live::{clock, subscribe};
use crate::parts::{fit_badge, sentence, sla_clock, status_badge, Ago, Time};
use crate::session::{can, Session};

/// How many ids one bulk request carries: small enough to show progress, big enough to be quick.
const BULK_CHUNK: usize = 20;
/// "Select all that match" stops here; the page says so.
const SELECT_ALL_CAP: u32 = 10_000;

fn params_from(q: &leptos_router::params::ParamsMap) -> ListParams {
    let text = |k: &str| q.get(k).filter(|v| !v.is_empty());
    ListParams {
        flow: text("flow"),
        status: text("status"),
        node: text("node"),
        key: text("key"),
        sla: text("sla"),
        range: text("range"),
        rework: text("rework"),
        fits: text("fits"),
        from: text("from").and_then(|v| v.parse().ok()),
        to: text("to").and_then(|v| v.parse().ok()),
        sort: text("sort"),
        after: text("after"),
        limit: text("limit").and_then(|v| v.parse().ok()),
    }
}

/// The same list's URL with other query values.
fn href_with(p: &ListParams, after: Option<&str>) -> String {
    let query = query_of(p, after);
    if query.is_empty() { "/instances".into() } else { format!("/instances?{query}") }
}

/// A list's filter, sort and cursor as URL query text (`a=1&b=2`, values escaped).
fn query_of(p: &ListParams, after: Option<&str>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let mut put = |k: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            pairs.push((k, v.clone()));
        }
    };
    put("flow", &p.flow);
    put("status", &p.status);
    put("node", &p.node);
    put("key", &p.key);
    put("sla", &p.sla);
    put("range", &p.range);
    put("rework", &p.rework);
    put("fits", &p.fits);
    put("sort", &p.sort);
    put("from", &p.from.map(|v| v.to_string()));
    put("to", &p.to.map(|v| v.to_string()));
    put("limit", &p.limit.map(|l| l.to_string()));
    if let Some(a) = after {
        pairs.push(("after", a.to_string()));
    }
    pairs.into_iter().map(|(k, v)| format!("{k}={}", Url::escape(&v))).collect::<Vec<_>>().join("&")
}

#[component]
pub fn InstanceList() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| params_from(&query.read()));
    let data = Resource::new(move || params.get(), list_instances);
    let selected = RwSignal::new(BTreeSet::<i64>::new());
    // The bulk action's state lives here, not in the bar: pushed changes redraw the page (the
    // bulk's own retries push changes), and a running bulk must survive that.
    let bulk = RwSignal::new(Bulk::Idle);
    let all_matching = RwSignal::new(None::<Vec<i64>>);
    // Selection is per view: a new filter or page starts empty.
    Effect::new(move |_| {
        params.track();
        selected.set(BTreeSet::new());
        all_matching.set(None);
    });
    // The server sends the rows of this filter's first page that moved and those that left it
    // (other views are anchored and only read again on a resync); a new filter follows anew.
    Effect::new(move |_| {
        let p = params.get();
        let limit = ListQuery::parse(&p, Millis(0)).map(|q| q.limit as usize).unwrap_or(100);
        let stream = format!("/api/v1/stream?view=list&{}", query_of(&p, p.after.as_deref()));
        subscribe(stream, "rows", move || data.refetch(), move |frame: ListFrame| {
            data.update(|d| {
                if let Some(Ok((_, page))) = d {
                    frame.apply_to(&mut page.rows, limit);
                }
            });
        });
    });
    let session = expect_context::<Session>();
    view! {
        <h1>"Instances"</h1>
        <Filters params/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = session.me().await;
                match data.await {
                    Err(e) => view! { <p class="error">{sentence(&e)}</p> }.into_any(),
                    Ok((now, page)) => {
                        let p = params.get_untracked();
                        let next = page.next.map(|c| href_with(&p, Some(&c)));
                        let first = p.after.is_some().then(|| href_with(&p, None));
                        let operate = can(&me, Role::Operator);
                        let csrf = me.map(|m| m.csrf).unwrap_or_default();
                        let ids: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
                        // The bulk bar stays while its action runs, even when the rows it acted
                        // on have left this view (a retried instance is no longer overdue).
                        let empty = page.rows.is_empty() && p.after.is_none();
                        let busy = bulk.with_untracked(|b| *b != Bulk::Idle);
                        view! {
                            {(operate && (!empty || busy)).then(|| view! { <BulkBar params=p.clone() selected state=bulk all_matching page_ids=ids.clone() csrf=csrf.clone()/> })}
                            {empty.then(|| view! { <p class="muted empty">"No instances match. Events that start a flow create them; try a wider filter."</p> })}
                            {(!empty).then(|| view! { <InstanceTable rows=page.rows now=clock(now) selected=operate.then_some(selected)/> })}
                            <nav class="pager">
                                {first.map(|h| view! { <A href=h attr:class="op" attr:data-first="">"« First page"</A> })}
                                {next.map(|h| view! { <A href=h attr:class="op" attr:data-next="">"Next page »"</A> })}
                            </nav>
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Filters(params: Memo<ListParams>) -> impl IntoView {
    let p = move || params.get();
    let sel = |current: Option<String>, value: &str| current.as_deref().unwrap_or("") == value;
    let location = leptos_router::hooks::use_location();
    view! {
        <Form method="GET" action="/instances" attr:class="filters">
            <label>"State"
                <select name="status">
                    <option value="" selected=move || sel(p().status, "")>"Any"</option>
                    {Status::ALL.map(|s| view! { <option value=s.as_str() selected=move || sel(p().status, s.as_str())>{s.as_str()}</option> }).collect_view()}
                </select>
            </label>
            <label>"SLA"
                <select name="sla">
                    <option value="" selected=move || sel(p().sla, "")>"Any"</option>
                    <option value="overdue" selected=move || sel(p().sla, "overdue")>"Overdue (stuck)"</option>
                    <option value="on_time" selected=move || sel(p().sla, "on_time")>"On time"</option>
                </select>
            </label>
            <label>"Rework"
                <select name="rework">
                    <option value="" selected=move || sel(p().rework, "")>"Any"</option>
                    <option value="true" selected=move || sel(p().rework, "true")>"Went through rework"</option>
                </select>
            </label>
            <label>"Conformance"
                <select name="fits">
                    <option value="" selected=move || sel(p().fits, "")>"Any"</option>
                    <option value="true" selected=move || sel(p().fits, "true")>"Fits the flow"</option>
                    <option value="false" selected=move || sel(p().fits, "false")>"Deviates"</option>
                </select>
            </label>
            <label>"Waiting at" <input name="node" placeholder="node name" prop:value=move || p().node.unwrap_or_default()/></label>
            <label>"Key" <input name="key" placeholder="business key" prop:value=move || p().key.unwrap_or_default()/></label>
            <label>"Flow" <input name="flow" placeholder="flow id" size="10" prop:value=move || p().flow.unwrap_or_default()/></label>
            <label>"Updated"
                <select name="range">
                    <option value="" selected=move || sel(p().range, "")>"Any time"</option>
                    {["15m", "1h", "24h", "7d"].map(|r| view! { <option value=r selected=move || sel(p().range, r)>{format!("last {r}")}</option> }).collect_view()}
                </select>
            </label>
            <label>"Sort"
                <select name="sort">
                    {Sort::ALL.map(|s| view! { <option value=s.as_str() selected=move || sel(p().sort.or(Some("recent".into())), s.as_str())>{s.label()}</option> }).collect_view()}
                </select>
            </label>
            <button class="op primary" type="submit">"Apply"</button>
            <A href="/instances" attr:class="op">"Clear"</A>
            // Every row that matches, not just this page, for a spreadsheet or another tool.
            <a class="op" data-download="csv" download="" href=move || {
                let search = location.search.get();
                let search = search.trim_start_matches('?');
                let kept: Vec<&str> = search.split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("after=") && !kv.starts_with("limit=")).collect();
                format!("/api/v1/instances.csv?{}", kept.join("&"))
            }>"Download CSV"</a>
        </Form>
    }
}

/// The bulk state: what was asked, how far it got, and what came of each instance.
#[derive(Clone, Debug, PartialEq)]
enum Bulk {
    Idle,
    Asking { action: &'static str, ids: Vec<i64> },
    Running { action: &'static str, total: usize, results: Vec<BulkResult> },
    Done { action: &'static str, results: Vec<BulkResult> },
}

#[component]
fn BulkBar(
    params: ListParams,
    selected: RwSignal<BTreeSet<i64>>,
    state: RwSignal<Bulk>,
    all_matching: RwSignal<Option<Vec<i64>>>,
    page_ids: Vec<i64>,
    csrf: String,
) -> impl IntoView {
    let finding = RwSignal::new(false);
    let count = move || all_matching.with(|a| a.as_ref().map(Vec::len)).unwrap_or_else(|| selected.with(BTreeSet::len));
    let chosen = move || all_matching.get().unwrap_or_else(|| selected.get().into_iter().collect());
    let page_ids_all = page_ids.clone();
    let select_page = move |_| {
        all_matching.set(None);
        selected.set(page_ids_all.iter().copied().collect());
    };
    let select_all = {
        let params = ListParams { after: None, ..params.clone() };
        move |_| {
            finding.set(true);
            let params = params.clone();
            leptos::task::spawn_local(async move {
                match matching_ids(params, SELECT_ALL_CAP).await {
                    Ok(ids) => all_matching.set(Some(ids)),
                    Err(e) => state.set(Bulk::Done { action: "select", results: vec![(0, Err(sentence(&e)))] }),
                }
                finding.set(false);
            });
        }
    };
    let clear = move |_| {
        all_matching.set(None);
        selected.set(BTreeSet::new());
    };
    let run = move |action: &'static str, ids: Vec<i64>, csrf: String| {
        state.set(Bulk::Running { action, total: ids.len(), results: Vec::new() });
        leptos::task::spawn_local(async move {
            for chunk in ids.chunks(BULK_CHUNK) {
                let answer = bulk_action(action.to_string(), chunk.to_vec(), csrf.clone()).await;
                let part: Vec<BulkResult> = match answer {
                    Ok(r) => r,
                    Err(e) => chunk.iter().map(|&id| (id, Err(sentence(&e)))).collect(),
                };
                state.update(|s| {
                    if let Bulk::Running { results, .. } = s {
                        results.extend(part);
                    }
                });
            }
            state.update(|s| {
                if let Bulk::Running { action, results, .. } = s {
                    *s = Bulk::Done { action, results: std::mem::take(results) };
                }
            });
        });
    };
    let view_state = move || {
        let csrf = csrf.clone();
        match state.get() {
            Bulk::Idle => None,
            Bulk::Asking { action, ids } => {
                let n = ids.len();
                let question = match action {
                    "retry" => format!("Retry the active tasks of {n} instance(s)? Each task's retry command is published again."),
                    _ => format!("Cancel {n} instance(s)? Their cancel commands and compensations are published."),
                };
                Some(view! {
                    <div class="confirm" role="alertdialog">
                        <span>{question}</span>
                        <button class="op primary" data-confirm="yes" on:click=move |_| run(action, ids.clone(), csrf.clone())>"Confirm"</button>
                        <button class="op" on:click=move |_| state.set(Bulk::Idle)>"Keep as is"</button>
                    </div>
                }
                .into_any())
            }
            Bulk::Running { action, total, results } => Some(view! {
                <div class="progress" data-bulk="running">
                    <progress max=total value=results.len()></progress>
                    <span>{format!("{action}: {} of {total} done", results.len())}</span>
                </div>
                <BulkResults results/>
            }
            .into_any()),
            Bulk::Done { action, results } => {
                let ok = results.iter().filter(|r| r.1.is_ok()).count();
                let summary = format!("{action}: {ok} of {} succeeded", results.len());
                Some(view! {
                    <div class="progress" data-bulk="done">
                        <span class=if ok == results.len() { "outcome ok" } else { "outcome error" }>{summary}</span>
                        <button class="op" on:click=move |_| state.set(Bulk::Idle)>"Close"</button>
                    </div>
                    <BulkResults results/>
                }
                .into_any())
            }
        }
    };
    let busy = move || matches!(state.get(), Bulk::Running { .. });
    view! {
        <section class="bulk card">
            <span data-selected=move || count().to_string()>{move || format!("{} selected", count())}</span>
            <button class="op" on:click=select_page>"Select page"</button>
            <button class="op" data-select-all="" disabled=finding on:click=select_all>
                {move || if finding.get() { "Finding…".to_string() } else { "Select all that match".to_string() }}
            </button>
            <button class="op" on:click=clear>"Clear"</button>
            <button class="op" data-bulk-retry="" disabled=move || count() == 0 || busy()
                on:click=move |_| state.set(Bulk::Asking { action: "retry", ids: chosen() })>"Retry…"</button>
            <button class="op danger" data-bulk-cancel="" disabled=move || count() == 0 || busy()
                on:click=move |_| state.set(Bulk::Asking { action: "cancel", ids: chosen() })>"Cancel…"</button>
            {move || all_matching.with(|a| a.as_ref().map(|v| v.len() as u32 == SELECT_ALL_CAP)).unwrap_or(false).then(|| view! {
                <span class="muted">{format!("(the first {SELECT_ALL_CAP}; narrow the filter for the rest)")}</span>
            })}
            {view_state}
        </section>
    }
}

#[component]
fn BulkResults(results: Vec<BulkResult>) -> impl IntoView {
    view! {
        <ul class="bulk-results">
            {results.into_iter().map(|(id, r)| {
                let (class, text) = match r {
                    Ok(t) => ("ok", t),
                    Err(e) => ("error", e),
                };
                view! { <li class=class data-result-for=id.to_string()><A href=format!("/instances/{id}")>{format!("#{id}")}</A>" "{text}</li> }
            }).collect_view()}
        </ul>
    }
}

#[component]
fn InstanceTable(rows: Vec<InstanceSummary>, now: ReadSignal<Millis>, selected: Option<RwSignal<BTreeSet<i64>>>) -> impl IntoView {
    view! {
        <table class="instances">
            <thead>
                <tr>
                    {selected.map(|_| view! { <th></th> })}
                    <th>"Key"</th>
                    <th>"Flow"</th>
                    <th>"Status"</th>
                    <th>"Waiting at"</th>
                    <th>"SLA"</th>
                    <th>"Started"</th>
                    <th>"Last update"</th>
                    <th class="num">"Events"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|r| {
                        let key = r.key.clone();
                        let id = r.id;
                        let check = selected.map(|sel| view! {
                            <td><input type="checkbox" data-select=id.to_string() aria-label=format!("select {}", r.key)
                                prop:checked=move || sel.with(|s| s.contains(&id))
                                on:change=move |_| sel.update(|s| { if !s.remove(&id) { s.insert(id); } })/></td>
                        });
                        view! {
                            <tr data-key=key data-id=id.to_string()>
                                {check}
                                <td>
                                    <A href=format!("/instances/{}", r.id)>{r.key.clone()}</A>
                                </td>
                                <td>{r.flow_id.clone()}</td>
                                <td>{status_badge(r.status)}{(!r.fits).then(|| fit_badge(false))}</td>
                                <td>{r.waiting_at.join(", ")}</td>
                                <td>{sla_clock(r.due, now)}</td>
                                <td><Time at=r.started_at/></td>
                                <td><Ago at=r.updated_at now/></td>
                                <td class="num">{r.events}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
