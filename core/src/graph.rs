//! The shape of a flow's graph: the checks every flow must pass, however it was written (TOML or
//! BPMN), and the loop structure the layout and the checks use.
//!
//! Loops are allowed. A depth-first walk from the start finds the edges that close them (*back
//! edges*); without those the graph is acyclic, which gives a topological order for layering and
//! for the join checks. What is refused is a loop nothing leaves (an instance in it could never
//! end) and a loop made of gateways alone (nothing in it would ever wait for an event).

use crate::flow::{Node, NodeKind};

/// A problem with the graph, at a node (by index) or with the flow as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphProblem {
    pub node: Option<usize>,
    pub problem: String,
}

/// What the checks learned about a sound graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Nodes in an order where each comes after its predecessors, back edges left out.
    pub topo: Vec<usize>,
    /// The edges that close loops: (from, to).
    pub back: Vec<(usize, usize)>,
}

/// Fills in every node's `prev` from the others' successors.
pub fn link(nodes: &mut [Node]) {
    for i in 0..nodes.len() {
        for j in nodes[i].successors().collect::<Vec<_>>() {
            nodes[j].prev.push(i);
        }
    }
}

/// Which nodes can be reached from `from` by edges that `follow` accepts; `from` itself only if a
/// path returns to it.
pub fn reachable(nodes: &[Node], from: usize, follow: impl Fn(usize, usize) -> bool) -> Vec<bool> {
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        for j in nodes[i].successors().filter(|&j| follow(i, j)) {
            if !std::mem::replace(&mut seen[j], true) {
                stack.push(j);
            }
        }
    }
    seen
}

/// Whether a token can stop at `node` and wait there for something to happen: a task, a typed
/// intermediate event, a decision (a split waiting to see its branch), an end.
fn waits(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Task(_) | NodeKind::End { .. } | NodeKind::Start { .. } => true,
        NodeKind::Intermediate { event, .. } => !event.is_empty(),
        NodeKind::Exclusive | NodeKind::Inclusive => node.next.len() > 1,
        NodeKind::Parallel => false,
    }
}

/// A depth-first walk from `start`: an edge to a node still on the walk's path closes a loop
/// (a back edge); the nodes in reverse order of finishing are a topological order of the rest.
/// Nodes the walk does not reach are not in `topo`.
pub fn walk(nodes: &[Node], start: usize) -> Shape {
    let mut state = vec![0u8; nodes.len()]; // 0 unseen, 1 on the path, 2 finished
    let mut back = Vec::new();
    let mut finished = Vec::with_capacity(nodes.len());
    let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, nodes[start].successors().collect())];
    state[start] = 1;
    while let Some((i, rest)) = stack.last_mut() {
        let i = *i;
        if rest.is_empty() {
            state[i] = 2;
            finished.push(i);
            stack.pop();
            continue;
        }
        let j = rest.remove(0);
        match state[j] {
            0 => {
                state[j] = 1;
                stack.push((j, nodes[j].successors().collect()));
            }
            1 => back.push((i, j)),
            _ => {}
        }
    }
    finished.reverse();
    Shape { topo: finished, back }
}

