//! One process instance: what has been seen of it, and the state that follows.
//!
//! An instance stores *facts* (when each node was first requested, done, failed) rather than a
//! state machine's current state. Every fact keeps the earliest time it was seen, and every event
//! id is remembered, so applying an event twice, or an instance's events in any order, gives the
//! same facts. Everything people see (node states, status, deviations, SLA breaches) is derived
//! from the facts and the model on demand.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::flow::{Flow, NodeKind, Outcome, Trigger};
use crate::time::{Millis, Span};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub facts: Vec<NodeFacts>,
    /// Ids of every event applied, so a redelivered event changes nothing.
    #[serde(default)]
    pub seen: BTreeSet<String>,
    /// Every start event, by time then id; the first one counts, more are a deviation.
    #[serde(default)]
    pub starts: BTreeSet<(Millis, String)>,
    /// Events that reached this instance but are of no type its flow maps: (time, id, type).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unmapped: BTreeSet<(Millis, String, String)>,
    pub first_event: Option<Millis>,
    pub last_event: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<Millis>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFacts {
    /// A start or end event reached, or a task succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Millis>,
    /// The earliest request of a task: when, and which event (its payload is what a retry resends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<(Millis, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Millis>,
}

/// What applying one event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new event, recorded.
    Recorded,
    /// Its id was seen before: nothing changed.
    Duplicate,
    /// A new event of a type this flow does not map: kept as a deviation.
    Unmapped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Running, Status::Completed, Status::Failed, Status::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A status filter as a request gives it: empty or absent means any status.
    pub fn parse_filter(s: Option<&str>) -> Result<Option<Status>, String> {
        match s.filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => Status::parse(s)
                .map(Some)
                .ok_or_else(|| format!("unknown status `{s}`; use running, completed, failed or cancelled")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    NotReached,
    Active,
    Done,
    Failed,
}

/// A node as it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub id: String,
    pub status: NodeStatus,
    /// When the node became active (tasks and decisions).
    pub started: Option<Millis>,
    /// When it was done or failed.
    pub finished: Option<Millis>,
    /// When a task with an SLA must be finished.
    pub due: Option<Millis>,
}

impl NodeState {
    /// Active past its SLA.
    pub fn stuck(&self, now: Millis) -> bool {
        self.status == NodeStatus::Active && self.due.is_some_and(|due| now > due)
    }
}

/// Something in an instance's events that contradicts its flow model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deviation {
    pub node: Option<String>,
    pub problem: String,
}

/// An SLA that was or is being missed: a task's (`node`) or the whole instance's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub node: Option<String>,
    pub due: Millis,
    pub over_by: Span,
    /// Still open: the task or instance has not finished yet.
    pub open: bool,
}

/// The SLA picture at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaState {
    pub breaches: Vec<Breach>,
    /// When the whole instance must have ended.
    pub instance_due: Option<Millis>,
    /// The earliest future moment at which a breach would begin: a scheduler sleeps until then.
    pub next_deadline: Option<Millis>,
}

fn earliest<T: Ord + Clone>(slot: &mut Option<T>, value: T) {
    if slot.as_ref().is_none_or(|old| value < *old) {
        *slot = Some(value);
    }
}

impl Instance {
    pub fn new(flow: &Flow) -> Instance {
        Instance { facts: vec![NodeFacts::default(); flow.nodes.len()], ..Instance::default() }
    }

