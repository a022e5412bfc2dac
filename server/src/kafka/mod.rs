//! Kafka: the consumer group that brings events in, and the publisher that sends retry, cancel
//! and compensation commands out.

mod connection;
mod consumer;
mod publisher;

pub use connection::{classify, Connection, Context, Mechanism, Role};
pub use consumer::{consumer, run, KafkaConsumer};
pub use publisher::KafkaPublisher;
