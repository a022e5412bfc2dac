//! Computing a diagram: only where layouts are made (the server), not in the browser.

use super::{Diagram, Edge, Shape, ShapeKind};
use crate::flow::{Flow, Node, NodeKind, Task};
use crate::graph::reachable;

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
        ShapeKind::Start | ShapeKind::End | ShapeKind::Event => size(kind).0.max(text + 8.0),
        ShapeKind::Parallel | ShapeKind::Exclusive | ShapeKind::Inclusive => size(kind).0.max(2.0 * text + 16.0),
    }
}

fn size(kind: ShapeKind) -> (f32, f32) {
    match kind {
        ShapeKind::Start | ShapeKind::End | ShapeKind::Event => (40.0, 40.0),
        ShapeKind::Parallel | ShapeKind::Exclusive | ShapeKind::Inclusive => (46.0, 46.0),
        ShapeKind::Task => (150.0, 60.0),
    }
}

/// How a node of this kind is drawn.
pub(crate) fn shape_kind(kind: &NodeKind) -> ShapeKind {
    match kind {
        NodeKind::Start { .. } => ShapeKind::Start,
        NodeKind::End { .. } => ShapeKind::End,
        NodeKind::Task(_) => ShapeKind::Task,
        NodeKind::Parallel => ShapeKind::Parallel,
        NodeKind::Exclusive => ShapeKind::Exclusive,
        NodeKind::Inclusive => ShapeKind::Inclusive,
        NodeKind::Intermediate { .. } => ShapeKind::Event,
    }
}

/// The text drawn by a node: a task's name always; another node's only when it was given one.
pub(crate) fn label_of(node: &Node) -> String {
    if matches!(node.kind, NodeKind::Task(_)) || node.name != node.id {
        node.name.clone()
    } else {
        String::new()
    }
}

/// Room across a layer for an edge passing through it.
const DUMMY_ROOM: f32 = 12.0;

/// Joins points with horizontal and vertical segments: a step halfway between two points at
/// different heights.
fn orthogonal(points: &[(f32, f32)]) -> Vec<(f32, f32)> {
    let mut out = vec![points[0]];
    for w in points.windows(2) {
        let ((xa, ya), (xb, yb)) = (w[0], w[1]);
        if (ya - yb).abs() >= 0.5 {
            let xm = (xa + xb) / 2.0;
            out.push((xm, ya));
            out.push((xm, yb));
        }
        out.push((xb, yb));
    }
    out
}

