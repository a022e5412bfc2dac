//! Where each node of a flow is drawn: a layered (Sugiyama-style) layout, left to right.
//!
//! Layers come from the longest path from the start, so every edge points right; nodes within a
//! layer are ordered by the barycentre of their neighbours, which keeps parallel branches apart and
//! edges from crossing in the common fork/join shapes. The result is plain numbers, so the server
//! can compute it once per flow and the browser only draws it.

use serde::{Deserialize, Serialize};

use crate::flow::{Flow, NodeKind};

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
}

const LAYER_GAP: f32 = 70.0;
const ROW_GAP: f32 = 34.0;
const MARGIN: f32 = 24.0;
const LABEL_ROOM: f32 = 22.0;
/// Rough width of a label's character at the 12 px the app draws them; enough to keep labels apart.
const CHAR_W: f32 = 6.8;

/// Room a node needs across its layer: its shape, or its label where that is wider. Events carry
/// their label centred below; gateways carry it up and to the left, clear of edges at their corners.
fn span(kind: ShapeKind, label: &str) -> f32 {
    let text = label.chars().count() as f32 * CHAR_W;
    match kind {
        ShapeKind::Task => size(kind).0,
        ShapeKind::Start | ShapeKind::End => size(kind).0.max(text + 8.0),
        ShapeKind::Parallel | ShapeKind::Exclusive => size(kind).0.max(2.0 * text + 16.0),
    }
}

fn size(kind: ShapeKind) -> (f32, f32) {
    match kind {
        ShapeKind::Start | ShapeKind::End => (40.0, 40.0),
        ShapeKind::Parallel | ShapeKind::Exclusive => (46.0, 46.0),
        ShapeKind::Task => (150.0, 60.0),
    }
}

