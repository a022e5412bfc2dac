//! Step durations as histograms in `step_durations`, a row per flow, period (minute, hour, day)
//! and step holding its histogram's bins: every write of an instance's visits adds the visits
//! that finished and takes off those that no longer stand as they were (a late event replayed the
//! log, an action rewrote them), so the counts are exact; the overview reads the few stretches of
//! periods its range is made of (`histogram::cover`): about a hundred rows a step for any range.

use std::collections::{HashMap, HashSet};

use flowlens_core::histogram::{self, Histogram};
use flowlens_core::Millis;
use sqlx::{Any, Transaction};

use crate::visits::VisitRow;
use crate::row::Columns;
use crate::sql::{insert_rows, json_param, json_rows, JsonCol};
use crate::{Backend, StoreError};

/// A histogram row's key: flow, span, start of the period, step.
type Key = (String, i64, i64, String);
const KEY_COLS: [JsonCol; 4] = [("flow_id", "text"), ("span", "bigint"), ("start", "bigint"), ("node", "text")];
const ROW_COLS: [JsonCol; 7] =
    [("flow_id", "text"), ("span", "bigint"), ("start", "bigint"), ("node", "text"), ("n", "bigint"), ("total_ms", "bigint"), ("bins", "text")];

fn bins_unreadable(reason: String) -> StoreError {
    StoreError::Decode { table: "step_durations", column: "bins", reason }
}

/// A finished visit as the histograms count it: flow, step, which visit, when it finished, how long it took.
type Finished<'a> = (&'a str, &'a str, i64, i64, i64);

fn finished<'a>(rows: &'a [VisitRow<'a>]) -> impl Iterator<Item = Finished<'a>> + 'a {
    rows.iter().filter_map(|&(_, flow, node, visit, status, started, finished, _)| match (status, finished) {
        ("done" | "failed", Some(at)) => Some((flow, node, visit, at, at - started)),
        _ => None,
    })
}

/// Changes to the histograms, as deltas: per row, per bucket, (visits, ms).
#[derive(Debug, Default)]
pub(crate) struct Durations(HashMap<Key, HashMap<u16, (i64, i64)>>);

impl Durations {
    /// One instance's visits went from `before` to `after`.
    pub fn change(&mut self, before: &[VisitRow<'_>], after: &[VisitRow<'_>]) {
        let was: HashSet<Finished> = finished(before).collect();
        let is: HashSet<Finished> = finished(after).collect();
        for v in is.difference(&was) {
            self.count(v, 1);
        }
        for v in was.difference(&is) {
            self.count(v, -1);
        }
    }

    /// Counts a visit that finished (`sign` 1) or no longer did (-1) in its minute, hour and day.
    fn count(&mut self, &(flow, node, _, at, ms): &Finished, sign: i64) {
        let bucket = histogram::bucket(ms);
        for (span, start) in histogram::periods(Millis(at)) {
            let d = self.0.entry((flow.to_string(), span, start, node.to_string())).or_default().entry(bucket).or_default();
            d.0 += sign;
            d.1 += sign * ms.max(0);
        }
    }

    /// Applies the deltas to the stored rows: the missing ones made empty, all of them read (and
    /// on PostgreSQL locked, in key order, so concurrent writers wait rather than lose a count or
    /// deadlock), merged, written back.
    pub async fn write(self, tx: &mut Transaction<'_, Any>, backend: Backend) -> Result<(), StoreError> {
        let mut deltas: Vec<(Key, HashMap<u16, (i64, i64)>)> = self.0.into_iter().collect();
        deltas.retain(|(_, d)| d.values().any(|&v| v != (0, 0)));
        if deltas.is_empty() {
            return Ok(());
        }
        deltas.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let empty: Vec<(&str, i64, i64, &str, i64, i64, &str)> =
            deltas.iter().map(|((flow, span, start, node), _)| (flow.as_str(), *span, *start, node.as_str(), 0, 0, "")).collect();
        let sql = insert_rows(backend, "step_durations", &ROW_COLS, "ON CONFLICT (flow_id, span, start, node) DO NOTHING");
        sqlx::query(&sql).bind(json_param(&empty)).execute(&mut **tx).await?;
        let keys: Vec<(&str, i64, i64, &str)> = empty.iter().map(|r| (r.0, r.1, r.2, r.3)).collect();
        let lock = if backend == Backend::Postgres { " FOR UPDATE OF s" } else { "" };
        let sql = format!(
            "WITH wanted AS ({}) SELECT s.flow_id, s.span, s.start, s.node, s.total_ms, s.bins FROM wanted
             JOIN step_durations s ON s.flow_id = wanted.flow_id AND s.span = wanted.span AND s.start = wanted.start AND s.node = wanted.node
             ORDER BY s.flow_id, s.span, s.start, s.node{lock}",
            json_rows(backend, &KEY_COLS)
        );
        let mut stored: HashMap<Key, Histogram> = HashMap::with_capacity(deltas.len());
        for r in sqlx::query(&sql).bind(json_param(&keys)).fetch_all(&mut **tx).await? {
            let key: Key = (r.col("step_durations", "flow_id")?, r.col("step_durations", "span")?, r.col("step_durations", "start")?, r.col("step_durations", "node")?);
            let bins: String = r.col("step_durations", "bins")?;
            let h = Histogram::from_stored(&bins, r.col("step_durations", "total_ms")?).map_err(bins_unreadable)?;
            stored.insert(key, h);
        }
        let mut rows = Vec::with_capacity(deltas.len());
        for (key, delta) in deltas {
            let mut h = stored.remove(&key).unwrap_or_default();
            for (bucket, (n, ms)) in delta {
                h.shift(bucket, n, ms);
            }
            rows.push((key.0, key.1, key.2, key.3, h.count() as i64, h.sum_ms(), h.bins_text()));
        }
        let sql = insert_rows(
            backend,
            "step_durations",
            &ROW_COLS,
            "ON CONFLICT (flow_id, span, start, node) DO UPDATE SET n = excluded.n, total_ms = excluded.total_ms, bins = excluded.bins",
        );
        sqlx::query(&sql).bind(json_param(&rows)).execute(&mut **tx).await?;
        Ok(())
    }
}

