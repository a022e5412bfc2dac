//! One process instance: what has been seen of it, and the state that follows.
//!
//! An instance stores *facts* (when each node was first reached, requested, done, failed) rather
//! than a state machine's current state. Every fact keeps the earliest time it was seen, so applying
//! the same event twice, or the events of an instance in any order, gives the same facts; the state
//! shown to people is derived from the facts and the model on demand.

use serde::{Deserialize, Serialize};

use crate::flow::{Flow, NodeKind, Outcome, Trigger};
use crate::time::Millis;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub facts: Vec<NodeFacts>,
    pub first_event: Option<Millis>,
    pub last_event: Option<Millis>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Millis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Running, Status::Completed, Status::Failed, Status::Cancelled].into_iter().find(|st| st.as_str() == s)
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

/// A node as it stands: its status, since when, and (when active under an SLA) when it is due.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub id: String,
    pub status: NodeStatus,
    pub since: Option<Millis>,
    pub due: Option<Millis>,
}

fn earliest(slot: &mut Option<Millis>, t: Millis) -> bool {
    match *slot {
        Some(old) if old <= t => false,
        _ => {
            *slot = Some(t);
            true
        }
    }
}

impl Instance {
    pub fn new(flow: &Flow) -> Instance {
        Instance { facts: vec![NodeFacts::default(); flow.nodes.len()], first_event: None, last_event: None }
    }

    /// Records an event of this instance. Returns whether anything changed; an event whose type the
    /// flow does not map changes nothing.
    pub fn apply(&mut self, flow: &Flow, event_type: &str, time: Millis) -> bool {
        let Some((node, trigger)) = flow.trigger(event_type) else { return false };
        self.facts.resize(flow.nodes.len(), NodeFacts::default());
        let facts = &mut self.facts[node];
        let mut changed = match trigger {
            Trigger::Reach | Trigger::Succeed => earliest(&mut facts.done, time),
            Trigger::Request => earliest(&mut facts.requested, time),
            Trigger::Fail => earliest(&mut facts.failed, time),
        };
        changed |= earliest(&mut self.first_event, time);
        if self.last_event.is_none_or(|last| last < time) {
            self.last_event = Some(time);
            changed = true;
        }
        changed
    }

    pub fn status(&self, flow: &Flow) -> Status {
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

    /// The state of every node, in the flow's node order.
    pub fn nodes(&self, flow: &Flow) -> Vec<NodeState> {
        let finished = self.status(flow) != Status::Running;
        // When each node was done, filled in dependency order so gateways can look at their inputs.
        let mut done: Vec<Option<Millis>> = vec![None; flow.nodes.len()];
        let mut states: Vec<NodeState> = flow
            .nodes
            .iter()
            .map(|n| NodeState { id: n.id.clone(), status: NodeStatus::NotReached, since: None, due: None })
            .collect();
        let none = NodeFacts::default();
        for &i in &flow.topo {
            let node = &flow.nodes[i];
            let facts = self.facts.get(i).unwrap_or(&none);
            let inputs: Vec<Option<Millis>> = node.prev.iter().map(|&p| done[p]).collect();
            let any_input = inputs.iter().flatten().min().copied();
            let all_inputs = if inputs.iter().all(Option::is_some) { inputs.iter().flatten().max().copied() } else { None };
            let state = &mut states[i];
            match &node.kind {
                NodeKind::Start { .. } | NodeKind::End { .. } => done[i] = facts.done,
                NodeKind::Parallel if node.prev.len() > 1 => done[i] = all_inputs,
                NodeKind::Parallel => done[i] = any_input,
                // A decision is made when one of its branches shows activity; until then it is
                // where the instance waits.
                NodeKind::Exclusive if node.next.len() > 1 => {
                    let taken = node.next.iter().filter_map(|&j| self.facts.get(j)).find_map(|f| f.done.or(f.requested).or(f.failed));
                    match (taken, any_input) {
                        (Some(at), _) => done[i] = Some(at),
                        (None, Some(since)) if !finished => {
                            state.status = NodeStatus::Active;
                            state.since = Some(since);
                        }
                        _ => {}
                    }
                }
                NodeKind::Exclusive => done[i] = any_input,
                NodeKind::Task { .. } => {
                    done[i] = facts.done;
                    if let Some(at) = facts.failed.filter(|_| facts.done.is_none()) {
                        state.status = NodeStatus::Failed;
                        state.since = Some(at);
                        continue;
                    }
                    if facts.done.is_none() && !finished {
                        if let Some(since) = facts.requested.or(any_input) {
                            state.status = NodeStatus::Active;
                            state.since = Some(since);
                            state.due = node.sla.map(|sla| Millis(since.0 + sla.0));
                        }
                    }
                }
            }
            if let Some(at) = done[i] {
                state.status = NodeStatus::Done;
                state.since = Some(at);
            }
        }
        states
    }
}

#[cfg(all(test, feature = "files"))]
mod tests {
    use super::*;

