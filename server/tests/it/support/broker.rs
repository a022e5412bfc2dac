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
    pub address: String,
    /// Where a persistent broker keeps its SQLite storage; `None` for a memory broker.
    storage: Option<std::path::PathBuf>,
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
        Broker::launch(free_port(), None).await
    }

    /// A broker that keeps topics, data and committed offsets across restarts.
    pub async fn start_persistent(dir: &std::path::Path) -> Broker {
        Broker::launch(free_port(), Some(dir.to_path_buf())).await
    }

    /// Kills the broker with SIGKILL and starts it again on the same port and storage.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port: u16 = self.address.rsplit(':').next().unwrap().parse().unwrap();
        let again = Broker::launch(port, self.storage.take()).await;
        let old = std::mem::replace(self, again);
        std::mem::forget(old); // its process is already gone
    }

    async fn launch(port: u16, storage: Option<std::path::PathBuf>) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
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
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", &engine])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        if let Some(dir) = &storage {
            command.current_dir(dir);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start tansu at {program} (scripts/setup installs it): {e}"));
        let broker = Broker { child, address: format!("127.0.0.1:{port}"), storage };
        for _ in 0..200 {
            if std::net::TcpStream::connect(&broker.address).is_ok() {
                return broker;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("tansu did not listen on {} within 10 s", broker.address);
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &self.address).create().unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin.create_topics([&topic], &AdminOptions::new()).await.unwrap();
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    /// A consumer in `group` reading `topics` from the start, joining as fast as this broker allows.
    pub fn consumer(&self, group: &str, topics: &[&str]) -> rdkafka::consumer::StreamConsumer {
        use rdkafka::consumer::Consumer;
        let consumer: rdkafka::consumer::StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .create()
            .unwrap();
        consumer.subscribe(topics).unwrap();
        consumer
    }

    pub fn producer(&self) -> BaseProducer {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.address)
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
