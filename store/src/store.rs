//! The store itself: which database, its connections, the loaded flows and their diagrams.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use flowlens_core::{Diagram, Flow, Flows, Instance, Millis, Status};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::StoreError;

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The database a URL names: `postgres://…` (or `postgresql://…`) or `sqlite:…`.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// The loaded flows: fixed at start but for discovered flows turned on while running.
    pub(crate) flows: Arc<std::sync::RwLock<Flows>>,
    pub(crate) diagrams: Arc<std::sync::RwLock<HashMap<(String, u32), Arc<Diagram>>>>,
    /// Instances with a retry waiting for its outcome: only their outcome events need to settle one.
    pub(crate) open_retries: Arc<Mutex<HashSet<i64>>>,
    /// Where a PostgreSQL store is, for the replica fan-out's own connection.
    pub(crate) url: Option<Arc<str>>,
    /// This process among the replicas sharing the database.
    pub(crate) replica: Arc<str>,
    /// Whether ingest keeps discovery's sums (see [`Store::open_with`]).
    pub(crate) discovery: bool,
    /// Recently written instances, replayed, so the next batch need not read them back.
    pub(crate) hot: Arc<Mutex<crate::hot::Hot>>,
}

/// How many instances ingest keeps in memory between batches unless told otherwise
/// ([`Store::keep_hot_instances`]).
pub const HOT_INSTANCES: usize = 10_000;

/// When the scheduler must act on an instance: its SLA deadline, if it is running and its flow
/// cancels or alerts on breach.
///
/// Flowlens acts on deadlines that pass while it tracks the instance: one already long past when
/// the instance is written (replayed history, a backlog) is recorded as a breach but not acted
/// on, and one already acted on (`escalating` no more) is not acted on again.
pub(crate) fn escalate_at(flow: &Flow, instance: &Instance, nodes: &[flowlens_core::NodeState], escalating: bool, now: Millis) -> Option<Millis> {
    let acts = flow.on_breach == flowlens_core::flow::OnBreach::Cancel || flow.webhook.is_some();
    let running = instance.status(flow) == Status::Running;
    let due = (acts && running).then(|| instance.sla_with(flow, nodes, Millis(0)).instance_due).flatten()?;
    (escalating || due.0 >= now.0 - HISTORY_MS).then_some(due)
}

