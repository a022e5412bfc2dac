//! Where each node of a flow is drawn: a layered (Sugiyama-style) layout, left to right.
//!
//! Layers come from the longest path from the start (pushed right by layer hints), so every edge
//! points right, except those that close a loop: they return below the flow, each in its own lane. Order and position within each layer come from rust-sugiyama: weighted-median
//! crossing reduction with transposition and Brandes–Köpf coordinate assignment, with long edges
//! routed through dummy vertices so they bend around nodes instead of crossing them. The result is
//! plain numbers, so the server computes it once per flow and the browser only draws it (the
//! browser build leaves the layout code out: feature `layout`).

use serde::{Deserialize, Serialize};

#[cfg(feature = "layout")]
mod place;
#[cfg(feature = "layout")]
pub use place::layout;
#[cfg(feature = "layout")]
pub(crate) use place::{label_of, shape_kind};

/// The flow's diagram: as its file draws it (BPMN diagram interchange), else laid out.
#[cfg(feature = "layout")]
pub fn draw(flow: &crate::Flow) -> Diagram {
    flow.drawn.clone().unwrap_or_else(|| layout(flow))
}


#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagram {
    pub width: f32,
    pub height: f32,
    pub nodes: Vec<Shape>,
    pub edges: Vec<Edge>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    Start,
    End,
    Task,
    Parallel,
    Exclusive,
    Inclusive,
    /// An intermediate event.
    Event,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub id: String,
    pub label: String,
    pub kind: ShapeKind,
    /// Centre of the shape.
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub points: Vec<(f32, f32)>,
    /// It closes a loop: drawn returning below the flow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub back: bool,
    /// Where a failure goes (a task's `on_failure`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failure: bool,
}
