//! Retry and cancel: the core decides what to publish, the store keeps the audit trail, the
//! publisher sends, and the outcome is settled honestly later ("took effect" when the step's
//! outcome arrives, "no effect" when its deadline passes first). The SLA sweep escalates
//! instances past their SLA (cancel, webhook) even when no browser is open.

use std::time::Duration;

use flowlens_core::flow::NodeKind;
use flowlens_core::{ActionKind, ActionResult, ActionView, Caller, Cause, Command, Millis, Need, NodeStatus};
use flowlens_store::NewAction;
use serde_json::json;

use crate::metrics::Outcome;
use crate::{Error, Service};

/// How long a retry may take to show an effect when its task has no SLA.
const DEFAULT_RETRY_WINDOW: i64 = 10 * 60_000;
/// How long a replica holds an escalation it took before another may take it up (webhook retries fit).
const ESCALATION_LEASE: Duration = Duration::from_secs(120);
/// Most instances one bulk request may act on: pages send a few per call to show progress.
const MAX_BULK: usize = 100;

/// What a bulk request does to each instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAction {
    /// Retry every active task that its flow can retry.
    Retry,
    Cancel,
}

impl BulkAction {
    pub fn parse(s: &str) -> Result<BulkAction, Error> {
        match s {
            "retry" => Ok(BulkAction::Retry),
            "cancel" => Ok(BulkAction::Cancel),
            other => Err(Error::Invalid(format!("unknown action `{other}`; expected retry or cancel"))),
        }
    }
}