/// A deadline that passed this long before it was written is history.
const HISTORY_MS: i64 = 60_000;

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
        Store::open_with(url, flows, true).await
    }

    /// [`Store::open`], saying whether ingest keeps discovery's sums. Without them ingest does a
    /// little less and the sums are dropped, so that opening with discovery again computes them
    /// afresh from the events instead of showing sums that missed what came meanwhile.
    pub async fn open_with(url: &str, flows: Flows, discovery: bool) -> Result<Store, StoreError> {
        let (backend, pool) = connect(url).await?;
        migrate(backend, &pool).await?;
        let diagrams = flows.iter().map(|f| ((f.id.clone(), f.version), Arc::new(flowlens_core::layout::draw(f)))).collect();
        let open: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT instance_id FROM actions WHERE result = 'sent' AND kind = 'retry'")
            .fetch_all(&pool)
            .await?;
        let open_retries = Arc::new(Mutex::new(open.into_iter().collect()));
        let url = (backend == Backend::Postgres).then(|| Arc::from(url));
        // Unique among replicas: process, time of opening, and which store of this process.
        static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nth = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let replica = Arc::from(format!("{}-{}-{nth}", std::process::id(), now().0));
        let (flows, diagrams) = (Arc::new(std::sync::RwLock::new(flows)), Arc::new(std::sync::RwLock::new(diagrams)));
        let hot = Arc::new(Mutex::new(crate::hot::Hot::new(HOT_INSTANCES)));
        let store = Store { pool, backend, flows, diagrams, open_retries, url, replica, discovery, hot };
        crate::upgrade::mark_conformance(&store).await?;
        crate::upgrade::fill_step_durations(&store).await?;
        if !discovery {
            let mut tx = store.pool.begin().await?;
            crate::discovery::clear(&mut tx).await?;
            tx.commit().await?;
            return Ok(store);
        }
        // A store from before discovery was kept (or kept without it): computed once from its events.
        let kept: Option<String> = sqlx::query_scalar("SELECT flow_id FROM dfg_cases LIMIT 1").fetch_optional(&store.pool).await?;
        let any: Option<i64> = sqlx::query_scalar("SELECT id FROM instances LIMIT 1").fetch_optional(&store.pool).await?;
        if kept.is_none() && any.is_some() {
            store.rebuild_discovery().await?;
        }
        Ok(store)
    }

    /// How many recently written instances ingest keeps in memory between batches (0: none);
    /// each costs about 4 KB for an onboarding (its log and its replayed state).
    pub fn keep_hot_instances(&self, capacity: usize) {
        self.hot.lock().expect("not poisoned").set_capacity(capacity);
    }

    /// Whether ingest keeps discovery's sums.
    pub fn keeps_discovery(&self) -> bool {
        self.discovery
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The loaded flows, as they are now (a list of shared flows).
    pub fn flows(&self) -> Flows {
        self.with_flows(Flows::clone)
    }

    /// The newest loaded version of the flow `id`.
    pub fn newest_flow(&self, id: &str) -> Option<Arc<Flow>> {
        self.with_flows(|flows| flows.newest_of(id).cloned())
    }

    /// Reads the loaded flows without copying the list (ingest does, per instance).
    pub(crate) fn with_flows<R>(&self, read: impl FnOnce(&Flows) -> R) -> R {
        read(&self.flows.read().expect("no writer panics holding the flows"))
    }

    /// Adds a flow while running (a discovered flow turned on from a page): checked against the
    /// loaded ones as at start, then `keep` (saving it) runs, then it is in; nothing changes when
    /// either refuses. The flows as they are now with it.
    pub fn add_flow(&self, flow: Flow, keep: impl FnOnce() -> Result<(), String>) -> Result<Flows, String> {
        let mut flows = self.flows.write().expect("no writer panics holding the flows");
        let key = (flow.id.clone(), flow.version);
        let diagram = Arc::new(flowlens_core::layout::draw(&flow));
        let next = Flows::new(flows.iter().map(|f| (**f).clone()).chain([flow]).collect())?;
        keep()?;
        self.diagrams.write().expect("no writer panics holding the diagrams").insert(key, diagram);
        *flows = next.clone();
        Ok(next)
    }

    /// The flow version an instance is pinned to.
    pub(crate) fn pinned(&self, instance: i64, flow: &str, version: u32) -> Result<Arc<Flow>, StoreError> {
        self.with_flows(|flows| flows.version(flow, version).cloned()).ok_or_else(|| StoreError::FlowVersionMissing {
            instance,
            flow: flow.to_string(),
            version,
        })
    }

    /// How `flow` is drawn: computed once for every loaded version.
    pub fn diagram(&self, flow: &Flow) -> Diagram {
        let drawn = self.diagrams.read().expect("no writer panics holding the diagrams").get(&(flow.id.clone(), flow.version)).cloned();
        drawn.map(|d| (*d).clone()).unwrap_or_else(|| flowlens_core::layout::draw(flow))
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

/// The pool for `url`: PostgreSQL, or SQLite (the file created if missing).
async fn connect(url: &str) -> Result<(Backend, AnyPool), StoreError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url).ok_or_else(|| StoreError::Url(url.to_string()))?;
    let pool = if backend == Backend::Postgres {
        AnyPoolOptions::new().max_connections(8).connect(url).await?
    } else {
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
        pool
    };
    Ok((backend, pool))
}

/// Runs the migrations not run yet; the names of those it ran, oldest first.
async fn migrate(backend: Backend, pool: &AnyPool) -> Result<Vec<String>, StoreError> {
    let migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
    };
    // A fresh database has no table of migrations yet: none ran.
    let before: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations").fetch_all(pool).await.unwrap_or_default();
    migrator.run(pool).await?;
    Ok(migrator.iter().filter(|m| !before.contains(&m.version)).map(|m| format!("{} {}", m.version, m.description)).collect())
}

impl Store {
    /// `flowlens migrate`: brings the database at `url` to this version's schema and nothing else
    /// (no flows are read, no data upgraded); the migrations it ran, oldest first.
    pub async fn migrate(url: &str) -> Result<Vec<String>, StoreError> {
        let (backend, pool) = connect(url).await?;
        let ran = migrate(backend, &pool).await;
        pool.close().await;
        ran
    }
}
