//! Every black-box test of the server in one binary: one link instead of six, and one place to
//! see what is covered. Each module starts Flowlens (in this process on port 0, or the built
//! binary) against real parts: SQLite and PostgreSQL, a Kafka-protocol broker (tansu).

#[macro_use]
mod support;

mod access;
mod api;
mod cloudevents;
mod cli;
mod connections;
mod kafka;
mod kafka_security;
mod malformed;
mod metrics;
mod replay;
mod replicas;
mod security;
mod shutdown;
