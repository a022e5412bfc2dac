//! The audit trail of retries and cancels, and what the store must do for them.

use std::sync::Arc;

use flowlens_core::{ActionKind, ActionResult, ActionView, Data, Flow, Instance, InstanceChanged, Millis, Status};
use serde_json::Value;
use crate::row::{word, Columns};

use crate::{Store, StoreError};

/// An instance as an action needs it: its pinned flow, key and facts.
pub struct Loaded {
    pub id: i64,
    pub flow: Arc<Flow>,
    pub key: String,
    pub instance: Instance,
    pub events: u32,
    pub updated_at: Millis,
    /// Where `flow_states` counts it: the minute it started and its stored state.
    pub(crate) counted: (i64, Status),
    /// Whether a breach of its SLA was still to be acted on.
    pub(crate) escalating: bool,
    /// Its stored revision when read: saving it back is refused if that moved meanwhile.
    pub(crate) revision: i64,
    /// Its node states when read, for the step histograms' deltas on saving.
    pub(crate) nodes_before: Vec<flowlens_core::NodeState>,
}

impl Loaded {
    /// The instance as it is now, as a change to push to open pages.
    pub(crate) fn change(&self, now: Millis, event: Option<flowlens_core::EventRecord>) -> InstanceChanged {
        InstanceChanged::of(&self.flow, &self.instance, self.id, &self.key, self.events, now, event)
    }
}

/// An action about to be published.
pub struct NewAction {
    pub kind: ActionKind,
    pub node: Option<String>,
    pub command: String,
    pub topic: String,
    pub payload: Value,
    pub actor: String,
    pub deadline: Option<Millis>,
}

impl Store {
    pub async fn load(&self, id: i64) -> Result<Option<Loaded>, StoreError> {
        let Some(row) = sqlx::query("SELECT flow_id, flow_version, key, events, facts, status, started_at, updated_at, escalate_at, revision FROM instances WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let flow = self.pinned(id, &row.col::<String>("instances", "flow_id")?, row.col::<i64>("instances", "flow_version")? as u32)?;
        let mut instance = serde_json::from_str(&row.col::<String>("instances", "facts")?).map_err(|e| StoreError::Corrupt(id, e.to_string()))?;
        let events = row.col::<i64>("instances", "events")? as u32;
        crate::upgrade::replay_if_kept_without_log(&self.pool, id, &flow, &mut instance, events).await?;
        instance.restore(&flow);
        let nodes_before = instance.nodes(&flow);
        Ok(Some(Loaded {
            id,
            flow,
            key: row.col("instances", "key")?,
            instance,
            events,
            updated_at: Millis(row.col("instances", "updated_at")?),
            counted: crate::overview::counted_as(&row)?,
            escalating: row.col::<Option<i64>>("instances", "escalate_at")?.is_some(),
            revision: row.col("instances", "revision")?,
            nodes_before,
        }))
    }

    /// The payload of a stored event, e.g. the request a retry sends again.
    /// Text data is sent as a JSON string; bytes cannot travel in a JSON command, so a retry of a
    /// request that carried bytes sends the key alone (`None`).
    pub async fn event_data(&self, event_id: &str) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query("SELECT data, data_form FROM events WHERE id = $1").bind(event_id).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let (form, data) = crate::instances::stored_data(&row)?;
        Ok(match Data::from_stored(form, &data) {
            Some(Data::Json(v)) => Some(v),
            Some(Data::Text(t)) => Some(Value::String(t)),
            Some(Data::Bytes(_)) | None => None,
        })
    }