    fn onboarding() -> Flow {
        Flow::parse_toml("onboarding", include_str!("../../flows/customer-onboarding.toml")).unwrap()
    }

    fn status_of(flow: &Flow, inst: &Instance, id: &str) -> NodeStatus {
        inst.nodes(flow)[flow.node_index(id).unwrap()].status
    }

    const HAPPY: [&str; 8] = [
        "RegistrationRequested",
        "AddressCheckRequested",
        "CreditCheckRequested",
        "CriminalRecordCheckRequested",
        "AddressChecked",
        "CreditChecked",
        "CriminalRecordChecked",
        "CustomerCreated",
    ];

    #[test]
    fn a_registration_starts_three_active_checks() {
        let flow = onboarding();
        let mut inst = Instance::new(&flow);
        assert!(inst.apply(&flow, "RegistrationRequested", Millis(1_000)));
        assert_eq!(inst.status(&flow), Status::Running);
        for check in ["address", "credit", "criminal"] {
            let st = &inst.nodes(&flow)[flow.node_index(check).unwrap()];
            assert_eq!(st.status, NodeStatus::Active, "{check}");
            assert_eq!(st.due, Some(Millis(1_000 + 600_000)), "{check} is due 10 minutes after it started");
        }
        assert_eq!(status_of(&flow, &inst, "approved"), NodeStatus::NotReached);
    }

    #[test]
    fn the_join_waits_for_every_branch() {
        let flow = onboarding();
        let mut inst = Instance::new(&flow);
        for (t, ev) in HAPPY[..6].iter().enumerate() {
            inst.apply(&flow, ev, Millis(t as i64));
        }
        assert_eq!(status_of(&flow, &inst, "checked"), NodeStatus::NotReached);
        assert_eq!(status_of(&flow, &inst, "criminal"), NodeStatus::Active);
        inst.apply(&flow, "CriminalRecordChecked", Millis(10));
        assert_eq!(status_of(&flow, &inst, "checked"), NodeStatus::Done);
        assert_eq!(status_of(&flow, &inst, "decision"), NodeStatus::Active, "waits for the decision");
        inst.apply(&flow, "CustomerCreated", Millis(11));
        assert_eq!(status_of(&flow, &inst, "decision"), NodeStatus::Done);
    }

    #[test]
    fn end_events_decide_the_status() {
        let flow = onboarding();
        let mut ok = Instance::new(&flow);
        let mut no = Instance::new(&flow);
        for (t, ev) in HAPPY.iter().enumerate() {
            ok.apply(&flow, ev, Millis(t as i64));
            no.apply(&flow, if *ev == "CustomerCreated" { "RegistrationRejected" } else { ev }, Millis(t as i64));
        }
        assert_eq!(ok.status(&flow), Status::Completed);
        assert_eq!(no.status(&flow), Status::Failed);
        assert_eq!(status_of(&flow, &ok, "rejected"), NodeStatus::NotReached);
    }

    #[test]
    fn a_failed_check_is_failed_not_active() {
        let flow = onboarding();
        let mut inst = Instance::new(&flow);
        inst.apply(&flow, "RegistrationRequested", Millis(0));
        inst.apply(&flow, "CreditCheckFailed", Millis(5));
        assert_eq!(status_of(&flow, &inst, "credit"), NodeStatus::Failed);
    }

    #[test]
    fn duplicates_and_any_order_give_the_same_state() {
        let flow = onboarding();
        let mut in_order = Instance::new(&flow);
        for (t, ev) in HAPPY.iter().enumerate() {
            in_order.apply(&flow, ev, Millis(t as i64 * 1000));
        }
        let mut reversed = Instance::new(&flow);
        for (t, ev) in HAPPY.iter().enumerate().rev().chain(HAPPY.iter().enumerate()) {
            reversed.apply(&flow, ev, Millis(t as i64 * 1000));
        }
        assert_eq!(in_order, reversed);
        assert_eq!(in_order.nodes(&flow), reversed.nodes(&flow));
    }

    #[test]
    fn unknown_event_types_change_nothing() {
        let flow = onboarding();
        let mut inst = Instance::new(&flow);
        assert!(!inst.apply(&flow, "SomethingElse", Millis(0)));
        assert_eq!(inst, Instance::new(&flow));
    }
}
