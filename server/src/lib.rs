//! The Flowlens server: the transports around the application layer (`flowlens-service`).
//!
//! Data flows one way: events come in (HTTP, Kafka, the demo) through the service's intake, the
//! core decides what they mean inside the store's transaction, the store commits, the service
//! pushes the change, and the pages (served from here) redraw.

pub mod cli;
pub mod config;
pub mod config_check;
pub mod config_file;
pub mod demo;
pub mod http;
pub mod kafka;
pub mod replay;
pub mod shutdown;
pub mod simulate;
pub mod startup;
