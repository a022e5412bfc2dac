//! The overview of a flow: counts by state, throughput, and per-node heat. Reads only small
//! tables and indexed ranges: `flow_minutes` and `node_visits` are kept up to date by ingest.

use std::collections::HashMap;

use flowlens_core::{Bucket, Counts, Millis, NodeHeat, Overview, Status};
use sqlx::{Any, Transaction};

use crate::row::{word, Columns};

use crate::sql::Sums;
use crate::{Backend, Store, StoreError};

/// The throughput chart has about this many bars.
const BARS: i64 = 30;

const MINUTES: Sums = Sums {
    table: "flow_minutes",
    keys: &[("flow_id", "text"), ("minute", "bigint")],
    also: &[],
    sums: &[("events", "bigint"), ("completed", "bigint")],
};
const STATES: Sums = Sums { table: "flow_states", keys: &[("flow_id", "text"), ("minute", "bigint"), ("status", "text")], also: &[], sums: &[("n", "bigint")] };

/// Adds a batch's events and completions to the per-minute throughput counters.
pub(crate) async fn count_minutes(tx: &mut Transaction<'_, Any>, backend: Backend, counts: &HashMap<(String, i64), (i64, i64)>) -> Result<(), StoreError> {
    // Sorted: one order for every writer, so two replicas never wait on each other in a circle.
    let mut rows: Vec<(&str, i64, i64, i64)> = counts.iter().map(|((flow, minute), (events, completed))| (flow.as_str(), *minute, *events, *completed)).collect();
    rows.sort_unstable();
    MINUTES.add(tx, backend, &rows).await
}

/// Where `flow_states` counts an instance row (with its `status`, `started_at` and `updated_at`):
/// the minute it started (or was created, before any event time) and its stored state.
pub(crate) fn counted_as(row: &sqlx::any::AnyRow) -> Result<(i64, Status), StoreError> {
    let started = match row.col::<Option<i64>>("instances", "started_at")? {
        Some(t) => t,
        None => row.col("instances", "updated_at")?,
    };
    Ok((started / 60_000, word("instances", "status", &row.col::<String>("instances", "status")?, Status::parse)?))
}

/// Applies deltas to `flow_states`, in key order so concurrent writers (replicas) cannot deadlock.
pub(crate) async fn count_states(tx: &mut Transaction<'_, Any>, backend: Backend, deltas: HashMap<(String, i64, Status), i64>) -> Result<(), StoreError> {
    let mut rows: Vec<(String, i64, &'static str, i64)> =
        deltas.into_iter().filter(|(_, n)| *n != 0).map(|((flow, minute, status), n)| (flow, minute, status.as_str(), n)).collect();
    rows.sort_unstable();
    STATES.add(tx, backend, &rows).await
}

/// The first minute after the range ending at `to` (exclusive): a relative range ends now, and
/// the current minute is in it.
fn minute_after(to: Millis) -> i64 {
    (to.0 + 59_999) / 60_000
}

/// Counts across every flow, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreTotals {
    /// Flow, state, instances.
    pub instances: Vec<(String, Status, i64)>,
    /// Flow, step, visits active past their due time.
    pub stuck: Vec<(String, String, i64)>,
}