    /// Records an event of this instance.
    pub fn apply(&mut self, flow: &Flow, id: &str, event_type: &str, time: Millis) -> Applied {
        if self.seen.contains(id) {
            return Applied::Duplicate;
        }
        self.seen.insert(id.to_string());
        earliest(&mut self.first_event, time);
        if self.last_event.is_none_or(|last| last < time) {
            self.last_event = Some(time);
        }
        let Some((node, trigger)) = flow.trigger(event_type) else {
            self.unmapped.insert((time, id.to_string(), event_type.to_string()));
            return Applied::Unmapped;
        };
        if self.facts.len() < flow.nodes.len() {
            self.facts.resize(flow.nodes.len(), NodeFacts::default());
        }
        let facts = &mut self.facts[node];
        match trigger {
            Trigger::Reach | Trigger::Succeed => earliest(&mut facts.done, time),
            Trigger::Request => earliest(&mut facts.requested, (time, id.to_string())),
            Trigger::Fail => earliest(&mut facts.failed, time),
        }
        if matches!(flow.nodes[node].kind, NodeKind::Start { .. }) {
            self.starts.insert((time, id.to_string()));
        }
        Applied::Recorded
    }

    /// The instance was cancelled at `at` (its cancel command went out).
    pub fn mark_cancelled(&mut self, at: Millis) {
        earliest(&mut self.cancelled, at);
    }

    pub fn status(&self, flow: &Flow) -> Status {
        if self.cancelled.is_some() {
            return Status::Cancelled;
        }
        let mut status = Status::Running;
        for (node, facts) in flow.nodes.iter().zip(&self.facts) {
            if let (NodeKind::End { outcome, .. }, Some(_)) = (&node.kind, facts.done) {
                match outcome {
                    Outcome::Failure => return Status::Failed,
                    Outcome::Success => status = Status::Completed,
                }
            }
        }
        status
    }

