//! Retry and cancel: the core decides what to publish, the store keeps the audit trail, the
//! publisher sends, and the outcome is settled honestly later ("took effect" when the step's
//! outcome arrives, "no effect" when its deadline passes first).

use std::time::Duration;

use flowlens_core::flow::NodeKind;
use flowlens_core::{ActionView, Cause, Command, Millis};
use flowlens_store::{now, NewAction};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::ingest::Ingest;

/// Where commands go: Kafka when configured, else the built-in demo services.
#[derive(Clone)]
pub enum Publisher {
    Kafka(FutureProducer),
    Local(broadcast::Sender<Command>),
}

/// How long a retry may take to show an effect when its task has no SLA.
const DEFAULT_RETRY_WINDOW: i64 = 10 * 60_000;
/// How long a replica holds an escalation it took before another may take it up (webhook retries fit).
const ESCALATION_LEASE: Duration = Duration::from_secs(120);

impl Publisher {
    pub fn kafka(brokers: &str) -> Result<Publisher, rdkafka::error::KafkaError> {
        let producer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "10000")
            .create()?;
        Ok(Publisher::Kafka(producer))
    }

    async fn publish(&self, cmd: &Command, action: i64) -> Result<(), String> {
        match self {
            Publisher::Kafka(producer) => {
                // A CloudEvent in structured mode, keyed like the instance's own events.
                let mut event = json!({
                    "specversion": "1.0",
                    "id": format!("flowlens-action-{action}"),
                    "type": cmd.command_type,
                    "source": "flowlens",
                    "subject": cmd.key,
                    "time": now().to_rfc3339(),
                    "datacontenttype": "application/json",
                    "flowlensaction": action.to_string(),
                    "data": cmd.payload,
                });
                if let Cause::Retry { retries: Some(id), .. } = &cmd.cause {
                    event["flowlensretries"] = json!(id);
                }
                let value = event.to_string();
                let headers = OwnedHeaders::new().insert(Header { key: "content-type", value: Some("application/cloudevents+json") });
                let record = FutureRecord::to(&cmd.topic).key(&cmd.key).payload(&value).headers(headers);
                producer.send(record, Duration::from_secs(10)).await.map(|_| ()).map_err(|(e, _)| format!("Kafka refused it: {e}"))
            }
            Publisher::Local(tx) => tx
                .send(cmd.clone())
                .map(|_| ())
                .map_err(|_| "nothing listens for commands: Kafka is not configured and the demo services are off".into()),
        }
    }
}

#[derive(Clone)]
pub struct Actions {
    ingest: Ingest,
    publisher: Publisher,
}

fn new_action(cmd: &Command, actor: &str, deadline: Option<Millis>) -> NewAction {
    let (kind, node) = match &cmd.cause {
        Cause::Retry { node, .. } => ("retry", Some(node.clone())),
        Cause::Cancel => ("cancel", None),
        Cause::Compensation { node } => ("compensation", Some(node.clone())),
    };
    NewAction {
        kind,
        node,
        command: cmd.command_type.clone(),
        topic: cmd.topic.clone(),
        payload: cmd.payload.clone(),
        actor: actor.to_string(),
        deadline,
    }
}

impl Actions {
    pub fn new(ingest: Ingest, publisher: Publisher) -> Actions {
        Actions { ingest, publisher }
    }

    pub fn store(&self) -> &flowlens_store::Store {
        self.ingest.store()
    }

    /// Asks again for the work of an active task, resending its request's payload.
    pub async fn retry(&self, id: i64, node: &str, actor: &str) -> Result<ActionView, ApiError> {
        let store = self.ingest.store();
        let loaded = store.load(id).await?.ok_or_else(|| ApiError::NotFound(format!("no instance {id}")))?;
        let request = match loaded.instance.request_event(&loaded.flow, node) {
            Some(event) => store.event_data(event).await?,
            None => None,
        };
        let cmd = loaded.instance.retry(&loaded.flow, &loaded.key, node, request.as_ref()).map_err(|e| ApiError::Conflict(e.to_string()))?;
        let at = now();
        let window = loaded.flow.nodes.iter().find(|n| n.id == node && matches!(n.kind, NodeKind::Task(_))).and_then(|n| n.sla).map_or(DEFAULT_RETRY_WINDOW, |s| s.0);
        let ids = store.record_actions(id, &[new_action(&cmd, actor, Some(Millis(at.0 + window)))], at).await?;
        if let Err(e) = self.publisher.publish(&cmd, ids[0]).await {
            store.settle_action(ids[0], "failed", &e, now()).await?;
        }
        let actions = store.actions(id).await?;
        Ok(actions.into_iter().find(|a| a.id == ids[0]).expect("just recorded"))
    }

    /// Records the webhook alert in the audit trail, then delivers it in the background (with
    /// retries) and settles it with what happened.
    async fn alert(&self, id: i64, url: String, body: serde_json::Value) {
        let store = self.ingest.store().clone();
        let action = NewAction {
            kind: "webhook",
            node: None,
            command: "sla.breached".into(),
            topic: url.clone(),
            payload: body.clone(),
            actor: "sla".into(),
            deadline: None,
        };
        let ids = match store.record_actions(id, &[action], now()).await {
            Ok(ids) => ids,
            Err(e) => return tracing::warn!(instance = id, error = %e, "could not record the SLA alert"),
        };
        tokio::spawn(async move {
            let (result, detail) = match crate::webhook::deliver(&url, &body).await {
                Ok(d) => ("took_effect", d),
                Err(d) => ("failed", d),
            };
            if let Err(e) = store.settle_action(ids[0], result, &detail, now()).await {
                tracing::warn!(instance = id, error = %e, "could not record the SLA alert's outcome");
            }
        });
    }