fn new_action(cmd: &Command, actor: &str, deadline: Option<Millis>) -> NewAction {
    let (kind, node) = match &cmd.cause {
        Cause::Retry { node, .. } => (ActionKind::Retry, Some(node.clone())),
        Cause::Cancel => (ActionKind::Cancel, None),
        Cause::Compensation { node } => (ActionKind::Compensation, Some(node.clone())),
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

fn no_instance(id: i64) -> Error {
    Error::NotFound(format!("no instance {id}"))
}

impl Service {
    /// Asks again for the work of an active task, resending its request's payload.
    #[tracing::instrument(skip(self, caller))]
    pub async fn retry(&self, caller: &Caller, id: i64, node: &str) -> Result<ActionView, Error> {
        let who = caller.allow_presented_change(&Need::Operate)?;
        self.retry_as(id, node, &who.name).await
    }

    async fn retry_as(&self, id: i64, node: &str, actor: &str) -> Result<ActionView, Error> {
        let store = self.store();
        let loaded = store.load(id).await?.ok_or_else(|| no_instance(id))?;
        let request = match loaded.instance.request_event(&loaded.flow, node) {
            Some(event) => store.event_data(&event).await?,
            None => None,
        };
        let cmd = loaded.instance.retry(&loaded.flow, &loaded.key, node, request.as_ref()).map_err(|e| {
            self.metrics().action(ActionKind::Retry, Outcome::Refused, 1);
            Error::Conflict(e.to_string())
        })?;
        let at = self.now();
        let window = loaded
            .flow
            .nodes
            .iter()
            .find(|n| n.id == node && matches!(n.kind, NodeKind::Task(_)))
            .and_then(|n| n.sla)
            .map_or(DEFAULT_RETRY_WINDOW, |s| s.0);
        let ids = store.record_actions(id, &[new_action(&cmd, actor, Some(Millis(at.0 + window)))], at).await?;
        let published = self.publisher().publish(&cmd, ids[0], self.now()).await;
        self.metrics().action(ActionKind::Retry, Outcome::of(&published), 1);
        match published {
            Ok(()) => self.mark_retried(id, node, ids[0]).await?,
            Err(e) => store.settle_action(ids[0], ActionResult::Failed, &e, self.now()).await?,
        }
        let actions = store.actions(id).await?;
        actions.into_iter().find(|a| a.id == ids[0]).ok_or_else(|| no_instance(id))
    }

    /// Retries every active task of the instance that its flow can retry (what a bulk retry of
    /// stuck instances means).
    async fn retry_active_as(&self, id: i64, actor: &str) -> Result<Vec<ActionView>, Error> {
        let loaded = self.store().load(id).await?.ok_or_else(|| no_instance(id))?;
        let nodes = loaded.instance.nodes(&loaded.flow);
        let targets: Vec<String> = loaded
            .flow
            .nodes
            .iter()
            .zip(&nodes)
            .filter(|(n, s)| s.status == NodeStatus::Active && n.retry_command().is_some())
            .map(|(n, _)| n.id.clone())
            .collect();
        if targets.is_empty() {
            return Err(Error::Conflict("nothing to retry: no active task of this instance has a retry command".into()));
        }
        let mut done = Vec::with_capacity(targets.len());
        for node in targets {
            done.push(self.retry_as(id, &node, actor).await?);
        }
        Ok(done)
    }

    /// Publishes the cancel command and the compensations; the instance becomes cancelled once
    /// the cancel itself went out.
    #[tracing::instrument(skip(self, caller))]
    pub async fn cancel(&self, caller: &Caller, id: i64) -> Result<Vec<ActionView>, Error> {
        let who = caller.allow_presented_change(&Need::Operate)?;
        self.cancel_as(id, &who.name).await
    }

    async fn cancel_as(&self, id: i64, actor: &str) -> Result<Vec<ActionView>, Error> {
        let store = self.store();
        let loaded = store.load(id).await?.ok_or_else(|| no_instance(id))?;
        let cmds = loaded.instance.cancel(&loaded.flow, &loaded.key).map_err(|e| {
            self.metrics().action(ActionKind::Cancel, Outcome::Refused, 1);
            Error::Conflict(e.to_string())
        })?;
        let new: Vec<NewAction> = cmds.iter().map(|c| new_action(c, actor, None)).collect();
        let ids = store.record_actions(id, &new, self.now()).await?;
        let mut cancel_sent = false;
        for ((cmd, action), new) in cmds.iter().zip(&ids).zip(&new) {
            let published = self.publisher().publish(cmd, *action, self.now()).await;
            self.metrics().action(new.kind, Outcome::of(&published), 1);
            match published {
                Ok(()) => cancel_sent |= cmd.cause == Cause::Cancel,
                Err(e) => store.settle_action(*action, ActionResult::Failed, &e, self.now()).await?,
            }
        }
        if cancel_sent {
            self.mark_cancelled(id).await?;
        }
        let actions = store.actions(id).await?;
        Ok(actions.into_iter().filter(|a| ids.contains(&a.id)).collect())
    }

    /// Retries or cancels each instance; one result per instance, in words when it is done.
    #[tracing::instrument(skip(self, caller, ids), fields(count = ids.len()))]
    pub async fn bulk(&self, caller: &Caller, action: BulkAction, ids: &[i64]) -> Result<Vec<(i64, Result<String, Error>)>, Error> {
        let who = caller.allow_presented_change(&Need::Operate)?;
        if ids.len() > MAX_BULK {
            return Err(Error::Invalid(format!("at most {MAX_BULK} instances per request")));
        }
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let result = match action {
                BulkAction::Retry => self.retry_active_as(id, &who.name).await.map(|a| {
                    let nodes: Vec<String> = a.iter().filter_map(|x| x.node.clone()).collect();
                    format!("retry sent for {}", nodes.join(", "))
                }),
                BulkAction::Cancel => self.cancel_as(id, &who.name).await.map(|a| format!("cancel sent ({} commands)", a.len())),
            };
            out.push((id, result));
        }
        Ok(out)
    }

    /// One pass of the SLA scheduler (the server runs it every second): settles retries whose
    /// deadline passed without an outcome, and escalates instances past their SLA as their flow
    /// says. Each escalation is claimed in the database, so of several replicas one acts.
    pub async fn sweep(&self) {
        let store = self.store();
        match store.expire_actions(self.now()).await {
            Ok(0) => {}
            Ok(n) => {
                self.metrics().action(ActionKind::Retry, Outcome::NoEffect, n);
                tracing::info!(count = n, "retries had no effect before their deadline")
            }
            Err(e) => tracing::warn!(error = %e, "could not settle expired retries"),
        }
        match store.due_escalations(self.now()).await {
            Ok(due) => {
                for (id, seen) in due {
                    let lease = Millis(self.now().0 + ESCALATION_LEASE.as_millis() as i64);
                    match store.claim_escalation(id, seen, lease).await {
                        Ok(true) => self.escalate(id, lease).await,
                        Ok(false) => {} // another replica has it
                        Err(e) => tracing::warn!(instance = id, error = %e, "could not claim an escalation"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read due escalations"),
        }
    }

    /// An instance passed its SLA: cancel it and/or alert the webhook, as its flow says, as `sla`.
    #[tracing::instrument(skip(self, lease))]
    async fn escalate(&self, id: i64, lease: Millis) {
        let store = self.store();
        let at = self.now();
        let (cancel, alert) = match store.load(id).await {
            Ok(Some(l)) => {
                self.metrics().sla_breached(&l.flow.id);
                let alert = l.flow.webhook.clone().filter(|_| l.instance.sla_breached(&l.flow, at)).map(|url| (url, alert_body(&l.flow, &l.key, id, at)));
                (l.instance.escalation(&l.flow, &l.key, at).is_some(), alert)
            }
            _ => (false, None),
        };
        // Once per instance: a later event re-arms the timer, but an alert already sent stays sent.
        let alerted = store.actions(id).await.map(|a| a.iter().any(|a| a.kind == ActionKind::Webhook)).unwrap_or(true);
        if let (Some((url, body)), false) = (alert, alerted) {
            self.alert(id, url, body).await;
        }
        if cancel {
            match self.cancel_as(id, "sla").await {
                Ok(_) => tracing::info!(instance = id, "instance SLA breached: cancelled"),
                Err(e) => tracing::warn!(instance = id, error = %e, "instance SLA breached, and the cancel failed"),
            }
        }
        if let Err(e) = store.escalated(id, lease).await {
            tracing::warn!(instance = id, error = %e, "could not record the escalation");
        }
    }

    /// Records the webhook alert in the audit trail, then delivers it in the background (with
    /// retries) and settles it with what happened.
    async fn alert(&self, id: i64, url: String, body: serde_json::Value) {
        let store = self.store().clone();
        let action = NewAction {
            kind: ActionKind::Webhook,
            node: None,
            command: "sla.breached".into(),
            topic: url.clone(),
            payload: body.clone(),
            actor: "sla".into(),
            deadline: None,
        };
        let ids = match store.record_actions(id, &[action], self.now()).await {
            Ok(ids) => ids,
            Err(e) => return tracing::warn!(instance = id, error = %e, "could not record the SLA alert"),
        };
        let this = self.clone();
        self.tasks().spawn(async move {
            let (result, detail) = match this.alerts().deliver(&url, &body, |attempt| this.metrics().webhook_attempt(attempt)).await {
                Ok(d) => (ActionResult::TookEffect, d),
                Err(d) => (ActionResult::Failed, d),
            };
            if let Err(e) = store.settle_action(ids[0], result, &detail, this.now()).await {
                tracing::warn!(instance = id, error = %e, "could not record the SLA alert's outcome");
            }
        });
    }
}

/// What an SLA alert says, in the flow's chosen form: Flowlens's JSON for incident tools and
/// scripts, or one line of text for a chat channel.
fn alert_body(flow: &flowlens_core::Flow, key: &str, id: i64, at: Millis) -> serde_json::Value {
    let sla = flow.sla.map(|s| s.human());
    match flow.webhook_format {
        flowlens_core::flow::WebhookFormat::Json => json!({
            "type": "flowlens.sla.breached",
            "flow": flow.id,
            "flow_version": flow.version,
            "key": key,
            "instance": id,
            "sla": sla,
            "at": at.to_rfc3339(),
        }),
        flowlens_core::flow::WebhookFormat::Chat => json!({
            "text": format!(
                "SLA breached: {} `{key}` (instance {id}) has not finished within {} — flow `{}` v{}, at {}",
                flow.name,
                sla.as_deref().unwrap_or("its SLA"),
                flow.id,
                flow.version,
                at.to_rfc3339()
            ),
        }),
    }
}
