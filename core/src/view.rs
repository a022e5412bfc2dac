//! What the screens and the API show: read models built from instances, shared by the server and
//! the browser (they travel as JSON between the two).

use serde::{Deserialize, Serialize};

use crate::access::Role;
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
    /// Some step ran more than once (a loop, rework, a retry).
    #[serde(default)]
    pub reworked: bool,
    /// It fits its flow: no deviation.
    #[serde(default = "fits_by_default")]
    pub fits: bool,
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

/// A stored event, as the timeline shows it. The payload is shown as text, rendered escaped:
/// JSON (pretty-printed by the page), text as it came, bytes as their size and first bytes in hex.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event's identity: its source and id (see [`crate::Event::identity`]).
    pub id: String,
    pub event_type: String,
    pub time: Millis,
    pub received_at: Millis,
    pub data: String,
    #[serde(default)]
    pub form: crate::DataForm,
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

impl InstanceChanged {
    /// An instance as it is now: its row, node states and deviations, each derived once.
    pub fn of(flow: &Flow, instance: &Instance, id: i64, key: &str, events: u32, updated_at: Millis, event: Option<EventRecord>) -> InstanceChanged {
        let nodes = instance.nodes(flow);
        let deviations = instance.deviations(flow);
        let summary = InstanceSummary::with_nodes(flow, instance, &nodes, &deviations, id, key, events, updated_at);
        InstanceChanged { summary, nodes, deviations, event }
    }

    /// What a flow's embed may learn of a change: that an instance of the flow moved, and to
    /// which state, as the totals it shows do; never the business key, the event or its payload.
    pub fn for_flow_embed(&self) -> InstanceChanged {
        let mut summary = self.summary.clone();
        summary.id = 0;
        summary.key = String::new();
        InstanceChanged { summary, nodes: Vec::new(), deviations: Vec::new(), event: None }
    }
}

impl InstanceSummary {
    /// Builds the row for `instance` from node states and deviations already derived; `id`,
    /// `key`, the event count and `updated_at` come from the store.
    #[allow(clippy::too_many_arguments)]
    pub fn with_nodes(
        flow: &Flow,
        instance: &Instance,
        nodes: &[NodeState],
        deviations: &[Deviation],
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
            reworked: instance.reworked(flow),
            fits: deviations.is_empty(),
        }
    }
}

fn fits_by_default() -> bool {
    true
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

/// What an action of the audit trail was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A task's command, sent again.
    Retry,
    /// The flow's cancel command.
    Cancel,
    /// Undoing a completed task, as part of a cancel.
    Compensation,
    /// An SLA alert to the flow's webhook.
    Webhook,
}

/// What came of an action: first `sent` (or `failed`), then settled by what happened next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionResult {
    Sent,
    Failed,
    TookEffect,
    NoEffect,
}

