//! Kafka in, through a real Kafka-protocol broker (tansu): events become instances, offsets follow
//! the database (malformed messages: see malformed.rs), and a server killed with SIGKILL while ingesting loses nothing and counts nothing twice.

use crate::support;

use std::time::Duration;

use flowlens_core::{Flow, Instance};
use serde_json::json;
use support::broker::{produce, Broker, Record};
use support::traffic::{onboardings, step_time, STEPS};
use support::*;

async fn kafka_app(db: Db, broker: &Broker, topic: &str, name: &str) -> std::net::SocketAddr {
    let mut s = settings(db, &scratch(name)).await;
    s.kafka.brokers = broker.address.clone();
    s.kafka.topics = vec![topic.to_string()];
    s.kafka.group = format!("flowlens-{name}");
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    addr
}

async fn count(addr: std::net::SocketAddr, query: &str) -> usize {
    get(addr, &format!("/api/v1/instances?limit=500&{query}")).await.1.as_array().map_or(0, Vec::len)
}


on_both_stores!(
    events_from_kafka_become_instances,
    a_server_killed_while_ingesting_loses_nothing_and_counts_nothing_twice,
);

async fn events_from_kafka_become_instances(db: Db) {
    let broker = Broker::start().await;
    broker.create_topic("onboarding-events", 3).await;
    produce(&broker.producer(), "onboarding-events", &onboardings("k", 120));
    let addr = kafka_app(db, &broker, "onboarding-events", "kafka-in").await;
    eventually(20, "ready once the brokers answered", || async { get(addr, "/readyz").await.0 == 200 }).await;
    eventually(60, "120 completed onboardings", || async { count(addr, "status=completed").await == 120 }).await;
    let (_, rows) = get(addr, "/api/v1/instances?limit=500").await;
    assert!(rows.as_array().unwrap().iter().all(|r| r["events"] == 8), "every event stored exactly once");
}

