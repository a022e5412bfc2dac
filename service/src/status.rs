//! Where this server stands: the status strip and `/api/v1/status`, and readiness.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use flowlens_core::{Caller, Need, StatusInfo};

use crate::{Error, Service};

/// How this replica's Kafka consumer is doing, kept up to date by the consumer: its lag in
/// messages and the partitions assigned to it.
pub struct Consumer {
    /// Negative while unknown.
    lag: AtomicI64,
    partitions: Mutex<Vec<String>>,
}

impl Default for Consumer {
    fn default() -> Self {
        Consumer { lag: AtomicI64::new(-1), partitions: Mutex::default() }
    }
}

impl Consumer {
    /// Messages waiting on this replica's partitions; `None` when it cannot be measured.
    pub fn set_lag(&self, messages: Option<i64>) {
        self.lag.store(messages.unwrap_or(-1), Ordering::Relaxed);
    }

    pub fn lag(&self) -> Option<i64> {
        Some(self.lag.load(Ordering::Relaxed)).filter(|&l| l >= 0)
    }

    pub fn set_partitions(&self, partitions: Vec<String>) {
        *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) = partitions;
    }

    pub fn partitions(&self) -> Vec<String> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Service {
    /// The store, where events come from, the latest event, this replica's partitions and lag.
    #[tracing::instrument(skip_all)]
    pub async fn status(&self, caller: &Caller) -> Result<StatusInfo, Error> {
        caller.allow(&Need::Read)?;
        Ok(StatusInfo {
            store: self.store().backend().name().to_string(),
            // The strip still shows the rest when the database is away.
            last_event: self.store().last_event().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "status: cannot read the latest event");
                None
            }),
            consumer_lag: self.consumer().lag(),
            partitions: self.consumer().partitions(),
            source: self.source().to_string(),
            now: self.now(),
        })
    }

    /// Ready to serve: the database answers. A load balancer should send people elsewhere otherwise.
    pub async fn ready(&self) -> Result<(), Error> {
        self.store().ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness: the store does not answer");
            Error::Unavailable("the store does not answer".into())
        })
    }
}
