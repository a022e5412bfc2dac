//! How Flowlens reaches the brokers: TLS, SASL and any other librdkafka property, for every
//! client it makes (the consumer, the command producer, the simulator's clients).
//!
//! Everything a company's cluster may need goes through librdkafka's own properties, so the
//! typed settings only spare people from spelling them; `--kafka-option` passes the rest. What
//! Flowlens's guarantees rest on (offsets stored only after the database committed, an
//! idempotent producer) is set last and cannot be overridden.
//!
//! librdkafka retries a failing connection by itself and reports each failure to the client's
//! context; the context keeps the last one, told apart in words (wrong credentials, an
//! untrusted certificate, an unreachable broker), for the log, readiness and `/api/v1/status`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use flowlens_core::{BrokerProblem, BrokerTrouble};

use crate::config::KafkaSecurity;

/// The SASL mechanisms Flowlens speaks (GSSAPI/Kerberos needs a library this build leaves out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mechanism {
    #[value(name = "PLAIN")]
    Plain,
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
    #[value(name = "OAUTHBEARER")]
    OAuthBearer,
}

impl Mechanism {
    fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// Properties Flowlens sets itself because its guarantees rest on them, or because a typed
/// setting owns them; `--kafka-option` naming one is refused at start.
const OWN: &[(&str, &str)] = &[
    ("bootstrap.servers", "set it with --kafka-brokers"),
    ("group.id", "set it with --kafka-group"),
    ("enable.auto.commit", "Flowlens commits offsets only after the database committed the events"),
    ("enable.auto.offset.store", "Flowlens stores offsets only after the database committed the events"),
    ("enable.idempotence", "the command producer is always idempotent, so a retry never sends a command twice"),
    ("security.protocol", "it follows from --kafka-tls and --kafka-sasl-mechanism"),
    ("sasl.mechanism", "set it with --kafka-sasl-mechanism"),
    ("sasl.mechanisms", "set it with --kafka-sasl-mechanism"),
];

/// Which clients a property is for: `consumer.KEY=VALUE` and `producer.KEY=VALUE` name one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Consumer,
    Producer,
    /// Topic creation and metadata (the simulator's admin client).
    Admin,
}

/// One `--kafka-option`, checked: the property, its value, and the clients it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passed {
    role: Option<Role>,
    key: String,
    value: String,
}

/// Reads `KEY=VALUE`, `consumer.KEY=VALUE` or `producer.KEY=VALUE`; refuses what Flowlens owns.
pub fn parse_option(text: &str) -> Result<Passed, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("--kafka-option `{text}`: expected KEY=VALUE, e.g. client.id=flowlens-eu"))?;
    let key = key.trim();
    let (role, key) = match key.split_once('.') {
        Some(("consumer", rest)) => (Some(Role::Consumer), rest),
        Some(("producer", rest)) => (Some(Role::Producer), rest),
        _ => (None, key),
    };
    if key.is_empty() {
        return Err(format!("--kafka-option `{text}`: the property name is empty"));
    }
    if let Some((_, why)) = OWN.iter().find(|(own, _)| *own == key) {
        return Err(format!("--kafka-option `{text}`: `{key}` is Flowlens's own: {why}"));
    }
    Ok(Passed { role, key: key.to_string(), value: value.to_string() })
}

/// The brokers' connection settings, checked and with secrets read from their files.
#[derive(Clone)]
pub struct Connection {
    brokers: String,
    protocol: &'static str,
    tls: Option<Tls>,
    sasl: Option<(Mechanism, Secret)>,
    options: Vec<Passed>,
}

#[derive(Clone, Debug)]
struct Tls {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    verify_hostname: bool,
}

/// What SASL authenticates with. A token file is read again at every refresh, so a rotated
/// token is picked up without a restart.
#[derive(Clone)]
enum Secret {
    Password { username: String, password: String },
    Token(TokenSource),
}

