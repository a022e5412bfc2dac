//! Flow models: the graph an instance is tracked against.
//!
//! A flow is data (see `flows/*.toml` and docs/flows.md). [`Flow`] is the checked, indexed form the
//! rest of the core works with; it is built only through [`Flow::from_def`], which refuses models
//! that could not be tracked.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::time::Span;

/// The flow file as written by people, before any checking.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDef {
    pub id: String,
    pub name: String,
    pub version: u32,
    pub correlation: Correlation,
    #[serde(default)]
    pub sla: Option<String>,
    pub nodes: Vec<NodeDef>,
}

/// Where an event's business key is found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Correlation {
    /// The envelope's key: the Kafka message key, or `key` / `subject` of an HTTP event.
    Key,
    /// A JSON pointer into the event's data, e.g. `/customerId`.
    Pointer(String),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDef {
    pub id: String,
    pub kind: NodeKindDef,
    #[serde(default)]
    pub name: Option<String>,
    /// Start and end events: the event type that marks them reached.
    #[serde(default)]
    pub event: Option<String>,
    /// End events: whether reaching it means the instance succeeded.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Tasks: the event saying the work was asked for, and those saying how it went.
    #[serde(default)]
    pub request: Option<String>,
    #[serde(default)]
    pub success: Option<String>,
    #[serde(default)]
    pub failure: Option<String>,
    #[serde(default)]
    pub sla: Option<String>,
    #[serde(default)]
    pub next: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKindDef {
    Start,
    Task,
    Parallel,
    Exclusive,
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

/// A checked flow.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flow {
    pub id: String,
    pub name: String,
    pub version: u32,
    pub correlation: Correlation,
    pub sla: Option<Span>,
    pub nodes: Vec<Node>,
    /// Node indices in an order where every node comes after all of its predecessors.
    pub topo: Vec<usize>,
    #[serde(skip)]
    triggers: HashMap<String, Vec<(usize, Trigger)>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub kind: NodeKind,
    pub sla: Option<Span>,
    pub next: Vec<usize>,
    pub prev: Vec<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    Start { event: String },
    Task { request: Option<String>, success: String, failure: Option<String> },
    Parallel,
    Exclusive,
    End { event: String, outcome: Outcome },
}

/// What an event does to the node it is mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    Reach,
    Request,
    Succeed,
    Fail,
}

/// A problem found in a flow definition; `place` says where (a node id, a field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowError {
    pub place: String,
    pub problem: String,
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.problem)
    }
}

