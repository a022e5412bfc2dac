//! The application layer of Flowlens: every use case, once.
//!
//! Transports (the HTTP API, the pages' server functions, the Kafka consumer, the demo, the command
//! line) parse what they were given, call one method of [`Service`], and map its answer or its
//! [`Error`] to their own terms. The service owns the store, the push channel, the publisher of
//! commands, the clock and the access rules; the tracking rules themselves stay in the core.
//!
//! Data flows one way: intake (bytes and their origin) → core (in the store's transaction) →
//! store → push → the pages.

mod access;
mod actions;
mod clock;
mod discover;
mod error;
mod export;
mod ingest;
mod intake;
mod metrics;
mod passwords;
mod publish;
mod push;
mod reads;
mod service;
mod status;
mod throttle;
mod webhook;
pub use webhook::{Alerts, Header as AlertHeader};

pub use access::{digest, hash_password, random_secret, verify_password, BootstrapError, NewSession, NewToken, TokenKind};
pub use actions::BulkAction;
pub use clock::{Clock, SystemClock};
pub use discover::NewDiscovered;
pub use error::Error;
pub use export::LogForm;
pub use ingest::{Posted, Rejected, Report, Touched, MAX_BATCH};
pub use intake::{Intake, Origin, Taken};
pub use metrics::{Attempt, Metrics, OPENMETRICS_TEXT, PROMETHEUS_TEXT};
pub use publish::{BoxFuture, LocalServices, Publisher};
pub use push::{Follow, Pushed};
pub use reads::MinedForm;
pub use service::{Service, Settings};
pub use status::Consumer;
