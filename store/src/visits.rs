//! An instance's visits as `node_visits` rows: what the overview's waiting, breach and rework
//! figures read, and what the step histograms count from.

use flowlens_core::instance::{Visit, VisitOutcome};
use flowlens_core::{Flow, NodeState, NodeStatus};
use sqlx::{Any, Transaction};

use crate::sql::{insert_rows, json_param, json_rows, JsonCol};
use crate::{Backend, StoreError};

/// What `node_visits` keeps of a visit: `active` only for the one a running instance waits at;
/// a visit left open otherwise (the instance ended, a retry replaced it) is `abandoned`.
fn visit_status(v: &Visit, waiting_here: bool) -> &'static str {
    match v.outcome {
        VisitOutcome::Open if waiting_here => "active",
        VisitOutcome::Open | VisitOutcome::Replaced => "abandoned",
        VisitOutcome::Done => "done",
        VisitOutcome::Failed => "failed",
    }
}

/// One row of `node_visits`.
pub(crate) type VisitRow<'a> = (i64, &'a str, &'a str, i64, &'static str, i64, Option<i64>, Option<i64>);

const VISIT_COLS: [JsonCol; 8] = [
    ("instance_id", "bigint"),
    ("flow_id", "text"),
    ("node", "text"),
    ("visit", "integer"),
    ("status", "text"),
    ("started_at", "bigint"),
    ("finished_at", "bigint"),
    ("due_at", "bigint"),
];

/// The `node_visits` rows of an instance in the given node states: every visit of its tasks and
/// decisions.
pub(crate) fn visit_rows<'a>(id: i64, flow: &'a Flow, nodes: &'a [NodeState]) -> impl Iterator<Item = VisitRow<'a>> + 'a {
    flow.nodes.iter().zip(nodes.iter()).filter(|(n, _)| n.counts_visits()).flat_map(move |(node, s)| {
        let sla = node.sla;
        s.visits.iter().enumerate().map(move |(k, v)| {
            let waiting = s.status == NodeStatus::Active && k + 1 == s.visits.len();
            let due = sla.map(|sla| v.started.0 + sla.0);
            (id, flow.id.as_str(), s.id.as_str(), k as i64, visit_status(v, waiting), v.started.0, v.finished.map(|m| m.0), due)
        })
    })
}

/// Writes the given visit rows (new or changed), in one statement. `rewrite` holds the instances
/// whose visits may have become fewer (a late event replayed their log): their rows are deleted
/// first, and `visits` must then hold all of theirs.
pub(crate) async fn write_visits(tx: &mut Transaction<'_, Any>, backend: Backend, visits: &[VisitRow<'_>], rewrite: &[i64]) -> Result<(), StoreError> {
    if !rewrite.is_empty() {
        let sql = format!("DELETE FROM node_visits WHERE instance_id IN (SELECT id FROM ({}) AS gone)", json_rows(backend, &[("id", "bigint")]));
        let ids: Vec<(i64,)> = rewrite.iter().map(|id| (*id,)).collect();
        sqlx::query(&sql).bind(json_param(&ids)).execute(&mut **tx).await?;
    }
    if visits.is_empty() {
        return Ok(());
    }
    let sql = insert_rows(
        backend,
        "node_visits",
        &VISIT_COLS,
        "ON CONFLICT (instance_id, node, visit) DO UPDATE SET status = excluded.status, started_at = excluded.started_at,
         finished_at = excluded.finished_at, due_at = excluded.due_at",
    );
    sqlx::query(&sql).bind(json_param(visits)).execute(&mut **tx).await?;
    Ok(())
}