impl Flow {
    /// Parses a flow file; errors name the file, the line and column when TOML knows them, and the problem.
    #[cfg(feature = "files")]
    pub fn parse_toml(file: &str, text: &str) -> Result<Flow, Vec<String>> {
        let def: FlowDef = toml::from_str(text).map_err(|e| {
            let place = match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    format!("{file}:{line}:{col}")
                }
                None => file.to_string(),
            };
            vec![format!("{place}: {}", e.message())]
        })?;
        Flow::from_def(def).map_err(|errs| errs.into_iter().map(|e| format!("{file}: {e}")).collect())
    }

    /// Checks a definition and indexes it. Every problem is reported, not only the first.
    pub fn from_def(def: FlowDef) -> Result<Flow, Vec<FlowError>> {
        let mut errors = Vec::new();
        let mut err = |place: String, problem: String| errors.push(FlowError { place, problem });
        let index: HashMap<&str, usize> = def.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        if index.len() != def.nodes.len() {
            err("nodes".into(), "two nodes share an id".into());
        }
        let sla = def.sla.as_deref().map(Span::parse).transpose().unwrap_or_else(|e| {
            err("sla".into(), e);
            None
        });

        let mut nodes = Vec::with_capacity(def.nodes.len());
        let mut triggers: HashMap<String, Vec<(usize, Trigger)>> = HashMap::new();
        for (i, n) in def.nodes.iter().enumerate() {
            let place = format!("node `{}`", n.id);
            let mut need = |field: &Option<String>, name: &str| -> String {
                field.clone().unwrap_or_else(|| {
                    err(place.clone(), format!("a {:?} node needs `{name}`", n.kind).to_lowercase());
                    String::new()
                })
            };
            let kind = match n.kind {
                NodeKindDef::Start => NodeKind::Start { event: need(&n.event, "event") },
                NodeKindDef::End => NodeKind::End {
                    event: need(&n.event, "event"),
                    outcome: n.outcome.unwrap_or(Outcome::Success),
                },
                NodeKindDef::Task => NodeKind::Task {
                    request: n.request.clone(),
                    success: need(&n.success, "success"),
                    failure: n.failure.clone(),
                },
                NodeKindDef::Parallel => NodeKind::Parallel,
                NodeKindDef::Exclusive => NodeKind::Exclusive,
            };
            let mut map = |ty: &Option<String>, trigger| {
                if let Some(ty) = ty.as_ref().filter(|t| !t.is_empty()) {
                    triggers.entry(ty.clone()).or_default().push((i, trigger));
                }
            };
            match &kind {
                NodeKind::Start { event } | NodeKind::End { event, .. } => map(&Some(event.clone()), Trigger::Reach),
                NodeKind::Task { request, success, failure } => {
                    map(request, Trigger::Request);
                    map(&Some(success.clone()), Trigger::Succeed);
                    map(failure, Trigger::Fail);
                }
                NodeKind::Parallel | NodeKind::Exclusive => {}
            }
            let sla = n.sla.as_deref().map(Span::parse).transpose().unwrap_or_else(|e| {
                err(format!("{place}, sla"), e);
                None
            });
            let mut next = Vec::new();
            for target in &n.next {
                match index.get(target.as_str()) {
                    Some(&j) => next.push(j),
                    None => err(place.clone(), format!("`next` names `{target}`, which is no node of this flow")),
                }
            }
            nodes.push(Node { id: n.id.clone(), name: n.name.clone().unwrap_or_else(|| n.id.clone()), kind, sla, next, prev: Vec::new() });
        }
        for i in 0..nodes.len() {
            for j in nodes[i].next.clone() {
                nodes[j].prev.push(i);
            }
        }
        for (ty, uses) in &triggers {
            if uses.len() > 1 {
                let at: Vec<_> = uses.iter().map(|(i, _)| format!("`{}`", nodes[*i].id)).collect();
                err(format!("event `{ty}`"), format!("is mapped more than once ({})", at.join(", ")));
            }
        }
        let starts: Vec<usize> = (0..nodes.len()).filter(|&i| matches!(nodes[i].kind, NodeKind::Start { .. })).collect();
        if starts.len() != 1 {
            err("nodes".into(), format!("a flow needs exactly one start node, this one has {}", starts.len()));
        }
        let topo = topological_order(&nodes);
        if topo.len() != nodes.len() {
            err("nodes".into(), "the flow has a cycle; loops are not supported yet".into());
        }
        if let Some(&start) = starts.first() {
            let mut seen = vec![false; nodes.len()];
            let mut stack = vec![start];
            while let Some(i) = stack.pop() {
                if !std::mem::replace(&mut seen[i], true) {
                    stack.extend(&nodes[i].next);
                }
            }
            for n in nodes.iter().zip(&seen).filter(|(_, reached)| !**reached).map(|(n, _)| n) {
                err(format!("node `{}`", n.id), "cannot be reached from the start node".into());
            }
        }
        if errors.is_empty() {
            Ok(Flow { id: def.id, name: def.name, version: def.version, correlation: def.correlation, sla, nodes, topo, triggers })
        } else {
            Err(errors)
        }
    }

    /// The node an event type is mapped to, and what it does there.
    pub fn trigger(&self, event_type: &str) -> Option<(usize, Trigger)> {
        self.triggers.get(event_type).and_then(|v| v.first().copied())
    }

    pub fn handles(&self, event_type: &str) -> bool {
        self.triggers.contains_key(event_type)
    }

    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }
}

fn topological_order(nodes: &[Node]) -> Vec<usize> {
    let mut indegree: Vec<usize> = nodes.iter().map(|n| n.prev.len()).collect();
    let mut ready: Vec<usize> = (0..nodes.len()).rev().filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &j in nodes[i].next.iter().rev() {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(j);
            }
        }
    }
    order
}

#[cfg(feature = "files")]
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(all(test, feature = "files"))]
mod tests {
    use super::*;

    const ONBOARDING: &str = include_str!("../../flows/customer-onboarding.toml");

    #[test]
    fn the_shipped_onboarding_flow_is_valid() {
        let flow = Flow::parse_toml("customer-onboarding.toml", ONBOARDING).unwrap();
        assert_eq!(flow.id, "customer-onboarding");
        assert_eq!(flow.trigger("AddressChecked"), Some((flow.node_index("address").unwrap(), Trigger::Succeed)));
        assert_eq!(flow.topo.first(), flow.node_index("registration").as_ref());
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let errs = Flow::parse_toml("bad.toml", "id = \"x\"\nname = 3\n").unwrap_err();
        assert!(errs[0].starts_with("bad.toml:2:8: "), "{errs:?}");
    }

    #[test]
    fn model_errors_name_the_node_and_the_problem() {
        let text = r#"
id = "f"
name = "F"
version = 1
correlation = "key"
[[nodes]]
id = "s"
kind = "start"
event = "A"
next = ["t", "nowhere"]
[[nodes]]
id = "t"
kind = "task"
success = "A"
sla = "ten minutes"
[[nodes]]
id = "lost"
kind = "end"
event = "Z"
"#;
        let errs = Flow::parse_toml("f.toml", text).unwrap_err().join("\n");
        assert!(errs.contains("f.toml: node `s`: `next` names `nowhere`, which is no node of this flow"), "{errs}");
        assert!(errs.contains("f.toml: node `t`, sla: `ten minutes`"), "{errs}");
        assert!(errs.contains("f.toml: event `A`: is mapped more than once"), "{errs}");
        assert!(errs.contains("f.toml: node `lost`: cannot be reached from the start node"), "{errs}");
    }
}
