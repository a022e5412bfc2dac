//! Storing a batch of events, in one transaction and a handful of statements whatever its size:
//! one to load the instances it touches, one to create the new ones, one to record the events
//! (which also tells which ones are new), one to write the instances back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use flowlens_core::flow::Trigger;
use flowlens_core::discovery::{self, Deltas};
use flowlens_core::{Event, EventRecord, Flow, Instance, InstanceChanged, Millis, Route, Status};

use crate::durations::Durations;
use crate::hot::HotInstance;
use crate::row::Columns;
use crate::sql::{insert_rows, json_param, json_rows};
use crate::{bounded, escalate_at, Store, StoreError};

/// An event that found its flow and instance key, ready to be stored.
#[derive(Clone, Debug)]
pub struct Routed {
    pub event: Event,
    pub route: Route,
}

/// Something that could not be tracked, to keep with the reason.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// The adapter it came through: `http`, `kafka`, `demo`.
    pub source: String,
    /// Where exactly (a Kafka topic/partition/offset); a second dead letter from the same origin is
    /// a redelivery and is not kept twice.
    pub origin: Option<String>,
    pub reason: String,
    /// Which kind of reason, for counting (the words say the rest).
    pub class: DeadClass,
    pub raw: Vec<u8>,
}

/// Why input became a dead letter, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadClass {
    /// Not an event Flowlens can read: bad JSON, a missing type, no business key.
    Malformed,
    /// A good event that no flow handles.
    Unroutable,
}

impl DeadClass {
    pub fn word(self) -> &'static str {
        match self {
            DeadClass::Malformed => "malformed",
            DeadClass::Unroutable => "unroutable",
        }
    }
}

/// What one ingested batch did.
#[derive(Debug, Default)]
pub struct Ingested {
    pub stored: usize,
    pub duplicates: usize,
    pub dead_lettered: usize,
    /// Retries whose step's outcome arrived in this batch: they took effect.
    pub retries_took_effect: u64,
    /// One entry per instance that changed, with its latest event: what the live view pushes.
    pub changes: Vec<InstanceChanged>,
}

/// An instance the batch touches, as it is being updated.
struct Touched {
    id: i64,
    /// Its stored revision before this batch (0 for a new instance).
    revision: i64,
    flow: Arc<Flow>,
    key: String,
    instance: Instance,
    events: u32,
    last: Option<EventRecord>,
    /// Its status before this batch; none for a new instance.
    was: Option<Status>,
    /// Where `flow_states` counts it now: the minute it started and its stored state.
    counted: (i64, Status),
    /// Its node states before this batch: only the visits that changed are written, and when a
    /// late event replayed the log into fewer, its stored visits are written afresh.
    nodes_before: Vec<flowlens_core::NodeState>,
    /// Its trace before this batch, for the discovery's running sums.
    trace_before: Vec<(Millis, String)>,
    /// Whether a breach of its SLA was still to be acted on before this batch.
    escalating: bool,
}

/// The columns of an instance's row, in the order of [`InstanceRow`].
const INSTANCE_COLS: [crate::sql::JsonCol; 15] = [
    ("id", "bigint"),
    ("flow_id", "text"),
    ("flow_version", "bigint"),
    ("key", "text"),
    ("status", "text"),
    ("waiting_at", "text"),
    ("started_at", "bigint"),
    ("updated_at", "bigint"),
    ("events", "bigint"),
    ("facts", "text"),
    ("due_at", "bigint"),
    ("escalate_at", "bigint"),
    ("reworked", "integer"),
    ("fits", "integer"),
    ("deviating_at", "text"),
];

/// An instance's row as ingest writes it back, in the order of [`INSTANCE_COLS`] (a tuple: it
/// serialises as the JSON array the statement reads).
type InstanceRow<'a> = (i64, &'a str, u32, &'a str, &'static str, String, Option<i64>, i64, u32, String, Option<i64>, Option<i64>, i64, i64, String);

