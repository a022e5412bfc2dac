//! A real Kafka-protocol broker (tansu, in memory) for one test: started on a free port on
//! 127.0.0.1, killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

pub struct Broker {
    child: Child,
    pub address: String,
}

fn tansu() -> String {
    if let Ok(path) = std::env::var("TANSU") {
        return path;
    }
    let tools = std::env::var("FLOWLENS_TOOLS")
        .unwrap_or_else(|_| format!("{}/.cache/flowlens/tools", std::env::var("HOME").unwrap_or_default()));
    format!("{tools}/bin/tansu")
}

impl Broker {
    pub async fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(std::env::temp_dir().join(format!("tansu-{port}.log"))).unwrap();
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu at {} (scripts/setup installs it): {e}", tansu()));
        let broker = Broker { child, address: format!("127.0.0.1:{port}") };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&broker.address).is_ok() {
                return broker;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("tansu did not listen on {} within 5 s", broker.address);
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

    pub fn producer(&self) -> BaseProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.max.bytes", "4000000")
            .create()
            .unwrap()
    }
}

/// One message to produce: key, headers, value.
pub type Record = (Option<String>, Vec<(String, Vec<u8>)>, Vec<u8>);

/// Produces every record to `topic` and waits until the broker has them all.
pub fn produce(producer: &BaseProducer, topic: &str, records: &[Record]) {
    use rdkafka::message::{Header, OwnedHeaders};
    for (key, headers, value) in records {
        let mut owned = OwnedHeaders::new();
        for (name, v) in headers {
            owned = owned.insert(Header { key: name, value: Some(v) });
        }
        loop {
            let mut record = BaseRecord::<str, [u8]>::to(topic).payload(value).headers(owned.clone());
            if let Some(k) = key {
                record = record.key(k.as_str());
            }
            match producer.send(record) {
                Ok(()) => break,
                Err((e, _)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("every record acknowledged");
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
