//! Where Flowlens keeps what it tracks: events, instances and dead letters, in SQLite (the
//! default, a file) or PostgreSQL, through sqlx.
//!
//! The store is the only writer of instance state. It runs the core's rules inside the same
//! transaction that records the event, so an event is either stored *and* applied, or neither.
//!
//! Both databases run the same SQL: it sticks to what both understand (`$1` parameters,
//! `ON CONFLICT`, `RETURNING`, `CAST`), and each has its own migrations for the DDL.

mod actions;
mod ingest;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub use actions::{Loaded, NewAction};

use flowlens_core::{
    layout, DeadLetterView, Diagram, Event, EventRecord, Flow, Flows, Instance, InstanceChanged, InstanceDetail, InstanceSummary,
    Millis, Route, Status,
};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unsupported database URL `{0}`: use sqlite://FILE or postgres://...")]
    Url(String),
    #[error("could not migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored instance {0} is unreadable: {1}")]
    Corrupt(i64, String),
    #[error("instance {instance} runs on flow `{flow}` version {version}, which is not loaded; keep its file in the flow directory")]
    FlowVersionMissing { instance: i64, flow: String, version: u32 },
}

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
    pub raw: Vec<u8>,
}

/// What one ingested batch did.
#[derive(Debug, Default)]
pub struct Ingested {
    pub stored: usize,
    pub duplicates: usize,
    pub dead_lettered: usize,
    /// One entry per instance that changed, with its latest event: what the live view pushes.
    pub changes: Vec<InstanceChanged>,
}

#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub key: Option<String>,
    pub limit: u32,
}

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    flows: Flows,
    diagrams: Arc<HashMap<(String, u32), Arc<Diagram>>>,
    /// Instances with a retry waiting for its outcome: only their outcome events need to settle one.
    open_retries: Arc<Mutex<HashSet<i64>>>,
}

/// When the scheduler must act on an instance: its SLA deadline, if it is running and its flow
/// cancels on breach.
pub(crate) fn escalate_at(flow: &Flow, instance: &Instance, nodes: &[flowlens_core::NodeState]) -> Option<Millis> {
    let cancels = flow.on_breach == flowlens_core::flow::OnBreach::Cancel;
    let running = instance.status(flow) == Status::Running;
    (cancels && running).then(|| instance.sla_with(flow, nodes, Millis(0)).instance_due).flatten()
}

/// The wall clock, for the adapters; the core itself never reads one.
pub fn now() -> Millis {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Millis(since_epoch.as_millis() as i64)
}

/// Raw bytes kept of a dead letter; more than this is cut, and the reason says so.
pub const DEAD_LETTER_MAX_BYTES: usize = 64 * 1024;

pub(crate) fn bounded<'a>(raw: &'a [u8], reason: &str) -> (&'a [u8], String) {
    if raw.len() > DEAD_LETTER_MAX_BYTES {
        (&raw[..DEAD_LETTER_MAX_BYTES], format!("{reason} (raw bytes cut to {DEAD_LETTER_MAX_BYTES} of {})", raw.len()))
    } else {
        (raw, reason.to_string())
    }
}

