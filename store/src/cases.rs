//! A flow's cases with their events, a page at a time in key order: what an event-log export
//! writes. Pages are keyed on the flow's unique (flow, key) index, so each costs its own size.

use flowlens_core::Millis;

use crate::row::Columns;
use crate::{Store, StoreError};

/// One case: its business key and its events in trace order (time, then id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub key: String,
    /// `(time, id, type)`.
    pub events: Vec<(Millis, String, String)>,
}

impl Store {
    /// Up to `limit` cases of `flow_id` (all its versions) after the key `after`, with their events.
    pub async fn cases(&self, flow_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<Case>, StoreError> {
        let rows = match after {
            Some(after) => sqlx::query("SELECT id, key FROM instances WHERE flow_id = $1 AND key > $2 ORDER BY key LIMIT $3").bind(flow_id).bind(after),
            None => sqlx::query("SELECT id, key FROM instances WHERE flow_id = $1 ORDER BY key LIMIT $2").bind(flow_id),
        }
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut cases = Vec::with_capacity(rows.len());
        let mut at = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            at.insert(row.col::<i64>("instances", "id")?, cases.len());
            cases.push(Case { key: row.col("instances", "key")?, events: Vec::new() });
        }
        let ids: Vec<String> = at.keys().map(i64::to_string).collect();
        // The ids are our own integers, so they go into the statement as text safely; one
        // statement however many cases the page holds.
        let sql = format!("SELECT instance_id, id, type, time FROM events WHERE instance_id IN ({}) ORDER BY instance_id, time, id", ids.join(","));
        for row in sqlx::query(&sql).fetch_all(&self.pool).await? {
            let case = at[&row.col::<i64>("events", "instance_id")?];
            cases[case].events.push((Millis(row.col("events", "time")?), row.col("events", "id")?, row.col("events", "type")?));
        }
        Ok(cases)
    }
}