/// Fills the histograms from the stored visits, a few thousand instances at a time (a store from
/// before they were kept; the bench's seed). Returns how many visits it counted.
pub(crate) async fn fill_from_visits(tx: &mut Transaction<'_, Any>, backend: Backend) -> Result<u64, StoreError> {
    const STRIDE: i64 = 20_000;
    let (lo, hi): (Option<i64>, Option<i64>) = sqlx::query_as("SELECT MIN(instance_id), MAX(instance_id) FROM node_visits").fetch_one(&mut **tx).await?;
    let (Some(mut at), Some(hi)) = (lo, hi) else { return Ok(0) };
    let mut counted = 0;
    while at <= hi {
        let rows = sqlx::query(
            "SELECT flow_id, node, finished_at, started_at FROM node_visits WHERE instance_id >= $1 AND instance_id < $2
             AND status IN ('done', 'failed') AND finished_at IS NOT NULL",
        )
        .bind(at)
        .bind(at + STRIDE)
        .fetch_all(&mut **tx)
        .await?;
        let mut d = Durations::default();
        for r in &rows {
            let (flow, node): (String, String) = (r.col("node_visits", "flow_id")?, r.col("node_visits", "node")?);
            let (finished, started): (i64, i64) = (r.col("node_visits", "finished_at")?, r.col("node_visits", "started_at")?);
            d.count(&(flow.as_str(), node.as_str(), 0, finished, finished - started), 1);
        }
        counted += rows.len() as u64;
        d.write(tx, backend).await?;
        at += STRIDE;
    }
    Ok(counted)
}

/// Each step's histogram of the visits of `flow_id` that finished from `from` until `to` (whole
/// minutes).
pub(crate) async fn read(pool: &sqlx::AnyPool, flow_id: &str, from: Millis, to: Millis) -> Result<HashMap<String, Histogram>, StoreError> {
    let pieces = histogram::cover(from, to);
    let mut out: HashMap<String, Histogram> = HashMap::new();
    if pieces.is_empty() {
        return Ok(out);
    }
    let ranges: Vec<String> = (0..pieces.len())
        .map(|i| format!("(span = ${} AND start >= ${} AND start < ${})", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i))
        .collect();
    let sql = format!("SELECT node, total_ms, bins FROM step_durations WHERE flow_id = $1 AND ({})", ranges.join(" OR "));
    let mut query = sqlx::query(&sql).bind(flow_id);
    for (span, first, end) in pieces {
        query = query.bind(span).bind(first).bind(end);
    }
    for r in query.fetch_all(pool).await? {
        let bins: String = r.col("step_durations", "bins")?;
        let h = Histogram::from_stored(&bins, r.col("step_durations", "total_ms")?).map_err(bins_unreadable)?;
        out.entry(r.col("step_durations", "node")?).or_default().merge(&h);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit<'a>(node: &'a str, k: i64, status: &'static str, started: i64, finished: Option<i64>) -> VisitRow<'a> {
        (1, "f", node, k, status, started, finished, None)
    }

    #[test]
    fn a_visit_finishing_counts_once_in_each_period_and_a_rewritten_one_moves() {
        let mut d = Durations::default();
        let active = [visit("a", 0, "active", 1_000, None)];
        let done = [visit("a", 0, "done", 1_000, Some(61_000))];
        d.change(&active, &done);
        assert_eq!(d.0.len(), 3, "minute, hour and day: {:?}", d.0);
        assert!(d.0.values().all(|b| b.len() == 1 && b[&histogram::bucket(60_000)] == (1, 60_000)));
        // A late event moved the finish: the old duration comes off, the new one goes on.
        let later = [visit("a", 0, "done", 1_000, Some(121_000))];
        let mut moved = Durations::default();
        moved.change(&done, &later);
        let minute = |d: &Durations, start: i64, ms: i64| d.0.get(&("f".into(), 60_000, start, "a".into())).and_then(|b| b.get(&histogram::bucket(ms))).copied();
        assert_eq!(minute(&moved, 60_000, 60_000), Some((-1, -60_000)));
        assert_eq!(minute(&moved, 120_000, 120_000), Some((1, 120_000)));
        // Unchanged visits, open ones and abandoned ones count nothing.
        let mut none = Durations::default();
        none.change(&done, &done);
        none.change(&[], &[visit("b", 0, "abandoned", 0, Some(5))]);
        assert!(none.0.is_empty());
    }
}
