//! A real Kafka-protocol broker (tansu) for one test: started on a free port on 127.0.0.1, killed
//! when dropped. In memory by default; on SQLite storage for tests that restart it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

pub struct Broker {
    child: Child,
    /// Where clients connect: the broker itself, or the TLS terminator in front of it.
    pub address: String,
    /// The broker's own (plain TCP) port.
    port: u16,
    /// Where a persistent broker keeps its SQLite storage; `None` for a memory broker.
    storage: Option<std::path::PathBuf>,
    /// Clients must authenticate with SASL.
    authentication: bool,
    tls: Option<super::tls::Terminator>,
    /// What a test client sets to reach it: TLS trust, SASL credentials.
    client: Vec<(String, String)>,
}

/// How a secured broker is reached.
#[derive(Default)]
pub struct Secured<'a> {
    /// TLS, by a terminator (stunnel) in front of the broker: tansu's own TLS listener did not
    /// answer handshakes here.
    pub tls: Option<&'a super::tls::Certs>,
    /// SASL required. tansu takes any password for PLAIN; SCRAM checks the users below.
    pub sasl: bool,
    /// SCRAM users (mechanism `scram256` or `scram512`, name, password), kept in the SQLite
    /// storage of the broker built from source; needs `dir`.
    pub users: &'a [(&'a str, &'a str, &'a str)],
    pub dir: Option<&'a std::path::Path>,
}

fn tools() -> String {
    std::env::var("FLOWLENS_TOOLS").unwrap_or_else(|_| format!("{}/.cache/flowlens/tools", std::env::var("HOME").unwrap_or_default()))
}

/// The prebuilt tansu from PyPI: memory storage only.
fn tansu() -> String {
    std::env::var("TANSU").unwrap_or_else(|_| format!("{}/bin/tansu", tools()))
}

/// tansu built with its SQLite storage engine (scripts/setup builds it once).
fn tansu_sqlite() -> String {
    std::env::var("TANSU_SQLITE").unwrap_or_else(|_| format!("{}/tansu-sqlite/bin/tansu", tools()))
}

impl Broker {
    pub async fn start() -> Broker {
        Broker::launch(free_port(), None, None, false).await
    }

    /// A broker that keeps topics, data and committed offsets across restarts.
    pub async fn start_persistent(dir: &std::path::Path) -> Broker {
        Broker::launch(free_port(), None, Some(dir.to_path_buf()), false).await
    }