#[derive(Clone)]
enum TokenSource {
    Fixed(String),
    File(PathBuf),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("brokers", &self.brokers)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls)
            .field("sasl", &self.sasl.as_ref().map(|(m, _)| m.name()))
            .field("options", &self.options.len())
            .finish()
    }
}

impl Connection {
    /// Checks the settings as a whole: files that must exist, a mechanism with what it needs.
    pub fn new(brokers: &str, s: &KafkaSecurity) -> Result<Connection, String> {
        let readable = |flag: &str, path: &Option<PathBuf>| -> Result<Option<PathBuf>, String> {
            match path {
                Some(p) if !p.is_file() => Err(format!("{flag} {}: no such file", p.display())),
                other => Ok(other.clone()),
            }
        };
        let tls_wanted = s.tls || s.ca_file.is_some() || s.cert_file.is_some();
        let tls = if tls_wanted {
            if s.cert_file.is_some() != s.key_file.is_some() {
                return Err("--kafka-cert-file and --kafka-key-file go together: a client certificate needs its key".into());
            }
            Some(Tls {
                ca: readable("--kafka-ca-file", &s.ca_file)?,
                cert: readable("--kafka-cert-file", &s.cert_file)?,
                key: readable("--kafka-key-file", &s.key_file)?,
                verify_hostname: s.tls_verify_hostname,
            })
        } else {
            None
        };
        let sasl = match s.sasl_mechanism {
            None => {
                if s.sasl_username.is_some() || s.sasl_password.is_some() || s.oauth_token.is_some() {
                    return Err("a SASL user, password or token is set but no --kafka-sasl-mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)".into());
                }
                None
            }
            Some(Mechanism::OAuthBearer) => {
                let token = match (&s.oauth_token, &s.oauth_token_file) {
                    (Some(t), None) => TokenSource::Fixed(t.clone()),
                    (None, Some(f)) => {
                        readable("--kafka-oauth-token-file", &Some(f.clone()))?;
                        TokenSource::File(f.clone())
                    }
                    (Some(_), Some(_)) => return Err("give the OAUTHBEARER token either inline or as a file, not both".into()),
                    (None, None) => return Err("OAUTHBEARER needs a token: --kafka-oauth-token or --kafka-oauth-token-file".into()),
                };
                Some((Mechanism::OAuthBearer, Secret::Token(token)))
            }
            Some(m) => {
                let username = s.sasl_username.clone().ok_or_else(|| format!("{} needs --kafka-sasl-username", m.name()))?;
                let password = match (&s.sasl_password, &s.sasl_password_file) {
                    (Some(p), None) => p.clone(),
                    (None, Some(f)) => secret_file("--kafka-sasl-password-file", f)?,
                    (Some(_), Some(_)) => return Err("give the SASL password either inline or as a file, not both".into()),
                    (None, None) => return Err(format!("{} needs --kafka-sasl-password or --kafka-sasl-password-file", m.name())),
                };
                Some((m, Secret::Password { username, password }))
            }
        };
        let protocol = match (tls.is_some(), sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        let options = s.options.iter().map(|o| parse_option(o)).collect::<Result<Vec<_>, _>>()?;
        Ok(Connection { brokers: brokers.to_string(), protocol, tls, sasl, options })
    }

    /// A client configuration for `role`: the connection, then the passed options that apply.
    /// The caller sets its own guarantees after this, so they win.
    pub fn config(&self, role: Role) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("security.protocol", self.protocol);
        // librdkafka's own log lines go through `tracing` (the context), at warning and above.
        c.set_log_level(RDKafkaLogLevel::Warning);
        if let Some(tls) = &self.tls {
            if let Some(ca) = &tls.ca {
                c.set("ssl.ca.location", ca.display().to_string());
            }
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                c.set("ssl.certificate.location", cert.display().to_string()).set("ssl.key.location", key.display().to_string());
            }
            c.set("ssl.endpoint.identification.algorithm", if tls.verify_hostname { "https" } else { "none" });
        }
        if let Some((mechanism, secret)) = &self.sasl {
            c.set("sasl.mechanism", mechanism.name());
            if let Secret::Password { username, password } = secret {
                c.set("sasl.username", username).set("sasl.password", password);
            }
        }
        for o in &self.options {
            if o.role.is_none_or(|r| r == role) {
                c.set(&o.key, &o.value);
            }
        }
        c
    }

    /// The context every client gets: it reports connection problems and supplies OAUTHBEARER tokens.
    pub fn context(&self) -> Context {
        let token = match &self.sasl {
            Some((_, Secret::Token(source))) => Some(source.clone()),
            _ => None,
        };
        Context { token, problems: Problems::default() }
    }

    /// Where and how, for the start-up line: never a secret.
    pub fn describe(&self) -> String {
        let sasl = self.sasl.as_ref().map(|(m, _)| format!(", SASL {}", m.name())).unwrap_or_default();
        let tls = if self.tls.is_some() { ", TLS" } else { "" };
        format!("{}{tls}{sasl}", self.brokers)
    }
}