/// Checks a flow's graph; `prev` of every node must already be filled in.
pub fn check(nodes: &[Node]) -> Result<Shape, Vec<GraphProblem>> {
    let mut problems = Vec::new();
    let mut at = |node: Option<usize>, problem: String| problems.push(GraphProblem { node, problem });
    let starts: Vec<usize> = (0..nodes.len()).filter(|&i| matches!(nodes[i].kind, NodeKind::Start { .. })).collect();
    match starts.len() {
        1 => {}
        0 => at(None, "the flow has no start node".into()),
        _ => at(Some(starts[1]), format!("a second start node `{}`; a flow has exactly one", nodes[starts[1]].id)),
    }
    if !nodes.iter().any(|n| matches!(n.kind, NodeKind::End { .. })) {
        at(None, "the flow has no end node".into());
    }
    for (i, n) in nodes.iter().enumerate() {
        let ends = matches!(n.kind, NodeKind::End { .. });
        if ends && n.successors().next().is_some() {
            at(Some(i), format!("end node `{}` has `next`; nothing follows an end", n.id));
        }
        if !ends && n.successors().next().is_none() {
            at(Some(i), format!("node `{}` leads nowhere: give it `next` or make it an end", n.id));
        }
        if matches!(n.kind, NodeKind::Start { .. }) && !n.prev.is_empty() {
            at(Some(i), format!("start node `{}` has incoming flows; a loop goes back to a step, not to the start", n.id));
        }
    }
    let Some(&start) = starts.first() else { return Err(problems) };

    let Shape { topo, back } = walk(nodes, start);
    let mut reached = vec![false; nodes.len()];
    topo.iter().for_each(|&i| reached[i] = true);
    for i in (0..nodes.len()).filter(|&i| !reached[i]) {
        at(Some(i), format!("node `{}` cannot be reached from the start node", nodes[i].id));
    }

    // Loops: strongly connected parts with more than one node, or a node that leads to itself.
    for part in strongly_connected(nodes) {
        let looped = part.len() > 1 || nodes[part[0]].successors().any(|j| j == part[0]);
        if !looped {
            continue;
        }
        let names = part.iter().map(|&i| format!("`{}`", nodes[i].id)).collect::<Vec<_>>().join(", ");
        let inside = |j: usize| part.contains(&j);
        let leaves = part.iter().any(|&i| nodes[i].successors().any(|j| !inside(j)));
        if !leaves {
            at(Some(part[0]), format!("the loop through {names} has no way out: give one of them a `next` outside the loop"));
        }
        if !part.iter().any(|&i| waits(&nodes[i])) {
            at(Some(part[0]), format!("the loop through {names} has no step in it: a loop needs a task or an event to wait for"));
        }
        for &(from, to) in back.iter().filter(|(f, t)| inside(*f) && inside(*t)) {
            if matches!(nodes[to].kind, NodeKind::Parallel) && nodes[to].prev.len() > 1 {
                at(
                    Some(to),
                    format!(
                        "parallel join `{}` closes a loop (from `{}`): it would wait for ever for the branch that is behind it; merge a loop with an exclusive gateway",
                        nodes[to].id, nodes[from].id
                    ),
                );
            }
        }
    }
    check_joins(nodes, &topo, &back, &mut at);
    if problems.is_empty() {
        Ok(Shape { topo, back })
    } else {
        Err(problems)
    }
}

/// The strongly connected parts of the graph: nodes that reach each other. Flows are small, so
/// one walk from every node is plenty.
fn strongly_connected(nodes: &[Node]) -> Vec<Vec<usize>> {
    let reach: Vec<Vec<bool>> = (0..nodes.len()).map(|i| reachable(nodes, i, |_, _| true)).collect();
    let mut placed = vec![false; nodes.len()];
    let mut parts = Vec::new();
    for i in 0..nodes.len() {
        if !placed[i] {
            let part: Vec<usize> = (0..nodes.len()).filter(|&j| j == i || reach[i][j] && reach[j][i]).collect();
            for &j in &part {
                placed[j] = true;
            }
            parts.push(part);
        }
    }
    parts
}

/// A parallel join waits for all of its branches, so they must all come from one parallel split;
/// branches of an exclusive choice never all arrive, and such a join would wait forever.
fn check_joins(nodes: &[Node], topo: &[usize], back: &[(usize, usize)], at: &mut impl FnMut(Option<usize>, String)) {
    let n = nodes.len();
    let mut rank = vec![0; n];
    for (k, &i) in topo.iter().enumerate() {
        rank[i] = k;
    }
    let forward = |q: usize, i: usize| !back.contains(&(q, i));
    // ancestors[i][j]: j comes before i on some path without back edges.
    let mut ancestors = vec![vec![false; n]; n];
    for &i in topo {
        for &q in nodes[i].prev.iter().filter(|&&q| forward(q, i)) {
            let mut merged = ancestors[q].clone();
            merged[q] = true;
            for (a, m) in ancestors[i].iter_mut().zip(merged) {
                *a |= m;
            }
        }
    }
    for (j, node) in nodes.iter().enumerate() {
        if !matches!(node.kind, NodeKind::Parallel) || node.prev.len() < 2 {
            continue;
        }
        let incoming: Vec<usize> = node.prev.iter().copied().filter(|&q| forward(q, j)).collect();
        if incoming.len() < 2 {
            continue; // closes a loop: refused above
        }
        // The nearest node that every incoming branch passes through (or starts at).
        let meet = (0..n).filter(|&a| incoming.iter().all(|&q| q == a || ancestors[q][a])).max_by_key(|&a| rank[a]);
        let split_ok = meet.is_some_and(|a| matches!(nodes[a].kind, NodeKind::Parallel) && nodes[a].next.len() > 1);
        if !split_ok {
            let place = match meet {
                Some(a) => format!("their nearest common node is `{}`, not a parallel split", nodes[a].id),
                None => "they share no node".to_string(),
            };
            at(Some(j), format!("parallel join `{}` has no matching parallel split: {place}", node.id));
        }
    }
}
