//! The flow diagram of one instance, as SVG: BPMN-like shapes coloured by each node's state.

use flowlens_core::layout::{Edge, Shape, ShapeKind};
use flowlens_core::{Diagram, Millis, NodeState, NodeStatus};

use crate::parts::sla_text;
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
            // A returning edge was taken when the step it returns from ran at least once more
            // after the first visit of where it goes back to: the target ran again.
            let taken = if e.back {
                state_of(&e.to).is_some_and(|s| s.visits.len() > 1)
            } else {
                reached(&e.from) && reached(&e.to)
            };
            let class = edge_class(e, taken);
            let points = e.points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
            view! { <polyline class=class data-from=e.from.clone() data-to=e.to.clone() points=points marker-end="url(#arrow)"/> }
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
            let (x, y) = (s.x, s.y);
            let tooltip = format!("{} — {}", s.label, class_of(status).replace('-', " "));
            let (body, label) = shape(&s);
            // An active task shows its SLA clock: time left, or how long it has been overdue.
            let timer = due.map(|due| view! { <text class="timer" x=x y=y + 16.0>{move || sla_text(due, now.get())}</text> });
            // A step that ran more than once wears its visit count on its top right corner.
            let visits = state.as_ref().map_or(0, |n| n.visits.len());
            let badge = (visits > 1 && kind != ShapeKind::End && kind != ShapeKind::Start).then(|| {
                let (bx, by) = (x + s.w / 2.0 - 4.0, y - s.h / 2.0 + 4.0);
                view! {
                    <g class="visits" data-visits=visits>
                        <circle class="visit-count" cx=bx cy=by r="10"/>
                        <text class="visit-count" x=bx y=by + 4.0>{format!("{visits}×")}</text>
                    </g>
                }
            });
            view! {
                <g class=class data-node=s.id data-status=class_of(status) data-visits=visits>
                    <title>{tooltip}</title>
                    {body}
                    {label}
                    {timer}
                    {badge}
                </g>
            }
        })
        .collect_view();
    frame(width, height, edges, shapes)
}

fn frame(width: f32, height: f32, edges: impl IntoView, shapes: impl IntoView) -> impl IntoView {
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

/// A BPMN-like shape and its label: circles for events, rounded boxes for tasks, diamonds for
/// gateways.
fn shape(s: &Shape) -> (AnyView, AnyView) {
    let (x, y, w, h) = (s.x, s.y, s.w, s.h);
    let body = match s.kind {
        ShapeKind::Start | ShapeKind::End => view! { <circle cx=x cy=y r=w / 2.0/> }.into_any(),
        // An intermediate event: BPMN's double ring.
        ShapeKind::Event => view! { <circle cx=x cy=y r=w / 2.0/><circle class="inner" cx=x cy=y r=w / 2.0 - 4.0/> }.into_any(),
        ShapeKind::Task => view! { <rect x=x - w / 2.0 y=y - h / 2.0 width=w height=h rx="10"/> }.into_any(),
        ShapeKind::Parallel | ShapeKind::Exclusive | ShapeKind::Inclusive => {
            let (l, r, t, b) = (x - w / 2.0, x + w / 2.0, y - h / 2.0, y + h / 2.0);
            let mark = match s.kind {
                ShapeKind::Parallel => "+",
                ShapeKind::Inclusive => "○",
                _ => "×",
            };
            view! {
                <polygon points=format!("{x},{t} {r},{y} {x},{b} {l},{y}")/>
                <text class="mark" x=x y=y + 7.0>{mark}</text>
            }
            .into_any()
        }
    };
    let text = s.label.clone();
    let label = match s.kind {
        ShapeKind::Task => view! { <text class="label" x=x y=y - 4.0>{text}</text> }.into_any(),
        ShapeKind::Start | ShapeKind::End | ShapeKind::Event => view! { <text class="label below" x=x y=y + h / 2.0 + 15.0>{text}</text> }.into_any(),
        // Above and to the left: edges leave and enter gateways at their corners.
        ShapeKind::Parallel | ShapeKind::Exclusive | ShapeKind::Inclusive => view! { <text class="label aside" x=x - 10.0 y=y - h / 2.0 + 2.0>{text}</text> }.into_any(),
    };
    (body, label)
}

/// The flow with a heat overlay: each node tinted from cool to hot by `value / max`, with the
/// figure written on it. Nodes without a figure stay plain.
#[component]
pub fn HeatDiagram(diagram: Diagram, values: Vec<(String, Option<f64>, String)>) -> impl IntoView {
    let max = values.iter().filter_map(|v| v.1).fold(0.0f64, f64::max);
    let edges = diagram
        .edges
        .iter()
        .map(|e| {
            let points = e.points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
            view! { <polyline class=edge_class(e, false) points=points marker-end="url(#arrow)"/> }
        })
        .collect_view();
    let shapes = diagram
        .nodes
        .iter()
        .map(|s| {
            let found = values.iter().find(|v| v.0 == s.id);
            let value = found.and_then(|v| v.1);
            let text = found.map(|v| v.2.clone()).unwrap_or_default();
            let level = value.map(|v| if max > 0.0 { v / max } else { 0.0 });
            // From pale blue (little) through amber to red (most).
            let fill = level.map(|l| {
                let hue = 210.0 - 210.0 * l;
                format!("fill: hsl({hue:.0}, 85%, {:.0}%)", 92.0 - 30.0 * l)
            });
            let plain = if fill.is_some() { "hot" } else { "plain" };
            let (body, label) = shape(s);
            let (x, y, h) = (s.x, s.y, s.h);
            let figure_y = if s.kind == ShapeKind::Task { y + 16.0 } else { y + h / 2.0 + 29.0 };
            view! {
                // A node without a figure is plain white: a class says so, not an empty style
                // attribute (which renders as `;` and matched no selector: such nodes drew black).
                <g class=format!("node heat {} {}", shape_class(s.kind), plain) data-node=s.id.clone() data-heat=value.map(|v| v.to_string()).unwrap_or_default() style=fill>
                    <title>{format!("{}: {text}", s.label)}</title>
                    {body}
                    {label}
                    <text class="figure" x=x y=figure_y>{text.clone()}</text>
                </g>
            }
        })
        .collect_view();
    frame(diagram.width, diagram.height, edges, shapes)
}

fn shape_class(kind: ShapeKind) -> &'static str {
    match kind {
        ShapeKind::Start => "start",
        ShapeKind::End => "end",
        ShapeKind::Task => "task",
        ShapeKind::Parallel => "gateway parallel",
        ShapeKind::Exclusive => "gateway exclusive",
        ShapeKind::Inclusive => "gateway inclusive",
        ShapeKind::Event => "event",
    }
}

fn edge_class(e: &Edge, taken: bool) -> &'static str {
    match (e.back, e.failure, taken) {
        (true, _, true) => "edge back taken",
        (true, _, false) => "edge back",
        (false, true, true) => "edge failure taken",
        (false, true, false) => "edge failure",
        (false, false, true) => "edge taken",
        (false, false, false) => "edge",
    }
}