/// Starts the real binary, so it can be killed with SIGKILL.
fn spawn_server(broker: &Broker, database_url: &str, topic: &str, group: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .args(["serve", "--port", "0", "--database-url", database_url, "--kafka-brokers", &broker.address, "--kafka-topics", topic])
        .args(["--kafka-group", group, "--flows", &repo().join("flows").display().to_string()])
        // A known first password, so first start writes no credential file into the source tree.
        .env("FLOWLENS_ADMIN_PASSWORD", support::ADMIN_PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}


async fn a_server_killed_while_ingesting_loses_nothing_and_counts_nothing_twice(store: Db) {
    const CUSTOMERS: usize = 12_500; // 100 000 events
    let broker = Broker::start().await;
    broker.create_topic("crash", 4).await;
    let records = onboardings("c", CUSTOMERS);
    produce(&broker.producer(), "crash", &records);
    let db = settings(store, &scratch("crash")).await.database_url;
    let group = format!("crash-{}", fastrand::u32(..));

    let mut server = spawn_server(&broker, &db, "crash", &group);
    eventually(120, "the first events to be stored", || async { stored_events(&db).await > 15_000 }).await;
    server.kill().unwrap(); // SIGKILL: no shutdown, no last commit
    server.wait().unwrap();
    let at_kill = stored_events(&db).await;
    assert!(at_kill < 100_000, "the server finished before it could be killed; make the test bigger");

    let mut server = spawn_server(&broker, &db, "crash", &group);
    eventually(180, "all 100 000 events", || async { stored_events(&db).await >= 100_000 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // anything redelivered has arrived by now
    server.kill().unwrap();
    server.wait().unwrap();

    use sqlx::{AnyConnection, Connection, Row};
    let mut conn = AnyConnection::connect(&db).await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut conn).await.unwrap();
    assert_eq!(events, 100_000, "every event exactly once (killed at {at_kill})");
    // Every instance's state equals that of a clean, in-order run through the core.
    let flow = Flow::parse_toml("onboarding", &std::fs::read_to_string(repo().join("flows/customer-onboarding.toml")).unwrap()).unwrap();
    let rows = sqlx::query("SELECT key, status, events, facts FROM instances").fetch_all(&mut conn).await.unwrap();
    assert_eq!(rows.len(), CUSTOMERS);
    for row in rows {
        let key: String = row.get("key");
        let mut clean = Instance::new(&flow);
        for (s, ty) in STEPS.iter().enumerate() {
            // An event's identity is its source and id.
            clean.apply(&flow, &format!("/test {key}-{s}"), ty, step_time(s));
        }
        // Stored is the log; reading an instance replays it.
        let mut stored: Instance = serde_json::from_str(&row.get::<String, _>("facts")).unwrap();
        stored.restore(&flow);
        assert_eq!(stored, clean, "instance {key}");
        assert_eq!((row.get::<String, _>("status"), row.get::<i64, _>("events")), ("completed".to_string(), 8), "instance {key}");
    }
}

/// Retry through Kafka: the command goes out as a CloudEvent on the flow's command topic, with the
/// request's payload and a reference to it; its outcome settles the action, and silence past the
/// step's SLA settles it as "no effect".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_published_to_kafka_and_settled_by_what_happens_next() {
    use rdkafka::message::Message;

    let broker = Broker::start().await;
    broker.create_topic("onboarding-events", 1).await;
    broker.create_topic("onboarding-commands", 1).await;
    // The address check gets two seconds, so its "no effect" comes quickly; the others keep ten minutes.
    let dir = scratch("kafka-retry");
    let text = onboarding();
    let (head, tail) = text.split_once("id = \"address\"").unwrap();
    let fast = format!("{head}id = \"address\"{}", tail.replacen("sla = \"10m\"", "sla = \"2s\"", 1));
    let flows = flows_dir(&dir, &[("onboarding.toml", &fast)]);
    let mut s = settings(Db::Sqlite, &dir).await;
    s.flows = flows;
    s.kafka.brokers = broker.address.clone();
    s.kafka.topics = vec!["onboarding-events".into()];
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());

    let event = |id: &str, ty: &str, data: serde_json::Value| -> Record {
        (Some("kr-1".into()), vec![], json!({"id": id, "type": ty, "data": data}).to_string().into_bytes())
    };
    let producer = broker.producer();
    produce(&producer, "onboarding-events", &[
        event("kr-0", "RegistrationRequested", json!({})),
        event("kr-1", "CreditCheckRequested", json!({"customerId": "kr-1", "bureau": "east"})),
        event("kr-2", "AddressCheckRequested", json!({"customerId": "kr-1"})),
    ]);
    eventually(30, "the instance", || async { count(addr, "key=kr-1").await == 1 }).await;
    let id = get(addr, "/api/v1/instances?key=kr-1").await.1[0]["id"].as_i64().unwrap();

    let commands = broker.consumer("test-commands", &["onboarding-commands"]);

    for node in ["credit", "address"] {
        let (status, answer) = call(addr, "POST", &format!("/api/v1/instances/{id}/retry"), Some(format!(r#"{{"node": "{node}"}}"#).as_bytes())).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.contains(r#""result":"sent""#), "{answer}");
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(20), commands.recv()).await.expect("commands arrive").unwrap();
        assert_eq!(m.key(), Some(&b"kr-1"[..]));
        seen.push(serde_json::from_slice::<serde_json::Value>(m.payload().unwrap()).unwrap());
    }
    let credit = seen.iter().find(|c| c["type"] == "CheckCredit").expect("CheckCredit published");
    assert_eq!(credit["data"], json!({"customerId": "kr-1", "bureau": "east"}));
    assert_eq!(credit["flowlensretries"], "kr-1");
    assert_eq!(credit["specversion"], "1.0");
    assert!(seen.iter().any(|c| c["type"] == "CheckAddress"));

    // The credit check answers; the address check stays silent past its two seconds.
    produce(&producer, "onboarding-events", &[event("kr-3", "CreditChecked", json!({"score": 700}))]);
    eventually(20, "both retries settled", || async {
        let actions = get(addr, &format!("/api/v1/instances/{id}/actions")).await.1;
        let result = |node: &str| actions.as_array().unwrap().iter().find(|a| a["node"] == node).map(|a| a["result"].clone());
        result("credit") == Some(json!("took_effect")) && result("address") == Some(json!("no_effect"))
    })
    .await;

    // Cancel: the cancel command and the completed credit check's compensation go out, in that order.
    let (status, answer) = call(addr, "POST", &format!("/api/v1/instances/{id}/cancel"), None).await;
    assert_eq!(status, 200, "{answer}");
    let mut types = Vec::new();
    while types.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(20), commands.recv()).await.expect("commands arrive").unwrap();
        let command: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        types.push(command["type"].as_str().unwrap().to_string());
    }
    assert_eq!(types, ["CancelRegistration", "WithdrawCreditInquiry"]);
    assert_eq!(get(addr, "/api/v1/instances?key=kr-1").await.1[0]["status"], "cancelled");
}