    /// When the instance ended (an end event, or its cancellation), if it has.
    pub fn ended(&self, flow: &Flow) -> Option<Millis> {
        let end = flow
            .nodes
            .iter()
            .zip(&self.facts)
            .filter(|(n, _)| matches!(n.kind, NodeKind::End { .. }))
            .filter_map(|(_, f)| f.done)
            .min();
        match (end, self.cancelled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the instance started: its first start event.
    pub fn started(&self) -> Option<Millis> {
        self.starts.first().map(|(t, _)| *t)
    }

    fn facts_of(&self, i: usize) -> &NodeFacts {
        static NONE: NodeFacts = NodeFacts { done: None, requested: None, failed: None };
        self.facts.get(i).unwrap_or(&NONE)
    }

    /// The state of every node, in the flow's node order.
    pub fn nodes(&self, flow: &Flow) -> Vec<NodeState> {
        let finished = self.status(flow) != Status::Running;
        // When each node was done, filled in dependency order so later nodes can look at their inputs.
        let mut done: Vec<Option<Millis>> = vec![None; flow.nodes.len()];
        let mut states: Vec<NodeState> = flow
            .nodes
            .iter()
            .map(|n| NodeState { id: n.id.clone(), status: NodeStatus::NotReached, started: None, finished: None, due: None })
            .collect();
        for &i in &flow.topo {
            let node = &flow.nodes[i];
            let facts = self.facts_of(i);
            let inputs = node.prev.iter().map(|&p| done[p]);
            let any_input = inputs.clone().flatten().min();
            let all_inputs = if inputs.clone().all(|d| d.is_some()) { inputs.flatten().max() } else { None };
            let state = &mut states[i];
            match &node.kind {
                NodeKind::Start { .. } | NodeKind::End { .. } => done[i] = facts.done,
                NodeKind::Parallel if node.prev.len() > 1 => done[i] = all_inputs,
                NodeKind::Parallel => done[i] = any_input,
                // A decision is made when one of its branches shows activity; until then it is
                // where the instance waits.
                NodeKind::Exclusive if node.next.len() > 1 => {
                    let taken = node
                        .next
                        .iter()
                        .map(|&j| self.facts_of(j))
                        .filter_map(|f| [f.done, f.requested.as_ref().map(|r| r.0), f.failed].into_iter().flatten().min())
                        .min();
                    state.started = any_input;
                    match taken {
                        Some(at) => done[i] = Some(at),
                        None if any_input.is_some() && !finished => state.status = NodeStatus::Active,
                        None => {}
                    }
                }
                NodeKind::Exclusive => done[i] = any_input,
                NodeKind::Task(_) => {
                    state.started = facts.requested.as_ref().map(|r| r.0).or(any_input);
                    state.due = node.sla.zip(state.started).map(|(sla, since)| Millis(since.0 + sla.0));
                    done[i] = facts.done;
                    if let (Some(at), None) = (facts.failed, facts.done) {
                        state.status = NodeStatus::Failed;
                        state.finished = Some(at);
                    } else if facts.done.is_none() && state.started.is_some() && !finished {
                        state.status = NodeStatus::Active;
                    }
                }
            }
            if let Some(at) = done[i] {
                state.status = NodeStatus::Done;
                state.finished = Some(at);
            }
        }
        states
    }

    /// Where the events contradict the model. Derived from the facts, so it does not depend on
    /// the order the events came in: an outcome whose request arrives later stops being one.
    pub fn deviations(&self, flow: &Flow) -> Vec<Deviation> {
        let mut found = Vec::new();
        if self.starts.len() > 1 {
            let start = &flow.nodes[flow.start()];
            found.push(Deviation {
                node: Some(start.id.clone()),
                problem: format!("{} start events; the first one counts", self.starts.len()),
            });
        }
        for (i, node) in flow.nodes.iter().enumerate() {
            let f = self.facts_of(i);
            if let NodeKind::Task(task) = &node.kind {
                if let (Some(request), None, true) = (&task.request, &f.requested, f.done.is_some() || f.failed.is_some()) {
                    found.push(Deviation {
                        node: Some(node.id.clone()),
                        problem: format!("an outcome arrived, but `{request}` never did"),
                    });
                }
                if f.done.is_some() && f.failed.is_some() {
                    found.push(Deviation { node: Some(node.id.clone()), problem: "both succeeded and failed".into() });
                }
            }
        }
        let ends = flow.nodes.iter().zip(&self.facts).filter(|(n, f)| matches!(n.kind, NodeKind::End { .. }) && f.done.is_some()).count();
        if ends > 1 {
            found.push(Deviation { node: None, problem: format!("reached {ends} end events; an instance ends once") });
        }
        for (_, id, ty) in &self.unmapped {
            found.push(Deviation { node: None, problem: format!("event `{id}` of type `{ty}` is not part of this flow") });
        }
        found
    }

    /// SLA breaches (past and open) and the next deadline, as of `now`.
    pub fn sla(&self, flow: &Flow, now: Millis) -> SlaState {
        self.sla_with(flow, &self.nodes(flow), now)
    }

    /// As [`Instance::sla`], reusing node states already derived.
    pub fn sla_with(&self, flow: &Flow, nodes: &[NodeState], now: Millis) -> SlaState {
        let mut out = SlaState::default();
        let running = self.status(flow) == Status::Running;
        let mut deadline = |due: Millis| {
            if due > now {
                earliest(&mut out.next_deadline, due);
            }
        };
        let mut breaches = Vec::new();
        for state in nodes {
            let Some(due) = state.due else { continue };
            let open = state.status == NodeStatus::Active;
            let end = if open { Some(now) } else { state.finished };
            match end {
                Some(end) if end > due => breaches.push(Breach { node: Some(state.id.clone()), due, over_by: Span(end.0 - due.0), open }),
                _ if open => deadline(due),
                _ => {}
            }
        }
        if let (Some(sla), Some(start)) = (flow.sla, self.started()) {
            let due = Millis(start.0 + sla.0);
            out.instance_due = Some(due);
            let end = if running { now } else { self.ended(flow).unwrap_or(now) };
            if end > due {
                breaches.push(Breach { node: None, due, over_by: Span(end.0 - due.0), open: running });
            } else if running {
                deadline(due);
            }
        }
        out.breaches = breaches;
        out
    }
}

#[cfg(all(test, feature = "files"))]
mod tests;
