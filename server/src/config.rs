//! Settings of `flowlens serve`: command-line flags, each also read from an environment variable.

use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// A settings file (`flowlens.toml`): every setting here, by its flag's name; flags and the
    /// environment override it. `flowlens config check` shows what takes effect.
    #[arg(long, env = "FLOWLENS_CONFIG")]
    pub config: Option<PathBuf>,
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
    /// How many recently written instances ingest keeps in memory between batches, so that their
    /// next events need not read them back from the database (0: none). Each costs about 4 KB for
    /// an onboarding; the database stays the truth (a write elsewhere is noticed by its revision).
    #[arg(long, env = "FLOWLENS_HOT_INSTANCES", default_value_t = flowlens_store::HOT_INSTANCES)]
    pub hot_instances: usize,
    /// How logs are written on standard output: `text` for people, `json` (one object a line, with
    /// the spans each event happened in) for a log pipeline.
    #[arg(long, env = "FLOWLENS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(flatten)]
    pub access: AccessSettings,
    #[command(flatten)]
    pub alerts: AlertSettings,
    #[command(flatten)]
    pub kafka: KafkaSettings,
}

/// What `serve` takes from its settings once they are checked as a whole, before anything is
/// opened; `flowlens config check` checks the same.
pub struct Checked {
    /// The CSP `frame-ancestors` of the embed origins.
    pub frame_ancestors: String,
    /// How to reach the brokers, when Kafka is on.
    pub kafka: Option<crate::kafka::Connection>,
    pub alerts: flowlens_service::Alerts,
}

impl Settings {
    /// Every problem of the settings, or what they give.
    pub fn check(&self) -> Result<Checked, Vec<String>> {
        let mut problems = Vec::new();
        let frame_ancestors = self.access.frame_ancestors().map_err(|e| problems.push(e)).ok();
        let alerts = self.alerts.alerts().map_err(|e| problems.push(e)).ok();
        let kafka = match self.kafka.enabled() {
            false => Some(None),
            true => crate::kafka::Connection::new(&self.kafka.brokers, &self.kafka.security).map(Some).map_err(|e| problems.push(e)).ok(),
        };
        match (frame_ancestors, kafka, alerts) {
            (Some(frame_ancestors), Some(kafka), Some(alerts)) => Ok(Checked { frame_ancestors, kafka, alerts }),
            _ => Err(problems),
        }
    }
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
    /// A token that lets a scraper read `/metrics` without signing in (`Authorization: Bearer
    /// TOKEN`); from a file with FLOWLENS_METRICS_TOKEN_FILE or `token-file` under `[metrics]`.
    #[arg(long, env = "FLOWLENS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Let scrapers on this machine (loopback, not relayed by a proxy) read `/metrics` without
    /// the token. Anyone else needs the token, a session or an API token.
    #[arg(long, env = "FLOWLENS_METRICS_LOOPBACK", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics_loopback: bool,
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

/// How SLA alerts reach their webhooks.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AlertSettings {
    /// CA certificates (PEM) trusted for https:// webhooks besides the system's.
    #[arg(id = "alert_ca_file", long = "alert-ca-file", env = "FLOWLENS_ALERT_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// A header for the webhooks whose URL starts with a prefix, `PREFIX=Name: value`, e.g.
    /// `https://events.example.com=Authorization: Token abc` (repeatable; `;` between them in
    /// the environment). Sent to no other URL.
    #[arg(long = "alert-header", env = "FLOWLENS_ALERT_HEADERS", value_delimiter = ';', hide_env_values = true)]
    pub headers: Vec<String>,
    /// A file of such headers, one a line (secrets mounted as a file).
    #[arg(long = "alert-headers-file", env = "FLOWLENS_ALERT_HEADERS_FILE")]
    pub headers_file: Option<PathBuf>,
}

