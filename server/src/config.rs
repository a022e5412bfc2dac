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
    /// With the demo on and listening on loopback only, sign in everyone who connects from this
    /// machine automatically (as `demo`, role admin). Never applies to other addresses.
    #[arg(long, env = "FLOWLENS_DEMO_SIGN_IN", default_value_t = true, action = clap::ArgAction::Set)]
    pub demo_sign_in: bool,
    /// Keep discovery (the process mined from the events, per flow) as events arrive. Off, ingest
    /// does a little less and the Discovery page says it is off; turned on again, it is computed
    /// afresh from the stored events at start.
    #[arg(long, env = "FLOWLENS_DISCOVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub discovery: bool,
    /// How logs are written on standard output: `text` for people, `json` (one object a line, with
    /// the spans each event happened in) for a log pipeline.
    #[arg(long, env = "FLOWLENS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(flatten)]
    pub access: AccessSettings,
    #[command(flatten)]
    pub kafka: KafkaSettings,
}

/// Sign-in and embedding.
#[derive(Clone, Debug, clap::Args)]
pub struct AccessSettings {
    /// Password of the `admin` user created on first start; without it one is generated and
    /// written to the credential file.
    #[arg(long, env = "FLOWLENS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Where first start writes the generated admin password (readable by the owner only).
    #[arg(long, env = "FLOWLENS_ADMIN_CREDENTIAL_FILE", default_value = "flowlens-admin.txt")]
    pub admin_credential_file: PathBuf,
    /// Origins allowed to show embeds in an iframe (CSP frame-ancestors), comma-separated, e.g.
    /// `https://wiki.example.com`. None by default: no site may frame Flowlens.
    #[arg(long, env = "FLOWLENS_EMBED_ORIGINS", value_delimiter = ',')]
    pub embed_origins: Vec<String>,
    /// Mark the session cookie `Secure`: set this when Flowlens is served over HTTPS.
    #[arg(long, env = "FLOWLENS_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

impl AccessSettings {
    /// Checks the embed origins, so a typo is refused at start instead of silently blocking a wiki.
    pub fn frame_ancestors(&self) -> Result<String, String> {
        let origins: Vec<&str> = self.embed_origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()).collect();
        for o in &origins {
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o.contains(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '\'')
                && o.split_once("://").is_some_and(|(_, host)| !host.is_empty() && !host.contains('/'));
            if !ok {
                return Err(format!("FLOWLENS_EMBED_ORIGINS: `{o}` is not an origin; expected scheme://host[:port], e.g. https://wiki.example.com"));
            }
        }
        Ok(if origins.is_empty() { "'none'".to_string() } else { origins.join(" ") })
    }
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
