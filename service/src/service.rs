//! The service: what every use case shares. The use cases themselves are methods in the modules
//! named after them (`reads`, `ingest`, `actions`, `access`, `status`, `push`).

use std::sync::Arc;

use flowlens_core::Millis;
use flowlens_store::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, SystemClock};
use crate::intake::Intake;
use crate::passwords::Hasher;
use crate::publish::Publisher;
use crate::push::Push;
use crate::status::Consumer;
use crate::throttle::Throttle;

/// What the service is told at start, beyond its parts.
pub struct Settings {
    /// Where events come from, in words, for the status strip (`Kafka onboarding-events`, `HTTP`).
    pub source: String,
    /// Where flows added while running (discovered flows) are saved, if anywhere.
    pub flows_dir: Option<std::path::PathBuf>,
    /// How SLA alerts reach their webhooks (trust, secret headers).
    pub alerts: crate::webhook::Alerts,
}

/// Cheap to clone: every clone is the same service.
#[derive(Clone)]
pub struct Service(Arc<Inner>);

struct Inner {
    store: Store,
    push: Push,
    publisher: Box<dyn Publisher>,
    clock: Box<dyn Clock>,
    intake: Intake,
    consumer: Consumer,
    source: String,
    /// SQLite has one writer; taking turns here keeps transactions from tripping over each other.
    write: tokio::sync::Mutex<()>,
    /// Work the use cases start and do not wait for (webhook deliveries): owned, so shutdown can
    /// wait for it.
    tasks: TaskTracker,
    /// Cancelled when the server stops: live streams end, background work winds down.
    shutdown: CancellationToken,
    /// Password hashing, on a bounded pool of its own.
    hasher: Hasher,
    /// Sign-in attempts per name and per address.
    throttle: Throttle,
    /// Where flows added while running are saved.
    flows_dir: Option<std::path::PathBuf>,
    alerts: crate::webhook::Alerts,
    metrics: crate::metrics::Metrics,
}

/// Threads that hash passwords, and sign-ins that may wait for one.
const HASHERS: usize = 2;
const HASH_QUEUE: usize = 32;

impl Service {
    pub fn new(store: Store, publisher: Box<dyn Publisher>, settings: Settings) -> Service {
        Service::with_clock(store, publisher, Box::new(SystemClock), settings)
    }

    pub fn with_clock(store: Store, publisher: Box<dyn Publisher>, clock: Box<dyn Clock>, settings: Settings) -> Service {
        let intake = Intake::new(store.flows());
        Service(Arc::new(Inner {
            store,
            push: Push::default(),
            publisher,
            clock,
            intake,
            consumer: Consumer::default(),
            source: settings.source,
            write: tokio::sync::Mutex::new(()),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            hasher: Hasher::new(HASHERS, HASH_QUEUE),
            throttle: Throttle::default(),
            flows_dir: settings.flows_dir,
            alerts: settings.alerts,
            metrics: crate::metrics::Metrics::default(),
        }))
    }

    /// The store, for start-up (migrations, the first admin) and tests; use cases go through the service.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn now(&self) -> Millis {
        self.0.clock.now()
    }

    /// How SLA alerts reach their webhooks.
    pub(crate) fn alerts(&self) -> &crate::webhook::Alerts {
        &self.0.alerts
    }

    /// Where flows added while running are saved, if anywhere.
    pub(crate) fn flows_dir(&self) -> Option<&std::path::Path> {
        self.0.flows_dir.as_deref()
    }

    /// This process's metrics, for the transports that measure (HTTP requests, the consumer's lag).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.0.metrics
    }

    /// Decodes and routes input for every source.
    pub fn intake(&self) -> &Intake {
        &self.0.intake
    }

    /// How this replica's Kafka consumer is doing; the consumer keeps it up to date.
    pub fn consumer(&self) -> &Consumer {
        &self.0.consumer
    }

    /// Cancelled when the server stops.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.0.shutdown
    }

    /// Work started by use cases and not yet done.
    pub fn tasks(&self) -> &TaskTracker {
        &self.0.tasks
    }

    pub(crate) fn push(&self) -> &Push {
        &self.0.push
    }

    pub(crate) fn publisher(&self) -> &dyn Publisher {
        &*self.0.publisher
    }

    pub(crate) fn source(&self) -> &str {
        &self.0.source
    }

    pub(crate) fn hasher(&self) -> &Hasher {
        &self.0.hasher
    }

    pub(crate) fn throttle(&self) -> &Throttle {
        &self.0.throttle
    }

    /// Holds the store's write turn; see `Inner::write`.
    pub(crate) async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.write.lock().await
    }
}
