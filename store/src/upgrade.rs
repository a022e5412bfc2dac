//! Instances stored before visits kept only per-step facts, not their log. Such an instance is
//! replayed from its stored events the first time it is read, and written back in the new form by
//! the next change.

use flowlens_core::{Flow, Instance, Millis};
use sqlx::Any;

use crate::row::Columns;
use crate::StoreError;

/// Replays `instance` from the events table when it has events but no log.
pub(crate) async fn replay_if_kept_without_log<'e>(
    conn: impl sqlx::Executor<'e, Database = Any>,
    id: i64,
    flow: &Flow,
    instance: &mut Instance,
    events: u32,
) -> Result<(), StoreError> {
    if events == 0 || !instance.log.is_empty() || !instance.unmapped.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query("SELECT id, type, time FROM events WHERE instance_id = $1").bind(id).fetch_all(conn).await?;
    let cancelled = instance.cancelled;
    *instance = Instance::new(flow);
    for r in rows {
        let (event, ty): (String, String) = (r.col("events", "id")?, r.col("events", "type")?);
        instance.apply(flow, &event, &ty, Millis(r.col("events", "time")?));
    }
    instance.cancelled = cancelled;
    Ok(())
}

/// Whether the one-off upgrade `name` is done.
async fn done(store: &crate::Store, name: &str) -> Result<bool, StoreError> {
    let row: Option<String> = sqlx::query_scalar("SELECT name FROM upgrades WHERE name = $1").bind(name).fetch_optional(&store.pool).await?;
    Ok(row.is_some())
}

/// Records the upgrade `name` as done, in the transaction that did it.
async fn mark_done(tx: &mut sqlx::Transaction<'_, Any>, name: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO upgrades (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING").bind(name).bind(crate::now().0).execute(&mut **tx).await?;
    Ok(())
}

/// A store from before step durations were kept as histograms gets them counted once from its
/// visits; from then on ingest keeps them.
pub(crate) async fn fill_step_durations(store: &crate::Store) -> Result<(), StoreError> {
    const NAME: &str = "step_durations";
    if done(store, NAME).await? {
        return Ok(());
    }
    let mut tx = store.pool.begin().await?;
    let counted = crate::durations::fill_from_visits(&mut tx, store.backend).await?;
    mark_done(&mut tx, NAME).await?;
    tx.commit().await?;
    if counted > 0 {
        tracing::info!(visits = counted, "step durations counted for the visits stored before they were kept");
    }
    Ok(())
}

/// Instances stored before conformance was kept (whether they fit their flow, and at which steps
/// they deviate) get it computed once from their facts, so the overview's deviation figures cover
/// them too. Instances of a flow version no longer loaded are left as they are.
pub(crate) async fn mark_conformance(store: &crate::Store) -> Result<(), StoreError> {
    const NAME: &str = "conformance";
    if done(store, NAME).await? {
        return Ok(());
    }
    let mut tx = store.pool.begin().await?;
    let mut after = -1i64;
    let mut changed = 0u64;
    loop {
        let rows = sqlx::query("SELECT id, flow_id, flow_version, facts, events, fits, deviating_at FROM instances WHERE id > $1 ORDER BY id LIMIT 500")
            .bind(after)
            .fetch_all(&mut *tx)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.col("instances", "id")?;
        for row in rows {
            let id: i64 = row.col("instances", "id")?;
            let (flow_id, version): (String, i64) = (row.col("instances", "flow_id")?, row.col("instances", "flow_version")?);
            let Some(flow) = store.with_flows(|flows| flows.version(&flow_id, version as u32).cloned()) else { continue };
            let mut instance: Instance = serde_json::from_str(&row.col::<String>("instances", "facts")?).map_err(|e| StoreError::Corrupt(id, e.to_string()))?;
            replay_if_kept_without_log(&mut *tx, id, &flow, &mut instance, row.col::<i64>("instances", "events")? as u32).await?;
            instance.restore(&flow);
            let deviations = instance.deviations(&flow);
            let (fits, at) = (i64::from(deviations.is_empty()), crate::instances::deviating_at(&deviations));
            if (row.col::<i64>("instances", "fits")?, row.col::<String>("instances", "deviating_at")?) != (fits, at.clone()) {
                sqlx::query("UPDATE instances SET fits = $1, deviating_at = $2 WHERE id = $3").bind(fits).bind(at).bind(id).execute(&mut *tx).await?;
                changed += 1;
            }
        }
    }
    mark_done(&mut tx, NAME).await?;
    tx.commit().await?;
    if changed > 0 {
        tracing::info!(changed, "conformance computed for instances stored before it was kept");
    }
    Ok(())
}