/// `as_str` and `parse` for an enum stored as a word, one list of (variant, word) each.
macro_rules! words {
    ($ty:ident { $($variant:ident = $word:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The word it is stored and shown as.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $word),* }
            }

            pub fn parse(word: &str) -> Option<$ty> {
                match word { $($word => Some($ty::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words!(ActionKind { Retry = "retry", Cancel = "cancel", Compensation = "compensation", Webhook = "webhook" });
words!(ActionResult { Sent = "sent", Failed = "failed", TookEffect = "took_effect", NoEffect = "no_effect" });
words!(BrokerTrouble { Credentials = "credentials", Certificate = "certificate", Unreachable = "unreachable", Other = "other" });

/// One retry, cancel or compensation, as the audit trail shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionView {
    pub id: i64,
    pub instance_id: i64,
    pub kind: ActionKind,
    pub node: Option<String>,
    pub command: String,
    pub topic: String,
    pub payload: String,
    pub actor: String,
    pub requested_at: Millis,
    pub result: ActionResult,
    pub detail: Option<String>,
    pub settled_at: Option<Millis>,
    pub deadline: Option<Millis>,
}

/// A bearer or embed token as the admin screen lists it; its value is shown once, at creation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// `flow:ID` or `instance:ID` for an embed link; none for a bearer token.
    pub scope: Option<String>,
    pub created_by: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// Instances of one flow by state, over the overview's time range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Instances started in the range, by the state they are in now.
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Running with an active task past its SLA (whenever it started).
    pub stuck: u64,
    /// Instances with a task that missed its SLA in the range: due in it, and finished late or still active.
    pub breached: u64,
    /// Instances started in the range that deviate from the flow (the rest fit it).
    #[serde(default)]
    pub deviating: u64,
}

/// How one node of the flow is doing: what the heatmap colours.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeHeat {
    pub id: String,
    /// Instances waiting at it now.
    pub waiting: u64,
    /// Visits finished in the range, and their mean and 95th-percentile time.
    pub finished: u64,
    pub mean_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    /// Visits due in the range that missed the node's SLA (finished late, or overdue now).
    pub breaches: u64,
    /// Instances started in the range, and how many of them ran this step more than once.
    #[serde(default)]
    pub reached: u64,
    #[serde(default)]
    pub reworked: u64,
    /// Of the instances started in the range, how many deviate from the flow at this step (an
    /// outcome without its request, an event where the flow did not lead, a second start).
    #[serde(default)]
    pub deviations: u64,
}

/// Events and completions in one time bucket of the throughput chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub start: Millis,
    pub events: u64,
    pub completed: u64,
}

/// Everything the overview of one flow shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub flow_id: String,
    pub flow_name: String,
    /// Every flow, `(id, name)`, to switch between.
    pub flows: Vec<(String, String)>,
    pub from: Millis,
    /// The end of the range: now for a relative one.
    pub to: Millis,
    pub now: Millis,
    pub counts: Counts,
    pub throughput: Vec<Bucket>,
    pub bucket_ms: i64,
    pub heat: Vec<NodeHeat>,
    pub diagram: Diagram,
    /// A discovered flow: no model, so no diagram to heat; its map is on the discovery page.
    #[serde(default)]
    pub discovered: bool,
}

/// The status strip under every page's header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// `SQLite` or `PostgreSQL`.
    pub store: String,
    /// When the latest event was stored.
    pub last_event: Option<Millis>,
    /// Kafka consumer lag in messages, summed over assigned partitions; none without Kafka.
    pub consumer_lag: Option<i64>,
    /// The Kafka partitions this server consumes (`topic/partition`); replicas share them out.
    #[serde(default)]
    pub partitions: Vec<String>,
    /// Where events come from: `Kafka topics …`, or `HTTP and the demo`.
    pub source: String,
    /// The server's clock when this was read, so "how long ago" matches on both sides.
    pub now: Millis,
    /// Why the Kafka brokers cannot be used, while they cannot (since the last time they answered).
    #[serde(default)]
    pub kafka_problem: Option<BrokerProblem>,
}

/// Why the Kafka brokers cannot be used, as the consumer last found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerProblem {
    pub kind: BrokerTrouble,
    /// In words, then the Kafka client's own message.
    pub message: String,
}

/// What kind of trouble the brokers are, told apart for the people who fix it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerTrouble {
    /// The brokers refused the SASL user, password or token.
    Credentials,
    /// The brokers' certificate is not signed by a trusted CA (or does not name the host).
    Certificate,
    /// Nothing answers at the address, or the name does not resolve.
    Unreachable,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored word, the parsed word and the JSON name must agree, or old rows stop reading.
    #[test]
    fn action_words_round_trip() {
        for kind in ActionKind::ALL {
            assert_eq!(ActionKind::parse(kind.as_str()), Some(*kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for result in ActionResult::ALL {
            assert_eq!(ActionResult::parse(result.as_str()), Some(*result));
            assert_eq!(serde_json::to_value(result).unwrap(), result.as_str());
        }
        assert_eq!(ActionResult::parse("took effect"), None);
    }
}
