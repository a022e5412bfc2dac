//! Where Flowlens keeps what it tracks: events, instances and dead letters, in SQLite (the
//! default, a file) or PostgreSQL, through sqlx.
//!
//! The store is the only writer of instance state. It runs the core's rules inside the same
//! transaction that records the event, so an event is either stored *and* applied, or neither.
//!
//! Both databases run the same SQL: it sticks to what both understand (`$1` parameters,
//! `ON CONFLICT`, `RETURNING`, `CAST`) but for reading a batch's rows from one JSON parameter
//! (`sql::json_rows`), and each has its own migrations for the DDL.

mod access;
mod actions;
mod cases;
mod ceiling;
mod dead_letters;
mod discovery;
mod durations;
mod error;
mod fanout;
mod hot;
mod ingest;
mod instances;
mod overview;
mod row;
mod sql;
mod store;
mod upgrade;
mod visits;

pub use access::StoredUser;
pub use actions::{Loaded, NewAction};
pub use cases::Case;
pub use error::StoreError;
pub use ingest::{DeadClass, DeadLetter, Ingested, Routed};
pub use overview::StoreTotals;
pub use store::{now, Backend, Store, DEAD_LETTER_MAX_BYTES, HOT_INSTANCES};
pub(crate) use store::{bounded, escalate_at};