/// A secret mounted as a file: an empty one is a mistake, not a password.
fn secret_file(flag: &str, path: &std::path::Path) -> Result<String, String> {
    match crate::config_file::read_secret(path) {
        Ok(text) if text.is_empty() => Err(format!("{flag} {}: the file is empty", path.display())),
        Ok(text) => Ok(text),
        Err(e) => Err(format!("{flag} {e}")),
    }
}

/// The last connection problem librdkafka reported, shared with whoever asks (the readiness probe).
#[derive(Clone, Default)]
pub struct Problems(Arc<Mutex<Option<BrokerProblem>>>);

impl Problems {
    pub fn last(&self) -> Option<BrokerProblem> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `summary`: librdkafka's "all brokers are down", which follows the failure that caused it
    /// and says less: it does not replace a reason already known.
    fn record(&self, problem: BrokerProblem, summary: bool) {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if summary && last.is_some() {
            return;
        }
        // librdkafka reports the same failure at every reconnect: log it when it changes.
        if last.as_ref() != Some(&problem) {
            tracing::error!(kind = %problem.kind, problem = %problem.message, "kafka: cannot use the brokers");
        }
        *last = Some(problem);
    }
}

/// Tells a librdkafka error message apart. Pure, so every wording librdkafka uses is tested.
pub fn classify(reason: &str) -> BrokerProblem {
    let lower = reason.to_ascii_lowercase();
    let (kind, words) = if lower.contains("sasl authentication") || lower.contains("authentication failed") || lower.contains("invalid-proof") || lower.contains("unknown-user") {
        (BrokerTrouble::Credentials, "the brokers refused the SASL credentials (user name, password or token)")
    } else if lower.contains("certificate verify failed") || lower.contains("certificate could not be verified") || lower.contains("hostname mismatch") || lower.contains("ssl handshake failed") {
        (BrokerTrouble::Certificate, "the brokers' TLS certificate is not trusted (check --kafka-ca-file and the host name)")
    } else if lower.contains("connection refused") || lower.contains("failed to resolve") || lower.contains("all broker") || lower.contains("brokers are down") || lower.contains("connect to") || lower.contains("timed out") || lower.contains("broker transport failure") || lower.contains("disconnected") {
        (BrokerTrouble::Unreachable, "the brokers are unreachable (check --kafka-brokers and the network)")
    } else {
        (BrokerTrouble::Other, "the brokers cannot be used")
    };
    BrokerProblem { kind, message: format!("{words}: {}", reason.trim()) }
}

/// The client context: librdkafka's errors and log lines go to `tracing` and to [`Problems`];
/// with OAUTHBEARER it hands librdkafka the token whenever it asks for a fresh one.
#[derive(Clone)]
pub struct Context {
    token: Option<TokenSource>,
    pub problems: Problems,
}

