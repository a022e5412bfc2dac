//! Where Flowlens keeps what it tracks: events, instances and dead letters, in SQLite (the
//! default, a file) or PostgreSQL, through sqlx.
//!
//! The store is the only writer of instance state. It runs the core's rules inside the same
//! transaction that records the event, so an event is either stored *and* applied, or neither.
//!
//! Both databases run the same SQL: it sticks to what both understand (`$1` parameters,
//! `ON CONFLICT`, `RETURNING`, `CAST`), and each has its own migrations for the DDL.

mod access;
mod actions;
mod fanout;
mod ingest;
mod overview;

pub use access::StoredUser;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub use actions::{Loaded, NewAction};

use flowlens_core::{
    layout, Cursor, DeadLetterView, Diagram, Event, EventRecord, Flow, Flows, Instance, InstanceChanged, InstanceDetail, InstanceSummary,
    ListQuery, Millis, Page, Route, SlaFilter, Sort, Status,
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
    /// Where a PostgreSQL store is, for the replica fan-out's own connection.
    url: Option<Arc<str>>,
    /// This process among the replicas sharing the database.
    replica: Arc<str>,
}

/// When the scheduler must act on an instance: its SLA deadline, if it is running and its flow
/// cancels or alerts on breach.
pub(crate) fn escalate_at(flow: &Flow, instance: &Instance, nodes: &[flowlens_core::NodeState]) -> Option<Millis> {
    let acts = flow.on_breach == flowlens_core::flow::OnBreach::Cancel || flow.webhook.is_some();
    let running = instance.status(flow) == Status::Running;
    (acts && running).then(|| instance.sla_with(flow, nodes, Millis(0)).instance_due).flatten()
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

/// A bind parameter of a query built at run time.
enum Arg {
    Text(String),
    Int(i64),
}

fn summary_of(row: sqlx::any::AnyRow) -> Result<InstanceSummary, StoreError> {
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
}

fn event_record(r: &sqlx::any::AnyRow) -> EventRecord {
    EventRecord { id: r.get("id"), event_type: r.get("type"), time: Millis(r.get("time")), received_at: Millis(r.get("received_at")), data: r.get("data") }
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
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -16000").await?;
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
        let url = (backend == Backend::Postgres).then(|| Arc::from(url));
        // Unique among replicas: process, time of opening, and which store of this process.
        static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nth = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let replica = Arc::from(format!("{}-{}-{nth}", std::process::id(), now().0));
        Ok(Store { pool, backend, flows, diagrams: Arc::new(diagrams), open_retries, url, replica })
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


    /// One page of instances matching `q`, in its order, and the cursor of the next page.
    ///
    /// Keyset paging: the next page starts after the last row's (sort value, id), so page 1 000
    /// costs what page 1 does, and rows that move meanwhile are neither skipped nor repeated.
    pub async fn list(&self, q: &ListQuery, now: Millis) -> Result<Page, StoreError> {
        let (col, desc) = match q.sort {
            Sort::Recent | Sort::Oldest => ("updated_at", q.sort.descending()),
            Sort::Newest | Sort::First => ("id", q.sort.descending()),
            Sort::Due => ("due_at", false),
        };
        let mut sql = String::from(
            "SELECT id, flow_id, flow_version, key, status, waiting_at, started_at, updated_at, events, due_at FROM instances WHERE 1 = 1",
        );
        let mut args: Vec<Arg> = Vec::new();
        let mut bind = |sql: &mut String, clause: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(flow) = &q.flow {
            bind(&mut sql, " AND flow_id = ?", Arg::Text(flow.clone()));
        }
        if let Some(status) = q.status {
            bind(&mut sql, " AND status = ?", Arg::Text(status.as_str().into()));
        }
        if let Some(key) = &q.key {
            bind(&mut sql, " AND key = ?", Arg::Text(key.clone()));
        }
        if let Some(node) = &q.node {
            // waiting_at holds node names, one per line.
            let escaped = node.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            // `waiting_at <> ''` is implied by the LIKE, and lets the partial index of waiting instances serve.
            bind(&mut sql, " AND waiting_at <> '' AND '\n' || waiting_at || '\n' LIKE ? ESCAPE '\\'", Arg::Text(format!("%\n{escaped}\n%")));
        }
        match q.sla {
            Some(SlaFilter::Overdue) => bind(&mut sql, " AND status = 'running' AND due_at < ?", Arg::Int(now.0)),
            Some(SlaFilter::OnTime) => bind(&mut sql, " AND due_at >= ?", Arg::Int(now.0)),
            None => {}
        }
        if let Some(from) = q.from {
            bind(&mut sql, " AND updated_at >= ?", Arg::Int(from.0));
        }
        if let Some(to) = q.to {
            bind(&mut sql, " AND updated_at < ?", Arg::Int(to.0));
        }
        if q.sort == Sort::Due {
            sql.push_str(" AND due_at IS NOT NULL");
        }
        if let Some(c) = q.after {
            let cmp = if desc { "<" } else { ">" };
            args.push(Arg::Int(c.value));
            args.push(Arg::Int(c.id));
            if col == "id" {
                sql.push_str(&format!(" AND id {cmp} ${}", args.len()));
            } else {
                let (v, i) = (args.len() - 1, args.len());
                sql.push_str(&format!(" AND ({col} {cmp} ${v} OR ({col} = ${v} AND id {cmp} ${i}))"));
            }
        }
        let dir = if desc { "DESC" } else { "ASC" };
        args.push(Arg::Int(i64::from(q.limit.clamp(1, flowlens_core::query::MAX_PAGE)) + 1));
        if col == "id" {
            sql.push_str(&format!(" ORDER BY id {dir} LIMIT ${}", args.len()));
        } else {
            sql.push_str(&format!(" ORDER BY {col} {dir}, id {dir} LIMIT ${}", args.len()));
        }
        let mut query = sqlx::query(&sql);
        for a in args {
            query = match a {
                Arg::Text(t) => query.bind(t),
                Arg::Int(i) => query.bind(i),
            };
        }
        let mut rows = query.fetch_all(&self.pool).await?.into_iter().map(summary_of).collect::<Result<Vec<_>, _>>()?;
        // One row more than asked tells whether there is a next page.
        let next = if rows.len() > q.limit as usize {
            rows.truncate(q.limit as usize);
            rows.last().map(|r| Cursor::of(q.sort, r).to_text())
        } else {
            None
        };
        Ok(Page { rows, next })
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
        .iter()
        .map(event_record)
        .collect();
        let diagram = self.diagrams.get(&(flow.id.clone(), flow.version)).map(|d| (**d).clone()).unwrap_or_else(|| layout(flow));
        let deviations = instance.deviations(flow);
        let actions = self.actions(id).await?;
        let retryable = flow
            .nodes
            .iter()
            .filter(|n| n.retry_command().is_some())
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

    /// Closes every connection, once the server is done with the store.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