/// Lays out a flow left to right: layers from the longest path (and the flow file's layer hints),
/// order and positions within layers from rust-sugiyama (median crossing reduction with
/// transposition, Brandes–Köpf coordinates), then row hints.
pub fn layout(flow: &Flow) -> Diagram {
    let n = flow.nodes.len();
    let kinds: Vec<ShapeKind> = flow.nodes.iter().map(|node| shape_kind(&node.kind)).collect();

    // A layer hint from the flow file pushes a node (and so everything after it) further right.
    let mut rank: Vec<usize> = flow.nodes.iter().map(|node| node.layer.unwrap_or(0) as usize).collect();
    // Every forward edge points right; and where a task's failure goes sits between the task and
    // what follows it, so the failure path (often a rework loop) has a column of its own and the
    // task's onward edge runs past it instead of through it.
    let mut after: Vec<(usize, usize)> = Vec::new();
    for i in 0..n {
        for j in flow.successors(i).filter(|&j| !flow.is_back_edge(i, j)) {
            after.push((i, j));
        }
        if let NodeKind::Task(Task { on_failure: Some(f), .. }) = &flow.nodes[i].kind {
            let forward = |a: usize, b: usize| !flow.is_back_edge(a, b);
            for &k in flow.nodes[i].next.iter().filter(|&&k| k != *f && forward(i, k) && !reachable(&flow.nodes, k, forward)[*f]) {
                after.push((*f, k));
            }
        }
    }
    // Longest paths by relaxation; the constraints are acyclic, so n rounds settle them.
    for _ in 0..n {
        let mut moved = false;
        for &(a, b) in &after {
            if rank[b] < rank[a] + 1 {
                rank[b] = rank[a] + 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let layers = rank.iter().copied().max().map_or(0, |m| m + 1);

    // Edges longer than one layer run through dummy vertices, one per layer crossed, so the
    // crossing reduction places them too and the drawn edge can bend around nodes.
    let mut vertices: Vec<(u32, (f64, f64))> = (0..n)
        .map(|i| {
            let (_, h) = size(kinds[i]);
            (i as u32, (f64::from(h + LABEL_ROOM), 10.0))
        })
        .collect();
    let mut sugiyama_edges: Vec<(u32, u32)> = Vec::new();
    // Every edge: (from, to, [(layer, dummy vertex)] it passes through).
    let mut routes: Vec<(usize, usize, Vec<(usize, u32)>)> = Vec::new();
    for i in 0..n {
        for j in flow.successors(i).filter(|&j| !flow.is_back_edge(i, j)) {
            let mut prev = i as u32;
            let mut chain = Vec::new();
            for r in rank[i] + 1..rank[j] {
                let v = vertices.len() as u32;
                vertices.push((v, (DUMMY_ROOM as f64, 10.0)));
                sugiyama_edges.push((prev, v));
                chain.push((r, v));
                prev = v;
            }
            sugiyama_edges.push((prev, j as u32));
            routes.push((i, j, chain));
        }
    }
    let config = rust_sugiyama::configure::Config {
        minimum_length: 1,
        vertex_spacing: f64::from(ROW_GAP),
        dummy_vertices: true,
        dummy_size: 1.0,
        ranking_type: rust_sugiyama::configure::RankingType::MinimizeEdgeLength,
        c_minimization: rust_sugiyama::configure::CrossingMinimization::Median,
        transpose: true,
    };
    // Across its layer, each vertex goes where the layout puts it (its x, which is our y).
    let mut across: Vec<f64> = (0..vertices.len()).map(|v| v as f64 * 100.0).collect();
    for (coords, _, _) in rust_sugiyama::from_vertices_and_edges(&vertices, &sugiyama_edges, &config) {
        for (v, (x, _)) in coords {
            across[v] = x;
        }
    }
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for &i in &flow.topo {
        order[rank[i]].push(i);
    }
    for layer in &mut order {
        layer.sort_by(|&a, &b| across[a].total_cmp(&across[b]));
    }

    let labels: Vec<String> = flow.nodes.iter().map(label_of).collect();
    // Row hints win over the barycentre order within their layer.
    for layer in &mut order {
        if layer.iter().any(|&i| flow.nodes[i].row.is_some()) {
            let mut keyed: Vec<(f32, usize)> =
                layer.iter().enumerate().map(|(k, &i)| (flow.nodes[i].row.map_or(k as f32 + 0.5, |r| r as f32), i)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            *layer = keyed.into_iter().map(|(_, i)| i).collect();
        }
    }

    // Each layer is as wide as its widest node. Across layers, nodes sit where the layered layout
    // put them, unless a row hint reordered their layer: then that layer is stacked in order.
    let layer_w: Vec<f32> = order.iter().map(|l| l.iter().map(|&i| span(kinds[i], &labels[i])).fold(0.0, f32::max)).collect();
    let hinted: Vec<bool> = order.iter().map(|l| l.iter().any(|&i| flow.nodes[i].row.is_some())).collect();
    let mut y_of: Vec<f32> = across.iter().map(|&a| a as f32).collect();
    for (l, layer) in order.iter().enumerate() {
        if hinted[l] {
            let mut slots: Vec<f32> = layer.iter().map(|&i| y_of[i]).collect();
            slots.sort_by(f32::total_cmp);
            for (k, &i) in layer.iter().enumerate() {
                y_of[i] = slots[k];
            }
        }
        // Keep neighbours in a layer apart by at least their room.
        for k in 1..layer.len() {
            let (a, b) = (layer[k - 1], layer[k]);
            let room = (size(kinds[a]).1 + size(kinds[b]).1) / 2.0 + LABEL_ROOM + ROW_GAP;
            if y_of[b] - y_of[a] < room {
                y_of[b] = y_of[a] + room;
            }
        }
    }
    let top = (0..vertices.len()).map(|v| y_of[v] - if v < n { size(kinds[v]).1 / 2.0 } else { 0.0 }).fold(f32::INFINITY, f32::min);
    let bottom = (0..vertices.len()).map(|v| y_of[v] + if v < n { size(kinds[v]).1 / 2.0 + LABEL_ROOM } else { 0.0 }).fold(f32::NEG_INFINITY, f32::max);
    for y in &mut y_of {
        *y += MARGIN - top;
    }
    // Loops return below everything, one lane each.
    const LANE: f32 = 16.0;
    let lanes = flow.back.len() as f32;
    let height = bottom - top + 2.0 * MARGIN + lanes * LANE;
    let below = bottom - top + MARGIN;
    let mut layer_x = Vec::with_capacity(layers);
    let mut shapes: Vec<Option<Shape>> = vec![None; n];
    let mut x = MARGIN;
    for (l, layer) in order.iter().enumerate() {
        let cx = x + layer_w[l] / 2.0;
        layer_x.push((x, x + layer_w[l]));
        for &i in layer {
            let (w, h) = size(kinds[i]);
            let (id, label) = (flow.nodes[i].id.clone(), labels[i].clone());
            shapes[i] = Some(Shape { id, label, kind: kinds[i], x: cx, y: y_of[i], w, h });
        }
        x += layer_w[l] + LAYER_GAP;
    }
    let width = x - LAYER_GAP + MARGIN;
    let shapes: Vec<Shape> = shapes.into_iter().map(|s| s.expect("every node has a layer")).collect();

    let mut edges = Vec::new();
    for (i, j, chain) in routes {
        let (a, b) = (&shapes[i], &shapes[j]);
        let (x1, y1, x2, y2) = (a.x + a.w / 2.0, a.y, b.x - b.w / 2.0, b.y);
        let points = if !chain.is_empty() {
            // Through each crossed layer at its dummy's height, with right-angled bends between.
            let mut via = vec![(x1, y1)];
            for (r, v) in chain {
                let y = y_of[v as usize];
                via.push((layer_x[r].0, y));
                via.push((layer_x[r].1, y));
            }
            via.push((x2, y2));
            orthogonal(&via)
        } else if (y1 - y2).abs() < 0.5 {
            vec![(x1, y1), (x2, y2)]
        } else if is_gateway(a.kind) {
            // Leave a gateway from its top or bottom corner, then run straight to the target.
            let yc = if y2 < y1 { a.y - a.h / 2.0 } else { a.y + a.h / 2.0 };
            vec![(a.x, yc), (a.x, y2), (x2, y2)]
        } else if is_gateway(b.kind) {
            let yc = if y1 < y2 { b.y - b.h / 2.0 } else { b.y + b.h / 2.0 };
            vec![(x1, y1), (b.x, y1), (b.x, yc)]
        } else {
            orthogonal(&[(x1, y1), (x2, y2)])
        };
        let failure = failure_edge(flow, i, j);
        edges.push(Edge { from: flow.nodes[i].id.clone(), to: flow.nodes[j].id.clone(), points, back: false, failure });
    }
    // A returning edge: out of the source's right side into the gap after its layer, down to its
    // own lane below the flow, back left to the gap before the target's layer, up, and into the
    // target's left side. Vertical runs stay in the gaps between layers, clear of every shape.
    for (k, &(i, j)) in flow.back.iter().enumerate() {
        let (a, b) = (&shapes[i], &shapes[j]);
        let lane = below + LANE * (k as f32 + 0.5);
        let nudge = 4.0 * k as f32;
        let out = layer_x[rank[i]].1 + LAYER_GAP / 2.0 + nudge;
        let back_in = layer_x[rank[j]].0 - LAYER_GAP / 2.0 - nudge;
        let points = vec![(a.x + a.w / 2.0, a.y), (out, a.y), (out, lane), (back_in, lane), (back_in, b.y), (b.x - b.w / 2.0, b.y)];
        edges.push(Edge { from: flow.nodes[i].id.clone(), to: flow.nodes[j].id.clone(), points, back: true, failure: failure_edge(flow, i, j) });
    }
    Diagram { width, height, nodes: shapes, edges }
}

fn is_gateway(kind: ShapeKind) -> bool {
    matches!(kind, ShapeKind::Parallel | ShapeKind::Exclusive | ShapeKind::Inclusive)
}

/// Whether `i → j` is where task `i`'s failure goes (and not also a sequence flow).
fn failure_edge(flow: &Flow, i: usize, j: usize) -> bool {
    matches!(&flow.nodes[i].kind, NodeKind::Task(t) if t.on_failure == Some(j)) && !flow.nodes[i].next.contains(&j)
}

#[cfg(all(test, feature = "files"))]
mod tests {
    use super::*;

    #[test]
    fn every_edge_points_right_and_shapes_do_not_overlap() {
        let flow = Flow::parse_toml("onboarding", include_str!("../../../flows/customer-onboarding.toml")).unwrap();
        let d = layout(&flow);
        assert_eq!(d.nodes.len(), flow.nodes.len());
        for e in d.edges.iter().filter(|e| !e.back) {
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

    /// No edge runs through a shape it does not start or end at: a rework loop below its task,
    /// its failure path in a column of its own, returning edges in lanes below everything.
    #[test]
    fn edges_go_around_shapes_and_loops_return_below() {
        let flow = Flow::parse_toml("onboarding", include_str!("../../../flows/customer-onboarding.toml")).unwrap();
        let d = layout(&flow);
        let shape = |id: &str| d.nodes.iter().find(|s| s.id == id).unwrap();
        let (address, correction, checked) = (shape("address"), shape("correction"), shape("checked"));
        assert!(address.x < correction.x && correction.x < checked.x, "the correction sits between the check and the join");
        for e in &d.edges {
            for s in d.nodes.iter().filter(|s| s.id != e.from && s.id != e.to) {
                let (l, r, t, b) = (s.x - s.w / 2.0 + 1.0, s.x + s.w / 2.0 - 1.0, s.y - s.h / 2.0 + 1.0, s.y + s.h / 2.0 - 1.0);
                for w in e.points.windows(2) {
                    let ((x1, y1), (x2, y2)) = (w[0], w[1]);
                    // Segments are horizontal or vertical.
                    let hits = if (y1 - y2).abs() < 0.5 {
                        y1 > t && y1 < b && x1.max(x2) > l && x1.min(x2) < r
                    } else {
                        x1 > l && x1 < r && y1.max(y2) > t && y1.min(y2) < b
                    };
                    assert!(!hits, "{} -> {} runs through {}", e.from, e.to, s.id);
                }
            }
        }
        let back = d.edges.iter().find(|e| e.back).expect("the correction loop returns");
        assert_eq!((back.from.as_str(), back.to.as_str()), ("correction", "address"));
        let lowest = d.nodes.iter().map(|s| s.y + s.h / 2.0).fold(0.0, f32::max);
        assert!(back.points.iter().any(|p| p.1 > lowest), "the returning edge runs below every shape");
        assert!(back.points.iter().all(|p| p.1 <= d.height), "and inside the drawing");
    }

    #[test]
    fn layout_hints_move_nodes() {
        let source = include_str!("../../../flows/customer-onboarding.toml");
        let plain = layout(&Flow::parse_toml("plain", source).unwrap());
        let at = |d: &Diagram, id: &str| d.nodes.iter().find(|s| s.id == id).map(|s| (s.x, s.y)).unwrap();
        // Whichever check the layout puts lower, a row-0 hint puts on top.
        let lower = if at(&plain, "criminal").1 > at(&plain, "address").1 { "criminal" } else { "address" };
        let other = if lower == "criminal" { "address" } else { "criminal" };
        let text = source
            .replace(&format!("id = \"{lower}\"\n"), &format!("id = \"{lower}\"\nlayout = {{ row = 0 }}\n"))
            .replace("id = \"approved\"\n", "id = \"approved\"\nlayout = { layer = 7 }\n");
        let d = layout(&Flow::parse_toml("hinted", &text).unwrap());
        assert!(at(&d, lower).1 < at(&d, other).1, "row 0 puts {lower} on top");
        assert!(at(&d, "approved").0 > at(&d, "rejected").0, "layer 7 pushes the approval right");
    }

    /// A flow of 20 nodes (a fork into five branches of two or three tasks, a join, a decision
    /// and a long edge skipping layers) stays readable: nothing overlaps and no edges cross.
    #[test]
    fn twenty_nodes_stay_readable() {
        let mut toml = String::from("id = \"big\"\nname = \"Big\"\nversion = 1\ncorrelation = { source = \"key\" }\n");
        let node = |id: &str, kind: &str, extra: &str, next: &[&str]| {
            let next: Vec<String> = next.iter().map(|n| format!("\"{n}\"")).collect();
            format!("[[nodes]]\nid = \"{id}\"\nkind = \"{kind}\"\n{extra}next = [{}]\n", next.join(", "))
        };
        let task = |id: &str, next: &[&str]| {
            node(id, "task", &format!("request = \"{id}Req\"\nsuccess = \"{id}Done\"\n"), next)
        };
        toml += &node("start", "start", "event = \"Go\"\n", &["fork"]);
        toml += &node("fork", "parallel", "", &["a1", "b1", "c1", "d1", "e1"]);
        for (b, len) in [("a", 3), ("b", 2), ("c", 3), ("d", 2), ("e", 3)] {
            for k in 1..=len {
                let id = format!("{b}{k}");
                let next = if k == len { "join".to_string() } else { format!("{b}{}", k + 1) };
                toml += &task(&id, &[&next]);
            }
        }
        toml += &node("join", "parallel", "", &["decide"]);
        toml += &node("decide", "exclusive", "", &["fast", "slow"]);
        toml += &task("fast", &["done"]);
        toml += &task("slow", &["done"]);
        toml += &node("done", "end", "event = \"Finished\"\n", &[]);
        let flow = Flow::parse_toml("big", &toml).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(flow.nodes.len() >= 20, "{} nodes", flow.nodes.len());
        let d = layout(&flow);
        for (i, a) in d.nodes.iter().enumerate() {
            for b in &d.nodes[i + 1..] {
                let apart = (a.x - b.x).abs() >= (a.w + b.w) / 2.0 || (a.y - b.y).abs() >= (a.h + b.h) / 2.0;
                assert!(apart, "{} overlaps {}", a.id, b.id);
            }
        }
        // Segments of different edges meet only where the edges share a node.
        let segments: Vec<((f32, f32), (f32, f32), &Edge)> =
            d.edges.iter().flat_map(|e| e.points.windows(2).map(move |w| (w[0], w[1], e))).collect();
        let crosses = |(a, b): ((f32, f32), (f32, f32)), (c, e): ((f32, f32), (f32, f32))| {
            let cross = |o: (f32, f32), p: (f32, f32), q: (f32, f32)| (p.0 - o.0) * (q.1 - o.1) - (p.1 - o.1) * (q.0 - o.0);
            let (d1, d2, d3, d4) = (cross(c, e, a), cross(c, e, b), cross(a, b, c), cross(a, b, e));
            d1 * d2 < 0.0 && d3 * d4 < 0.0
        };
        let mut crossings = 0;
        for (i, s) in segments.iter().enumerate() {
            for t in &segments[i + 1..] {
                let share = s.2.from == t.2.from || s.2.to == t.2.to || s.2.from == t.2.to || s.2.to == t.2.from;
                if !share && crosses((s.0, s.1), (t.0, t.1)) {
                    crossings += 1;
                }
            }
        }
        assert_eq!(crossings, 0, "edges cross");
    }
}
