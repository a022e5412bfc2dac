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