    /// Retries every active task of the instance that its flow can retry (what a bulk retry of
    /// stuck instances means).
    pub async fn retry_active(&self, id: i64, actor: &str) -> Result<Vec<ActionView>, ApiError> {
        let store = self.ingest.store();
        let loaded = store.load(id).await?.ok_or_else(|| ApiError::NotFound(format!("no instance {id}")))?;
        let nodes = loaded.instance.nodes(&loaded.flow);
        let targets: Vec<String> = loaded
            .flow
            .nodes
            .iter()
            .zip(&nodes)
            .filter(|(n, s)| s.status == flowlens_core::NodeStatus::Active && n.retry_command().is_some())
            .map(|(n, _)| n.id.clone())
            .collect();
        if targets.is_empty() {
            return Err(ApiError::Conflict("nothing to retry: no active task of this instance has a retry command".into()));
        }
        let mut done = Vec::with_capacity(targets.len());
        for node in targets {
            done.push(self.retry(id, &node, actor).await?);
        }
        Ok(done)
    }

    /// Publishes the cancel command and the compensations, and marks the instance cancelled once
    /// the cancel itself went out.
    pub async fn cancel(&self, id: i64, actor: &str) -> Result<Vec<ActionView>, ApiError> {
        let store = self.ingest.store();
        let loaded = store.load(id).await?.ok_or_else(|| ApiError::NotFound(format!("no instance {id}")))?;
        let cmds = loaded.instance.cancel(&loaded.flow, &loaded.key).map_err(|e| ApiError::Conflict(e.to_string()))?;
        let new: Vec<NewAction> = cmds.iter().map(|c| new_action(c, actor, None)).collect();
        let ids = store.record_actions(id, &new, now()).await?;
        let mut cancel_sent = false;
        for (cmd, action) in cmds.iter().zip(&ids) {
            match self.publisher.publish(cmd, *action).await {
                Ok(()) => cancel_sent |= cmd.cause == Cause::Cancel,
                Err(e) => store.settle_action(*action, "failed", &e, now()).await?,
            }
        }
        if cancel_sent {
            self.ingest.mark_cancelled(id).await?;
        }
        let actions = store.actions(id).await?;
        Ok(actions.into_iter().filter(|a| ids.contains(&a.id)).collect())
    }

    /// Every second, even with no browser open: settles retries whose deadline passed without an
    /// outcome, and cancels instances past their SLA when their flow says so.
    pub fn spawn_sweeper(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let store = this.ingest.store();
                match store.expire_actions(now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "retries had no effect before their deadline"),
                    Err(e) => tracing::warn!(error = %e, "could not settle expired retries"),
                }
                match store.due_escalations(now()).await {
                    Ok(due) => {
                        for (id, seen) in due {
                            let lease = Millis(now().0 + ESCALATION_LEASE.as_millis() as i64);
                            match store.claim_escalation(id, seen, lease).await {
                                Ok(true) => this.escalate(id, lease).await,
                                Ok(false) => {} // another replica has it
                                Err(e) => tracing::warn!(instance = id, error = %e, "could not claim an escalation"),
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not read due escalations"),
                }
            }
        });
    }

    /// An instance passed its SLA: cancel it and/or alert the webhook, as its flow says, as `sla`.
    async fn escalate(&self, id: i64, lease: Millis) {
        let store = self.ingest.store();
        let at = now();
        let (cancel, alert) = match store.load(id).await {
            Ok(Some(l)) => {
                let alert = l.flow.webhook.clone().filter(|_| l.instance.sla_breached(&l.flow, at)).map(|url| {
                    let body = json!({
                        "type": "flowlens.sla.breached",
                        "flow": l.flow.id,
                        "flow_version": l.flow.version,
                        "key": l.key,
                        "instance": id,
                        "sla": l.flow.sla.map(|s| s.human()),
                        "at": at.to_rfc3339(),
                    });
                    (url, body)
                });
                (l.instance.escalation(&l.flow, &l.key, at).is_some(), alert)
            }
            _ => (false, None),
        };
        // Once per instance: a later event re-arms the timer, but an alert already sent stays sent.
        let alerted = store.actions(id).await.map(|a| a.iter().any(|a| a.kind == "webhook")).unwrap_or(true);
        if let (Some((url, body)), false) = (alert, alerted) {
            self.alert(id, url, body).await;
        }
        if cancel {
            match self.cancel(id, "sla").await {
                Ok(_) => tracing::info!(instance = id, "instance SLA breached: cancelled"),
                Err(e) => tracing::warn!(instance = id, error = %e, "instance SLA breached, and the cancel failed"),
            }
        }
        if let Err(e) = store.escalated(id, lease).await {
            tracing::warn!(instance = id, error = %e, "could not record the escalation");
        }
    }
}