impl Store {
    /// Stores a batch of routed events in one transaction, applies them to their instances, and
    /// keeps the batch's dead letters in the same transaction: when it commits, everything the
    /// batch held is safe, so the bus offsets behind it may be committed too. Events whose id was
    /// seen before are counted as duplicates and change nothing.
    pub async fn ingest(&self, batch: &[Routed], dead: &[DeadLetter], now: Millis) -> Result<Ingested, StoreError> {
        let mut out = Ingested::default();
        let mut tx = self.pool.begin().await?;
        for letter in dead {
            let (raw, reason) = bounded(&letter.raw, &letter.reason);
            out.dead_lettered += sqlx::query(
                "INSERT INTO dead_letters (received_at, source, reason, raw, origin) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (origin) DO NOTHING",
            )
            .bind(now.0)
            .bind(letter.source.clone())
            .bind(reason)
            .bind(raw.to_vec())
            .bind(letter.origin.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize;
        }
        if batch.is_empty() {
            tx.commit().await?;
            return Ok(out);
        }

        // The instances this batch touches, in order of first appearance.
        let mut slot: HashMap<(&str, &str), usize> = HashMap::new();
        let mut wanted: Vec<&Routed> = Vec::new();
        for r in batch {
            slot.entry((r.route.flow.id.as_str(), r.route.key.as_str())).or_insert_with(|| {
                wanted.push(r);
                wanted.len() - 1
            });
        }
        let mut touched: Vec<Option<Touched>> = (0..wanted.len()).map(|_| None).collect();
        // Instances kept hot from earlier batches: their facts are read only if written since.
        let mut hot: Vec<Option<HotInstance>> = {
            let mut kept = self.hot.lock().expect("not poisoned");
            wanted.iter().map(|r| kept.take(&r.route.flow.id, &r.route.key)).collect()
        };
        {
            let sql = format!(
                // A join with the wanted keys, not `(flow_id, key) IN (...)`: SQLite scans the whole
                // index for a row-value IN list, and ingest would slow down as the store grows.
                "WITH wanted AS ({})
                 SELECT i.id, i.flow_id, i.key, i.flow_version, i.events, i.revision, i.status, i.started_at, i.updated_at, i.escalate_at,
                        CASE WHEN i.id = wanted.id AND i.revision = wanted.revision THEN NULL ELSE i.facts END AS facts
                 FROM wanted JOIN instances i ON i.flow_id = wanted.flow_id AND i.key = wanted.key",
                json_rows(self.backend, &[("flow_id", "text"), ("key", "text"), ("id", "bigint"), ("revision", "bigint")])
            );
            let keys: Vec<(&str, &str, Option<i64>, Option<i64>)> = wanted
                .iter()
                .zip(&hot)
                .map(|(r, h)| (r.route.flow.id.as_str(), r.route.key.as_str(), h.as_ref().map(|h| h.id), h.as_ref().map(|h| h.revision)))
                .collect();
            for row in sqlx::query(&sql).bind(json_param(&keys)).fetch_all(&mut *tx).await? {
                let id: i64 = row.col("instances", "id")?;
                let (flow_id, key): (String, String) = (row.col("instances", "flow_id")?, row.col("instances", "key")?);
                let i = slot[&(flow_id.as_str(), key.as_str())];
                // An instance stays on the flow version it started with.
                let flow = self.pinned(id, &flow_id, row.col::<i64>("instances", "flow_version")? as u32)?;
                let events = row.col::<i64>("instances", "events")? as u32;
                let revision = row.col::<i64>("instances", "revision")?;
                let instance = match (row.col::<Option<String>>("instances", "facts")?, hot[i].take()) {
                    (None, Some(kept)) => kept.instance,
                    (Some(facts), _) => {
                        let mut instance: Instance = serde_json::from_str(&facts).map_err(|e| StoreError::Corrupt(id, e.to_string()))?;
                        crate::upgrade::replay_if_kept_without_log(&mut *tx, id, &flow, &mut instance, events).await?;
                        instance.restore(&flow);
                        instance
                    }
                    (None, None) => return Err(StoreError::Corrupt(id, "no facts were read and none are kept".into())),
                };
                let was = Some(instance.status(&flow));
                let counted = crate::overview::counted_as(&row)?;
                let nodes_before = instance.nodes(&flow);
                let trace_before = if self.discovery { discovery::trace(&instance) } else { Vec::new() };
                let escalating = row.col::<Option<i64>>("instances", "escalate_at")?.is_some();
                touched[i] = Some(Touched { id, revision, flow, key, instance, events, last: None, was, counted, nodes_before, trace_before, escalating });
            }
        }
        // Changes to `flow_states`, as deltas.
        let mut states: HashMap<(String, i64, Status), i64> = HashMap::new();
        let missing: Vec<usize> = (0..wanted.len()).filter(|&i| touched[i].is_none()).collect();
        if !missing.is_empty() {
            let sql = insert_rows(
                self.backend,
                "instances",
                &[("flow_id", "text"), ("flow_version", "bigint"), ("key", "text"), ("status", "text"), ("updated_at", "bigint"), ("facts", "text")],
                "RETURNING id, flow_id, key",
            );
            let rows: Vec<(&str, u32, &str, &str, i64, &str)> = missing
                .iter()
                .map(|&i| (wanted[i].route.flow.id.as_str(), wanted[i].route.flow.version, wanted[i].route.key.as_str(), "running", now.0, "{}"))
                .collect();
            for row in sqlx::query(&sql).bind(json_param(&rows)).fetch_all(&mut *tx).await? {
                let (flow_id, key): (String, String) = (row.col("instances", "flow_id")?, row.col("instances", "key")?);
                let i = slot[&(flow_id.as_str(), key.as_str())];
                let flow = wanted[i].route.flow.clone();
                let instance = Instance::new(&flow);
                let counted = (now.0 / 60_000, Status::Running);
                *states.entry((flow.id.clone(), counted.0, counted.1)).or_default() += 1;
                touched[i] = Some(Touched { id: row.col("instances", "id")?, revision: 0, flow, key, instance, events: 0, last: None, was: None, counted, nodes_before: Vec::new(), trace_before: Vec::new(), escalating: false });
            }
        }
        let mut touched: Vec<Touched> = touched.into_iter().map(|t| t.expect("every instance loaded or created")).collect();

        // Record the events; the ones the database did not have yet come back.
        let mut new_ids: HashSet<String> = HashSet::with_capacity(batch.len());
        let id_of = |r: &Routed| r.event.id.clone().expect("the adapter assigns an id before storing");
        {
            let sql = insert_rows(
                self.backend,
                "events",
                &[("id", "text"), ("instance_id", "bigint"), ("type", "text"), ("time", "bigint"), ("received_at", "bigint"), ("data", "text"), ("data_form", "text")],
                "ON CONFLICT (id) DO NOTHING RETURNING id",
            );
            let rows: Vec<(String, i64, &str, i64, i64, String, Option<&str>)> = batch
                .iter()
                .map(|r| {
                    let t = &touched[slot[&(r.route.flow.id.as_str(), r.route.key.as_str())]];
                    let (form, data) = r.event.data.to_stored();
                    (id_of(r), t.id, r.event.event_type.as_str(), r.event.time.unwrap_or(now).0, now.0, data, form.stored())
                })
                .collect();
            for row in sqlx::query(&sql).bind(json_param(&rows)).fetch_all(&mut *tx).await? {
                new_ids.insert(row.col::<String>("events", "id")?);
            }
        }

        // Apply the new events to their instances, in the order they came.
        let mut settle: Vec<(i64, String, String)> = Vec::new();
        // Throughput is counted by event time, so replayed history shows where it happened.
        let mut arrivals: Vec<(String, i64)> = Vec::new();
        for r in batch {
            let id = id_of(r);
            if !new_ids.remove(&id) {
                out.duplicates += 1;
                continue;
            }
            out.stored += 1;
            let t = &mut touched[slot[&(r.route.flow.id.as_str(), r.route.key.as_str())]];
            let time = r.event.time.unwrap_or(now);
            arrivals.push((r.route.flow.id.clone(), time.0.div_euclid(60_000)));
            t.events += 1;
            t.instance.apply(&t.flow, &id, &r.event.event_type, time);
            // The outcome of a retried step: the retry took effect.
            if let Some((node, Trigger::Succeed | Trigger::Fail)) = t.flow.trigger(&r.event.event_type) {
                if self.open_retries.lock().expect("not poisoned").contains(&t.id) {
                    settle.push((t.id, t.flow.nodes[node].id.clone(), r.event.event_type.clone()));
                }
            }
            t.last = Some(EventRecord { id, event_type: r.event.event_type.clone(), time, received_at: now, data: r.event.data.preview(), form: r.event.data.form() });
        }
        for (instance, node, event_type) in settle {
            let settled = sqlx::query(
                "UPDATE actions SET result = 'took_effect', settled_at = $1, detail = $2
                 WHERE instance_id = $3 AND node = $4 AND kind = 'retry' AND result = 'sent'",
            )
            .bind(now.0)
            .bind(format!("`{event_type}` arrived"))
            .bind(instance)
            .bind(node)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            out.retries_took_effect += settled;
        }

        // Write back the instances that changed, and say what changed for the live view.
        let changed: Vec<(&Touched, &EventRecord)> = touched.iter().filter_map(|t| t.last.as_ref().map(|l| (t, l))).collect();
        let mut minutes: HashMap<(String, i64), (i64, i64)> = HashMap::new();
        let mut discovered = Deltas::default();
        for (t, _) in changed.iter().filter(|_| self.discovery) {
            discovered.change(&t.flow.id, &t.trace_before, &discovery::trace(&t.instance));
        }
        for arrival in arrivals {
            minutes.entry(arrival).or_default().0 += 1;
        }
        let mut rows = Vec::with_capacity(changed.len());
        // The revision each written instance has now.
        let mut written: HashMap<i64, i64> = HashMap::with_capacity(changed.len());
        for (t, last) in &changed {
            let change = InstanceChanged::of(&t.flow, &t.instance, t.id, &t.key, t.events, now, Some((*last).clone()));
            let summary = &change.summary;
            if summary.status == Status::Completed && t.was != Some(Status::Completed) {
                let ended = t.instance.ended(&t.flow).unwrap_or(now);
                minutes.entry((t.flow.id.clone(), ended.0.div_euclid(60_000))).or_default().1 += 1;
            }
            let counted = (summary.started_at.unwrap_or(now).0 / 60_000, summary.status);
            if counted != t.counted {
                *states.entry((t.flow.id.clone(), t.counted.0, t.counted.1)).or_default() -= 1;
                *states.entry((t.flow.id.clone(), counted.0, counted.1)).or_default() += 1;
            }
            let row: InstanceRow = (
                t.id,
                &t.flow.id,
                t.flow.version,
                &t.key,
                summary.status.as_str(),
                summary.waiting_at.join("\n"),
                summary.started_at.map(|m| m.0),
                now.0,
                t.events,
                serde_json::to_string(&t.instance).expect("instances serialise"),
                summary.due.map(|m| m.0),
                escalate_at(&t.flow, &t.instance, &change.nodes, t.escalating, now).map(|m| m.0),
                i64::from(summary.reworked),
                i64::from(summary.fits),
                crate::instances::deviating_at(&change.deviations),
            );
            rows.push(row);
            out.changes.push(change);
        }
        if !rows.is_empty() {
            let sql = insert_rows(
                self.backend,
                "instances",
                &INSTANCE_COLS,
                "ON CONFLICT (id) DO UPDATE SET status = excluded.status, waiting_at = excluded.waiting_at,
                 started_at = excluded.started_at, updated_at = excluded.updated_at, events = excluded.events,
                 facts = excluded.facts, due_at = excluded.due_at, escalate_at = excluded.escalate_at, reworked = excluded.reworked,
                 fits = excluded.fits, deviating_at = excluded.deviating_at, revision = instances.revision + 1
                 RETURNING id, revision",
            );
            for row in sqlx::query(&sql).bind(json_param(&rows)).fetch_all(&mut *tx).await? {
                written.insert(row.col::<i64>("instances", "id")?, row.col::<i64>("instances", "revision")?);
            }
        }
        // Only the visits that are new or changed; all of an instance's whose visits became fewer.
        // The step histograms take the visits that finished and give back those rewritten.
        let mut rewrite: Vec<i64> = Vec::new();
        let mut visits = Vec::new();
        let mut durations = Durations::default();
        for ((t, _), c) in changed.iter().zip(&out.changes) {
            let (was, is): (Vec<_>, Vec<_>) =
                (crate::visits::visit_rows(t.id, &t.flow, &t.nodes_before).collect(), crate::visits::visit_rows(t.id, &t.flow, &c.nodes).collect());
            durations.change(&was, &is);
            let before: HashSet<_> = was.into_iter().collect();
            let fewer = t.nodes_before.iter().zip(&c.nodes).any(|(was, is)| is.visits.len() < was.visits.len());
            if fewer {
                rewrite.push(t.id);
            }
            visits.extend(is.into_iter().filter(|v| fewer || !before.contains(v)));
        }
        crate::visits::write_visits(&mut tx, self.backend, &visits, &rewrite).await?;
        durations.write(&mut tx, self.backend).await?;
        crate::overview::count_minutes(&mut tx, self.backend, &minutes).await?;
        crate::overview::count_states(&mut tx, self.backend, states).await?;
        crate::discovery::write(&mut tx, self.backend, discovered).await?;
        let ids: Vec<i64> = changed.iter().map(|(t, _)| t.id).collect();
        self.notify_changed(&mut tx, &ids).await?;
        tx.commit().await?;
        // Committed: the instances are kept hot as they now stand. One whose revision is not the
        // one this batch wrote was written by someone else meanwhile, and is read afresh next time.
        let mut kept = self.hot.lock().expect("not poisoned");
        for t in touched {
            let revision = match written.get(&t.id) {
                Some(&stored) if stored == t.revision + 1 => stored,
                Some(_) => continue,
                None => t.revision,
            };
            kept.put(&t.flow.id, &t.key, HotInstance { id: t.id, revision, instance: t.instance });
        }
        Ok(out)
    }
}