/// `flowlens simulate` is the demo on Kafka: its services produce traffic that Flowlens tracks, and
/// they answer the commands a retry publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_services_produce_traffic_and_answer_retries() {
    let broker = Broker::start().await;
    let mut simulate = std::process::Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .args(["simulate", "--kafka-brokers", &broker.address, "--interval", "0.2", "--partitions", "2"])
        .args(["--flows", &repo().join("flows").display().to_string()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = kafka_app(Db::Sqlite, &broker, "onboarding-events", "simulate").await;
    eventually(60, "simulated onboardings to complete", || async { count(addr, "status=completed").await >= 3 }).await;

    // An instance of our own, whose credit check nobody answers until it is retried.
    produce(&broker.producer(), "onboarding-events", &[
        (Some("sim-own".into()), vec![], json!({"id": "own-0", "type": "RegistrationRequested"}).to_string().into_bytes()),
        (Some("sim-own".into()), vec![], json!({"id": "own-1", "type": "CreditCheckRequested", "data": {"customerId": "sim-own"}}).to_string().into_bytes()),
    ]);
    eventually(30, "our instance", || async { count(addr, "key=sim-own").await == 1 }).await;
    let id = get(addr, "/api/v1/instances?key=sim-own").await.1[0]["id"].as_i64().unwrap();
    let (status, answer) = call(addr, "POST", &format!("/api/v1/instances/{id}/retry"), Some(br#"{"node": "credit"}"#)).await;
    assert_eq!(status, 200, "{answer}");
    eventually(30, "the retry to take effect", || async {
        get(addr, &format!("/api/v1/instances/{id}/actions")).await.1[0]["result"] == "took_effect"
    })
    .await;
    let (_, detail) = get(addr, &format!("/api/v1/instances/{id}")).await;
    assert!(detail["events"].as_array().unwrap().iter().any(|e| e["event_type"] == "CreditChecked" && e["data"].as_str().unwrap().contains("\"retried\":true")));
    simulate.kill().unwrap();
    simulate.wait().unwrap();
}

/// The broker killed with SIGKILL and restarted while Flowlens consumes: Flowlens waits, resumes
/// from its committed offsets, and every event is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarted_while_consuming_loses_nothing() {
    let dir = scratch("broker-restart");
    let mut broker = Broker::start_persistent(&dir).await;
    broker.create_topic("restart", 2).await;
    let db = format!("sqlite://{}", dir.join("flowlens.db").display());
    let mut s = settings(Db::Sqlite, &dir).await;
    s.database_url = db.clone();
    s.kafka.brokers = broker.address.clone();
    s.kafka.topics = vec!["restart".into()];
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    // tansu's SQLite storage starts a new group at the end of the log, whatever
    // auto.offset.reset says: wait until Flowlens has joined (a marker event arrives), then produce.
    let marker: Record = (Some("marker".into()), vec![], json!({"id": "marker", "type": "RegistrationRequested"}).to_string().into_bytes());
    eventually(60, "the consumer to join", || async {
        produce(&broker.producer(), "restart", std::slice::from_ref(&marker));
        tokio::time::sleep(Duration::from_millis(500)).await;
        stored_events(&db).await == 1
    })
    .await;
    produce(&broker.producer(), "restart", &onboardings("before", 100)); // 800 events
    eventually(60, "the first events", || async { stored_events(&db).await > 100 }).await;
    broker.restart().await;
    let at_restart = stored_events(&db).await;
    produce(&broker.producer(), "restart", &onboardings("after", 25)); // 200 more, after the restart
    eventually(120, "all 1 001 events", || async { stored_events(&db).await >= 1_001 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored_events(&db).await, 1_001, "every event exactly once (restarted at {at_restart})");
    assert_eq!(count(addr, "status=completed").await, 125, "every onboarding completed");
    let (_, running) = get(addr, "/api/v1/instances?status=running&limit=5").await;
    assert_eq!(running.as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect::<Vec<_>>(), ["marker"], "only the marker waits");
}

/// `/readyz` reflects Kafka: a replica whose brokers do not answer is not ready and says so,
/// while it stays alive; the store alone does not make it ready.
#[tokio::test]
async fn a_replica_whose_brokers_do_not_answer_is_not_ready() {
    let dir = scratch("kafka-away");
    let mut s = settings(Db::Sqlite, &dir).await;
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    s.kafka.brokers = format!("127.0.0.1:{port}");
    s.kafka.topics = vec!["nowhere".into()];
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    eventually(20, "readiness to say Kafka does not answer", || async {
        let (status, body) = get(addr, "/readyz").await;
        status == 503 && body.to_string().contains("Kafka does not answer")
    })
    .await;
    assert_eq!(get(addr, "/healthz").await.0, 200, "alive all the same");
}
