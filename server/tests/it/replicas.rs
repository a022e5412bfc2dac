//! Flowlens under the failures and the scale-out of production, with real parts: a PostgreSQL
//! restarted while events stream in, and two replicas sharing one database and one consumer group.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::broker::{produce, Broker, Record};
use support::postgres::Postgres;
use support::traffic::{onboardings, STEPS};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn kafka_settings(database_url: String, broker: &Broker, topic: &str, group: &str, dir: &std::path::Path) -> flowlens::config::Settings {
    let mut s = settings(Db::Sqlite, dir).await;
    s.database_url = database_url;
    s.kafka.brokers = broker.address.clone();
    s.kafka.topics = vec![topic.to_string()];
    s.kafka.group = group.to_string();
    s
}

async fn sql_count(database_url: &str, sql: &str) -> i64 {
    use sqlx::{AnyConnection, Connection};
    let mut conn = AnyConnection::connect(database_url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

/// PostgreSQL stops (as in a crash) while a topic is being ingested and comes back later: the
/// server says it is not ready meanwhile, waits, resumes, and every event is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_while_ingesting_loses_nothing() {
    sqlx::any::install_default_drivers();
    let pg = Postgres::start();
    let broker = Broker::start().await;
    broker.create_topic("restart", 2).await;
    let customers = 500;
    let records = onboardings("pr", customers);
    let (first, second) = records.split_at(records.len() / 2);
    produce(&broker.producer(), "restart", first);

    let dir = scratch("pg-restart");
    let app = start(kafka_settings(pg.url(), &broker, "restart", "flowlens-pg-restart", &dir).await).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    eventually(60, "the first events to be stored", || async { stored_events(&pg.url()).await > 0 }).await;

    pg.crash();
    produce(&broker.producer(), "restart", second);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "not ready without its database: {body}");
    assert_eq!(get(addr, "/healthz").await.0, 200, "but alive");

    pg.up();
    let all = records.len() as i64;
    eventually(90, "every event after the restart", || async { stored_events(&pg.url()).await >= all }).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // anything redelivered has arrived by now
    assert_eq!(stored_events(&pg.url()).await, all, "nothing lost, nothing twice");
    let complete = format!("SELECT COUNT(*) FROM instances WHERE events = {}", STEPS.len());
    assert_eq!(sql_count(&pg.url(), &complete).await, customers as i64, "every instance has all its events");
    assert_eq!(get(addr, "/readyz").await.0, 200);
}

/// Follows a server's live stream as a page does; records each change's key and status.
fn follow(addr: SocketAddr) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET /api/v1/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut pending = String::new();
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            let Some(end) = pending.rfind('\n') else { continue };
            for line in pending[..end].lines() {
                let Some(data) = line.strip_prefix("data:") else { continue };
                if let Ok(change) = serde_json::from_str::<Value>(data.trim()) {
                    let key = change["summary"]["key"].as_str().unwrap_or_default().to_string();
                    let status = change["summary"]["status"].as_str().unwrap_or_default().to_string();
                    out.lock().unwrap().push((key, status));
                }
            }
            pending.drain(..=end);
        }
    });
    seen
}

/// A webhook receiver that answers 200 and counts the alerts per instance key.
async fn webhook() -> (u16, Arc<Mutex<HashMap<String, usize>>>) {
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = hook.local_addr().unwrap().port();
    let alerts = Arc::new(Mutex::new(HashMap::new()));
    let counted = alerts.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = hook.accept().await.unwrap();
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if let Some(body) = text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str::<Value>(b).ok()) {
                    *counted.lock().unwrap().entry(body["key"].as_str().unwrap_or_default().to_string()).or_insert(0) += 1;
                }
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
            });
        }
    });
    (port, alerts)
}

async fn partitions(addr: SocketAddr) -> usize {
    get(addr, "/api/v1/status").await.1["partitions"].as_array().map_or(0, Vec::len)
}

/// Two servers on one PostgreSQL database and one consumer group: the partitions are split between
/// them, a page open on either sees the changes of every instance (whichever replica ingested
/// it), and each instance's SLA escalation (alert and cancel) happens once, not once per replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_split_partitions_show_every_change_and_escalate_once() {
    sqlx::any::install_default_drivers();
    let broker = Broker::start().await;
    broker.create_topic("shared", 4).await;
    let (port, alerts) = webhook().await;
    let dir = scratch("replicas");
    let flows = onboarding_with_webhook(&dir, "5s", port);

    let url = fresh_postgres().await;
    let mut replicas = Vec::new();
    for name in ["a", "b"] {
        let mut s = kafka_settings(url.clone(), &broker, "shared", "flowlens-replicas", &dir.join(name)).await;
        s.flows = flows.clone();
        let app = start(s).await;
        replicas.push(app.local_addr());
        tokio::spawn(app.run());
    }
    let (a, b) = (replicas[0], replicas[1]);
    eventually(90, "the four partitions split between the replicas", || async {
        let (pa, pb) = (partitions(a).await, partitions(b).await);
        pa > 0 && pb > 0 && pa + pb == 4
    })
    .await;
    let (seen_a, seen_b) = (follow(a), follow(b));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Forty registrations, keyed over all partitions; nothing follows them, so each instance
    // passes its five-second SLA: an alert and a cancel each.
    let customers = 40;
    let records: Vec<Record> = (0..customers)
        .map(|c| {
            let key = format!("rep-{c}");
            (Some(key.clone()), vec![], json!({"id": format!("{key}-0"), "type": "RegistrationRequested", "data": {}}).to_string().into_bytes())
        })
        .collect();
    produce(&broker.producer(), "shared", &records);
    let keys: HashSet<String> = (0..customers).map(|c| format!("rep-{c}")).collect();
    let cancelled_on = |seen: &Arc<Mutex<Vec<(String, String)>>>| -> HashSet<String> {
        seen.lock().unwrap().iter().filter(|(_, s)| s == "cancelled").map(|(k, _)| k.clone()).collect()
    };
    let running_on = |seen: &Arc<Mutex<Vec<(String, String)>>>| -> HashSet<String> {
        seen.lock().unwrap().iter().filter(|(_, s)| s == "running").map(|(k, _)| k.clone()).collect()
    };
    eventually(60, "every instance registered, then cancelled, on both pages", || async {
        [&seen_a, &seen_b].iter().all(|s| running_on(s) == keys && cancelled_on(s) == keys)
    })
    .await;

    // Each replica ingested only its partitions' share, yet each page saw every instance.
    assert_eq!(sql_count(&url, "SELECT COUNT(*) FROM instances").await, customers as i64);

    tokio::time::sleep(Duration::from_secs(3)).await; // a second escalation would have happened by now
    let alerts = alerts.lock().unwrap().clone();
    assert_eq!(alerts.len(), customers, "an alert for every instance: {alerts:?}");
    assert!(alerts.values().all(|&n| n == 1), "one alert per instance, not one per replica: {alerts:?}");
    let cancels = sql_count(&url, "SELECT COUNT(*) FROM actions WHERE kind = 'cancel' AND actor = 'sla'").await;
    assert_eq!(cancels, customers as i64, "one cancel per instance");
    let webhooks = sql_count(&url, "SELECT COUNT(*) FROM actions WHERE kind = 'webhook'").await;
    assert_eq!(webhooks, customers as i64, "one alert in the audit trail per instance");
}
