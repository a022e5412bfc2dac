//! The set of flows a server tracks, and how an event finds its flow and its instance key.

use std::sync::Arc;

use crate::event::Event;
use crate::flow::{Correlation, Flow};

#[derive(Clone, Debug, Default)]
pub struct Flows {
    flows: Vec<Arc<Flow>>,
}

/// Where an event belongs: which flow, and the business key of its instance.
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
        let flows: Vec<Arc<Flow>> = flows.into_iter().map(Arc::new).collect();
        for (i, a) in flows.iter().enumerate() {
            if let Some(b) = flows[..i].iter().find(|b| b.id == a.id) {
                return Err(format!("flow `{}` is defined twice (versions {} and {})", a.id, b.version, a.version));
            }
        }
        Ok(Flows { flows })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.iter()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Flow>> {
        self.flows.iter().find(|f| f.id == id)
    }

    pub fn route(&self, event: &Event) -> Result<Route, RouteError> {
        let flow = self
            .flows
            .iter()
            .find(|f| f.handles(&event.event_type))
            .ok_or_else(|| RouteError::NoFlow { event_type: event.event_type.clone() })?;
        let key = match &flow.correlation {
            Correlation::Key => event.key.clone(),
            Correlation::Pointer(p) => event.data.pointer(p).and_then(|v| match v {
                serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
        };
        let looked_in = || match &flow.correlation {
            Correlation::Key => "the event key (`key` or `subject`)".to_string(),
            Correlation::Pointer(p) => format!("the data at `{p}`"),
        };
        let key = key.ok_or_else(|| RouteError::NoKey { flow: flow.id.clone(), looked_in: looked_in() })?;
        Ok(Route { flow: flow.clone(), key })
    }
}
