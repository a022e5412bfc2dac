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

/// Every node a node leads to: its sequence flows, then where a failure goes.
pub fn successors(node: &Node) -> impl Iterator<Item = usize> + '_ {
    node.next.iter().copied().chain(match &node.kind {
        NodeKind::Task(t) => t.on_failure,
        _ => None,
    })
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
        if ends && successors(n).next().is_some() {
            at(Some(i), format!("end node `{}` has `next`; nothing follows an end", n.id));
        }
        if !ends && successors(n).next().is_none() {
            at(Some(i), format!("node `{}` leads nowhere: give it `next` or make it an end", n.id));
        }
        if matches!(n.kind, NodeKind::Start { .. }) && !n.prev.is_empty() {
            at(Some(i), format!("start node `{}` has incoming flows; a loop goes back to a step, not to the start", n.id));
        }
    }
    let Some(&start) = starts.first() else { return Err(problems) };

    // Depth-first from the start: an edge to a node still on the walk's path closes a loop.
    let n = nodes.len();
    let mut state = vec![0u8; n]; // 0 unseen, 1 on the path, 2 finished
    let mut back = Vec::new();
    let mut finished = Vec::with_capacity(n);
    let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, successors(&nodes[start]).collect())];
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
                stack.push((j, successors(&nodes[j]).collect()));
            }
            1 => back.push((i, j)),
            _ => {}
        }
    }
    for i in (0..n).filter(|&i| state[i] == 0) {
        at(Some(i), format!("node `{}` cannot be reached from the start node", nodes[i].id));
    }
    finished.reverse();
    let topo = finished;

    // Loops: strongly connected parts with more than one node, or a node that leads to itself.
    for part in strongly_connected(nodes) {
        let looped = part.len() > 1 || successors(&nodes[part[0]]).any(|j| j == part[0]);
        if !looped {
            continue;
        }
        let names = part.iter().map(|&i| format!("`{}`", nodes[i].id)).collect::<Vec<_>>().join(", ");
        let inside = |j: usize| part.contains(&j);
        let leaves = part.iter().any(|&i| successors(&nodes[i]).any(|j| !inside(j)));
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

/// Tarjan's algorithm, iterative: the strongly connected parts of the graph.
fn strongly_connected(nodes: &[Node]) -> Vec<Vec<usize>> {
    let n = nodes.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut parts = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>)> = Vec::new();
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        work.push((root, successors(&nodes[root]).collect()));
        while let Some((v, rest)) = work.last_mut() {
            let v = *v;
            if let Some(w) = rest.pop() {
                if index[w] == usize::MAX {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, successors(&nodes[w]).collect()));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some((u, _)) = work.last() {
                low[*u] = low[*u].min(low[v]);
            }
            if low[v] == index[v] {
                let mut part = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    part.push(w);
                    if w == v {
                        break;
                    }
                }
                part.sort_unstable();
                parts.push(part);
            }
        }
    }
    parts.sort();
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
