//! One process instance: what has been seen of it, and the state that follows.
//!
//! An instance keeps its *log*: every event its flow maps (and every retry sent), in event-time
//! order, ties by id. Its state is the replay of that log through the flow ([`replay::Run`]), so
//! the law holds by construction: **whatever order events arrive in, and however often, the state
//! equals that of the same events applied once in time order.** The common case, an event later
//! than all before it, costs one replay step; a late event in the middle costs a replay of the
//! log. Everything people see (node states and visits, status, deviations, SLA breaches) is read
//! from the replayed state.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::flow::{Flow, NodeKind, Outcome};
use crate::time::{Millis, Span};

pub mod replay;

pub use replay::{Entry, Run, Visit, VisitOutcome, What};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Every mapped event and retry, by time then id.
    #[serde(default)]
    pub log: Vec<Entry>,
    /// Events that reached this instance but are of no type its flow maps: (time, id, type).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unmapped: BTreeSet<(Millis, String, String)>,
    pub first_event: Option<Millis>,
    pub last_event: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<Millis>,
    /// The replay of `log`, kept in memory so the next event is one step. It is not stored:
    /// replaying a log costs less than reading its replay back ([`Instance::restore`]).
    #[serde(skip)]
    pub run: Run,
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

/// A node as it stands: its latest visit, and all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub id: String,
    pub status: NodeStatus,
    /// When the latest visit began (tasks and decisions).
    pub started: Option<Millis>,
    /// When the latest visit was done or failed.
    pub finished: Option<Millis>,
    /// When the latest visit of a task with an SLA must be finished.
    pub due: Option<Millis>,
    /// Every run of the node, oldest first.
    #[serde(default)]
    pub visits: Vec<Visit>,
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
    /// Which visit of the node (0 is the first).
    #[serde(default)]
    pub visit: u32,
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
        Instance { run: Run::new(flow), ..Instance::default() }
    }

    /// Replays the log after the instance was read back from storage.
    pub fn restore(&mut self, flow: &Flow) {
        if self.run.visits.len() != flow.nodes.len() {
            self.run = Run::replay(flow, &self.log);
        }
    }

    /// The replayed state; replayed here when the instance was read without [`Instance::restore`].
    pub fn run(&self, flow: &Flow) -> Cow<'_, Run> {
        if self.run.visits.len() == flow.nodes.len() {
            Cow::Borrowed(&self.run)
        } else {
            Cow::Owned(Run::replay(flow, &self.log))
        }
    }

    fn seen(&self, id: &str) -> bool {
        self.log.iter().any(|e| e.id == id) || self.unmapped.iter().any(|(_, i, _)| i == id)
    }

    /// Records an event of this instance.
    pub fn apply(&mut self, flow: &Flow, id: &str, event_type: &str, time: Millis) -> Applied {
        if self.seen(id) {
            return Applied::Duplicate;
        }
        earliest(&mut self.first_event, time);
        if self.last_event.is_none_or(|last| last < time) {
            self.last_event = Some(time);
        }
        if !flow.handles(event_type) {
            self.unmapped.insert((time, id.to_string(), event_type.to_string()));
            return Applied::Unmapped;
        }
        self.record(flow, Entry { at: time, id: id.to_string(), what: What::Event(event_type.to_string()) });
        Applied::Recorded
    }

    /// A retry of task `node` was sent at `at` (`id` names the action): it opens a new visit.
    pub fn mark_retried(&mut self, flow: &Flow, node: &str, at: Millis, id: &str) {
        if !self.seen(id) {
            self.record(flow, Entry { at, id: id.to_string(), what: What::Retry(node.to_string()) });
        }
    }

    /// Puts an entry in its place in the log: one replay step when it is the latest, a replay
    /// of the whole log otherwise.
    fn record(&mut self, flow: &Flow, entry: Entry) {
        let at = self.log.partition_point(|e| (e.at, e.id.as_str()) < (entry.at, entry.id.as_str()));
        let latest = at == self.log.len();
        self.log.insert(at, entry);
        if latest && self.run.visits.len() == flow.nodes.len() {
            self.run.step(flow, &self.log[at], at);
        } else {
            self.run = Run::replay(flow, &self.log);
        }
    }

    /// The instance was cancelled at `at` (its cancel command went out).
    pub fn mark_cancelled(&mut self, at: Millis) {
        earliest(&mut self.cancelled, at);
    }

    pub fn status(&self, flow: &Flow) -> Status {
        if self.cancelled.is_some() {
            return Status::Cancelled;
        }
        let run = self.run(flow);
        let mut status = Status::Running;
        for &(end, _) in &run.ends {
            if let NodeKind::End { outcome, .. } = &flow.nodes[end].kind {
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
        let end = self.run(flow).ends.iter().map(|&(_, at)| at).min();
        match (end, self.cancelled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the instance started: when the flow was entered (its start event, or for a start
    /// with no type, its first event).
    pub fn started(&self) -> Option<Millis> {
        // Whatever came first in the log entered the flow (events before the start event too).
        self.log.first().map(|e| e.at)
    }

    /// Whether some task or event ran more than once: the instance went through rework.
    pub fn reworked(&self, flow: &Flow) -> bool {
        let run = self.run(flow);
        flow.nodes.iter().zip(&run.visits).any(|(n, v)| n.counts_visits() && v.len() > 1)
    }

    /// The state of every node, in the flow's node order.
    pub fn nodes(&self, flow: &Flow) -> Vec<NodeState> {
        let running = self.status(flow) == Status::Running;
        let run = self.run(flow);
        flow.nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let visits = run.visits.get(i).cloned().unwrap_or_default();
                let waiting = run.tokens.iter().any(|t| t.node == i && t.from.is_none() && !t.spent)
                    && !matches!(node.kind, NodeKind::End { .. });
                let latest = visits.last();
                let status = match latest.map(|v| v.outcome) {
                    Some(VisitOutcome::Open) if waiting && running => NodeStatus::Active,
                    Some(VisitOutcome::Done) => NodeStatus::Done,
                    Some(VisitOutcome::Failed) => NodeStatus::Failed,
                    _ => NodeStatus::NotReached,
                };
                let due = match (&node.kind, node.sla, latest) {
                    (NodeKind::Task(_), Some(sla), Some(v)) => Some(Millis(v.started.0 + sla.0)),
                    _ => None,
                };
                NodeState { id: node.id.clone(), status, started: latest.map(|v| v.started), finished: latest.and_then(|v| v.finished), due, visits }
            })
            .collect()
    }

    /// Where the events contradict the model. Derived from the replay, so it does not depend on
    /// the order the events came in: an outcome whose request arrives later stops being one.
    pub fn deviations(&self, flow: &Flow) -> Vec<Deviation> {
        let run = self.run(flow);
        let mut found = Vec::new();
        if run.starts > 1 {
            let start = &flow.nodes[flow.start()];
            found.push(Deviation { node: Some(start.id.clone()), problem: format!("{} start events; the first one counts", run.starts) });
        }
        for (node, problem) in &run.notes {
            found.push(Deviation { node: node.map(|i| flow.nodes[i].id.clone()), problem: problem.clone() });
        }
        if run.ends.len() > 1 {
            found.push(Deviation { node: None, problem: format!("reached {} end events; an instance ends once", run.ends.len()) });
        }
        // A discovered flow has no model to deviate from: its events are all it has.
        for (_, id, ty) in self.unmapped.iter().filter(|_| !flow.is_discovered()) {
            found.push(Deviation { node: None, problem: format!("event `{id}` of type `{ty}` is not part of this flow") });
        }
        found
    }

    /// SLA breaches (past and open) and the next deadline, as of `now`.
    pub fn sla(&self, flow: &Flow, now: Millis) -> SlaState {
        self.sla_with(flow, &self.nodes(flow), now)
    }

    /// As [`Instance::sla`], reusing node states already derived. Every visit of a task has its
    /// own clock: each late one is a breach.
    pub fn sla_with(&self, flow: &Flow, nodes: &[NodeState], now: Millis) -> SlaState {
        let mut out = SlaState::default();
        let running = self.status(flow) == Status::Running;
        let mut deadline = |due: Millis| {
            if due > now {
                earliest(&mut out.next_deadline, due);
            }
        };
        let mut breaches = Vec::new();
        for (state, node) in nodes.iter().zip(&flow.nodes) {
            let (NodeKind::Task(_), Some(sla)) = (&node.kind, node.sla) else { continue };
            for (k, visit) in state.visits.iter().enumerate() {
                let due = Millis(visit.started.0 + sla.0);
                let open = state.status == NodeStatus::Active && k + 1 == state.visits.len();
                let end = if open { Some(now) } else { visit.finished.filter(|_| visit.outcome != VisitOutcome::Open) };
                match end {
                    Some(end) if end > due => {
                        breaches.push(Breach { node: Some(state.id.clone()), visit: k as u32, due, over_by: Span(end.0 - due.0), open })
                    }
                    _ if open => deadline(due),
                    _ => {}
                }
            }
        }
        if let (Some(sla), Some(start)) = (flow.sla, self.started()) {
            let due = Millis(start.0 + sla.0);
            out.instance_due = Some(due);
            let end = if running { now } else { self.ended(flow).unwrap_or(now) };
            if end > due {
                breaches.push(Breach { node: None, visit: 0, due, over_by: Span(end.0 - due.0), open: running });
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
