//! The token game: where an instance is, replayed from its events in time order.
//!
//! Tokens mark where an instance stands: at a task (its latest visit, open or failed), at a
//! decision waiting to see which branch was taken, at a join waiting for its other branches, or at
//! an end waiting for its event. An event moves them:
//! - a request or outcome of a task with a token there updates that visit;
//! - otherwise the event shows the flow moved on without telling us how: a token that may move
//!   silently (one at a decision, or at a failed task) is walked through gateways, the shortest
//!   way, to the event's node. Parallel splits on that way send tokens down their other branches;
//! - when no token can get there the event is still recorded (a visit, an end), with a deviation
//!   saying the flow did not lead there.
//!
//! Everything here is a function of the events before it, so [`Run`] after a log is the fold of
//! [`Run::step`] over it: appending the latest event is one step; a late event means folding again.

use serde::{Deserialize, Serialize};

use crate::flow::{Flow, NodeKind, Trigger};
use crate::time::Millis;

/// One run of a node: a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// When the node became active (a task's request, else when the flow got there).
    pub started: Millis,
    /// When it was done or failed; none while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Millis>,
    pub outcome: VisitOutcome,
    /// The event that asked for the work (what a retry resends), if any: its place in the
    /// instance's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<u32>,
    /// Opened by a retry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retried: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitOutcome {
    /// Still running (or left open when the instance ended).
    Open,
    Done,
    Failed,
    /// Given up for a new visit by a retry, or a second request.
    Replaced,
}

/// A token: where the instance stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub node: usize,
    /// At a join: the branch it came by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<usize>,
    /// Since when it is free to move on.
    pub since: Millis,
    /// At an inclusive split that already sent one branch on: it may send more, but nobody waits there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spent: bool,
}

/// What the events say about an instance, as of the latest one replayed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Per node (by index): its visits, oldest first.
    pub visits: Vec<Vec<Visit>>,
    pub tokens: Vec<Token>,
    /// Start events seen.
    pub starts: u32,
    /// Whether the flow was entered (by the start event, or by the first event after an untyped start).
    pub begun: bool,
    /// End nodes reached, with when.
    pub ends: Vec<(usize, Millis)>,
    /// What did not follow the flow, per node where there is one.
    pub notes: Vec<(Option<usize>, String)>,
}

/// An entry of the instance's log: an event, or a retry action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "t")]
    pub at: Millis,
    #[serde(rename = "i")]
    pub id: String,
    #[serde(flatten)]
    pub what: What,
}

/// Stored with one-letter keys: a long-running instance keeps every entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum What {
    /// An event of a type the flow maps.
    #[serde(rename = "e")]
    Event(String),
    /// A retry of the task with this id was sent.
    #[serde(rename = "r")]
    Retry(String),
}

/// A bound on silent moves in one step, far above any sound flow's needs: a guard, not a rule.
const MOVES: usize = 10_000;

impl Run {
    pub fn new(flow: &Flow) -> Run {
        Run { visits: vec![Vec::new(); flow.nodes.len()], ..Run::default() }
    }

