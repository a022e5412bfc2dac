//! Kafka ingest throughput, side by side in one run: the raw rdkafka consume rate of a topic, and
//! how fast Flowlens commits the same topic's events into SQLite and into PostgreSQL.
//!
//! `cargo bench -p flowlens --bench ingest` (or `scripts/bench`). FLOWLENS_BENCH_EVENTS sets the
//! number of events (default 100 000); FLOWLENS_TEST_POSTGRES the PostgreSQL server.

#[path = "../tests/support/broker.rs"]
#[allow(dead_code)]
mod broker;
#[path = "../tests/support/traffic.rs"]
mod traffic;

use std::time::{Duration, Instant};

use broker::{produce, Broker};
use flowlens::config::{KafkaSettings, Settings};
use flowlens::startup::Application;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sqlx::{AnyPool, Connection, PgConnection};

const TOPIC: &str = "bench-events";

fn main() {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(run());
}

async fn run() {
    if std::env::var("RUST_LOG").is_ok() {
        flowlens::startup::init_logging();
    }
    let events: usize = std::env::var("FLOWLENS_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let broker = Broker::start().await;
    broker.create_topic(TOPIC, 4).await;
    let records = traffic::onboardings("b", events / traffic::STEPS.len());
    let n = records.len();
    let started = Instant::now();
    produce(&broker.producer(), TOPIC, &records);
    println!("produced {n} onboarding events to a 4-partition topic in {:.2} s", started.elapsed().as_secs_f64());

    let raw = raw_consume(&broker, n).await;
    let dir = std::env::temp_dir().join(format!("flowlens-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = ingest(&broker, n, format!("sqlite://{}", dir.join("bench.db").display()), "sqlite").await;
    let postgres = ingest(&broker, n, fresh_postgres().await, "postgres").await;

    println!();
    println!("| what                                  | events/s | of raw consume |");
    println!("|---------------------------------------|---------:|---------------:|");
    println!("| raw rdkafka consume (no processing)   | {:>8.0} |          100 % |", raw);
    println!("| Flowlens ingest, committed: SQLite    | {:>8.0} | {:>12.0} % |", sqlite, 100.0 * sqlite / raw);
    println!("| Flowlens ingest, committed: PostgreSQL| {:>8.0} | {:>12.0} % |", postgres, 100.0 * postgres / raw);
    let _ = std::fs::remove_dir_all(dir);
}

async fn raw_consume(broker: &Broker, n: usize) -> f64 {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.address)
        .set("group.id", "bench-raw")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    // The clock starts at the first message, so joining the group is not counted.
    consumer.recv().await.unwrap();
    let started = Instant::now();
    for _ in 1..n {
        consumer.recv().await.unwrap();
    }
    (n - 1) as f64 / started.elapsed().as_secs_f64()
}

/// Starts Flowlens on a fresh store, consuming the topic with a new group, and times until every
/// event is committed in the database.
async fn ingest(broker: &Broker, n: usize, database_url: String, name: &str) -> f64 {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let settings = Settings {
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        database_url: database_url.clone(),
        flows: repo.join("flows"),
        site_root: repo.join("target/site"),
        demo: false,
        demo_interval: 1.0,
        demo_sign_in: false,
        access: flowlens::config::AccessSettings {
            admin_password: Some("bench-admin-password".into()),
            admin_credential_file: std::env::temp_dir().join("flowlens-bench-admin.txt"),
            embed_origins: vec![],
            secure_cookies: false,
        },
        kafka: KafkaSettings { brokers: broker.address.clone(), topics: vec![TOPIC.into()], group: format!("bench-{name}") },
    };
    let app = Application::build(settings).await.unwrap();
    let started = Instant::now();
    let server = tokio::spawn(app.run());
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&database_url).await.unwrap();
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&pool).await.unwrap();
        if stored as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    server.abort();
    rate
}

async fn fresh_postgres() -> String {
    let admin = std::env::var("FLOWLENS_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = PgConnection::connect(&admin).await.expect("PostgreSQL");
    let name = format!("flowlens_bench_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}
