//! The set of flows a server tracks, and how an event finds its flow and its instance key.
//!
//! Several versions of a flow may be loaded at once: new instances start on the newest version,
//! and an instance stays on the version it started with.

use std::sync::Arc;

use serde_json::Value;

use crate::event::Event;
use crate::flow::{Correlation, Discover, Flow};

#[derive(Clone, Debug, Default)]
pub struct Flows {
    /// Sorted by id, then version.
    flows: Vec<Arc<Flow>>,
}

/// Where an event belongs: which flow (its newest version), and the business key of its instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub flow: Arc<Flow>,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    NoFlow { event_type: String },
    NoKey { flow: String, looked_in: String },
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::NoFlow { event_type } => write!(f, "no flow handles events of type `{event_type}`"),
            RouteError::NoKey { flow, looked_in } => {
                write!(f, "flow `{flow}` finds the business key in {looked_in}, and this event has none there")
            }
        }
    }
}

impl Flows {
    pub fn new(flows: Vec<Flow>) -> Result<Flows, String> {
        let mut flows: Vec<Arc<Flow>> = flows.into_iter().map(Arc::new).collect();
        flows.sort_by(|a, b| (&a.id, a.version).cmp(&(&b.id, b.version)));
        if let Some(w) = flows.windows(2).find(|w| w[0].id == w[1].id && w[0].version == w[1].version) {
            return Err(format!("flow `{}` version {} is defined twice", w[0].id, w[0].version));
        }
        // Newest versions own their event types: two different flows must not share one, or an
        // event could not tell which instance it belongs to.
        let newest: Vec<&Arc<Flow>> = flows.iter().filter(|f| flows.iter().all(|g| g.id != f.id || g.version <= f.version)).collect();
        for (i, a) in newest.iter().enumerate() {
            for b in &newest[i + 1..] {
                if let Some(ty) = a.triggers.keys().find(|t| b.handles(t)) {
                    return Err(format!("event type `{ty}` is used by two flows, `{}` and `{}`", a.id, b.id));
                }
            }
        }
        // A discovered flow takes what no model does, and no two may take the same event.
        let found: Vec<(&Arc<Flow>, &Discover)> = newest.iter().filter_map(|f| f.discover.as_ref().map(|d| (*f, d))).collect();
        for (i, (a, da)) in found.iter().enumerate() {
            if let Some(ty) = da.types.iter().find(|t| newest.iter().any(|m| m.handles(t))) {
                return Err(format!("discovered flow `{}` names `{ty}`, which a modelled flow maps: an event is tracked by its model", a.id));
            }
            for (b, db) in &found[i + 1..] {
                let same_channel = da.channel.is_none() || db.channel.is_none() || da.channel == db.channel;
                let same_types = da.types.is_empty() || db.types.is_empty() || da.types.iter().any(|t| db.types.contains(t));
                if same_channel && same_types {
                    return Err(format!(
                        "discovered flows `{}` and `{}` could both take one event: give them different channels or types",
                        a.id, b.id
                    ));
                }
            }
        }
        Ok(Flows { flows })
    }

    /// Every loaded flow version.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.iter()
    }

    /// The newest version of each flow.
    pub fn newest(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.iter().enumerate().filter(|(i, f)| self.flows.get(i + 1).is_none_or(|g| g.id != f.id)).map(|(_, f)| f)
    }

    /// The newest version of the flow `id`.
    pub fn newest_of(&self, id: &str) -> Option<&Arc<Flow>> {
        self.flows.iter().rev().find(|f| f.id == id)
    }

    /// The plain envelopes the newest flows configure, to decode bus messages with.
    pub fn envelopes(&self) -> Vec<crate::envelope::EnvelopeFields> {
        let mut all: Vec<_> = self.newest().filter_map(|f| f.envelope.clone()).collect();
        all.dedup();
        all
    }

    pub fn version(&self, id: &str, version: u32) -> Option<&Arc<Flow>> {
        self.flows.iter().find(|f| f.id == id && f.version == version)
    }

    /// The flow of an event that came in on `channel` (a Kafka topic, a replayed file's name,
    /// `http`): the model that maps its type, else the discovered flow that takes it.
    pub fn route(&self, event: &Event, channel: &str) -> Result<Route, RouteError> {
        let ty = event.event_type.as_str();
        let flow = self
            .newest()
            .find(|f| f.handles(ty))
            .or_else(|| self.newest().find(|f| f.discover.as_ref().is_some_and(|d| d.takes(channel, ty))))
            .ok_or_else(|| RouteError::NoFlow { event_type: event.event_type.clone() })?;
        let key = match &flow.correlation {
            Correlation::Key => event.key.clone(),
            Correlation::Attribute(name) => event.attributes.get(name).cloned(),
            Correlation::Pointer(p) => event.data.json().and_then(|d| d.pointer(p)).and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
        };
        let key = key.ok_or_else(|| RouteError::NoKey {
            flow: flow.id.clone(),
            looked_in: match &flow.correlation {
                Correlation::Key => "the message key (`key`)".to_string(),
                Correlation::Attribute(a) => format!("the attribute `{a}`"),
                Correlation::Pointer(p) => format!("the data at `{p}`"),
            },
        })?;
        Ok(Route { flow: flow.clone(), key })
    }
}