impl AlertSettings {
    /// The alert client: trust and headers, checked.
    pub fn alerts(&self) -> Result<flowlens_service::Alerts, String> {
        let mut lines: Vec<String> = self.headers.iter().filter(|h| !h.trim().is_empty()).cloned().collect();
        if let Some(file) = &self.headers_file {
            let text = std::fs::read_to_string(file).map_err(|e| format!("--alert-headers-file {}: {e}", file.display()))?;
            lines.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
        }
        let headers = lines.iter().map(|l| flowlens_service::AlertHeader::parse(l)).collect::<Result<Vec<_>, _>>()?;
        flowlens_service::Alerts::new(self.ca_file.as_deref(), headers)
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
    #[command(flatten)]
    pub security: KafkaSecurity,
}

/// How to reach the brokers safely: TLS, SASL, and any librdkafka property.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct KafkaSecurity {
    /// Connect over TLS; on by itself with a CA or client certificate file.
    #[arg(long = "kafka-tls", env = "FLOWLENS_KAFKA_TLS")]
    pub tls: bool,
    /// CA certificates (PEM) the brokers' certificates must chain to; without it, the system's.
    #[arg(long = "kafka-ca-file", env = "FLOWLENS_KAFKA_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for brokers that authenticate clients by certificate.
    #[arg(long = "kafka-cert-file", env = "FLOWLENS_KAFKA_CERT_FILE")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long = "kafka-key-file", env = "FLOWLENS_KAFKA_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Check that the brokers' certificates name the host connected to.
    #[arg(long = "kafka-tls-verify-hostname", env = "FLOWLENS_KAFKA_TLS_VERIFY_HOSTNAME", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify_hostname: bool,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.
    #[arg(long = "kafka-sasl-mechanism", env = "FLOWLENS_KAFKA_SASL_MECHANISM")]
    pub sasl_mechanism: Option<crate::kafka::Mechanism>,
    /// SASL user name (PLAIN, SCRAM).
    #[arg(long = "kafka-sasl-username", env = "FLOWLENS_KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// SASL password (PLAIN, SCRAM); better from a file.
    #[arg(long = "kafka-sasl-password", env = "FLOWLENS_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub sasl_password: Option<String>,
    /// A file holding the SASL password (as container platforms mount secrets).
    #[arg(long = "kafka-sasl-password-file", env = "FLOWLENS_KAFKA_SASL_PASSWORD_FILE")]
    pub sasl_password_file: Option<PathBuf>,
    /// OAUTHBEARER: the bearer token (a JWT), used as it is.
    #[arg(long = "kafka-oauth-token", env = "FLOWLENS_KAFKA_OAUTH_TOKEN", hide_env_values = true)]
    pub oauth_token: Option<String>,
    /// OAUTHBEARER: a file holding the token, read again whenever the client refreshes it, so a
    /// rotated token is taken without a restart.
    #[arg(long = "kafka-oauth-token-file", env = "FLOWLENS_KAFKA_OAUTH_TOKEN_FILE")]
    pub oauth_token_file: Option<PathBuf>,
    /// Any librdkafka property, `KEY=VALUE` (repeatable; `consumer.KEY=VALUE` or
    /// `producer.KEY=VALUE` for one client). Flowlens's own guarantees cannot be overridden.
    /// In the environment, separated by `;`.
    #[arg(long = "kafka-option", env = "FLOWLENS_KAFKA_OPTIONS", value_delimiter = ';')]
    pub options: Vec<String>,
}

impl Default for KafkaSettings {
    /// Kafka off, every other setting as its flag's default.
    fn default() -> Self {
        KafkaSettings {
            brokers: String::new(),
            topics: vec!["onboarding-events".into()],
            group: "flowlens".into(),
            security: KafkaSecurity { tls_verify_hostname: true, ..KafkaSecurity::default() },
        }
    }
}

impl KafkaSettings {
    pub fn enabled(&self) -> bool {
        !self.brokers.trim().is_empty()
    }
}