impl Store {
    /// The overview of the latest version of `flow_id` from `from` until `to` (event time).
    /// What is waiting and what is stuck are as of `now`, whatever the range.
    pub async fn overview(&self, flow_id: &str, from: Millis, to: Millis, now: Millis) -> Result<Option<Overview>, StoreError> {
        let Some(flow) = self.newest_flow(flow_id) else { return Ok(None) };
        let mut counts = Counts::default();
        // Instances started in the range, by the state they are in now.
        let rows = sqlx::query(
            "SELECT status, CAST(SUM(n) AS BIGINT) AS n FROM flow_states WHERE flow_id = $1 AND minute >= $2 AND minute < $3 GROUP BY status",
        )
        .bind(flow_id)
        .bind(from.0 / 60_000)
        .bind(minute_after(to))
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let n = r.col::<i64>("flow_states", "n")?.max(0) as u64;
            match Status::parse(&r.col::<String>("flow_states", "status")?) {
                Some(Status::Running) => counts.running = n,
                Some(Status::Completed) => counts.completed = n,
                Some(Status::Failed) => counts.failed = n,
                Some(Status::Cancelled) => counts.cancelled = n,
                None => {}
            }
        }
        // Deviating: started in the range and not fitting the flow (a partial index holds only
        // those), and the steps they deviate at.
        let deviating: Vec<String> = sqlx::query_scalar("SELECT deviating_at FROM instances WHERE flow_id = $1 AND fits = 0 AND started_at >= $2 AND started_at < $3")
            .bind(flow_id)
            .bind(from.0)
            .bind(to.0)
            .fetch_all(&self.pool)
            .await?;
        counts.deviating = deviating.len() as u64;
        counts.stuck = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM instances WHERE flow_id = $1 AND status = 'running' AND due_at < $2",
        )
        .bind(flow_id)
        .bind(now.0)
        .fetch_one(&self.pool)
        .await? as u64;
        // Throughput: minutes summed into about BARS buckets.
        let span = (to.0 - from.0).max(60_000);
        let bucket_ms = ((span / BARS).max(60_000) / 60_000) * 60_000;
        let first = from.0 / bucket_ms * bucket_ms;
        let mut throughput: Vec<Bucket> =
            (0..).map(|i| first + i * bucket_ms).take_while(|&t| t < to.0.max(from.0 + 1)).map(|t| Bucket { start: Millis(t), events: 0, completed: 0 }).collect();
        // Summed into the chart's buckets by the database: a week is ten thousand minutes.
        let minutes = sqlx::query(
            "SELECT (minute * 60000 - $4) / $5 AS bucket, CAST(SUM(events) AS BIGINT) AS events, CAST(SUM(completed) AS BIGINT) AS completed
             FROM flow_minutes WHERE flow_id = $1 AND minute >= $2 AND minute < $3 GROUP BY 1",
        )
        .bind(flow_id)
        .bind(from.0 / 60_000)
        .bind(minute_after(to))
        .bind(first)
        .bind(bucket_ms)
        .fetch_all(&self.pool)
        .await?;
        for r in minutes {
            if let Some(b) = usize::try_from(r.col::<i64>("flow_minutes", "bucket")?).ok().and_then(|i| throughput.get_mut(i)) {
                b.events += r.col::<i64>("flow_minutes", "events")?.max(0) as u64;
                b.completed += r.col::<i64>("flow_minutes", "completed")?.max(0) as u64;
            }
        }

        // Heat per node.
        let mut heat: Vec<NodeHeat> = flow.nodes.iter().map(|n| NodeHeat { id: n.id.clone(), ..NodeHeat::default() }).collect();
        let index: HashMap<&str, usize> = flow.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        let waiting = sqlx::query("SELECT node, COUNT(*) AS n FROM node_visits WHERE flow_id = $1 AND status = 'active' GROUP BY node")
            .bind(flow_id)
            .fetch_all(&self.pool)
            .await?;
        for r in waiting {
            if let Some(&i) = index.get(r.col::<String>("node_visits", "node")?.as_str()) {
                heat[i].waiting = r.col::<i64>("node_visits", "n")? as u64;
            }
        }
        // A breach happens at the step's due time: the visits due in the range that finished late
        // or are still active (a partial index holds only those), counted by the database per step
        // and by instance, rather than sent over to be counted here.
        const BREACHES: &str = "FROM node_visits WHERE flow_id = $1 AND due_at >= $2 AND due_at < $3 AND (status = 'active' OR finished_at > due_at)";
        let breaches = sqlx::query(&format!("SELECT node, COUNT(*) AS n {BREACHES} GROUP BY node"))
            .bind(flow_id)
            .bind(from.0)
            .bind(to.min(now).0)
            .fetch_all(&self.pool)
            .await?;
        for r in breaches {
            if let Some(&i) = index.get(r.col::<String>("node_visits", "node")?.as_str()) {
                heat[i].breaches = r.col::<i64>("node_visits", "n")?.max(0) as u64;
            }
        }
        let breached: i64 = sqlx::query_scalar(&format!("SELECT COUNT(DISTINCT instance_id) {BREACHES}"))
            .bind(flow_id)
            .bind(from.0)
            .bind(to.min(now).0)
            .fetch_one(&self.pool)
            .await?;
        counts.breached = breached.max(0) as u64;
        // Rework: of the instances started in the range, how many ran a step again (a second
        // visit that began in the range). The partial index holds second visits only.
        let started = counts.running + counts.completed + counts.failed + counts.cancelled;
        let again = sqlx::query("SELECT node, COUNT(*) AS n FROM node_visits WHERE flow_id = $1 AND started_at >= $2 AND started_at < $3 AND visit = 1 GROUP BY node")
            .bind(flow_id)
            .bind(from.0)
            .bind(to.0)
            .fetch_all(&self.pool)
            .await?;
        for h in &mut heat {
            h.reached = started;
        }
        for r in again {
            if let Some(&i) = index.get(r.col::<String>("node_visits", "node")?.as_str()) {
                heat[i].reworked = r.col::<i64>("node_visits", "n")?.max(0) as u64;
            }
        }
        for node in deviating.iter().flat_map(|at| at.lines()) {
            if let Some(&i) = index.get(node) {
                heat[i].deviations += 1;
            }
        }
        // Step times: the histograms of the visits that finished in the range, all of them.
        let times = crate::durations::read(&self.pool, flow_id, from, to).await?;
        for h in &mut heat {
            if let Some(t) = times.get(&h.id) {
                (h.finished, h.mean_ms, h.p95_ms) = (t.count(), t.mean_ms(), t.quantile_ms(0.95));
            }
        }

        let diagram = self.diagram(&flow);
        let flows = self.with_flows(|flows| flows.newest().map(|f| (f.id.clone(), f.name.clone())).collect());
        Ok(Some(Overview {
            flow_id: flow.id.clone(),
            flow_name: flow.name.clone(),
            flows,
            from,
            to,
            now,
            counts,
            throughput,
            bucket_ms,
            heat,
            diagram,
            discovered: flow.is_discovered(),
        }))
    }

    /// Every flow's instances by state, and the steps active past their due time, as of `now`:
    /// what a metrics scrape reports. Both read small tables or partial indexes (the per-minute
    /// state counts, the active visits), so a scrape stays cheap however many instances finished.
    pub async fn totals(&self, now: Millis) -> Result<StoreTotals, StoreError> {
        let mut totals = StoreTotals::default();
        let rows = sqlx::query("SELECT flow_id, status, CAST(SUM(n) AS BIGINT) AS n FROM flow_states GROUP BY flow_id, status ORDER BY flow_id, status")
            .fetch_all(&self.pool)
            .await?;
        for r in rows {
            if let Some(status) = Status::parse(&r.col::<String>("flow_states", "status")?) {
                totals.instances.push((r.col("flow_states", "flow_id")?, status, r.col::<i64>("flow_states", "n")?.max(0)));
            }
        }
        let rows = sqlx::query(
            "SELECT flow_id, node, COUNT(*) AS n FROM node_visits WHERE status = 'active' AND due_at < $1 GROUP BY flow_id, node ORDER BY flow_id, node",
        )
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            totals.stuck.push((r.col("node_visits", "flow_id")?, r.col("node_visits", "node")?, r.col::<i64>("node_visits", "n")?));
        }
        Ok(totals)
    }

    /// When the latest event was stored (read from the index on instances, not the events table).
    pub async fn last_event(&self) -> Result<Option<Millis>, StoreError> {
        let t: Option<i64> = sqlx::query_scalar("SELECT MAX(updated_at) FROM instances").fetch_one(&self.pool).await?;
        Ok(t.map(Millis))
    }
}

