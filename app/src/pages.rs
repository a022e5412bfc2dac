//! The pages: the instance list and the instance page.

use flowlens_core::{EventRecord, InstanceChanged, InstanceDetail, InstanceSummary, Millis, Span, Status};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{get_instance, list_instances};
use crate::diagram::FlowDiagram;
use crate::live::{clock, subscribe};

fn status_badge(status: Status) -> impl IntoView {
    view! { <span class=format!("badge {}", status.as_str()) data-status=status.as_str()>{status.as_str()}</span> }
}

fn when(t: Option<Millis>) -> String {
    t.map(Millis::to_display).unwrap_or_else(|| "—".into())
}

/// Time left until `due`, or how long it has been overdue (then the instance is stuck).
pub fn sla_text(due: Millis, now: Millis) -> String {
    let left = due.0 - now.0;
    if left >= 0 { format!("due in {}", Span(left).human()) } else { format!("overdue {}", Span(-left).human()) }
}

fn sla_clock(due: Option<Millis>, now: ReadSignal<Millis>) -> impl IntoView {
    due.map(|due| {
        let overdue = move || now.get() > due;
        view! {
            <span class="sla" class:overdue=overdue data-overdue=move || overdue().to_string()>
                {move || sla_text(due, now.get())}
            </span>
        }
    })
}

/// Puts a pushed change into a list ordered by last update, newest first.
fn upsert(rows: &mut Vec<InstanceSummary>, changed: InstanceSummary, status_filter: Option<Status>) {
    rows.retain(|r| r.id != changed.id);
    if status_filter.is_none_or(|s| s == changed.status) {
        rows.insert(0, changed);
        rows.truncate(100);
    }
}

#[component]
pub fn InstanceList() -> impl IntoView {
    let query = use_query_map();
    let status = move || query.read().get("status").filter(|s| !s.is_empty());
    let data = Resource::new(status, list_instances);
    subscribe(
        "/api/v1/stream".into(),
        move || data.refetch(),
        move |change: InstanceChanged| {
            let filter = status().as_deref().and_then(Status::parse);
            data.update(|d| {
                if let Some(Ok((_, rows))) = d {
                    upsert(rows, change.summary, filter);
                }
            })
        },
    );
    let tab = move |label: &'static str, value: &'static str| {
        let href = if value.is_empty() { "/".to_string() } else { format!("/?status={value}") };
        let current = move || status().unwrap_or_default() == value;
        view! { <A href=href attr:class=move || if current() { "tab current" } else { "tab" }>{label}</A> }
    };
    view! {
        <h1>"Instances"</h1>
        <div class="tabs">
            {tab("All", "")}
            {tab("Running", "running")}
            {tab("Completed", "completed")}
            {tab("Failed", "failed")}
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok((_, rows)) if rows.is_empty() => {
                        view! { <p class="muted empty">"No instances yet. Events that start a flow create them."</p> }.into_any()
                    }
                    Ok((now, rows)) => view! { <InstanceTable rows now=clock(now)/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn InstanceTable(rows: Vec<InstanceSummary>, now: ReadSignal<Millis>) -> impl IntoView {
    view! {
        <table class="instances">
            <thead>
                <tr>
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
                        view! {
                            <tr data-key=key>
                                <td>
                                    <A href=format!("/instances/{}", r.id)>{r.key.clone()}</A>
                                </td>
                                <td>{r.flow_id.clone()}</td>
                                <td>{status_badge(r.status)}</td>
                                <td>{r.waiting_at.join(", ")}</td>
                                <td>{sla_clock(r.due, now)}</td>
                                <td>{when(r.started_at)}</td>
                                <td>{when(Some(r.updated_at))}</td>
                                <td class="num">{r.events}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn InstancePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let data = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_instance(id).await,
            None => Ok((Millis(0), None)),
        }
    });
    let stream = id().map(|id| format!("/api/v1/stream?instance={id}")).unwrap_or_else(|| "/api/v1/stream".into());
    subscribe(stream, move || data.refetch(), move |change: InstanceChanged| {
        data.update(|d| {
            if let Some(Ok((_, Some(detail)))) = d {
                apply_change(detail, change);
            }
        })
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok((_, None)) => view! { <NotFound/> }.into_any(),
                    Ok((now, Some(detail))) => view! { <InstanceView detail now/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn apply_change(detail: &mut InstanceDetail, change: InstanceChanged) {
    if change.summary.id != detail.summary.id {
        return;
    }
    detail.summary = change.summary;
    detail.nodes = change.nodes;
    detail.deviations = change.deviations;
    if let Some(event) = change.event.filter(|ev| !detail.events.iter().any(|e| e.id == ev.id)) {
        let at = detail.events.partition_point(|e| (e.time, e.received_at) <= (event.time, event.received_at));
        detail.events.insert(at, event);
    }
}

#[component]
fn InstanceView(detail: InstanceDetail, now: Millis) -> impl IntoView {
    let now = clock(now);
    let InstanceDetail { summary, flow_name, nodes, deviations, events, actions: _, diagram } = detail;
    let deviations = (!deviations.is_empty()).then(|| {
        view! {
            <section class="card deviations">
                <h2>"Deviations from the flow"</h2>
                <ul>
                    {deviations
                        .into_iter()
                        .map(|d| {
                            let node = d.node.map(|n| format!("{n}: ")).unwrap_or_default();
                            view! { <li>{node}{d.problem}</li> }
                        })
                        .collect_view()}
                </ul>
            </section>
        }
    });
    view! {
        <div class="instance-head">
            <h1>
                <span class="muted">{flow_name}" · "</span>
                <span class="key">{summary.key.clone()}</span>
            </h1>
            {status_badge(summary.status)}
        </div>
        <dl class="facts">
            <dt>"Started"</dt>
            <dd>{when(summary.started_at)}</dd>
            <dt>"Last update"</dt>
            <dd>{when(Some(summary.updated_at))}</dd>
            <dt>"Events"</dt>
            <dd>{summary.events}</dd>
            <dt>"Flow version"</dt>
            <dd>{summary.flow_version}</dd>
        </dl>
        <section class="card">
            <FlowDiagram diagram nodes now/>
        </section>
        {deviations}
        <section class="card">
            <h2>"Events"</h2>
            <Timeline events/>
        </section>
    }
}

#[component]
fn Timeline(events: Vec<EventRecord>) -> impl IntoView {
    view! {
        <ol class="timeline">
            {events
                .into_iter()
                .map(|e| {
                    // Payloads are shown as text (escaped by the renderer), pretty-printed when JSON.
                    let pretty = match serde_json::from_str::<serde_json::Value>(&e.data) {
                        Ok(serde_json::Value::Null) => None,
                        Ok(v) => serde_json::to_string_pretty(&v).ok(),
                        Err(_) => Some(e.data),
                    };
                    let payload = match pretty {
                        Some(text) => view! { <pre class="payload">{text}</pre> }.into_any(),
                        None => view! { <p class="muted no-data">"no data"</p> }.into_any(),
                    };
                    let event_type = e.event_type.clone();
                    view! {
                        <li data-event-type=event_type>
                            <div class="event-head">
                                <span class="event-type">{e.event_type}</span>
                                <time>{e.time.to_display()}</time>
                                <span class="muted event-id">{e.id}</span>
                            </div>
                            {payload}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <h1>"Not found"</h1>
        <p>"There is nothing here. " <A href="/">"Back to the instances"</A></p>
    }
}
