//! Kafka: the consumer group that brings events in, and the publisher that sends retry, cancel
//! and compensation commands out.

mod consumer;
mod publisher;

pub use consumer::{consumer, run};
pub use publisher::KafkaPublisher;
