//! Flow models: the graph an instance is tracked against.
//!
//! A flow is data (see `flows/*.toml` and docs/flows.md). [`Flow`] is the checked, indexed form the
//! rest of the core works with; flow files become one through `Flow::parse_toml` (feature
//! `files`), which refuses models that could not be tracked.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::time::Span;

/// A checked flow.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flow {
    pub id: String,
    pub name: String,
    pub version: u32,
    pub correlation: Correlation,
    /// The whole instance must end within this span of its start.
    pub sla: Option<Span>,
    /// What happens when the instance SLA passes.
    pub on_breach: OnBreach,
    /// Where to POST an alert when the instance SLA passes (`http://…` or `https://…`), besides `on_breach`.
    #[serde(default)]
    pub webhook: Option<String>,
    /// The alert's body: Flowlens's JSON, or a chat message (`{"text": …}`).
    #[serde(default)]
    pub webhook_format: WebhookFormat,
    /// The command that cancels an instance, if the flow can be cancelled.
    pub cancel: Option<CommandSpec>,
    /// Field names of this flow's plain JSON envelope, when its events are not CloudEvents.
    pub envelope: Option<crate::envelope::EnvelopeFields>,
    pub nodes: Vec<Node>,
    /// Node indices in an order where every node comes after all of its predecessors (loops
    /// broken at their back edges).
    pub topo: Vec<usize>,
    /// The edges that close loops, (from, to): the diagram draws them as returning edges.
    #[serde(default)]
    pub back: Vec<(usize, usize)>,
    #[serde(skip)]
    pub(crate) triggers: HashMap<String, (usize, Trigger)>,
    /// How the flow's own file draws it (a BPMN model's diagram interchange); without one the
    /// diagram is laid out automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drawn: Option<crate::layout::Diagram>,
    /// A *discovered* flow: no model, only events grouped into cases by the correlation key, to
    /// mine (see [`crate::discovery`]). Its model is a bare start; every event is kept as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discover: Option<Discover>,
}

/// Which events a discovered flow takes: those of its types (all types no modelled flow maps,
/// when empty) that came in on its channel (any channel, when none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discover {
    /// A Kafka topic, a replayed file's name (`orders.xes.gz`), `http` or `demo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
}

impl Discover {
    /// Whether an event of `event_type` that came in on `channel` is this flow's.
    pub fn takes(&self, channel: &str, event_type: &str) -> bool {
        self.channel.as_deref().is_none_or(|c| c == channel) && (self.types.is_empty() || self.types.iter().any(|t| t == event_type))
    }
}

/// Where an event's business key is found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correlation {
    /// The message key: the Kafka record key, or `key` of an HTTP event.
    Key,
    /// A CloudEvents attribute such as `subject`, or an extension attribute.
    Attribute(String),
    /// A JSON pointer into the event's data, e.g. `/customerId`.
    Pointer(String),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBreach {
    /// Mark the breach; people decide.
    #[default]
    Mark,
    /// Cancel the instance (publish the cancel command and compensations).
    Cancel,
}

/// The body of an SLA alert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// `{"type": "flowlens.sla.breached", "flow": …, "key": …}` for incident tools and scripts.
    #[default]
    Json,
    /// `{"text": "…"}`, as chat webhooks (Slack, Mattermost, Rocket.Chat, Google Chat) take it.
    Chat,
}

/// A command Flowlens can publish: its type and where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    pub command: String,
    pub topic: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub kind: NodeKind,
    pub sla: Option<Span>,
    pub next: Vec<usize>,
    pub prev: Vec<usize>,
    /// Layout hints from the flow file: a minimum layer (column) and the row within it.
    pub layer: Option<u32>,
    pub row: Option<u32>,
}

