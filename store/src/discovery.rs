//! Discovery's running sums: written as deltas in ingest's transaction, read as they stand.
//! Reading costs the size of the graph (activities, edges, top variants), never the events.

use std::collections::{BTreeMap, HashMap};

use flowlens_core::discovery::{quantile, variant_id, ActivityStat, Deltas, Discovery, EdgeStat, VariantStat, DAY_MS};
use flowlens_core::Millis;
use sqlx::{Any, Transaction};

use crate::row::Columns;
use crate::sql::{JsonCol, Sums};
use crate::{Backend, Store, StoreError};

/// Drops every sum (to compute them afresh, or because they are not kept).
pub(crate) async fn clear(tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
    for table in ["dfg_cases", "dfg_activities", "dfg_edges", "dfg_times", "dfg_variants"] {
        sqlx::query(&format!("DELETE FROM {table}")).execute(&mut **tx).await?;
    }
    Ok(())
}

const FLOW_DAY: [JsonCol; 2] = [("flow_id", "text"), ("day", "bigint")];
const CASES: Sums = Sums { table: "dfg_cases", keys: &FLOW_DAY, also: &[], sums: &[("n", "bigint"), ("sum_ms", "bigint")] };
const ACTIVITIES: Sums = Sums {
    table: "dfg_activities",
    keys: &[FLOW_DAY[0], FLOW_DAY[1], ("activity", "text")],
    also: &[],
    sums: &[("n", "bigint"), ("starts", "bigint"), ("ends", "bigint")],
};
const EDGES: Sums = Sums {
    table: "dfg_edges",
    keys: &[FLOW_DAY[0], FLOW_DAY[1], ("source", "text"), ("target", "text")],
    also: &[],
    sums: &[("n", "bigint"), ("sum_ms", "bigint")],
};
const TIMES: Sums = Sums {
    table: "dfg_times",
    keys: &[FLOW_DAY[0], FLOW_DAY[1], ("source", "text"), ("target", "text"), ("bucket", "bigint")],
    also: &[],
    sums: &[("n", "bigint")],
};
const VARIANTS: Sums = Sums {
    table: "dfg_variants",
    keys: &[FLOW_DAY[0], FLOW_DAY[1], ("variant_id", "text")],
    also: &[("activities", "text")],
    sums: &[("n", "bigint"), ("sum_ms", "bigint")],
};