pub fn layout(flow: &Flow) -> Diagram {
    let n = flow.nodes.len();
    let kinds: Vec<ShapeKind> = flow
        .nodes
        .iter()
        .map(|node| match node.kind {
            NodeKind::Start { .. } => ShapeKind::Start,
            NodeKind::End { .. } => ShapeKind::End,
            NodeKind::Task(_) => ShapeKind::Task,
            NodeKind::Parallel => ShapeKind::Parallel,
            NodeKind::Exclusive => ShapeKind::Exclusive,
        })
        .collect();

    // A layer hint from the flow file pushes a node (and so everything after it) further right.
    let mut rank: Vec<usize> = flow.nodes.iter().map(|node| node.layer.unwrap_or(0) as usize).collect();
    for &i in &flow.topo {
        for &j in &flow.nodes[i].next {
            rank[j] = rank[j].max(rank[i] + 1);
        }
    }
    let layers = rank.iter().copied().max().map_or(0, |m| m + 1);
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for &i in &flow.topo {
        order[rank[i]].push(i);
    }
    // Position of each node within its layer, refined by a few barycentre sweeps.
    let mut pos = vec![0f32; n];
    let set_pos = |order: &Vec<Vec<usize>>, pos: &mut Vec<f32>| {
        for layer in order {
            for (k, &i) in layer.iter().enumerate() {
                pos[i] = k as f32;
            }
        }
    };
    set_pos(&order, &mut pos);
    for sweep in 0..4 {
        let forward = sweep % 2 == 0;
        let layer_ids: Vec<usize> = if forward { (1..layers).collect() } else { (0..layers.saturating_sub(1)).rev().collect() };
        for l in layer_ids {
            let key = |i: usize| {
                let nb = if forward { &flow.nodes[i].prev } else { &flow.nodes[i].next };
                if nb.is_empty() {
                    pos[i]
                } else {
                    nb.iter().map(|&j| pos[j]).sum::<f32>() / nb.len() as f32
                }
            };
            let mut keyed: Vec<(f32, usize)> = order[l].iter().map(|&i| (key(i), i)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            order[l] = keyed.into_iter().map(|(_, i)| i).collect();
            for (k, &i) in order[l].iter().enumerate() {
                pos[i] = k as f32;
            }
        }
    }

    let labels: Vec<String> = flow
        .nodes
        .iter()
        .zip(&kinds)
        .map(|(node, &kind)| if kind == ShapeKind::Task || node.name != node.id { node.name.clone() } else { String::new() })
        .collect();
    // Row hints win over the barycentre order within their layer.
    for layer in &mut order {
        if layer.iter().any(|&i| flow.nodes[i].row.is_some()) {
            let mut keyed: Vec<(f32, usize)> =
                layer.iter().enumerate().map(|(k, &i)| (flow.nodes[i].row.map_or(k as f32 + 0.5, |r| r as f32), i)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            *layer = keyed.into_iter().map(|(_, i)| i).collect();
        }
    }

    // Each layer is as wide as its widest node; rows are stacked and centred vertically.
    let layer_w: Vec<f32> = order.iter().map(|l| l.iter().map(|&i| span(kinds[i], &labels[i])).fold(0.0, f32::max)).collect();
    let layer_h = |l: &Vec<usize>| l.iter().map(|&i| size(kinds[i]).1 + LABEL_ROOM + ROW_GAP).sum::<f32>() - ROW_GAP;
    let height = order.iter().map(layer_h).fold(0.0, f32::max) + 2.0 * MARGIN;
    let mut shapes: Vec<Option<Shape>> = vec![None; n];
    let mut x = MARGIN;
    for (l, layer) in order.iter().enumerate() {
        let cx = x + layer_w[l] / 2.0;
        let mut y = (height - layer_h(layer)) / 2.0;
        for &i in layer {
            let (w, h) = size(kinds[i]);
            let (id, label) = (flow.nodes[i].id.clone(), labels[i].clone());
            shapes[i] = Some(Shape { id, label, kind: kinds[i], x: cx, y: y + h / 2.0, w, h });
            y += h + LABEL_ROOM + ROW_GAP;
        }
        x += layer_w[l] + LAYER_GAP;
    }
    let width = x - LAYER_GAP + MARGIN;
    let shapes: Vec<Shape> = shapes.into_iter().map(|s| s.expect("every node has a layer")).collect();

    let mut edges = Vec::new();
    for (i, node) in flow.nodes.iter().enumerate() {
        for &j in &node.next {
            let (a, b) = (&shapes[i], &shapes[j]);
            let (x1, y1, x2, y2) = (a.x + a.w / 2.0, a.y, b.x - b.w / 2.0, b.y);
            let points = if (y1 - y2).abs() < 0.5 {
                vec![(x1, y1), (x2, y2)]
            } else if a.kind == ShapeKind::Parallel || a.kind == ShapeKind::Exclusive {
                // Leave a gateway from its top or bottom corner, then run straight to the target.
                let yc = if y2 < y1 { a.y - a.h / 2.0 } else { a.y + a.h / 2.0 };
                vec![(a.x, yc), (a.x, y2), (x2, y2)]
            } else if b.kind == ShapeKind::Parallel || b.kind == ShapeKind::Exclusive {
                let yc = if y1 < y2 { b.y - b.h / 2.0 } else { b.y + b.h / 2.0 };
                vec![(x1, y1), (b.x, y1), (b.x, yc)]
            } else {
                let xm = (x1 + x2) / 2.0;
                vec![(x1, y1), (xm, y1), (xm, y2), (x2, y2)]
            };
            edges.push(Edge { from: node.id.clone(), to: flow.nodes[j].id.clone(), points });
        }
    }
    Diagram { width, height, nodes: shapes, edges }
}

#[cfg(all(test, feature = "files"))]
mod tests {
    use super::*;

    #[test]
    fn every_edge_points_right_and_shapes_do_not_overlap() {
        let flow = Flow::parse_toml("onboarding", include_str!("../../flows/customer-onboarding.toml")).unwrap();
        let d = layout(&flow);
        assert_eq!(d.nodes.len(), flow.nodes.len());
        for e in &d.edges {
            let (first, last) = (e.points.first().unwrap(), e.points.last().unwrap());
            assert!(last.0 > first.0 - 0.1, "{} -> {} goes left", e.from, e.to);
        }
        for (i, a) in d.nodes.iter().enumerate() {
            assert!(a.x - a.w / 2.0 >= 0.0 && a.x + a.w / 2.0 <= d.width && a.y + a.h / 2.0 <= d.height);
            for b in &d.nodes[i + 1..] {
                let apart = (a.x - b.x).abs() >= (a.w + b.w) / 2.0 || (a.y - b.y).abs() >= (a.h + b.h) / 2.0;
                assert!(apart, "{} overlaps {}", a.id, b.id);
            }
        }
        // The three checks share a layer, one above the other.
        let xs: Vec<f32> = ["address", "credit", "criminal"].iter().map(|id| d.nodes.iter().find(|s| s.id == *id).unwrap().x).collect();
        assert!(xs.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn layout_hints_move_nodes() {
        let text = include_str!("../../flows/customer-onboarding.toml")
            .replace("id = \"criminal\"\n", "id = \"criminal\"\nlayout = { row = 0 }\n")
            .replace("id = \"approved\"\n", "id = \"approved\"\nlayout = { layer = 7 }\n");
        let flow = Flow::parse_toml("hinted", &text).unwrap();
        let plain = layout(&Flow::parse_toml("plain", include_str!("../../flows/customer-onboarding.toml")).unwrap());
        let d = layout(&flow);
        let at = |d: &Diagram, id: &str| d.nodes.iter().find(|s| s.id == id).map(|s| (s.x, s.y)).unwrap();
        assert!(at(&d, "criminal").1 < at(&d, "address").1, "row 0 puts the criminal-record check on top");
        assert!(at(&plain, "criminal").1 > at(&plain, "address").1);
        assert!(at(&d, "approved").0 > at(&d, "rejected").0, "layer 7 pushes the approval right");
    }
}