impl Node {
    /// Every node this one leads to: its sequence flows, then where a failure goes.
    pub fn successors(&self) -> impl Iterator<Item = usize> + '_ {
        self.next.iter().copied().chain(match &self.kind {
            NodeKind::Task(t) => t.on_failure,
            _ => None,
        })
    }

    /// Whether its visits are worth counting and timing: tasks, intermediate events, decisions.
    /// Starts, ends, merges and parallel gateways pass in no time.
    pub fn counts_visits(&self) -> bool {
        match &self.kind {
            NodeKind::Task(_) | NodeKind::Intermediate { .. } => true,
            NodeKind::Exclusive | NodeKind::Inclusive => self.next.len() > 1,
            NodeKind::Start { .. } | NodeKind::End { .. } | NodeKind::Parallel => false,
        }
    }

    /// The command that asks a task's work again, if the flow gives it one.
    pub fn retry_command(&self) -> Option<&CommandSpec> {
        match &self.kind {
            NodeKind::Task(t) => t.retry.as_ref(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    /// Where an instance begins. An empty event (a BPMN start event with no name) means: an
    /// instance starts with the first event of any step after it.
    Start { event: String },
    Task(Task),
    Parallel,
    Exclusive,
    /// Takes one branch or several; its join waits for the branches that were taken.
    Inclusive,
    /// An event in the middle of a flow (BPMN intermediate catch or throw event), reached when
    /// its event type arrives; with no type it is passed straight through.
    Intermediate { event: String, throw: bool },
    /// An empty event: reached as soon as the flow gets there.
    End { event: String, outcome: Outcome },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Task {
    /// The event saying the work was asked for; without one, the task is active as soon as the
    /// nodes before it are done.
    pub request: Option<String>,
    pub success: String,
    pub failure: Option<String>,
    /// Publishing this again asks for the work once more.
    pub retry: Option<CommandSpec>,
    /// Undoes the work of a completed task when the instance is cancelled.
    pub compensation: Option<CommandSpec>,
    /// Where the flow goes when the task fails (a BPMN error boundary event). Without it a failed
    /// task holds the instance until it is retried, a later step shows the flow moved on, or it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<usize>,
    /// The BPMN task type it was drawn as (`userTask`, `sendTask` ...), kept for export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

/// What an event does to the node it is mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// A start or end event: the node is reached.
    Reach,
    Request,
    Succeed,
    Fail,
}

impl Flow {
    /// The node an event type is mapped to, and what it does there.
    pub fn trigger(&self, event_type: &str) -> Option<(usize, Trigger)> {
        self.triggers.get(event_type).copied()
    }

    pub fn handles(&self, event_type: &str) -> bool {
        self.triggers.contains_key(event_type)
    }

    /// Whether this flow has no model and is only mined.
    pub fn is_discovered(&self) -> bool {
        self.discover.is_some()
    }

    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Every node `i` leads to: its sequence flows, then where a failure goes.
    pub fn successors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.nodes[i].successors()
    }

    /// Whether the edge `from → to` closes a loop.
    pub fn is_back_edge(&self, from: usize, to: usize) -> bool {
        self.back.contains(&(from, to))
    }

    pub fn start(&self) -> usize {
        self.nodes.iter().position(|n| matches!(n.kind, NodeKind::Start { .. })).expect("a checked flow has a start")
    }
}

/// Maps every event type to its node; also returns the types mapped more than once, with the
/// nodes they are mapped to.
#[cfg(feature = "files")]
pub(crate) fn index_triggers(nodes: &[Node]) -> (HashMap<String, (usize, Trigger)>, Vec<(String, Vec<usize>)>) {
    let mut map: HashMap<String, (usize, Trigger)> = HashMap::new();
    let mut twice: Vec<(String, Vec<usize>)> = Vec::new();
    let mut add = |ty: &str, node: usize, trigger: Trigger| {
        if ty.is_empty() {
            return;
        }
        match map.get(ty) {
            Some(&(first, _)) => match twice.iter_mut().find(|(t, _)| t == ty) {
                Some((_, at)) => at.push(node),
                None => twice.push((ty.to_string(), vec![first, node])),
            },
            None => {
                map.insert(ty.to_string(), (node, trigger));
            }
        }
    };
    for (i, n) in nodes.iter().enumerate() {
        match &n.kind {
            NodeKind::Start { event } | NodeKind::End { event, .. } | NodeKind::Intermediate { event, .. } => add(event, i, Trigger::Reach),
            NodeKind::Task(t) => {
                if let Some(r) = &t.request {
                    add(r, i, Trigger::Request);
                }
                add(&t.success, i, Trigger::Succeed);
                if let Some(f) = &t.failure {
                    add(f, i, Trigger::Fail);
                }
            }
            NodeKind::Parallel | NodeKind::Exclusive | NodeKind::Inclusive => {}
        }
    }
    (map, twice)
}

/// Node ids for files other tools read, made unique: a base taken twice gets `{sep}2`, `{sep}3`, …
#[cfg(any(feature = "files", feature = "bpmn"))]
pub(crate) fn unique_ids(bases: impl IntoIterator<Item = String>, sep: char) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    bases
        .into_iter()
        .map(|base| {
            let mut id = base.clone();
            let mut k = 2;
            while !taken.insert(id.clone()) {
                id = format!("{base}{sep}{k}");
                k += 1;
            }
            id
        })
        .collect()
}