impl Store {
    /// Opens and migrates the database at `url`: `sqlite://FILE` (created if missing) or
    /// `postgres://USER@HOST:PORT/DB`.
    pub async fn open(url: &str, flows: Flows) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, pool) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, AnyPoolOptions::new().max_connections(8).connect(url).await?)
        } else if url.starts_with("sqlite:") {
            // Create the file if missing, unless the URL says otherwise.
            let url = if url.contains("mode=") { url.to_string() } else if url.contains('?') { format!("{url}&mode=rwc") } else { format!("{url}?mode=rwc") };
            let pool = AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL lets readers go on while the writer commits; NORMAL sync is durable
                        // across application crashes, which is what at-least-once needs here.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await?;
            (Backend::Sqlite, pool)
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await?,
        }
        let diagrams = flows.iter().map(|f| ((f.id.clone(), f.version), Arc::new(layout(f)))).collect();
        let open: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT instance_id FROM actions WHERE result = 'sent' AND kind = 'retry'")
            .fetch_all(&pool)
            .await?;
        let open_retries = Arc::new(Mutex::new(open.into_iter().collect()));
        Ok(Store { pool, backend, flows, diagrams: Arc::new(diagrams), open_retries })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn flows(&self) -> &Flows {
        &self.flows
    }

    /// The most recent dead letters.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetterView>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, received_at, source, origin, reason, raw FROM dead_letters ORDER BY received_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeadLetterView {
                id: r.get("id"),
                received_at: Millis(r.get("received_at")),
                source: r.get("source"),
                origin: r.get("origin"),
                reason: r.get("reason"),
                raw: String::from_utf8_lossy(&r.get::<Vec<u8>, _>("raw")).into_owned(),
            })
            .collect())
    }


    /// Most recently updated instances first.
    pub async fn list(&self, q: &ListQuery) -> Result<Vec<InstanceSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, flow_id, flow_version, key, status, waiting_at, started_at, updated_at, events, due_at FROM instances
             WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) AND (CAST($2 AS TEXT) IS NULL OR key = $2)
             ORDER BY updated_at DESC, id DESC LIMIT $3",
        )
        .bind(q.status.map(|s| s.as_str().to_string()))
        .bind(q.key.clone())
        .bind(i64::from(q.limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let id: i64 = row.get("id");
                let status: String = row.get("status");
                let waiting: String = row.get("waiting_at");
                Ok(InstanceSummary {
                    id,
                    flow_id: row.get("flow_id"),
                    flow_version: row.get::<i64, _>("flow_version") as u32,
                    key: row.get("key"),
                    status: Status::parse(&status).ok_or_else(|| StoreError::Corrupt(id, format!("status `{status}`")))?,
                    waiting_at: waiting.split('\n').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                    started_at: row.get::<Option<i64>, _>("started_at").map(Millis),
                    updated_at: Millis(row.get("updated_at")),
                    events: row.get::<i64, _>("events") as u32,
                    due: row.get::<Option<i64>, _>("due_at").map(Millis),
                })
            })
            .collect()
    }

    pub async fn instance(&self, id: i64) -> Result<Option<InstanceDetail>, StoreError> {
        let Some(Loaded { flow, key, instance, events, updated_at, .. }) = self.load(id).await? else {
            return Ok(None);
        };
        let flow = &flow;
        let nodes = instance.nodes(flow);
        let summary = InstanceSummary::with_nodes(flow, &instance, &nodes, id, &key, events, updated_at);
        let events = sqlx::query(
            "SELECT id, type, time, received_at, data FROM events WHERE instance_id = $1 ORDER BY time, received_at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| EventRecord {
            id: r.get("id"),
            event_type: r.get("type"),
            time: Millis(r.get("time")),
            received_at: Millis(r.get("received_at")),
            data: r.get("data"),
        })
        .collect();
        let diagram = self.diagrams.get(&(flow.id.clone(), flow.version)).map(|d| (**d).clone()).unwrap_or_else(|| layout(flow));
        let deviations = instance.deviations(flow);
        let actions = self.actions(id).await?;
        let retryable = flow
            .nodes
            .iter()
            .filter(|n| matches!(&n.kind, flowlens_core::flow::NodeKind::Task(t) if t.retry.is_some()))
            .map(|n| n.id.clone())
            .collect();
        Ok(Some(InstanceDetail {
            summary,
            flow_name: flow.name.clone(),
            nodes,
            deviations,
            events,
            actions,
            retryable,
            cancellable: flow.cancel.is_some(),
            diagram,
        }))
    }

    /// The flow version an instance is pinned to.
    pub(crate) fn pinned(&self, instance: i64, flow: &str, version: u32) -> Result<Arc<Flow>, StoreError> {
        self.flows.version(flow, version).cloned().ok_or_else(|| StoreError::FlowVersionMissing {
            instance,
            flow: flow.to_string(),
            version,
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
