//! The flow diagram of one instance, as SVG: BPMN-like shapes coloured by each node's state.

use flowlens_core::layout::ShapeKind;
use flowlens_core::{Diagram, Millis, NodeState, NodeStatus};

use crate::pages::sla_text;
use leptos::prelude::*;

fn class_of(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::NotReached => "not-reached",
        NodeStatus::Active => "active",
        NodeStatus::Done => "done",
        NodeStatus::Failed => "failed",
    }
}

#[component]
pub fn FlowDiagram(diagram: Diagram, nodes: Vec<NodeState>, now: ReadSignal<Millis>) -> impl IntoView {
    let state_of = |id: &str| nodes.iter().find(|n| n.id == id).cloned();
    let edges = diagram
        .edges
        .iter()
        .map(|e| {
            let reached = |id: &str| state_of(id).is_some_and(|s| s.status != NodeStatus::NotReached);
            let class = if reached(&e.from) && reached(&e.to) { "edge taken" } else { "edge" };
            let points = e.points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
            view! { <polyline class=class points=points marker-end="url(#arrow)"/> }
        })
        .collect_view();
    let (width, height) = (diagram.width, diagram.height);
    let shapes = diagram
        .nodes
        .into_iter()
        .map(|s| {
            let kind = s.kind;
            let state = state_of(&s.id);
            let status = state.as_ref().map_or(NodeStatus::NotReached, |n| n.status);
            let due = state.as_ref().and_then(|n| n.due).filter(|_| status == NodeStatus::Active);
            let overdue = move || due.is_some_and(|d| now.get() > d);
            let class = move || format!("node {} {}{}", shape_class(kind), class_of(status), if overdue() { " overdue" } else { "" });
            let (x, y, w, h) = (s.x, s.y, s.w, s.h);
            let body = match s.kind {
                ShapeKind::Start | ShapeKind::End => view! { <circle cx=x cy=y r=w / 2.0/> }.into_any(),
                ShapeKind::Task => {
                    view! { <rect x=x - w / 2.0 y=y - h / 2.0 width=w height=h rx="10"/> }.into_any()
                }
                ShapeKind::Parallel | ShapeKind::Exclusive => {
                    let (l, r, t, b) = (x - w / 2.0, x + w / 2.0, y - h / 2.0, y + h / 2.0);
                    let mark = if s.kind == ShapeKind::Parallel { "+" } else { "×" };
                    view! {
                        <polygon points=format!("{x},{t} {r},{y} {x},{b} {l},{y}")/>
                        <text class="mark" x=x y=y + 7.0>{mark}</text>
                    }
                    .into_any()
                }
            };
            let tooltip = format!("{} — {}", s.label, class_of(status).replace('-', " "));
            let label = match s.kind {
                ShapeKind::Task => view! { <text class="label" x=x y=y - 4.0>{s.label}</text> }.into_any(),
                ShapeKind::Start | ShapeKind::End => {
                    view! { <text class="label below" x=x y=y + h / 2.0 + 15.0>{s.label}</text> }.into_any()
                }
                // Above and to the left: edges leave and enter gateways at their corners.
                ShapeKind::Parallel | ShapeKind::Exclusive => {
                    view! { <text class="label aside" x=x - 10.0 y=y - h / 2.0 + 2.0>{s.label}</text> }.into_any()
                }
            };
            // An active task shows its SLA clock: time left, or how long it has been overdue.
            let timer = due.map(|due| view! { <text class="timer" x=x y=y + 16.0>{move || sla_text(due, now.get())}</text> });
            view! {
                <g class=class data-node=s.id data-status=class_of(status)>
                    <title>{tooltip}</title>
                    {body}
                    {label}
                    {timer}
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="diagram" viewBox=format!("0 0 {width} {height}") width=width role="img">
            <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                    <path d="M 0 0 L 10 5 L 0 10 z"/>
                </marker>
            </defs>
            {edges}
            {shapes}
        </svg>
    }
}

fn shape_class(kind: ShapeKind) -> &'static str {
    match kind {
        ShapeKind::Start => "start",
        ShapeKind::End => "end",
        ShapeKind::Task => "task",
        ShapeKind::Parallel => "gateway parallel",
        ShapeKind::Exclusive => "gateway exclusive",
    }
}