impl ClientContext for Context {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => tracing::error!(target: "librdkafka", fac, "{log_message}"),
            L::Warning => tracing::warn!(target: "librdkafka", fac, "{log_message}"),
            _ => tracing::debug!(target: "librdkafka", fac, "{log_message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let summary = error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown);
        let text = if reason.is_empty() { error.to_string() } else { reason.to_string() };
        self.problems.record(classify(&text), summary);
    }

    fn generate_oauth_token(&self, _config: Option<&str>) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let token = match &self.token {
            Some(TokenSource::Fixed(t)) => t.clone(),
            Some(TokenSource::File(path)) => std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?.trim().to_string(),
            None => return Err("no OAUTHBEARER token is configured".into()),
        };
        if token.is_empty() {
            return Err("the OAUTHBEARER token is empty".into());
        }
        let (principal, lifetime_ms) = token_claims(&token);
        Ok(OAuthToken { token, principal_name: principal, lifetime_ms })
    }
}

impl ConsumerContext for Context {}

/// The principal (`sub`) and expiry (`exp`, in ms) of a JWT, read without verifying it (the
/// brokers verify); a token that is not a JWT is used as it is, for an hour.
fn token_claims(token: &str) -> (String, i64) {
    use base64::Engine as _;
    let hour_from_now = now_ms() + 3_600_000;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let principal = claims.as_ref().and_then(|c| c["sub"].as_str()).unwrap_or("flowlens").to_string();
    let expires = claims.as_ref().and_then(|c| c["exp"].as_i64()).map(|s| s * 1000).unwrap_or(hour_from_now);
    (principal, expires)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_their_clients_and_never_flowlens_own_properties() {
        assert_eq!(parse_option("client.id=eu=1").unwrap(), Passed { role: None, key: "client.id".into(), value: "eu=1".into() });
        assert_eq!(parse_option("consumer.fetch.min.bytes=1").unwrap().role, Some(Role::Consumer));
        assert_eq!(parse_option("producer.linger.ms=5").unwrap().key, "linger.ms");
        for own in ["enable.auto.commit=true", "producer.enable.idempotence=false", "consumer.enable.auto.offset.store=true", "group.id=x", "security.protocol=plaintext"] {
            let e = parse_option(own).unwrap_err();
            assert!(e.contains("Flowlens's own"), "{own}: {e}");
        }
        assert!(parse_option("linger.ms").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_option("=1").unwrap_err().contains("empty"));
    }

    #[test]
    fn librdkafka_failures_are_told_apart() {
        let cases = [
            ("sasl_plaintext://127.0.0.1:9/bootstrap: SASL authentication error: SASL SCRAM authentication failed: broker responded with invalid-proof (after 3ms in state AUTH_REQ)", BrokerTrouble::Credentials),
            ("SASL authentication error: Authentication failed: Invalid username or password (after 1ms in state AUTH_REQ)", BrokerTrouble::Credentials),
            ("ssl://127.0.0.1:9/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified", BrokerTrouble::Certificate),
            ("127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused (after 0ms in state CONNECT)", BrokerTrouble::Unreachable),
            ("1/1 brokers are down", BrokerTrouble::Unreachable),
            ("Local: All broker connections are down", BrokerTrouble::Unreachable),
            ("nohost:9092/bootstrap: Failed to resolve 'nohost:9092': Name or service not known", BrokerTrouble::Unreachable),
            ("Local: Invalid argument or configuration", BrokerTrouble::Other),
        ];
        for (reason, kind) in cases {
            let p = classify(reason);
            assert_eq!(p.kind, kind, "{reason}");
            assert!(p.message.ends_with(reason), "the original words are kept: {}", p.message);
        }
    }

    #[test]
    fn a_jwt_gives_its_subject_and_expiry() {
        use base64::Engine as _;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"ingest","exp":2000000000}"#);
        assert_eq!(token_claims(&format!("eyJhbGciOiJub25lIn0.{claims}.")), ("ingest".to_string(), 2_000_000_000_000));
        let (who, until) = token_claims("opaque-token");
        assert_eq!(who, "flowlens");
        assert!(until > now_ms());
    }
}