    /// A broker behind TLS, or requiring SASL, or both. Test clients made by this broker's
    /// helpers reach it as a trusting client (CA) and, with SASL, as the first user (or as
    /// `test` with PLAIN).
    pub async fn start_secured(how: Secured<'_>) -> Broker {
        let port = free_port();
        let tls_port = how.tls.map(|_| free_port());
        let storage = how.dir.map(|d| d.to_path_buf());
        if !how.users.is_empty() {
            let dir = storage.clone().expect("SCRAM users live in the SQLite storage: give a dir");
            // Users are created through the broker, before it requires them.
            let mut open = Broker::launch(port, None, Some(dir), false).await;
            for (mechanism, name, password) in how.users {
                let out = Command::new(tansu_sqlite())
                    .args(["user", "create", name, password, "--broker", &format!("tcp://127.0.0.1:{port}"), "--mechanism", mechanism])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "tansu user create {name}: {}", String::from_utf8_lossy(&out.stderr));
            }
            let _ = open.child.kill();
            let _ = open.child.wait();
            open.storage = None;
        }
        let mut broker = Broker::launch(port, tls_port, storage, how.sasl).await;
        if let (Some(certs), Some(tls_port)) = (how.tls, tls_port) {
            let terminator = super::tls::Terminator::on(certs, tls_port, &format!("127.0.0.1:{port}")).await;
            broker.address = terminator.address.clone();
            broker.tls = Some(terminator);
            broker.client.push(("ssl.ca.location".into(), certs.ca.display().to_string()));
        }
        let protocol = match (how.tls.is_some(), how.sasl) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        broker.client.push(("security.protocol".into(), protocol.into()));
        if how.sasl {
            let (mechanism, name, password) = match how.users.first() {
                Some(("scram256", n, p)) => ("SCRAM-SHA-256", *n, *p),
                Some((_, n, p)) => ("SCRAM-SHA-512", *n, *p),
                None => ("PLAIN", "test", "test"),
            };
            broker.client.extend([("sasl.mechanism".into(), mechanism.into()), ("sasl.username".into(), name.into()), ("sasl.password".into(), password.into())]);
        }
        broker
    }

    /// A client configuration that reaches this broker as the tests' own client does.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.address);
        for (k, v) in &self.client {
            c.set(k, v);
        }
        c
    }

    /// Kills the broker with SIGKILL and starts it again on the same port and storage.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let advertised = self.tls.as_ref().map(|t| t.address.rsplit(':').next().unwrap().parse().unwrap());
        let mut again = Broker::launch(self.port, advertised, self.storage.take(), self.authentication).await;
        again.address = self.address.clone();
        again.tls = self.tls.take();
        again.client = std::mem::take(&mut self.client);
        let old = std::mem::replace(self, again);
        std::mem::forget(old); // its process is already gone
    }

    /// Starts tansu on `port`, telling clients to come to `advertised` (a terminator's port) if given.
    async fn launch(port: u16, advertised: Option<u16>, storage: Option<std::path::PathBuf>, authentication: bool) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{}", advertised.unwrap_or(port));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(std::env::temp_dir().join(format!("tansu-{port}.log")))
            .unwrap();
        let (program, engine) = match &storage {
            None => (tansu(), "memory://tansu/".to_string()),
            Some(_) => (tansu_sqlite(), "sqlite://tansu.db".to_string()),
        };
        let mut command = Command::new(&program);
        command
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &advertised_url, "--storage-engine", &engine])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        if let Some(dir) = &storage {
            command.current_dir(dir);
        }
        if authentication {
            command.arg("--authentication");
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start tansu at {program} (scripts/setup installs it): {e}"));
        let broker = Broker { child, address: format!("127.0.0.1:{port}"), port, storage, authentication, tls: None, client: Vec::new() };
        for _ in 0..200 {
            if std::net::TcpStream::connect(&broker.address).is_ok() {
                return broker;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("tansu did not listen on {} within 10 s", broker.address);
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.client_config().create().unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin.create_topics([&topic], &AdminOptions::new()).await.unwrap();
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    /// A consumer in `group` reading `topics` from the start, joining as fast as this broker allows.
    pub fn consumer(&self, group: &str, topics: &[&str]) -> rdkafka::consumer::StreamConsumer {
        use rdkafka::consumer::Consumer;
        let consumer: rdkafka::consumer::StreamConsumer = self
            .client_config()
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .create()
            .unwrap();
        consumer.subscribe(topics).unwrap();
        consumer
    }

    pub fn producer(&self) -> BaseProducer {
        let mut config = self.client_config();
        config
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.max.bytes", "4000000");
        if self.storage.is_some() {
            // tansu's SQLite storage was seen to serve only the first record of a multi-record
            // batch to consumers; one record per batch keeps the test about Flowlens.
            config.set("batch.num.messages", "1");
        }
        config.create().unwrap()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One message to produce: key, headers, value.
pub type Record = (Option<String>, Vec<(String, Vec<u8>)>, Vec<u8>);

/// Produces every record to `topic` and waits until the broker has them all.
pub fn produce(producer: &BaseProducer, topic: &str, records: &[Record]) {
    for record in records {
        while !send(producer, topic, record) {
            producer.poll(Duration::from_millis(10));
        }
    }
    producer.flush(Duration::from_secs(30)).expect("every record acknowledged");
}

/// Hands one record to the producer without waiting for the broker; false while its queue is full.
pub fn send(producer: &BaseProducer, topic: &str, (key, headers, value): &Record) -> bool {
    use rdkafka::message::{Header, OwnedHeaders};
    let mut owned = OwnedHeaders::new();
    for (name, v) in headers {
        owned = owned.insert(Header { key: name, value: Some(v) });
    }
    let mut record = BaseRecord::<str, [u8]>::to(topic).payload(value).headers(owned);
    if let Some(k) = key {
        record = record.key(k.as_str());
    }
    match producer.send(record) {
        Ok(()) => true,
        Err((e, _)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => false,
        Err((e, _)) => panic!("produce: {e}"),
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
