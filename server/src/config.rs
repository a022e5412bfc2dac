//! Settings of `flowlens serve`: command-line flags, each also read from an environment variable.

use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "FLOWLENS_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (the chosen address is printed).
    #[arg(long, env = "FLOWLENS_PORT", default_value_t = 3000)]
    pub port: u16,
    /// Where instances and events are stored.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://flowlens.db")]
    pub database_url: String,
    /// Directory of flow definitions (`*.toml`).
    #[arg(long, env = "FLOWLENS_FLOWS", default_value = "flows")]
    pub flows: PathBuf,
    /// Directory holding the built browser app (`pkg/`) and static files.
    #[arg(long, env = "FLOWLENS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Run the built-in demo services, which generate customer-onboarding traffic.
    #[arg(long, env = "FLOWLENS_DEMO")]
    pub demo: bool,
    /// Seconds between two new demo registrations.
    #[arg(long, env = "FLOWLENS_DEMO_INTERVAL", default_value_t = 1.5)]
    pub demo_interval: f64,
    #[command(flatten)]
    pub kafka: KafkaSettings,
}

/// Kafka: on when brokers are given.
#[derive(Clone, Debug, clap::Args)]
pub struct KafkaSettings {
    /// Kafka bootstrap servers, e.g. `127.0.0.1:9092`; without them Flowlens does not consume.
    #[arg(long = "kafka-brokers", env = "FLOWLENS_KAFKA_BROKERS", default_value = "")]
    pub brokers: String,
    /// Topics to consume, comma-separated.
    #[arg(long = "kafka-topics", env = "FLOWLENS_KAFKA_TOPICS", value_delimiter = ',', default_value = "onboarding-events")]
    pub topics: Vec<String>,
    /// Consumer group id; replicas share one.
    #[arg(long = "kafka-group", env = "FLOWLENS_KAFKA_GROUP", default_value = "flowlens")]
    pub group: String,
}

impl KafkaSettings {
    pub fn enabled(&self) -> bool {
        !self.brokers.trim().is_empty()
    }
}
