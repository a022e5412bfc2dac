//! The Flowlens server: adapters around the tracking core.
//!
//! Data flows one way: events come in (`ingest`, over HTTP or from the demo), the core decides what
//! they mean, the store records it, `push` tells open pages, and the app renders it.

pub mod actions;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod headers;
pub mod http;
pub mod ingest;
pub mod kafka;
pub mod operations;
pub mod push;
pub mod simulate;
pub mod startup;
pub mod tokens;
pub mod webhook;
