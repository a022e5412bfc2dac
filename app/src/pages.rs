//! The instance page (and its embed), the dead letters, and the small pieces the other pages share.

use flowlens_core::{ActionResult, ActionView, DataForm, DeadLetterView, EventRecord, InstanceChanged, InstanceDetail, Millis, NodeStatus, Role, Status};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{embed_instance, get_instance, list_dead_letters, CancelInstance, RetryTask};
use crate::diagram::FlowDiagram;
use crate::parts::{fit_badge, sentence, status_badge, Time};
use crate::live::{clock, subscribe};
use crate::session::{can, Session};

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
    // No instance, nothing to follow (no instance has id 0).
    let stream = format!("/api/v1/stream?instance={}", id().unwrap_or(0));
    subscribe(stream, "instance", move || data.refetch(), move |change: InstanceChanged| {
        let mut pending = false;
        data.update(|d| {
            if let Some(Ok((_, Some(detail)))) = d {
                pending = detail.actions.iter().any(|a| a.result == ActionResult::Sent);
                apply_change(detail, change);
            }
        });
        // A pushed change may settle a retry: read the audit trail again, only while one is open.
        if pending {
            data.refetch();
        }
    });
    let session = expect_context::<Session>();
    let ops = Ops { retry: ServerAction::<RetryTask>::new(), cancel: ServerAction::<CancelInstance>::new(), ask: RwSignal::new(None) };
    provide_context(ops);
    // Once an action is done, the audit trail (and for a cancel, the state) has changed.
    Effect::new(move |_| {
        if ops.retry.value().with(Option::is_some) || ops.cancel.value().with(Option::is_some) {
            data.refetch();
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = session.me().await;
                let operator = can(&me, Role::Operator).then(|| me.map(|m| m.csrf).unwrap_or_default());
                match data.await {
                    Err(e) => view! { <p class="error">{sentence(&e)}</p> }.into_any(),
                    Ok((_, None)) => view! { <NotFound/> }.into_any(),
                    Ok((now, Some(detail))) => view! { <InstanceView detail now operator/> }.into_any(),
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

/// `/embed/instances/:id?token=…`: the live diagram and timeline, read-only, for a wiki iframe.
#[component]
pub fn EmbedInstance() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let token = move || query.read().get("token").unwrap_or_default();
    let data = Resource::new(move || (token(), id()), |(t, id)| embed_instance(t, id));
    subscribe(format!("/api/v1/stream?instance={}&token={}", id(), token()), "instance", move || data.refetch(), move |change: InstanceChanged| {
        data.update(|d| {
            if let Some(Ok((_, Some(detail)))) = d {
                apply_change(detail, change);
            }
        });
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="error">{sentence(&e)}</p> }.into_any(),
                    Ok((_, None)) => view! { <p class="muted">"No such instance."</p> }.into_any(),
                    Ok((now, Some(detail))) => view! { <InstanceView detail now operator=None/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// `operator`: the CSRF token when the viewer may retry and cancel; none shows no buttons (a
/// viewer, an embed).
/// Every run of every step, with its times: where rework went and how long each round took.
#[component]
fn Visits(diagram: flowlens_core::Diagram, nodes: Vec<flowlens_core::NodeState>) -> impl IntoView {
    use flowlens_core::instance::VisitOutcome;
    use flowlens_core::layout::ShapeKind;
    let rows = nodes
        .iter()
        .filter_map(|n| {
            let shape = diagram.nodes.iter().find(|s| s.id == n.id)?;
            matches!(shape.kind, ShapeKind::Task | ShapeKind::Event | ShapeKind::Exclusive | ShapeKind::Inclusive).then_some(())?;
            (!n.visits.is_empty()).then_some(())?;
            let label = if shape.label.is_empty() { n.id.clone() } else { shape.label.clone() };
            let count = n.visits.len();
            let rows = n.visits.iter().enumerate().map(move |(k, v)| {
                let outcome = match v.outcome {
                    VisitOutcome::Open => "running",
                    VisitOutcome::Done => "done",
                    VisitOutcome::Failed => "failed",
                    VisitOutcome::Replaced => "replaced by a retry",
                };
                let took = v.finished.map(|f| flowlens_core::Span(f.0 - v.started.0).human()).unwrap_or_default();
                let name = if k == 0 { label.clone() } else { String::new() };
                let retried = if v.retried { " (retry)" } else { "" };
                view! {
                    <tr data-node=n.id.clone() data-visit=k>
                        <td>{name}</td>
                        <td>{format!("{} of {count}{retried}", k + 1)}</td>
                        <td><Time at=Some(v.started)/></td>
                        <td><Time at=v.finished/></td>
                        <td>{took}</td>
                        <td class=format!("visit-outcome {outcome}")>{outcome}</td>
                    </tr>
                }
            });
            Some(rows.collect_view())
        })
        .collect_view();
    view! {
        <section class="card visits-list">
            <h2>"Steps and their visits"</h2>
            <table>
                <thead><tr><th>"Step"</th><th>"Visit"</th><th>"Began"</th><th>"Ended"</th><th>"Took"</th><th>"Outcome"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

#[component]
fn InstanceView(detail: InstanceDetail, now: Millis, operator: Option<String>) -> impl IntoView {
    let read_only = operator.is_none();
    let now = clock(now);
    let InstanceDetail { summary, flow_name, nodes, deviations, events, actions, retryable, cancellable, diagram } = detail;
    let retry_targets: Vec<(String, String)> = nodes
        .iter()
        .filter(|n| (n.status == NodeStatus::Active || n.status == NodeStatus::Failed && summary.status == Status::Running) && retryable.contains(&n.id))
        .map(|n| (n.id.clone(), diagram.nodes.iter().find(|s| s.id == n.id).map_or(n.id.clone(), |s| s.label.clone())))
        .collect();
    let can_cancel = cancellable && summary.status == Status::Running;
    let id = summary.id;
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
            {fit_badge(summary.fits)}
        </div>
        <dl class="facts">
            <dt>"Started"</dt>
            <dd><Time at=summary.started_at/></dd>
            <dt>"Last update"</dt>
            <dd><Time at=Some(summary.updated_at)/></dd>
            <dt>"Events"</dt>
            <dd>{summary.events}</dd>
            <dt>"Flow version"</dt>
            <dd>{summary.flow_version}</dd>
        </dl>
        <section class="card">
            <FlowDiagram diagram=diagram.clone() nodes=nodes.clone() now/>
        </section>
        {deviations}
        <Visits diagram nodes/>
        {operator.map(|csrf| view! { <OperationsPanel id retry_targets can_cancel csrf/> })}
        <section class="card">
            <h2>"Events"</h2>
            <Timeline events/>
        </section>
        {(!read_only).then(|| view! {
            <section class="card">
                <h2>"Actions"</h2>
                <AuditTrail actions/>
            </section>
        })}
    }
}

/// What the operator is about to do, waiting for confirmation.
#[derive(Clone, Debug, PartialEq)]
enum Ask {
    Retry { node: String, label: String },
    Cancel,
}

#[derive(Clone, Copy)]
struct Ops {
    retry: ServerAction<RetryTask>,
    cancel: ServerAction<CancelInstance>,
    ask: RwSignal<Option<Ask>>,
}


/// Retry buttons for the active tasks that can be retried, and cancel; each asks for confirmation
/// first, then shows what came of it.
#[component]
fn OperationsPanel(id: i64, retry_targets: Vec<(String, String)>, can_cancel: bool, csrf: String) -> impl IntoView {
    let ops = expect_context::<Ops>();
    if retry_targets.is_empty() && !can_cancel {
        return None;
    }
    let busy = move || ops.retry.pending().get() || ops.cancel.pending().get();
    let buttons = retry_targets
        .into_iter()
        .map(|(node, label)| {
            let ask = Ask::Retry { node: node.clone(), label: label.clone() };
            view! {
                <button class="op" data-retry=node disabled=busy on:click=move |_| ops.ask.set(Some(ask.clone()))>
                    {format!("Retry {label}")}
                </button>
            }
        })
        .collect_view();
    let confirm = move || {
        let csrf = csrf.clone();
        ops.ask.get().map(|ask| {
            let question = match &ask {
                Ask::Retry { label, .. } => format!("Publish the retry command of “{label}” again?"),
                Ask::Cancel => "Cancel this instance? Its cancel command and the compensations of completed steps are published.".to_string(),
            };
            let go = move |_| {
                let csrf = csrf.clone();
                match ask.clone() {
                    Ask::Retry { node, .. } => {
                        ops.retry.dispatch(RetryTask { id, node, csrf: csrf.clone() });
                    }
                    Ask::Cancel => {
                        ops.cancel.dispatch(CancelInstance { id, csrf: csrf.clone() });
                    }
                }
                ops.ask.set(None);
            };
            view! {
                <div class="confirm" role="alertdialog">
                    <span>{question}</span>
                    <button class="op primary" data-confirm="yes" on:click=go>"Confirm"</button>
                    <button class="op" on:click=move |_| ops.ask.set(None)>"Keep as is"</button>
                </div>
            }
        })
    };
    let outcome = move || {
        let retried = ops.retry.value().get().map(|r| match r {
            Ok(a) if a.result == ActionResult::Failed => (false, format!("The retry could not be sent: {}", a.detail.unwrap_or_default())),
            Ok(a) => (true, format!("{} sent to {}; waiting for its effect.", a.command, a.topic)),
            Err(e) => (false, sentence(&e)),
        });
        let cancelled = ops.cancel.value().get().map(|r| match r {
            Ok(all) if all.iter().any(|a| a.result == ActionResult::Failed) => (false, "Some commands could not be sent; see the actions below.".to_string()),
            Ok(all) => (true, format!("Cancelled: {} command(s) sent.", all.len())),
            Err(e) => (false, sentence(&e)),
        });
        retried.or(cancelled).map(|(ok, text)| view! { <p class=if ok { "outcome ok" } else { "outcome error" }>{text}</p> })
    };
    Some(view! {
        <section class="card operations">
            <h2>"Operate"</h2>
            <div class="buttons">
                {buttons}
                {can_cancel.then(|| view! {
                    <button class="op danger" data-cancel="" disabled=busy on:click=move |_| ops.ask.set(Some(Ask::Cancel))>"Cancel instance"</button>
                })}
            </div>
            {confirm}
            {outcome}
        </section>
    })
}

#[component]
fn AuditTrail(actions: Vec<ActionView>) -> impl IntoView {
    if actions.is_empty() {
        return view! { <p class="muted">"No retries or cancels yet."</p> }.into_any();
    }
    view! {
        <table class="audit">
            <thead>
                <tr>
                    <th>"When"</th>
                    <th>"Who"</th>
                    <th>"What"</th>
                    <th>"Result"</th>
                    <th>"Detail"</th>
                </tr>
            </thead>
            <tbody>
                {actions
                    .into_iter()
                    .map(|a| {
                        let what = match &a.node {
                            Some(node) => format!("{} {} ({node}) → {}", a.kind, a.command, a.topic),
                            None => format!("{} {} → {}", a.kind, a.command, a.topic),
                        };
                        let result = a.result.as_str();
                        view! {
                            <tr data-action=a.kind.as_str() data-result=result>
                                <td><Time at=Some(a.requested_at)/></td>
                                <td>{a.actor}</td>
                                <td>{what}</td>
                                <td><span class=format!("badge result {result}")>{result.replace('_', " ")}</span></td>
                                <td>{a.detail.unwrap_or_default()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn Timeline(events: Vec<EventRecord>) -> impl IntoView {
    view! {
        <ol class="timeline">
            {events
                .into_iter()
                .map(|e| {
                    // Payloads are shown as text (escaped by the renderer), pretty-printed when JSON;
                    // text of other types as it came, bytes as the store previews them.
                    let form = e.form;
                    let pretty = match form {
                        DataForm::Json => match serde_json::from_str::<serde_json::Value>(&e.data) {
                            Ok(serde_json::Value::Null) => None,
                            Ok(v) => serde_json::to_string_pretty(&v).ok(),
                            Err(_) => Some(e.data),
                        },
                        DataForm::Text | DataForm::Base64 => Some(e.data),
                    };
                    let form_class = match form {
                        DataForm::Json => "payload",
                        DataForm::Text => "payload payload-text",
                        DataForm::Base64 => "payload payload-bytes",
                    };
                    let payload = match pretty {
                        Some(text) => view! { <pre class=form_class>{text}</pre> }.into_any(),
                        None => view! { <p class="muted no-data">"no data"</p> }.into_any(),
                    };
                    let event_type = e.event_type.clone();
                    view! {
                        <li data-event-type=event_type>
                            <div class="event-head">
                                <span class="event-type">{e.event_type}</span>
                                <Time at=Some(e.time)/>
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

/// Events Flowlens could not track, with the reason: nothing is dropped silently.
#[component]
pub fn DeadLetters() -> impl IntoView {
    let data = Resource::new(|| (), |_| list_dead_letters());
    view! {
        <h1>"Dead letters"</h1>
        <p class="muted">"Events that could not be tracked: malformed, without a key, or of a type no flow knows. They are kept with the reason and their raw bytes (the first 64 KiB)."</p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="error">{sentence(&e)}</p> }.into_any(),
                    Ok(letters) if letters.is_empty() => view! { <p class="muted empty">"No dead letters. Everything that came in was tracked."</p> }.into_any(),
                    Ok(letters) => view! { <DeadLetterTable letters/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DeadLetterTable(letters: Vec<DeadLetterView>) -> impl IntoView {
    view! {
        <table class="instances dead-letters">
            <thead>
                <tr>
                    <th>"Received"</th>
                    <th>"Source"</th>
                    <th>"Reason"</th>
                    <th>"Raw"</th>
                </tr>
            </thead>
            <tbody>
                {letters
                    .into_iter()
                    .map(|l| {
                        let raw: String = l.raw.chars().take(300).collect();
                        let origin = l.origin.unwrap_or_default();
                        view! {
                            <tr>
                                <td><Time at=Some(l.received_at)/></td>
                                <td>{l.source}<br/><span class="muted event-id">{origin}</span></td>
                                <td class="reason">{l.reason}</td>
                                <td><pre class="payload">{raw}</pre></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <h1>"Not found"</h1>
        <p>"There is nothing here. " <A href="/instances">"Back to the instances"</A></p>
    }
}
