//! The one way events enter Flowlens, whatever carried them: decode, route, store, push.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flowlens_core::{Event, RouteError, Status};
use flowlens_store::{now, DeadLetter, Ingested, Routed, Store, StoreError};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::error::ApiError;
use crate::push::Push;

/// Most events one request may carry.
pub const MAX_BATCH: usize = 1000;

#[derive(Clone)]
pub struct Ingest {
    store: Store,
    push: Push,
    /// SQLite has one writer; taking turns here keeps transactions from tripping over each other.
    write: Arc<Mutex<()>>,
    seq: Arc<AtomicU64>,
}

/// What happened to a submitted batch.
#[derive(Debug, Serialize)]
pub struct Report {
    pub stored: usize,
    pub duplicates: usize,
    pub dead_lettered: Vec<Rejected>,
    pub instances: Vec<Touched>,
}

#[derive(Debug, Serialize)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Touched {
    pub id: i64,
    pub flow: String,
    pub key: String,
    pub status: Status,
}

impl Ingest {
    pub fn new(store: Store, push: Push) -> Ingest {
        Ingest { store, push, write: Arc::new(Mutex::new(())), seq: Arc::new(AtomicU64::new(0)) }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn push(&self) -> &Push {
        &self.push
    }

    /// Marks an instance cancelled, in turn with the ingest of events so no update is lost.
    pub async fn mark_cancelled(&self, id: i64) -> Result<(), StoreError> {
        let change = {
            let _turn = self.write.lock().await;
            let Some(loaded) = self.store.load(id).await? else { return Ok(()) };
            self.store.mark_cancelled(loaded, now()).await?
        };
        self.push.publish(change);
        Ok(())
    }

    /// Commits a decoded batch and its dead letters, then tells open pages what changed. Every
    /// adapter ends here, so data flows one way: bus, core (in the store's transaction), store, push.
    pub async fn store_batch(&self, routed: &[Routed], dead: &[DeadLetter]) -> Result<Ingested, StoreError> {
        let result = {
            let _turn = self.write.lock().await;
            self.store.ingest(routed, dead, now()).await?
        };
        for change in &result.changes {
            self.push.publish(change.clone());
        }
        Ok(result)
    }

    /// Takes a JSON body holding one event or an array of them. A batch is all or nothing: if any
    /// event is malformed, none is stored and every problem is reported. Events that are well formed
    /// but belong to no flow are dead-lettered with the reason, and the rest go on.
    pub async fn submit_json(&self, source: &str, body: &[u8]) -> Result<Report, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            if std::str::from_utf8(body).is_err() {
                ApiError::BadRequest("the body is not UTF-8 text".into())
            } else {
                ApiError::BadRequest(format!("the body is not JSON: {e}"))
            }
        })?;
        let values = match value {
            Value::Array(items) if items.is_empty() => return Err(ApiError::BadRequest("the batch is empty".into())),
            Value::Array(items) if items.len() > MAX_BATCH => {
                return Err(ApiError::BadRequest(format!("a batch holds at most {MAX_BATCH} events, this one {}", items.len())))
            }
            Value::Array(items) => items,
            single => vec![single],
        };
        self.submit(source, values).await
    }

    pub async fn submit(&self, source: &str, values: Vec<Value>) -> Result<Report, ApiError> {
        let now = now();
        let mut problems = Vec::new();
        let mut routed = Vec::with_capacity(values.len());
        let mut unrouted = Vec::new();
        for (index, value) in values.into_iter().enumerate() {
            let raw = value.to_string();
            let mut event = match Event::decode(value) {
                Ok(e) => e,
                Err(e) => {
                    problems.push(format!("event {index}: {e}"));
                    continue;
                }
            };
            if event.id.is_none() {
                // No id means the sender gives up deduplication; each submission is a new event.
                let n = self.seq.fetch_add(1, Ordering::Relaxed);
                event.id = Some(format!("{source}-{}-{n}", now.0));
            }
            match self.store.flows().route(&event) {
                Ok(route) => routed.push(Routed { event, route }),
                Err(e @ RouteError::NoKey { .. }) => problems.push(format!("event {index}: {e}")),
                Err(e @ RouteError::NoFlow { .. }) => unrouted.push((index, e.to_string(), raw)),
            }
        }
        if !problems.is_empty() {
            let message = match problems.len() {
                1 => problems[0].clone(),
                n => format!("{n} events are malformed; nothing was stored"),
            };
            return Err(ApiError::Invalid { message, problems });
        }
        let mut dead_lettered = Vec::new();
        let mut dead = Vec::new();
        for (index, reason, raw) in unrouted {
            dead.push(DeadLetter { source: source.to_string(), origin: None, reason: reason.clone(), raw: raw.into_bytes() });
            dead_lettered.push(Rejected { index, reason });
        }
        let result = self.store_batch(&routed, &dead).await?;
        let instances = result
            .changes
            .iter()
            .map(|c| Touched { id: c.summary.id, flow: c.summary.flow_id.clone(), key: c.summary.key.clone(), status: c.summary.status })
            .collect();
        Ok(Report { stored: result.stored, duplicates: result.duplicates, dead_lettered, instances })
    }
}
