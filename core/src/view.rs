//! What the screens and the API show: read models built from instances, shared by the server and
//! the browser (they travel as JSON between the two).

use serde::{Deserialize, Serialize};

use crate::flow::Flow;
use crate::instance::{Deviation, Instance, NodeState, NodeStatus, Status};
use crate::layout::Diagram;
use crate::time::Millis;

/// One row of the instance list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceSummary {
    pub id: i64,
    pub flow_id: String,
    pub flow_version: u32,
    pub key: String,
    pub status: Status,
    /// Names of the nodes the instance waits at.
    pub waiting_at: Vec<String>,
    pub started_at: Option<Millis>,
    pub updated_at: Millis,
    pub events: u32,
    /// When the earliest active task is due; past it, the instance is stuck.
    pub due: Option<Millis>,
}

/// Everything the instance page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceDetail {
    pub summary: InstanceSummary,
    pub flow_name: String,
    pub nodes: Vec<NodeState>,
    pub deviations: Vec<Deviation>,
    pub events: Vec<EventRecord>,
    pub actions: Vec<ActionView>,
    /// Tasks whose flow gives them a retry command.
    pub retryable: Vec<String>,
    /// Whether the flow has a cancel command.
    pub cancellable: bool,
    pub diagram: Diagram,
}

/// A stored event, as the timeline shows it. The payload is JSON text, rendered escaped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: String,
    pub event_type: String,
    pub time: Millis,
    pub received_at: Millis,
    pub data: String,
}

/// Pushed to every open page when an instance changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceChanged {
    pub summary: InstanceSummary,
    pub nodes: Vec<NodeState>,
    pub deviations: Vec<Deviation>,
    /// The event that changed it; none when an action did (a cancel).
    pub event: Option<EventRecord>,
}

impl InstanceSummary {
    /// Builds the row for `instance` from node states already derived; `id`, `key`, the event
    /// count and `updated_at` come from the store.
    pub fn with_nodes(
        flow: &Flow,
        instance: &Instance,
        nodes: &[NodeState],
        id: i64,
        key: &str,
        events: u32,
        updated_at: Millis,
    ) -> Self {
        let due = nodes.iter().filter(|s| s.status == NodeStatus::Active).filter_map(|s| s.due).min();
        let waiting_at = nodes
            .iter()
            .zip(&flow.nodes)
            .filter(|(s, _)| s.status == NodeStatus::Active)
            .map(|(_, n)| n.name.clone())
            .collect();
        InstanceSummary {
            id,
            flow_id: flow.id.clone(),
            flow_version: flow.version,
            key: key.to_string(),
            status: instance.status(flow),
            waiting_at,
            started_at: instance.started().or(instance.first_event),
            updated_at,
            events,
            due,
        }
    }
}

/// An event that could not be tracked, kept with the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterView {
    pub id: i64,
    pub received_at: Millis,
    pub source: String,
    pub origin: Option<String>,
    pub reason: String,
    /// The raw bytes as text (invalid UTF-8 replaced), for people to read.
    pub raw: String,
}

/// One retry, cancel or compensation, as the audit trail shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionView {
    pub id: i64,
    pub instance_id: i64,
    /// `retry`, `cancel` or `compensation`.
    pub kind: String,
    pub node: Option<String>,
    pub command: String,
    pub topic: String,
    pub payload: String,
    pub actor: String,
    pub requested_at: Millis,
    /// `sent`, `failed`, `took_effect` or `no_effect`.
    pub result: String,
    pub detail: Option<String>,
    pub settled_at: Option<Millis>,
    pub deadline: Option<Millis>,
}