/// Adds each flow's delta, day by day, to its sums.
pub(crate) async fn write(tx: &mut Transaction<'_, Any>, backend: Backend, deltas: Deltas) -> Result<(), StoreError> {
    // Sorted by flow and day: one order for every writer, so two replicas never wait on each
    // other's rows in a circle.
    for ((flow, day), mut d) in deltas.0 {
        d.prune();
        if d.is_empty() {
            continue;
        }
        if d.cases.n != 0 || d.cases.sum_ms != 0 {
            CASES.add(tx, backend, &[(&flow, day, d.cases.n, d.cases.sum_ms)]).await?;
        }
        let activities: Vec<_> = d.activities.iter().map(|(name, a)| (&flow, day, name, a.n, a.starts, a.ends)).collect();
        ACTIVITIES.add(tx, backend, &activities).await?;
        let edges: Vec<_> = d.edges.iter().filter(|(_, e)| e.n != 0 || e.sum_ms != 0).map(|((from, to), e)| (&flow, day, from, to, e.n, e.sum_ms)).collect();
        EDGES.add(tx, backend, &edges).await?;
        // Histograms: the case durations under ('', ''), each edge under its ends.
        let mut times: Vec<(&str, i64, &str, &str, u32, i64)> = d.cases.buckets.iter().map(|(b, n)| (flow.as_str(), day, "", "", *b, *n)).collect();
        for ((from, to), e) in &d.edges {
            times.extend(e.buckets.iter().map(|(b, n)| (flow.as_str(), day, from.as_str(), to.as_str(), *b, *n)));
        }
        TIMES.add(tx, backend, &times).await?;
        let variants: Vec<_> = d.variants.iter().map(|(name, (n, sum))| (&flow, day, variant_id(name), name, *n, *sum)).collect();
        VARIANTS.add(tx, backend, &variants).await?;
        // A running case passes through a variant per event it gets: the ones it left are gone.
        if d.variants.values().any(|(n, _)| *n < 0) {
            sqlx::query("DELETE FROM dfg_variants WHERE flow_id = $1 AND day = $2 AND n <= 0").bind(flow.clone()).bind(day).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

impl Store {
    /// The discovered process of `flow_id` (all its versions' cases), with the `top` most
    /// frequent variants; of the cases that started in `window` (whole UTC days, `[from, to)`),
    /// or of every case. None when no flow has that id.
    pub async fn discovery(&self, flow_id: &str, top: usize, window: Option<(Millis, Millis)>) -> Result<Option<Discovery>, StoreError> {
        if self.newest_flow(flow_id).is_none() {
            return Ok(None);
        }
        // Whole days: the first day the window touches to the day after its last.
        let (first, after) = match window {
            Some((from, to)) => (from.0.div_euclid(DAY_MS), (to.0 + DAY_MS - 1).div_euclid(DAY_MS)),
            None => (i64::MIN, i64::MAX),
        };
        let mut out = Discovery { flow_id: flow_id.to_string(), window: window.map(|_| (Millis(first * DAY_MS), Millis(after * DAY_MS))), ..Discovery::default() };
        let days = "flow_id = $1 AND day >= $2 AND day < $3";
        let cases = sqlx::query(&format!("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n, CAST(COALESCE(SUM(sum_ms), 0) AS BIGINT) AS sum_ms FROM dfg_cases WHERE {days}"))
            .bind(flow_id)
            .bind(first)
            .bind(after)
            .fetch_one(&self.pool)
            .await?;
        let (n, sum): (i64, i64) = (cases.col("dfg_cases", "n")?, cases.col("dfg_cases", "sum_ms")?);
        out.cases = n.max(0) as u64;
        out.case_mean_ms = (n > 0).then(|| sum as f64 / n as f64);
        let mut times: HashMap<(String, String), BTreeMap<u32, i64>> = HashMap::new();
        let sql = format!("SELECT source, target, bucket, CAST(SUM(n) AS BIGINT) AS n FROM dfg_times WHERE {days} GROUP BY source, target, bucket HAVING SUM(n) > 0");
        for row in sqlx::query(&sql).bind(flow_id).bind(first).bind(after).fetch_all(&self.pool).await? {
            let key = (row.col("dfg_times", "source")?, row.col("dfg_times", "target")?);
            times.entry(key).or_default().insert(row.col::<i64>("dfg_times", "bucket")? as u32, row.col("dfg_times", "n")?);
        }
        if let Some(h) = times.get(&(String::new(), String::new())) {
            out.case_median_ms = quantile(h, 0.5);
            out.case_p95_ms = quantile(h, 0.95);
        }
        let sql = format!(
            "SELECT activity, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(starts) AS BIGINT) AS starts, CAST(SUM(ends) AS BIGINT) AS ends
             FROM dfg_activities WHERE {days} GROUP BY activity HAVING SUM(n) > 0 ORDER BY 2 DESC, activity"
        );
        for row in sqlx::query(&sql).bind(flow_id).bind(first).bind(after).fetch_all(&self.pool).await? {
            out.activities.push(ActivityStat {
                name: row.col("dfg_activities", "activity")?,
                count: row.col::<i64>("dfg_activities", "n")? as u64,
                starts: row.col::<i64>("dfg_activities", "starts")?.max(0) as u64,
                ends: row.col::<i64>("dfg_activities", "ends")?.max(0) as u64,
            });
        }
        let sql = format!(
            "SELECT source, target, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(sum_ms) AS BIGINT) AS sum_ms
             FROM dfg_edges WHERE {days} GROUP BY source, target HAVING SUM(n) > 0 ORDER BY 3 DESC, source, target"
        );
        for row in sqlx::query(&sql).bind(flow_id).bind(first).bind(after).fetch_all(&self.pool).await? {
            let (from, to): (String, String) = (row.col("dfg_edges", "source")?, row.col("dfg_edges", "target")?);
            let (n, sum): (i64, i64) = (row.col("dfg_edges", "n")?, row.col("dfg_edges", "sum_ms")?);
            let h = times.get(&(from.clone(), to.clone()));
            out.edges.push(EdgeStat {
                count: n as u64,
                mean_ms: sum as f64 / n as f64,
                median_ms: h.and_then(|h| quantile(h, 0.5)),
                p95_ms: h.and_then(|h| quantile(h, 0.95)),
                from,
                to,
            });
        }
        let sql = format!("SELECT COUNT(*) FROM (SELECT variant_id FROM dfg_variants WHERE {days} GROUP BY variant_id HAVING SUM(n) > 0) AS v");
        let count: i64 = sqlx::query_scalar(&sql).bind(flow_id).bind(first).bind(after).fetch_one(&self.pool).await?;
        out.variant_count = count as u64;
        let sql = format!(
            "SELECT variant_id, MAX(activities) AS activities, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(sum_ms) AS BIGINT) AS sum_ms
             FROM dfg_variants WHERE {days} GROUP BY variant_id HAVING SUM(n) > 0 ORDER BY 3 DESC, variant_id LIMIT $4"
        );
        let rows = sqlx::query(&sql).bind(flow_id).bind(first).bind(after).bind(top as i64).fetch_all(&self.pool).await?;
        for row in rows {
            let names: String = row.col("dfg_variants", "activities")?;
            let (n, sum): (i64, i64) = (row.col("dfg_variants", "n")?, row.col("dfg_variants", "sum_ms")?);
            out.variants.push(VariantStat {
                activities: serde_json::from_str(&names).map_err(|e| StoreError::Corrupt(0, format!("variant {names}: {e}")))?,
                count: n as u64,
                mean_ms: sum as f64 / n as f64,
            });
        }
        out.other_cases = out.cases.saturating_sub(out.variants.iter().map(|v| v.count).sum());
        Ok(Some(out))
    }

    /// Computes every flow's discovery afresh from the stored events, and puts it in place of the
    /// running sums. Run when the sums were never kept (a store from before them); tests use it
    /// as the scan the running sums must agree with.
    pub async fn rebuild_discovery(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        clear(&mut tx).await?;
        let mut deltas = Deltas::default();
        let mut after = -1i64;
        loop {
            // A page of instances at a time, each with all its events.
            let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM instances WHERE id > $1 ORDER BY id LIMIT 500").bind(after).fetch_all(&mut *tx).await?;
            let Some(&last) = ids.last() else { break };
            let rows = sqlx::query(
                "SELECT i.flow_id, e.instance_id, e.time, e.id, e.type FROM events e JOIN instances i ON i.id = e.instance_id
                 WHERE e.instance_id > $1 AND e.instance_id <= $2 ORDER BY e.instance_id, e.time, e.id",
            )
            .bind(after)
            .bind(last)
            .fetch_all(&mut *tx)
            .await?;
            let mut case: Option<(i64, String)> = None;
            let mut trace: Vec<(Millis, String)> = Vec::new();
            for row in rows {
                let instance: i64 = row.col("events", "instance_id")?;
                if case.as_ref().is_some_and(|(id, _)| *id != instance) {
                    let (_, flow) = case.take().expect("checked");
                    deltas.add(&flow, &std::mem::take(&mut trace), 1);
                }
                if case.is_none() {
                    case = Some((instance, row.col("instances", "flow_id")?));
                }
                trace.push((Millis(row.col("events", "time")?), row.col("events", "type")?));
            }
            if let Some((_, flow)) = case {
                deltas.add(&flow, &trace, 1);
            }
            after = last;
        }
        write(&mut tx, self.backend, deltas).await?;
        tx.commit().await?;
        Ok(())
    }
}