impl Store {
    /// Fills an empty store with `n` synthetic onboarding instances spread over the last day, ten
    /// events each, with their node visits and counters, in a few set-based statements. For
    /// benchmarks of reads at scale only: the facts are empty, so the instances cannot be opened or
    /// applied to. The events are the onboarding's types in nine orders (nine variants); discovery's
    /// sums are left for [`Store::rebuild_discovery`]. The mix is a healthy day's: of every 1000 instances 975 completed, 15 failed, 5
    /// cancelled, 2 stuck at the address check; the newest 0.5 % still running on time; about 1 %
    /// of criminal-record checks late.
    #[doc(hidden)]
    pub async fn seed_for_bench(&self, n: usize, now: Millis) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < $1),
             mix(i, status) AS (SELECT i, CASE WHEN i >= $1 - $1 / 200 OR i % 1000 < 2 THEN 'running'
                 WHEN i % 1000 < 17 THEN 'failed' WHEN i % 1000 < 22 THEN 'cancelled' ELSE 'completed' END FROM seq)
             INSERT INTO instances (flow_id, flow_version, key, status, waiting_at, started_at, updated_at, events, facts, due_at)
             SELECT 'customer-onboarding', 1, 'c-' || i, status,
                    CASE WHEN status = 'running' THEN 'Address check' ELSE '' END,
                    $2 - ($1 - i) * 86 - 300000, $2 - ($1 - i) * 86, 10, '{}',
                    CASE WHEN status <> 'running' THEN NULL WHEN i % 1000 < 2 THEN $2 - 60000 ELSE $2 + 600000 END
             FROM mix",
        )
        .bind(n as i64)
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        for (node, spread) in [("address", 240_000i64), ("credit", 90_000), ("criminal", 606_000)] {
            sqlx::query(
                "INSERT INTO node_visits (instance_id, flow_id, node, status, started_at, finished_at, due_at)
                 SELECT id, flow_id, $1,
                        CASE WHEN status = 'running' AND $1 = 'address' THEN 'active' ELSE 'done' END,
                        started_at,
                        CASE WHEN status = 'running' AND $1 = 'address' THEN NULL ELSE started_at + (id * 7919) % $2 END,
                        CASE WHEN status = 'running' AND $1 = 'address' THEN due_at ELSE started_at + 600000 END
                 FROM instances",
            )
            .bind(node)
            .bind(spread)
            .execute(&mut *tx)
            .await?;
        }
        crate::durations::fill_from_visits(&mut tx, self.backend).await?;
        sqlx::query(
            "INSERT INTO events (id, instance_id, type, time, received_at, data)
             SELECT 'e-' || id || '-' || k, id,
                    CASE WHEN k = 0 THEN 'RegistrationRequested'
                         WHEN k <= 3 THEN CASE (k + id) % 3 WHEN 0 THEN 'AddressCheckRequested' WHEN 1 THEN 'CreditCheckRequested' ELSE 'CriminalRecordCheckRequested' END
                         WHEN k <= 6 THEN CASE (k + id / 3) % 3 WHEN 0 THEN 'AddressChecked' WHEN 1 THEN 'CreditChecked' ELSE 'CriminalRecordChecked' END
                         WHEN k = 7 THEN 'WelcomeMailSent' WHEN k = 8 THEN 'AccountOpened' ELSE 'CustomerCreated' END,
                    started_at + k * 1000, started_at + k * 1000, '{}'
             FROM instances, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
                              UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) steps",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO flow_minutes (flow_id, minute, events, completed)
             SELECT flow_id, updated_at / 60000, COUNT(*) * 10, SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END)
             FROM instances GROUP BY flow_id, updated_at / 60000",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO flow_states (flow_id, minute, status, n)
             SELECT flow_id, started_at / 60000, status, COUNT(*) FROM instances GROUP BY flow_id, started_at / 60000, status",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Fresh statistics and visibility maps, as a long-running database would have (otherwise
        // PostgreSQL's autovacuum works through ten million new rows while the bench measures).
        let settle = if self.backend == Backend::Postgres { "VACUUM ANALYZE" } else { "ANALYZE" };
        sqlx::query(settle).execute(&self.pool).await?;
        Ok(())
    }
}