    /// Records actions as requested, before they are published; returns their ids.
    pub async fn record_actions(&self, instance_id: i64, actions: &[NewAction], now: Millis) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(actions.len());
        for a in actions {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO actions (instance_id, kind, node, command, topic, payload, actor, requested_at, result, deadline)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sent', $9) RETURNING id",
            )
            .bind(instance_id)
            .bind(a.kind.as_str())
            .bind(a.node.clone())
            .bind(a.command.clone())
            .bind(a.topic.clone())
            .bind(a.payload.to_string())
            .bind(a.actor.clone())
            .bind(now.0)
            .bind(a.deadline.map(|d| d.0))
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        if actions.iter().any(|a| a.kind == ActionKind::Retry) {
            self.open_retries.lock().expect("not poisoned").insert(instance_id);
        }
        Ok(ids)
    }

    /// Settles an action with its outcome (took effect, or failed when e.g. a publish failed)
    /// and what happened, in words.
    pub async fn settle_action(&self, id: i64, result: ActionResult, detail: &str, now: Millis) -> Result<(), StoreError> {
        sqlx::query("UPDATE actions SET result = $1, detail = $2, settled_at = $3 WHERE id = $4")
            .bind(result.as_str())
            .bind(detail)
            .bind(now.0)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Running instances whose SLA has passed and whose flow cancels or alerts on breach, with the
    /// escalation time they were found with (the claim needs it).
    pub async fn due_escalations(&self, now: Millis) -> Result<Vec<(i64, Millis)>, StoreError> {
        let rows = sqlx::query("SELECT id, escalate_at FROM instances WHERE escalate_at IS NOT NULL AND escalate_at < $1 ORDER BY escalate_at LIMIT 100")
            .bind(now.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.col::<i64>("instances", "id")?, Millis(r.col("instances", "escalate_at")?)))).collect()
    }

    /// Takes an escalation for this replica: of several replicas sweeping the same database, only
    /// the one whose update finds the time it read gets it. The escalation moves to `lease` meanwhile,
    /// so if this replica dies before it is done, another one takes it up then.
    pub async fn claim_escalation(&self, id: i64, seen: Millis, lease: Millis) -> Result<bool, StoreError> {
        let claimed = sqlx::query("UPDATE instances SET escalate_at = $1 WHERE id = $2 AND escalate_at = $3")
            .bind(lease.0)
            .bind(id)
            .bind(seen.0)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(claimed == 1)
    }

    /// The scheduler acted on this instance (whatever came of it, the audit trail says): not again,
    /// unless an event re-armed the timer meanwhile.
    pub async fn escalated(&self, id: i64, lease: Millis) -> Result<(), StoreError> {
        sqlx::query("UPDATE instances SET escalate_at = NULL WHERE id = $1 AND escalate_at = $2").bind(id).bind(lease.0).execute(&self.pool).await?;
        Ok(())
    }

    /// Retries whose deadline passed without the step's outcome arriving had no effect.
    pub async fn expire_actions(&self, now: Millis) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE actions SET result = 'no_effect', settled_at = $1,
                    detail = 'the step had no outcome before the deadline'
             WHERE result = 'sent' AND deadline IS NOT NULL AND deadline < $1",
        )
        .bind(now.0)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn actions(&self, instance_id: i64) -> Result<Vec<ActionView>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, instance_id, kind, node, command, topic, payload, actor, requested_at, result, detail, settled_at, deadline
             FROM actions WHERE instance_id = $1 ORDER BY id",
        )
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let id: i64 = r.col("actions", "id")?;
                let kind: String = r.col("actions", "kind")?;
                let result: String = r.col("actions", "result")?;
                Ok(ActionView {
                id,
                instance_id: r.col("actions", "instance_id")?,
                kind: word("actions", "kind", &kind, ActionKind::parse)?,
                node: r.col("actions", "node")?,
                command: r.col("actions", "command")?,
                topic: r.col("actions", "topic")?,
                payload: r.col("actions", "payload")?,
                actor: r.col("actions", "actor")?,
                requested_at: Millis(r.col("actions", "requested_at")?),
                result: word("actions", "result", &result, ActionResult::parse)?,
                detail: r.col("actions", "detail")?,
                settled_at: r.col::<Option<i64>>("actions", "settled_at")?.map(Millis),
                deadline: r.col::<Option<i64>>("actions", "deadline")?.map(Millis),
            })
            })
            .collect()
    }

    /// Writes back an instance an action changed (a cancel went out, a retry opened a visit): its
    /// row, its place in the counts, its visits; returns the change to push. Refused with
    /// [`StoreError::Changed`] (transient: read it again and redo) when someone else (another
    /// replica's ingest) wrote the instance since it was loaded, so that write is not lost.
    pub async fn save(&self, loaded: Loaded, now: Millis) -> Result<InstanceChanged, StoreError> {
        let change = loaded.change(now, None);
        let (id, flow, summary) = (loaded.id, &loaded.flow, &change.summary);
        let mut tx = self.pool.begin().await?;
        let counted = (summary.started_at.unwrap_or(now).0 / 60_000, summary.status);
        if counted != loaded.counted {
            let mut states = std::collections::HashMap::new();
            *states.entry((flow.id.clone(), loaded.counted.0, loaded.counted.1)).or_insert(0) -= 1;
            *states.entry((flow.id.clone(), counted.0, counted.1)).or_insert(0) += 1;
            crate::overview::count_states(&mut tx, self.backend, states).await?;
        }
        let written = sqlx::query(
            "UPDATE instances SET status = $1, waiting_at = $2, due_at = $3, escalate_at = $4, reworked = $5, updated_at = $6, facts = $7, fits = $9,
             deviating_at = $10, revision = revision + 1 WHERE id = $8 AND revision = $11",
        )
        .bind(summary.status.as_str())
        .bind(summary.waiting_at.join("\n"))
        .bind(summary.due.map(|m| m.0))
        .bind(crate::escalate_at(flow, &loaded.instance, &change.nodes, loaded.escalating, now).map(|m| m.0))
        .bind(i64::from(summary.reworked))
        .bind(now.0)
        .bind(serde_json::to_string(&loaded.instance).expect("instances serialise"))
        .bind(id)
        .bind(i64::from(summary.fits))
        .bind(crate::instances::deviating_at(&change.deviations))
        .bind(loaded.revision)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if written == 0 {
            return Err(StoreError::Changed(id));
        }
        let visits: Vec<_> = crate::visits::visit_rows(id, flow, &change.nodes).collect();
        crate::visits::write_visits(&mut tx, self.backend, &visits, &[]).await?;
        let mut durations = crate::durations::Durations::default();
        durations.change(&crate::visits::visit_rows(id, flow, &loaded.nodes_before).collect::<Vec<_>>(), &visits);
        durations.write(&mut tx, self.backend).await?;
        self.notify_changed(&mut tx, &[id]).await?;
        tx.commit().await?;
        Ok(change)
    }
}
