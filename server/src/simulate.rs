//! `flowlens simulate`: the demo services on a real Kafka(-protocol) broker.

use std::path::PathBuf;

use flowlens_core::flow::NodeKind;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::demo::{self, Sink};
use crate::kafka::{Connection, Context, Role};
use crate::startup::load_flows;

#[derive(Clone, Debug, clap::Args)]
pub struct SimulateSettings {
    /// Kafka bootstrap servers.
    #[arg(long = "kafka-brokers", env = "FLOWLENS_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic the services produce their events to (the one `flowlens serve` consumes).
    #[arg(long, env = "FLOWLENS_KAFKA_TOPICS", default_value = "onboarding-events")]
    pub events_topic: String,
    /// Partitions of the topics this command creates when they are missing.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Seconds between two new registrations.
    #[arg(long, env = "FLOWLENS_DEMO_INTERVAL", default_value_t = 1.5)]
    pub interval: f64,
    /// Flow definitions: their command topics are where the services listen.
    #[arg(long, env = "FLOWLENS_FLOWS", default_value = "flows")]
    pub flows: PathBuf,
    #[command(flatten)]
    pub security: crate::config::KafkaSecurity,
}

pub async fn run(s: SimulateSettings) -> Result<(), String> {
    let flows = load_flows(&s.flows).map_err(|p| p.join("\n"))?;
    let mut command_topics: Vec<String> = Vec::new();
    for flow in flows.newest() {
        let specs = flow.cancel.iter().chain(flow.nodes.iter().flat_map(|n| match &n.kind {
            NodeKind::Task(t) => t.retry.iter().chain(t.compensation.iter()).collect::<Vec<_>>(),
            _ => Vec::new(),
        }));
        command_topics.extend(specs.map(|c| c.topic.clone()));
    }
    command_topics.sort();
    command_topics.dedup();

    let connection = Connection::new(&s.brokers, &s.security)?;
    let admin: AdminClient<Context> = connection.config(Role::Admin).create_with_context(connection.context()).map_err(|e| e.to_string())?;
    let wanted: Vec<NewTopic> = std::iter::once(&s.events_topic)
        .chain(&command_topics)
        .map(|t| NewTopic::new(t, s.partitions, TopicReplication::Fixed(1)))
        .collect();
    for result in admin.create_topics(&wanted, &AdminOptions::new()).await.map_err(|e| format!("creating topics: {e}"))? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, e)) => return Err(format!("creating topic {topic}: {e}")),
        }
    }

    let producer = connection.config(Role::Producer).set("enable.idempotence", "true").create().map_err(|e| e.to_string())?;
    let sink = Sink::Kafka { producer, topic: s.events_topic.clone() };
    let consumer: StreamConsumer = connection
        .config(Role::Consumer)
        .set("group.id", "flowlens-simulate")
        .set("auto.offset.reset", "latest")
        .set("session.timeout.ms", "6000")
        .create()
        .map_err(|e| e.to_string())?;
    let topics: Vec<&str> = command_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).map_err(|e| e.to_string())?;

    println!("simulating the demo services on {}: events to `{}`, commands from {}", connection.describe(), s.events_topic, topics.join(", "));
    let stop = tokio_util::sync::CancellationToken::new();
    let registrations = tokio::spawn(demo::run(sink.clone(), s.interval, stop.clone()));
    let answers = tokio::spawn(demo::answer_kafka_commands(sink, consumer, stop.clone()));
    crate::shutdown::signal().await;
    stop.cancel();
    let _ = tokio::join!(registrations, answers);
    Ok(())
}
