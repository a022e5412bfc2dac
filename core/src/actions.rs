//! Retry and cancel as data: the commands Flowlens would publish, built from the model and the
//! instance, for an adapter to send. Nothing here sends anything.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::flow::{CommandSpec, Correlation, Flow, NodeKind, OnBreach};
use crate::instance::{Instance, NodeStatus, Status, VisitOutcome};
use crate::time::Millis;

/// A command to publish.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub topic: String,
    #[serde(rename = "type")]
    pub command_type: String,
    /// The message key: the instance's business key, so the command lands where its events do.
    pub key: String,
    pub payload: Value,
    pub cause: Cause,
}

/// Why a command is sent, so its effect can be traced back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// Asks again for the work of `node`, resending the request event `retries` (when known).
    Retry { node: String, retries: Option<String> },
    Cancel,
    /// Undoes the completed work of `node` as part of a cancel.
    Compensation { node: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionError {
    UnknownNode(String),
    NotATask(String),
    NoRetryCommand(String),
    NothingToRetry { node: String, status: NodeStatus },
    NotRunning(Status),
    NoCancelCommand,
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::UnknownNode(n) => write!(f, "the flow has no node `{n}`"),
            ActionError::NotATask(n) => write!(f, "`{n}` is not a task; only tasks can be retried"),
            ActionError::NoRetryCommand(n) => write!(f, "task `{n}` has no retry command in its flow"),
            ActionError::NothingToRetry { node, status } => {
                write!(f, "task `{node}` is {}; only an active or failed task of a running instance can be retried", format!("{status:?}").to_lowercase())
            }
            ActionError::NotRunning(s) => write!(f, "the instance is {}; only a running instance can be cancelled", s.as_str()),
            ActionError::NoCancelCommand => write!(f, "the flow has no cancel command"),
        }
    }
}

/// A payload that carries the key where the flow's correlation looks for it, so whoever answers
/// the command can correlate their answer.
fn key_payload(flow: &Flow, key: &str) -> Value {
    let mut root = Value::Object(Map::new());
    if let Correlation::Pointer(p) = &flow.correlation {
        let mut at = &mut root;
        let parts: Vec<String> = p.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
        for (k, part) in parts.iter().enumerate() {
            let obj = at.as_object_mut().expect("built from objects");
            let next = if k + 1 == parts.len() { Value::String(key.to_string()) } else { Value::Object(Map::new()) };
            at = obj.entry(part.clone()).or_insert(next);
        }
    }
    root
}

impl Instance {
    /// The id of the event that requested the latest visit of `node`: its payload is what a retry
    /// resends.
    pub fn request_event(&self, flow: &Flow, node: &str) -> Option<String> {
        let i = flow.node_index(node)?;
        let at = self.run(flow).visits.get(i)?.iter().rev().find_map(|v| v.request)?;
        self.log.get(at as usize).map(|e| e.id.clone())
    }

    /// The command that retries `node`. `request_data` is the payload of the event that requested
    /// it (see [`Instance::request_event`]); without one, the payload carries just the key.
    pub fn retry(&self, flow: &Flow, key: &str, node: &str, request_data: Option<&Value>) -> Result<Command, ActionError> {
        let i = flow.node_index(node).ok_or_else(|| ActionError::UnknownNode(node.to_string()))?;
        let NodeKind::Task(task) = &flow.nodes[i].kind else { return Err(ActionError::NotATask(node.to_string())) };
        let spec = task.retry.as_ref().ok_or_else(|| ActionError::NoRetryCommand(node.to_string()))?;
        let status = self.nodes(flow)[i].status;
        let running = self.status(flow) == Status::Running;
        if !(status == NodeStatus::Active || status == NodeStatus::Failed && running) {
            return Err(ActionError::NothingToRetry { node: node.to_string(), status });
        }
        let payload = request_data.filter(|d| !d.is_null()).cloned().unwrap_or_else(|| key_payload(flow, key));
        let retries = self.request_event(flow, node);
        Ok(command(spec, key, payload, Cause::Retry { node: node.to_string(), retries }))
    }

    /// The cancel command, then one compensation per completed visit of a task that has one,
    /// latest first: a step done three times is undone three times.
    pub fn cancel(&self, flow: &Flow, key: &str) -> Result<Vec<Command>, ActionError> {
        let status = self.status(flow);
        if status != Status::Running {
            return Err(ActionError::NotRunning(status));
        }
        let spec = flow.cancel.as_ref().ok_or(ActionError::NoCancelCommand)?;
        let mut commands = vec![command(spec, key, key_payload(flow, key), Cause::Cancel)];
        let mut done: Vec<(Millis, usize)> = Vec::new();
        let run = self.run(flow);
        for (i, node) in flow.nodes.iter().enumerate() {
            let NodeKind::Task(t) = &node.kind else { continue };
            if t.compensation.is_some() {
                let visits = run.visits.get(i).map(Vec::as_slice).unwrap_or_default();
                done.extend(visits.iter().filter(|v| v.outcome == VisitOutcome::Done).filter_map(|v| v.finished).map(|at| (at, i)));
            }
        }
        done.sort_by(|a, b| b.cmp(a));
        for (_, i) in done {
            let node = &flow.nodes[i];
            let NodeKind::Task(t) = &node.kind else { unreachable!("only tasks were collected") };
            let spec = t.compensation.as_ref().expect("only tasks with a compensation were collected");
            commands.push(command(spec, key, key_payload(flow, key), Cause::Compensation { node: node.id.clone() }));
        }
        Ok(commands)
    }

    /// What the flow says to do now about a breached instance SLA: the cancel commands, when the
    /// flow cancels on breach and the instance is still running past its deadline.
    pub fn escalation(&self, flow: &Flow, key: &str, now: Millis) -> Option<Vec<Command>> {
        if flow.on_breach != OnBreach::Cancel {
            return None;
        }
        self.sla_breached(flow, now).then(|| self.cancel(flow, key).ok()).flatten()
    }

    /// Whether the instance as a whole is past its SLA and still open at `now`.
    pub fn sla_breached(&self, flow: &Flow, now: Millis) -> bool {
        self.sla(flow, now).breaches.iter().any(|b| b.node.is_none() && b.open)
    }
}

fn command(spec: &CommandSpec, key: &str, payload: Value, cause: Cause) -> Command {
    Command { topic: spec.topic.clone(), command_type: spec.command.clone(), key: key.to_string(), payload, cause }
}
