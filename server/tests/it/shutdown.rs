//! Stopping cleanly: SIGTERM while Flowlens consumes from Kafka (a real Kafka-protocol broker)
//! with a live stream open. The process exits 0 within 10 seconds, the offsets it committed are
//! exactly the events it stored (so a restart redelivers nothing already stored), and a restart
//! brings in the rest: nothing lost, nothing twice.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::io::AsyncReadExt;

use crate::support;
use support::broker::{produce, Broker};
use support::traffic::onboardings;
use support::*;

on_both_stores!(sigterm_during_kafka_ingest_loses_nothing_and_redelivers_nothing);

const TOPIC: &str = "stopping";
const PARTITIONS: i32 = 4;

/// The real binary on Kafka, its address read from its output.
fn spawn_server(broker: &Broker, database_url: &str, group: &str) -> (Child, SocketAddr) {
    let flows = repo().join("flows").display().to_string();
    serve_binary(&[
        "--database-url", database_url, "--kafka-brokers", &broker.address, "--kafka-topics", TOPIC, "--kafka-group", group, "--flows", &flows,
    ])
}

/// Offsets the group has committed on the topic, added up over its partitions.
fn committed(broker: &Broker, group: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &broker.address).set("group.id", group).create().unwrap();
    let mut wanted = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        wanted.add_partition(TOPIC, p);
    }
    let found = consumer.committed_offsets(wanted, Duration::from_secs(10)).unwrap();
    found.elements().iter().map(|e| if let Offset::Offset(o) = e.offset() { o } else { 0 }).sum()
}

async fn sigterm_during_kafka_ingest_loses_nothing_and_redelivers_nothing(store: Db) {
    const CUSTOMERS: usize = 5_000; // 40 000 events
    const EVENTS: i64 = CUSTOMERS as i64 * 8;
    let broker = Broker::start().await;
    broker.create_topic(TOPIC, PARTITIONS).await;
    produce(&broker.producer(), TOPIC, &onboardings("stop", CUSTOMERS));
    let db = settings(store, &scratch("stopping")).await.database_url;
    let group = format!("stopping-{}", fastrand::u32(..));

    let (mut server, addr) = spawn_server(&broker, &db, &group);
    // A live stream as a signed-in page holds it.
    let cookie = sign_in(addr, "admin", ADMIN_PASSWORD).await.2.expect("a session cookie");
    let mut stream = open_stream(addr, "", &[("Cookie", &cookie)]).await;
    eventually(120, "the first events to be stored", || async { stored_events(&db).await > 2_000 }).await;
    let signalled = Instant::now();
    let term = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let at_stop = stored_events(&db).await;
    assert!(at_stop < EVENTS, "the server finished before it was stopped; make the test bigger");
    // The live stream was closed by the server, not left hanging.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the live stream is still open after the server stopped");

    // What was stored is exactly what was committed: a restart starts right after it.
    assert_eq!(committed(&broker, &group), at_stop, "committed offsets = stored events at SIGTERM");

    let (mut server, _) = spawn_server(&broker, &db, &group);
    eventually(180, "every event", || async { stored_events(&db).await >= EVENTS }).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // anything redelivered has arrived by now
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(server.wait().unwrap().success());
    assert_eq!(stored_events(&db).await, EVENTS, "every event exactly once");
    assert_eq!(committed(&broker, &group), EVENTS, "every offset committed at the second stop");
}