    /// The fold of [`Run::step`] over `log`.
    pub fn replay<'a>(flow: &Flow, log: impl IntoIterator<Item = &'a Entry>) -> Run {
        let mut run = Run::new(flow);
        for (index, entry) in log.into_iter().enumerate() {
            run.step(flow, entry, index);
        }
        run
    }

    /// Applies the next entry of the log, the `index`-th.
    pub fn step(&mut self, flow: &Flow, entry: &Entry, index: usize) {
        if self.visits.len() < flow.nodes.len() {
            self.visits.resize(flow.nodes.len(), Vec::new());
        }
        match &entry.what {
            What::Event(ty) => {
                if let Some((node, trigger)) = flow.trigger(ty) {
                    self.observe(flow, node, trigger, entry.at, index as u32, ty);
                }
            }
            What::Retry(node) => {
                if let Some(i) = flow.node_index(node) {
                    self.retry(i, entry.at);
                }
            }
        }
        if flow.nodes.iter().any(|n| matches!(n.kind, NodeKind::Inclusive)) {
            self.fire_inclusive_joins(flow);
        }
    }

    fn token_at(&self, node: usize) -> Option<usize> {
        self.tokens.iter().position(|t| t.node == node && t.from.is_none())
    }

    fn open_visit(&mut self, node: usize, started: Millis, request: Option<u32>) {
        self.visits[node].push(Visit { started, finished: None, outcome: VisitOutcome::Open, request, retried: false });
    }

    /// A visit that begins and ends at once: a gateway passed, an event reached.
    fn instant(&mut self, node: usize, at: Millis) {
        self.visits[node].push(Visit { started: at, finished: Some(at), outcome: VisitOutcome::Done, request: None, retried: false });
    }

    fn latest(&mut self, node: usize) -> Option<&mut Visit> {
        self.visits[node].last_mut()
    }

    fn begin(&mut self, flow: &Flow, at: Millis) {
        if !self.begun {
            self.begun = true;
            let start = flow.start();
            self.instant(start, at);
            self.advance(flow, start, at);
        }
    }

    fn observe(&mut self, flow: &Flow, node: usize, trigger: Trigger, at: Millis, id: u32, ty: &str) {
        match &flow.nodes[node].kind {
            NodeKind::Start { .. } => {
                self.starts += 1;
                if self.begun {
                    // The flow was entered by an earlier event: the start now only dates it.
                    if let Some(first) = self.visits[node].first_mut() {
                        if first.started > at {
                            (first.started, first.finished) = (at, Some(at));
                        }
                    }
                } else {
                    self.begin(flow, at);
                }
                return;
            }
            _ => self.begin(flow, at),
        }
        match (&flow.nodes[node].kind, trigger) {
            (NodeKind::End { .. }, _) => {
                if let Some(k) = self.token_at(node) {
                    self.tokens.remove(k);
                } else if !self.jump(flow, node, at) {
                    self.stray(flow, node, ty);
                }
                self.instant(node, at);
                self.ends.push((node, at));
            }
            (NodeKind::Intermediate { .. }, _) => match self.token_at(node) {
                Some(k) => {
                    self.tokens.remove(k);
                    self.close(node, at, VisitOutcome::Done);
                    self.advance(flow, node, at);
                }
                None if self.jump(flow, node, at) => {
                    let k = self.token_at(node).expect("a jump leaves a token at its target");
                    self.tokens.remove(k);
                    self.close(node, at, VisitOutcome::Done);
                    self.advance(flow, node, at);
                }
                None => {
                    self.stray(flow, node, ty);
                    self.instant(node, at);
                }
            },
            (NodeKind::Task(_), Trigger::Request) => {
                let held = self.token_at(node);
                match (held, self.visits[node].last().map(|v| (v.outcome, v.request.is_some()))) {
                    // Asked for, as the flow expected.
                    (Some(_), Some((VisitOutcome::Open, false))) => {
                        let v = self.latest(node).expect("matched a visit");
                        v.started = at;
                        v.request = Some(id);
                    }
                    // Asked for again while it runs: the same visit.
                    (Some(_), Some((VisitOutcome::Open, true))) => {}
                    // Asked for again after it failed: rework of the same step.
                    (Some(k), _) => {
                        self.tokens[k].since = at;
                        self.open_visit(node, at, Some(id));
                    }
                    (None, _) => {
                        if self.jump(flow, node, at) {
                            let v = self.latest(node).expect("a jump opens a visit");
                            v.started = at;
                            v.request = Some(id);
                        } else {
                            self.stray(flow, node, ty);
                            self.open_visit(node, at, Some(id));
                            self.tokens.push(Token { node, from: None, since: at, spent: false });
                        }
                    }
                }
            }
            (NodeKind::Task(task), outcome) => {
                let failed = outcome == Trigger::Fail;
                let held = self.token_at(node);
                let open = self.visits[node].last().is_some_and(|v| v.outcome == VisitOutcome::Open);
                let found = match (held, open) {
                    (Some(_), true) => true,
                    // An outcome after a failure, with no new request: the step ran again.
                    (Some(k), false) => {
                        let since = self.tokens[k].since;
                        self.open_visit(node, since, None);
                        true
                    }
                    (None, _) => self.jump(flow, node, at),
                };
                if !found {
                    self.stray(flow, node, ty);
                    self.open_visit(node, at, None);
                    self.close(node, at, if failed { VisitOutcome::Failed } else { VisitOutcome::Done });
                    return;
                }
                if let (Some(request), None) = (&task.request, &self.visits[node].last().expect("a visit is open").request) {
                    if !self.visits[node].last().expect("a visit is open").retried {
                        self.notes.push((Some(node), format!("an outcome arrived, but `{request}` never did")));
                    }
                }
                let k = self.token_at(node).expect("a token is at the node");
                if failed {
                    self.close(node, at, VisitOutcome::Failed);
                    match task.on_failure {
                        Some(to) => {
                            self.tokens.remove(k);
                            self.arrive(flow, to, node, at, 0);
                        }
                        // The token stays: the failed step holds the instance until it runs again
                        // or the flow shows it moved on.
                        None => self.tokens[k].since = at,
                    }
                } else {
                    self.tokens.remove(k);
                    self.close(node, at, VisitOutcome::Done);
                    self.advance(flow, node, at);
                }
            }
            (NodeKind::Parallel | NodeKind::Exclusive | NodeKind::Inclusive, _) => {}
            (NodeKind::Start { .. }, _) => unreachable!("handled above"),
        }
    }

    fn close(&mut self, node: usize, at: Millis, outcome: VisitOutcome) {
        if let Some(v) = self.latest(node) {
            v.finished = Some(at);
            v.outcome = outcome;
        }
    }

    /// A retry of `node`: the visit it holds is replaced by a new one, running from now.
    fn retry(&mut self, node: usize, at: Millis) {
        let Some(k) = self.token_at(node) else { return };
        let request = self.visits[node].last().and_then(|v| v.request);
        if let Some(v) = self.latest(node) {
            if v.outcome == VisitOutcome::Open {
                v.outcome = VisitOutcome::Replaced;
                v.finished = Some(at);
            }
        }
        self.tokens[k].since = at;
        self.visits[node].push(Visit { started: at, finished: None, outcome: VisitOutcome::Open, request, retried: true });
    }

    fn stray(&mut self, flow: &Flow, node: usize, ty: &str) {
        let mut at: Vec<&str> = self.tokens.iter().filter(|t| !t.spent && t.from.is_none()).map(|t| flow.nodes[t.node].id.as_str()).collect();
        at.dedup();
        let place = if at.is_empty() { "nowhere (it had ended or not begun)".to_string() } else { at.join(", ") };
        self.notes.push((Some(node), format!("`{ty}` does not follow from where the instance was: {place}")));
    }

    /// Sends the flow on from `node` along its sequence flows.
    fn advance(&mut self, flow: &Flow, node: usize, at: Millis) {
        for &j in &flow.nodes[node].next {
            self.arrive(flow, j, node, at, 0);
        }
    }

    /// The flow reaches `node` from `from` at `at`.
    fn arrive(&mut self, flow: &Flow, node: usize, from: usize, at: Millis, depth: usize) {
        if depth > MOVES {
            self.notes.push((Some(node), "the flow goes round gateways without reaching a step; stopped".into()));
            return;
        }
        let n = &flow.nodes[node];
        match &n.kind {
            NodeKind::Task(_) => {
                self.open_visit(node, at, None);
                self.tokens.push(Token { node, from: None, since: at, spent: false });
            }
            NodeKind::Intermediate { event, .. } if !event.is_empty() => {
                self.open_visit(node, at, None);
                self.tokens.push(Token { node, from: None, since: at, spent: false });
            }
            NodeKind::End { event, .. } if !event.is_empty() => self.tokens.push(Token { node, from: None, since: at, spent: false }),
            NodeKind::End { .. } => {
                self.instant(node, at);
                self.ends.push((node, at));
            }
            NodeKind::Start { .. } => {}
            NodeKind::Exclusive | NodeKind::Inclusive if n.next.len() > 1 => {
                self.open_visit(node, at, None);
                self.tokens.push(Token { node, from: None, since: at, spent: false });
            }
            NodeKind::Inclusive if n.prev.len() > 1 => {
                self.tokens.push(Token { node, from: Some(from), since: at, spent: false });
            }
            NodeKind::Parallel if n.prev.len() > 1 => {
                self.tokens.push(Token { node, from: Some(from), since: at, spent: false });
                let complete = n.prev.iter().all(|&p| self.tokens.iter().any(|t| t.node == node && t.from == Some(p)));
                if complete {
                    for &p in &n.prev {
                        let k = self.tokens.iter().position(|t| t.node == node && t.from == Some(p)).expect("checked");
                        self.tokens.remove(k);
                    }
                    self.instant(node, at);
                    for &j in &n.next {
                        self.arrive(flow, j, node, at, depth + 1);
                    }
                }
            }
            // Merges, splits that take every branch, events with no type: straight through.
            NodeKind::Exclusive | NodeKind::Inclusive | NodeKind::Parallel | NodeKind::Intermediate { .. } => {
                self.instant(node, at);
                for &j in &n.next {
                    self.arrive(flow, j, node, at, depth + 1);
                }
            }
        }
    }

    /// Whether the token at `t` may move on without an event: it waits at a decision, or at a
    /// failed task.
    fn movable(&self, flow: &Flow, t: &Token) -> bool {
        if t.from.is_some() {
            // A branch waiting at an inclusive join may go on when a later event shows the flow
            // did: nobody can know how many branches the split sent.
            return matches!(flow.nodes[t.node].kind, NodeKind::Inclusive);
        }
        match &flow.nodes[t.node].kind {
            NodeKind::Exclusive | NodeKind::Inclusive => true,
            NodeKind::Task(_) => self.visits[t.node].last().is_some_and(|v| v.outcome == VisitOutcome::Failed),
            _ => false,
        }
    }

    /// Whether a silent walk may pass through `node`, coming from `from`. A parallel join lets it
    /// through when every other branch has arrived, or can arrive silently itself.
    fn passable(&self, flow: &Flow, node: usize, from: usize, depth: usize) -> bool {
        let n = &flow.nodes[node];
        match &n.kind {
            NodeKind::Exclusive | NodeKind::Inclusive => true,
            NodeKind::Intermediate { event, .. } => event.is_empty(),
            NodeKind::Parallel if n.prev.len() > 1 => n
                .prev
                .iter()
                .filter(|&&p| p != from)
                .all(|&p| self.arrived(node, p) || depth < 2 && self.feeder(flow, node, p, depth + 1).is_some()),
            NodeKind::Parallel => true,
            _ => false,
        }
    }

    fn arrived(&self, join: usize, from: usize) -> bool {
        self.tokens.iter().any(|t| t.node == join && t.from == Some(from))
    }

    /// The shortest silent walk from `origin` to `target` (entering it from `via`, when given):
    /// the nodes after `origin`, ending with `target`.
    fn walk(&self, flow: &Flow, origin: usize, target: usize, via: Option<usize>, depth: usize) -> Option<Vec<usize>> {
        let mut came: Vec<Option<usize>> = vec![None; flow.nodes.len()];
        let mut queue = std::collections::VecDeque::from([origin]);
        let mut seen = vec![false; flow.nodes.len()];
        seen[origin] = true;
        while let Some(i) = queue.pop_front() {
            // A failed task moves on along its sequence flows only.
            for j in flow.nodes[i].next.clone() {
                if j == target && via.is_none_or(|v| v == i) {
                    let mut path = vec![j];
                    let mut at = i;
                    while at != origin {
                        path.push(at);
                        at = came[at].expect("walked here");
                    }
                    path.reverse();
                    return Some(path);
                }
                if seen[j] {
                    continue;
                }
                seen[j] = true;
                came[j] = Some(i);
                if self.passable(flow, j, i, depth) {
                    queue.push_back(j);
                }
            }
        }
        None
    }

    /// A token that can move silently into `join` by its branch from `via`, and its walk.
    fn feeder(&self, flow: &Flow, join: usize, via: usize, depth: usize) -> Option<(Token, Vec<usize>)> {
        self.tokens
            .iter()
            .filter(|t| self.movable(flow, t))
            .filter_map(|t| self.walk(flow, t.node, join, Some(via), depth).map(|p| (t.clone(), p)))
            .min_by_key(|(t, p)| (p.len(), t.since, t.node))
    }

    /// Walks a token that may move silently to `target`, the shortest way (ties: the token that
    /// has waited longest, then the lowest node). On success the target has an open visit (a
    /// task or event) or a token to take (an end).
    fn jump(&mut self, flow: &Flow, target: usize, at: Millis) -> bool {
        let best = self
            .tokens
            .iter()
            .filter(|t| self.movable(flow, t))
            .filter_map(|t| self.walk(flow, t.node, target, None, 0).map(|p| (t.clone(), p)))
            .min_by_key(|(t, p)| (p.len(), t.since, t.node));
        let Some((token, path)) = best else { return false };
        let since = self.take(flow, &token, &path, at);
        match &flow.nodes[target].kind {
            NodeKind::End { .. } => {}
            _ => {
                self.open_visit(target, since, None);
                self.tokens.push(Token { node: target, from: None, since, spent: false });
            }
        }
        true
    }

    /// Moves `token` along `path` (all but its last node, which the caller handles); returns
    /// since when the token is free at the end of it.
    fn take(&mut self, flow: &Flow, token: &Token, path: &[usize], at: Millis) -> Millis {
        let k = self.tokens.iter().position(|t| t == token).expect("the token is there");
        let origin = token.node;
        match &flow.nodes[origin].kind {
            NodeKind::Inclusive if token.from.is_some() => {
                // The join goes on: its branches, and splits that might have sent more, are done.
                self.tokens.retain(|t| t.node != origin && !(t.spent && reaches(flow, t.node, origin)));
                self.instant(origin, at);
            }
            NodeKind::Inclusive if !token.spent => {
                self.close(origin, at, VisitOutcome::Done);
                self.tokens[k].spent = true;
            }
            NodeKind::Inclusive => {}
            NodeKind::Exclusive => {
                self.close(origin, at, VisitOutcome::Done);
                self.tokens.remove(k);
            }
            _ => {
                self.tokens.remove(k);
            }
        }
        let since = token.since;
        let mut prev = origin;
        for (step, &node) in path[..path.len() - 1].iter().enumerate() {
            let n = &flow.nodes[node];
            match &n.kind {
                NodeKind::Parallel => {
                    if n.prev.len() > 1 {
                        for p in n.prev.clone().into_iter().filter(|&p| p != prev) {
                            if !self.arrived(node, p) {
                                // Bring the other branch in too: the flow evidently went on.
                                if let Some((other, walk)) = self.feeder(flow, node, p, 1) {
                                    let t = self.take(flow, &other, &walk, at);
                                    self.tokens.push(Token { node, from: Some(p), since: t, spent: false });
                                }
                            }
                            if let Some(i) = self.tokens.iter().position(|t| t.node == node && t.from == Some(p)) {
                                self.tokens.remove(i);
                            }
                        }
                    }
                    self.instant(node, since);
                    let onward = path[step + 1];
                    for j in n.next.clone().into_iter().filter(|&j| j != onward) {
                        self.arrive(flow, j, node, since, 0);
                    }
                }
                NodeKind::Inclusive if n.prev.len() > 1 => {
                    self.tokens.retain(|t| t.node != node);
                    self.instant(node, since);
                }
                _ => self.instant(node, since),
            }
            prev = node;
        }
        since
    }

    /// An inclusive join goes on once a branch has arrived and no other token could still
    /// arrive; while its split might send another branch it waits, and a later event past the
    /// join moves it on (see [`Run::movable`]).
    fn fire_inclusive_joins(&mut self, flow: &Flow) {
        loop {
            let ready = flow.nodes.iter().enumerate().find(|(j, n)| {
                matches!(n.kind, NodeKind::Inclusive)
                    && n.prev.len() > 1
                    && self.tokens.iter().any(|t| t.node == *j && t.from.is_some())
                    && !self.tokens.iter().any(|t| t.node != *j && reaches(flow, t.node, *j))
            });
            let Some((j, _)) = ready else { return };
            let at = self.tokens.iter().filter(|t| t.node == j).map(|t| t.since).max().expect("a branch arrived");
            self.tokens.retain(|t| t.node != j && !(t.spent && reaches(flow, t.node, j)));
            self.instant(j, at);
            for k in flow.nodes[j].next.clone() {
                self.arrive(flow, k, j, at, 0);
            }
        }
    }
}

/// Whether a path leads from `from` to `to`.
fn reaches(flow: &Flow, from: usize, to: usize) -> bool {
    crate::graph::reachable(&flow.nodes, from, |_, _| true)[to]
}
