//! Flowlens's figures, measured side by side in one run and printed with their targets:
//!
//! 1. ingest: the raw rdkafka consume rate of a topic of onboarding events (one in four with
//!    rework), each store's ceiling (the same topic appended as plain rows in the same batches),
//!    and how fast Flowlens commits the same topic into SQLite and into PostgreSQL, against it;
//! 2. push: produce-to-page latency (p50, p99) at 10 000 events/s with 200 pages open, half list
//!    pages, half instance pages, each a server-sent-events stream of what that page shows;
//! 3. reads: instance-list (every filter, page 1 000 by cursor), overview (1 h, 24 h, 7 d, an
//!    absolute month), instance-page (500 events) and discovery response times (p50, p95) over
//!    HTTP with 10 M instances and 100 M events in the store, on SQLite and on PostgreSQL;
//! 4. replay: `flowlens replay` of a 1 M-event CSV log into SQLite, end to end;
//! 5. the cost of keeping discovery at ingest (SQLite with it and without it);
//! 6. the server's peak RSS during each;
//! 7. the browser app's size gzipped, and the overview's first load in headless Chromium.
//!
//! The server is the real `flowlens` binary in its own process (so its memory is its own), talking
//! to a real Kafka-protocol broker (tansu) and real databases.
//!
//!     cargo bench -p flowlens --bench flowlens      (or scripts/bench)
//!
//! FLOWLENS_BENCH_EVENTS (default 400 000) sets the ingest topic's size, FLOWLENS_BENCH_INSTANCES
//! (default 10 000 000, ten events each) the read store's, FLOWLENS_BENCH_PUSH_SECONDS (default 21)
//! the push run's length and FLOWLENS_BENCH_PUSH_RATE (default 10 000 events/s) its rate;
//! FLOWLENS_BENCH_REPLAY (default 1 000 000) the replayed log's; FLOWLENS_TEST_POSTGRES the
//! PostgreSQL server; FLOWLENS_BENCH_ONLY=ingest,push,reads,replay,bundle a subset.

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code, unused_macros)]
mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowlens_store::Store;
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use serde_json::json;
use sqlx::AnyPool;
use support::broker::{produce, send, Broker, Record};
use support::traffic;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const INGEST_TOPIC: &str = "bench-events";
const PUSH_TOPIC: &str = "bench-push";
const FLOW: &str = "customer-onboarding";
const PUSH_RATE: u64 = 10_000;
/// Every how many onboardings one reworks its address check, in the ingest topic.
const REWORK_EVERY: usize = 4;
/// The server consumes in batches of this many events (`server/src/kafka/consumer.rs`).
const INGEST_BATCH: usize = 1_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn wanted(part: &str) -> bool {
    std::env::var("FLOWLENS_BENCH_ONLY").map(|v| v.split(',').any(|p| p.trim() == part)).unwrap_or(true)
}

/// One line of the summary.
struct Figure {
    what: String,
    value: String,
    target: String,
    met: Option<bool>,
}

fn figure(what: impl Into<String>, value: impl Into<String>, target: impl Into<String>, met: Option<bool>) -> Figure {
    Figure { what: what.into(), value: value.into(), target: target.into(), met }
}

fn rss_figure(phase: &str, kib: u64) -> Figure {
    figure(format!("{phase}: server peak RSS"), format!("{:.0} MB", kib as f64 / 1024.0), "≤ 256 MB", Some(kib <= 256 * 1024))
}

fn main() {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(run());
}

async fn run() {
    sqlx::any::install_default_drivers();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("Flowlens bench on {cores} cores; the server is the release binary in its own process.");
    let mut figures = Vec::new();
    let scratch = support::scratch("bench");
    if wanted("ingest") || wanted("push") {
        let broker = Broker::start().await;
        if wanted("ingest") {
            figures.extend(ingest(&broker, &scratch).await);
        }
        if wanted("push") {
            figures.extend(push(&broker, &scratch).await);
        }
    }
    if wanted("replay") {
        figures.extend(replay(&scratch).await);
    }
    if wanted("bundle") {
        figures.extend(bundle());
    }
    if wanted("reads") {
        let n: usize = env_or("FLOWLENS_BENCH_INSTANCES", 10_000_000);
        figures.extend(reads("SQLite", &format!("sqlite://{}", scratch.join("reads.db").display()), n, &scratch).await);
        figures.extend(reads("PostgreSQL", &support::fresh_postgres().await, n, &scratch).await);
    }
    let _ = std::fs::remove_dir_all(&scratch);

    println!();
    let width = figures.iter().map(|f| f.what.chars().count()).max().unwrap_or(10);
    println!("| {:<width$} | {:>22} | {:>14} | met |", "figure", "measured", "target");
    println!("|-{:-<width$}-|-{:->22}-|-{:->14}-|-----|", "", "", "");
    for f in &figures {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("| {:<width$} | {:>22} | {:>14} | {met:>3} |", f.what, f.value, f.target);
    }
}

/// The real server, in its own process, on a store prepared with the bench's admin token.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(database_url: &str, kafka: Option<(&str, &str, &str)>, extra: &[&str], dir: &std::path::Path) -> Server {
        // Open the store once first: it migrates, and the bench's token goes in.
        let flows = flowlens::startup::load_flows(&support::repo().join("flows")).unwrap();
        support::give_test_token(&Store::open(database_url, flows).await.unwrap()).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowlens"));
        cmd.arg("serve")
            .args(["--port", &port.to_string(), "--database-url", database_url])
            .arg("--flows")
            .arg(support::repo().join("flows"))
            .args(["--demo-sign-in", "false", "--admin-password", "bench-admin-password"])
            .arg("--admin-credential-file")
            .arg(dir.join("admin.txt"))
            .args(extra)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null());
        if let Some((brokers, topic, group)) = kafka {
            cmd.args(["--kafka-brokers", brokers, "--kafka-topics", topic, "--kafka-group", group]);
        }
        let child = cmd.spawn().expect("the flowlens binary starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let server = Server { child, addr };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() && support::call(addr, "GET", "/readyz", None).await.0 == 200 {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not become ready on {addr}");
    }

    /// The most memory the process has held so far (VmHWM), in KiB.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Ingest

async fn ingest(broker: &Broker, dir: &std::path::Path) -> Vec<Figure> {
    let events: usize = env_or("FLOWLENS_BENCH_EVENTS", 400_000);
    broker.create_topic(INGEST_TOPIC, 4).await;
    // One customer in four reworks its address check: nine events an onboarding on average.
    let customers = events / (traffic::STEPS.len() + 1);
    let records = traffic::onboardings_with_rework("b", customers, REWORK_EVERY);
    let n = records.len();
    let started = Instant::now();
    produce(&broker.producer(), INGEST_TOPIC, &records);
    println!("ingest: produced {n} onboarding events ({customers} instances, one in {REWORK_EVERY} with rework) to a 4-partition topic in {:.1} s", started.elapsed().as_secs_f64());

    let raw = raw_consume(broker, n).await;
    println!("ingest: raw rdkafka consume {raw:.0} events/s");
    let sqlite_ceiling = ceiling(broker, n, &format!("sqlite://{}", dir.join("ceiling.db").display()), "sqlite").await;
    println!("ingest: SQLite store ceiling {sqlite_ceiling:.0} events/s");
    let postgres_ceiling = ceiling(broker, n, &support::fresh_postgres().await, "postgres").await;
    println!("ingest: PostgreSQL store ceiling {postgres_ceiling:.0} events/s");
    let (sqlite, sqlite_rss) = committed(broker, n, &format!("sqlite://{}", dir.join("ingest.db").display()), "sqlite", &[], dir).await;
    println!("ingest: SQLite {sqlite:.0} events/s committed");
    let no_discovery = format!("sqlite://{}", dir.join("ingest-no-discovery.db").display());
    let (bare, _) = committed(broker, n, &no_discovery, "sqlite-no-discovery", &["--discovery", "false"], dir).await;
    println!("ingest: SQLite without discovery {bare:.0} events/s committed");
    let cost = 100.0 * (1.0 - sqlite / bare);
    let (postgres, postgres_rss) = committed(broker, n, &support::fresh_postgres().await, "postgres", &[], dir).await;
    println!("ingest: PostgreSQL {postgres:.0} events/s committed");
    let against = |rate: f64, ceiling: f64| format!("{rate:.0} ev/s = {:.0} % of ceiling", 100.0 * rate / ceiling);
    vec![
        figure(format!("ingest: raw rdkafka consume, {n} events"), format!("{raw:.0} ev/s"), "", None),
        figure("ingest: SQLite store ceiling (plain rows, same batches)", format!("{sqlite_ceiling:.0} ev/s"), "", None),
        figure("ingest: committed into SQLite", against(sqlite, sqlite_ceiling), "≥ 100 000, ≥ 50 %", Some(sqlite >= 100_000.0 && sqlite >= 0.5 * sqlite_ceiling)),
        rss_figure("ingest into SQLite", sqlite_rss),
        figure("ingest: cost of keeping discovery (SQLite)", format!("{cost:.1} % ({bare:.0} ev/s without)"), "< 15 %", Some(cost < 15.0)),
        figure("ingest: PostgreSQL store ceiling (plain rows, same batches)", format!("{postgres_ceiling:.0} ev/s"), "", None),
        figure("ingest: committed into PostgreSQL", against(postgres, postgres_ceiling), "≥ 60 000, ≥ 50 %", Some(postgres >= 60_000.0 && postgres >= 0.5 * postgres_ceiling)),
        rss_figure("ingest into PostgreSQL", postgres_rss),
    ]
}

/// The store's ceiling: the same topic consumed in batches of the server's size, each appended
/// as plain rows (message key and offset, the payload) in one transaction through the store's
/// own connections, and nothing else; timed like [`committed`], from the first batch to the last.
async fn ceiling(broker: &Broker, n: usize, database_url: &str, name: &str) -> f64 {
    let store = Store::open(database_url, flowlens::startup::load_flows(&support::repo().join("flows")).unwrap()).await.unwrap();
    store.make_plain_for_bench().await.unwrap();
    let consumer = broker.consumer(&format!("bench-ceiling-{name}"), &[INGEST_TOPIC]);
    let mut started = None;
    let mut taken = 0;
    while taken < n {
        let mut rows = Vec::with_capacity(INGEST_BATCH);
        while rows.len() < INGEST_BATCH && taken < n {
            let m = consumer.recv().await.unwrap();
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let id = format!("{}/{}/{}", m.topic(), m.partition(), m.offset());
            let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            rows.push((id, key, "event".to_string(), m.timestamp().to_millis().unwrap_or(0), payload));
            taken += 1;
        }
        started.get_or_insert_with(Instant::now);
        store.append_plain_for_bench(&rows).await.unwrap();
    }
    n as f64 / started.unwrap().elapsed().as_secs_f64()
}

/// Consumes the whole topic doing nothing with the messages but touching their bytes, timed from
/// the first message to the last (joining the group is not counted).
async fn raw_consume(broker: &Broker, n: usize) -> f64 {
    let consumer = broker.consumer("bench-raw", &[INGEST_TOPIC]);
    consumer.recv().await.unwrap();
    let started = Instant::now();
    let mut bytes = 0usize;
    for _ in 1..n {
        bytes += consumer.recv().await.unwrap().payload().map_or(0, <[u8]>::len);
    }
    std::hint::black_box(bytes);
    (n - 1) as f64 / started.elapsed().as_secs_f64()
}

/// Starts the server on a fresh store consuming the topic with a new group, and times from the
/// first committed event to the last (joining the group is not counted, as for the raw rate).
async fn committed(broker: &Broker, n: usize, database_url: &str, name: &str, extra: &[&str], dir: &std::path::Path) -> (f64, u64) {
    let server = Server::start(database_url, Some((&broker.address, INGEST_TOPIC, &format!("bench-{name}"))), extra, dir).await;
    let pool = AnyPool::connect(database_url).await.unwrap();
    let count = || async { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events").fetch_one(&pool).await.unwrap() as usize };
    let (first, started) = loop {
        let stored = count().await;
        if stored > 0 {
            break (stored, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut last_report = Instant::now();
    loop {
        let stored = count().await;
        if stored >= n {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!("ingest: {name}: {stored} of {n} committed");
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rate = (n - first) as f64 / started.elapsed().as_secs_f64();
    (rate, server.peak_rss())
}

// ---------------------------------------------------------------------------------------------
// Push

/// Steps produced in the timed push run: step 0 of every onboarding is produced before it.
const PUSH_STEPS: u64 = 7;
/// Open pages during the push run: half list pages, half instance pages (FLOWLENS_BENCH_LIST_PAGES
/// and FLOWLENS_BENCH_INSTANCE_PAGES change that, to see what each costs).
const LIST_PAGES: usize = 100;
const INSTANCE_PAGES: usize = 100;
/// The list pages' filters, a quarter of the pages each.
const LIST_FILTERS: [&str; 4] = ["", "&status=running", "&node=Address%20check", "&status=completed"];

/// Which onboarding event the `k`-th of the timed run is: `PUSH_RATE` customers at a time, one
/// step each per second, so every event changes its own instance and each change can be seen.
fn push_event(k: u64, rate: u64) -> (u64, usize) {
    let wave = k / (PUSH_STEPS * rate);
    let customer = k % rate + rate * wave;
    let step = 1 + ((k / rate) % PUSH_STEPS) as usize;
    (customer, step)
}

/// The inverse: which event of the run made customer's instance reach `events` events.
fn push_index(customer: u64, events: u32, rate: u64) -> Option<u64> {
    let step = u64::from(events).checked_sub(1).filter(|s| (1..=PUSH_STEPS).contains(s))?;
    Some((customer / rate) * PUSH_STEPS * rate + (step - 1) * rate + customer % rate)
}

/// An onboarding event whose id carries when it was produced, in microseconds since `zero`.
fn push_record(customer: u64, step: usize, zero: Instant) -> Record {
    let key = format!("pk-{customer}");
    let id = format!("push-{}-{customer}-{step}", zero.elapsed().as_micros());
    let event = json!({
        "specversion": "1.0", "id": id, "type": traffic::STEPS[step], "source": "/bench",
        "time": flowlens_store::now().to_rfc3339(), "data": { "customerId": key },
    });
    (Some(key), vec![("content-type".into(), b"application/cloudevents+json".to_vec())], event.to_string().into_bytes())
}

/// What a page saw: a change it shows, how long after it was produced, and on which kind of page.
struct Seen {
    list: bool,
    latency: Duration,
}

async fn push(broker: &Broker, dir: &std::path::Path) -> Vec<Figure> {
    let seconds: u64 = env_or("FLOWLENS_BENCH_PUSH_SECONDS", 21);
    let rate: u64 = env_or("FLOWLENS_BENCH_PUSH_RATE", PUSH_RATE);
    let (list_pages, instance_pages): (usize, usize) = (env_or("FLOWLENS_BENCH_LIST_PAGES", LIST_PAGES), env_or("FLOWLENS_BENCH_INSTANCE_PAGES", INSTANCE_PAGES));
    let total = rate * seconds;
    let customers = rate * seconds.div_ceil(PUSH_STEPS);
    broker.create_topic(PUSH_TOPIC, 4).await;
    let server = Server::start(&format!("sqlite://{}", dir.join("push.db").display()), Some((&broker.address, PUSH_TOPIC, "bench-push")), &[], dir).await;
    let addr = server.addr;
    let zero = Instant::now();

    // Every onboarding of the run starts first, so instance pages can be opened on some of them.
    println!("push: starting {customers} onboardings before the timed run");
    let producer = Arc::new(broker.producer());
    let starts: Vec<Record> = (0..customers).map(|c| push_record(c, 0, zero)).collect();
    produce(&producer, PUSH_TOPIC, &starts);
    let followed: Vec<u64> = (0..instance_pages as u64).map(|i| i * customers / instance_pages as u64).collect();
    let mut ids = Vec::new();
    for &c in &followed {
        ids.push(instance_id(addr, &format!("pk-{c}")).await);
    }
    let auth = format!("Bearer {}", support::TOKEN);
    loop {
        let (_, body) = support::call(addr, "GET", &format!("/api/v1/instances?key=pk-{}", customers - 1), None).await;
        if body.contains("\"id\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // When each event of the timed run went out, in microseconds since `zero` (0: not yet).
    let produced: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new((0..total).map(|_| Default::default()).collect());
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<Seen>();
    let bytes = Arc::new([std::sync::atomic::AtomicU64::new(0), std::sync::atomic::AtomicU64::new(0)]);
    let mut pages = Vec::new();
    for p in 0..list_pages {
        let path = format!("/api/v1/stream?view=list&flow={FLOW}{}", LIST_FILTERS[p % LIST_FILTERS.len()]);
        let (seen, produced, bytes, auth) = (seen_tx.clone(), produced.clone(), bytes.clone(), auth.clone());
        pages.push(tokio::spawn(async move {
            read_stream(addr, &path, &auth, &bytes[0], |event, data| {
                if event != "rows" {
                    return;
                }
                let Ok(frame) = serde_json::from_str::<serde_json::Value>(data) else { return };
                for row in frame["rows"].as_array().into_iter().flatten() {
                    let customer = row["key"].as_str().and_then(|k| k.strip_prefix("pk-")).and_then(|c| c.parse().ok());
                    let events = row["events"].as_u64().map(|e| e as u32);
                    let Some(k) = customer.zip(events).and_then(|(c, e)| push_index(c, e, rate)) else { continue };
                    let at = produced.get(k as usize).map_or(0, |a| a.load(std::sync::atomic::Ordering::Relaxed));
                    if at > 0 {
                        let _ = seen.send(Seen { list: true, latency: zero.elapsed().saturating_sub(Duration::from_micros(at)) });
                    }
                }
            })
            .await
        }));
    }
    for id in &ids {
        let path = format!("/api/v1/stream?instance={id}");
        let (seen, bytes, auth) = (seen_tx.clone(), bytes.clone(), auth.clone());
        pages.push(tokio::spawn(async move {
            read_stream(addr, &path, &auth, &bytes[1], |event, data| {
                // The event's identity is its source and id: "/bench push-{micros}-{customer}-{step}".
                const MARK: &str = "\"event\":{\"id\":\"/bench push-";
                let Some(at) = data.find(MARK).filter(|_| event == "instance") else { return };
                let id: String = data[at + MARK.len()..].chars().take_while(|c| *c != '"').collect();
                let mut parts = id.split('-');
                let micros = parts.next().and_then(|m| m.parse::<u64>().ok());
                // The starts were produced before the run: only the run's events count.
                if let (Some(m), Some(step)) = (micros, parts.nth(1)) {
                    if step != "0" {
                        let _ = seen.send(Seen { list: false, latency: zero.elapsed().saturating_sub(Duration::from_micros(m)) });
                    }
                }
            })
            .await
        }));
    }
    drop(seen_tx);
    // Every page's stream is open before the run starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let opened = bytes.iter().map(|b| b.load(std::sync::atomic::Ordering::Relaxed)).collect::<Vec<_>>();

    println!("push: producing {rate} events/s for {seconds} s; {list_pages} list pages and {instance_pages} instance pages open");
    let paced = producer.clone();
    let marks = produced.clone();
    let started = Instant::now();
    let producing = tokio::task::spawn_blocking(move || {
        let mut behind = Duration::ZERO;
        for k in 0..total {
            // Evenly spaced: event k goes out at k / rate seconds.
            let due = started + Duration::from_micros(k * 1_000_000 / rate);
            match due.checked_duration_since(Instant::now()) {
                Some(wait) => std::thread::sleep(wait),
                None => behind = behind.max(due.elapsed()),
            }
            let (customer, step) = push_event(k, rate);
            let record = push_record(customer, step, zero);
            marks[k as usize].store(zero.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
            // The producer's queue is large; full, it would mean the broker is not keeping up.
            assert!(send(&paced, PUSH_TOPIC, &record), "the producer's queue is full");
            paced.poll(Duration::ZERO);
        }
        paced.flush(Duration::from_secs(30)).unwrap();
        behind
    });
    let (mut list, mut instance) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds + 10);
    // The followed instances' events in the run (the last wave may end early).
    let expected = followed.iter().map(|&c| (2..=PUSH_STEPS as u32 + 1).filter(|&e| push_index(c, e, rate).is_some_and(|k| k < total)).count()).sum::<usize>();
    while tokio::time::Instant::now() < deadline && instance.len() < expected || started.elapsed() < Duration::from_secs(seconds + 2) {
        match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
            Ok(Some(seen)) => {
                let ms = seen.latency.as_secs_f64() * 1000.0;
                if seen.list { list.push(ms) } else { instance.push(ms) }
            }
            _ => break,
        }
    }
    let behind = producing.await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    for page in pages {
        page.abort();
    }
    let per_page_kbs = |i: usize, pages: usize| (bytes[i].load(std::sync::atomic::Ordering::Relaxed) - opened[i]) as f64 / 1024.0 / elapsed / pages as f64;
    let (list_kbs, instance_kbs) = (per_page_kbs(0, list_pages), per_page_kbs(1, instance_pages));
    list.sort_by(f64::total_cmp);
    instance.sort_by(f64::total_cmp);
    let mut all: Vec<f64> = list.iter().chain(&instance).copied().collect();
    all.sort_by(f64::total_cmp);
    let p = |v: &[f64], q: f64| percentile(v, q);
    println!(
        "push: instance pages saw {} of {expected} changes, p50 {:.1} p99 {:.1} ms; list pages saw {} rows, p50 {:.1} p99 {:.1} ms; producer at most {:.0} ms behind",
        instance.len(), p(&instance, 0.5), p(&instance, 0.99), list.len(), p(&list, 0.5), p(&list, 0.99), behind.as_secs_f64() * 1000.0
    );
    println!("push: each list page got {list_kbs:.1} KB/s, each instance page {instance_kbs:.2} KB/s");
    let label = format!("push at {rate} ev/s, {} pages", list_pages + instance_pages);
    vec![
        figure(format!("{label}: produce → page p50"), format!("{:.1} ms", p(&all, 0.5)), "", None),
        figure(
            format!("{label}: produce → page p99 ({} changes seen)", all.len()),
            format!("{:.1} ms", p(&all, 0.99)),
            "≤ 100 ms",
            Some(p(&all, 0.99) <= 100.0 && instance.len() == expected),
        ),
        figure(format!("{label}: instance pages p99 ({} of {expected})", instance.len()), format!("{:.1} ms", p(&instance, 0.99)), "", None),
        figure(format!("{label}: list pages p99 ({} rows)", list.len()), format!("{:.1} ms", p(&list, 0.99)), "", None),
        figure(format!("{label}: sent to each list / instance page"), format!("{list_kbs:.1} / {instance_kbs:.2} KB/s"), "", None),
        rss_figure("push", server.peak_rss()),
    ]
}

/// The id of the instance of `key`, once the server has it.
async fn instance_id(addr: SocketAddr, key: &str) -> i64 {
    for _ in 0..600 {
        let (_, body) = support::call(addr, "GET", &format!("/api/v1/instances?key={key}"), None).await;
        let page: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if let Some(id) = page["rows"].get(0).or_else(|| page.get(0)).and_then(|r| r["id"].as_i64()) {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no instance of {key} within a minute");
}

/// Reads server-sent events as a browser's EventSource does (a message ends at a blank line; its
/// `event:` and `data:` lines say what it is), calling `each` with every message's kind and data,
/// and counting the bytes that came.
async fn read_stream(addr: SocketAddr, path: &str, auth: &str, bytes: &std::sync::atomic::AtomicU64, mut each: impl FnMut(&str, &str)) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: {auth}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut pending = String::new();
    let (mut event, mut data) = (String::new(), String::new());
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        bytes.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        // Whole lines only; a line cut by the read waits for its rest.
        let Some(end) = pending.rfind('\n') else { continue };
        for line in pending[..end + 1].lines() {
            // A chunked body's size lines are not part of the stream; neither is the response head.
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            } else if line.is_empty() && !data.is_empty() {
                each(&event, &data);
                event.clear();
                data.clear();
            }
        }
        pending.drain(..=end);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// Reads

const RUNS: usize = 60;

async fn reads(name: &str, database_url: &str, n: usize, dir: &std::path::Path) -> Vec<Figure> {
    println!("reads: seeding {name} with {n} instances and {} events (one day of traffic)…", n * 10);
    let flows = flowlens::startup::load_flows(&support::repo().join("flows")).unwrap();
    let store = Store::open(database_url, flows).await.unwrap();
    let started = Instant::now();
    store.seed_for_bench(n, flowlens_store::now()).await.unwrap();
    println!("reads: seeded {name} in {:.0} s", started.elapsed().as_secs_f64());
    // Discovery's sums of the seeded events, computed from them as a store from before
    // discovery would be when it opens.
    let started = Instant::now();
    store.rebuild_discovery().await.unwrap();
    let rebuilt = started.elapsed().as_secs_f64();
    println!("reads: {name}: discovery computed from {} events in {rebuilt:.0} s", n * 10);
    drop(store);
    let server = Server::start(database_url, None, &[], dir).await;
    let addr = server.addr;

    // One instance with 500 events: an address check that failed and was corrected 124 times.
    let mut long = vec![json!({"type": "RegistrationRequested", "key": "long-1"})];
    for _ in 0..124 {
        for t in ["AddressCheckRequested", "AddressCheckFailed", "AddressCorrectionRequested", "AddressCorrected"] {
            long.push(json!({"type": t, "key": "long-1"}));
        }
    }
    for t in ["AddressCheckRequested", "AddressChecked", "CreditCheckRequested"] {
        long.push(json!({"type": t, "key": "long-1"}));
    }
    let body = serde_json::to_vec(&long).unwrap();
    let (status, report) = support::call(addr, "POST", "/api/v1/events", Some(&body)).await;
    assert_eq!(status, 200, "{report}");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let long_id = report["instances"][0]["id"].as_i64().expect("the long instance");

    // Page 1 000 of the default list, reached by following the cursors.
    let mut deep = "/api/v1/instances".to_string();
    for _ in 0..999 {
        let (_, head, _) = support::exchange(addr, "GET", &deep, None, &[("Authorization", &format!("Bearer {}", support::TOKEN))]).await;
        let cursor = head.lines().find_map(|l| l.strip_prefix("x-next-cursor: ")).expect("a next page").trim().to_string();
        deep = format!("/api/v1/instances?after={cursor}");
    }
    let shapes: Vec<(&str, String)> = vec![
        ("list: all, recently updated", "/api/v1/instances".into()),
        ("list: running", "/api/v1/instances?status=running".into()),
        ("list: stuck (SLA overdue)", "/api/v1/instances?sla=overdue".into()),
        ("list: waiting at the address check", "/api/v1/instances?node=Address%20check".into()),
        ("list: one key", "/api/v1/instances?key=c-777777".into()),
        ("list: page 1 000 by keyset cursor", deep),
        ("overview: last hour", format!("/api/v1/flows/{FLOW}/overview?range=1h")),
        ("overview: last 24 hours", format!("/api/v1/flows/{FLOW}/overview?range=24h")),
        ("overview: last 7 days", format!("/api/v1/flows/{FLOW}/overview?range=7d")),
        ("overview: an absolute month", {
            let day = |ms: i64| flowlens_core::Millis(ms).to_rfc3339()[..10].to_string();
            let now = flowlens_store::now().0;
            format!("/api/v1/flows/{FLOW}/overview?range={}..{}", day(now - 30 * 86_400_000), day(now))
        }),
        ("instance page: 500 events", format!("/api/v1/instances/{long_id}")),
        ("discovery: all cases", format!("/api/v1/flows/{FLOW}/discovery")),
        ("discovery: cases of one day", {
            let today = flowlens_store::now().to_rfc3339()[..10].to_string();
            format!("/api/v1/flows/{FLOW}/discovery?range={today}..{today}")
        }),
    ];
    let mut figures = vec![figure(format!("{name} discovery computed from {} events (once)", n * 10), format!("{rebuilt:.0} s"), "", None)];
    for (label, path) in shapes {
        let (status, body) = support::call(addr, "GET", &path, None).await; // warm
        assert_eq!(status, 200, "{path}: {body}");
        let mut ms = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            let (status, _) = support::call(addr, "GET", &path, None).await;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 200);
        }
        ms.sort_by(f64::total_cmp);
        let (p50, p95) = (percentile(&ms, 0.5), percentile(&ms, 0.95));
        println!("reads: {name}: {label}: p50 {p50:.2} ms, p95 {p95:.2} ms");
        figures.push(figure(format!("{name} {label}"), format!("p50 {p50:.1} / p95 {p95:.1} ms"), "p95 ≤ 20 ms", Some(p95 <= 20.0)));
    }
    figures.push(rss_figure(&format!("{name} reads"), server.peak_rss()));
    figures
}

// ---------------------------------------------------------------------------------------------
// Replay

/// Writes a CSV log of onboardings (eight events a case) and times `flowlens replay` of it into a
/// fresh SQLite store: both passes, as a person runs it.
async fn replay(dir: &std::path::Path) -> Vec<Figure> {
    let events: usize = env_or("FLOWLENS_BENCH_REPLAY", 1_000_000);
    let log = dir.join("onboarding-log.csv");
    let mut csv = String::with_capacity(events * 64);
    csv.push_str("case:concept:name,concept:name,time:timestamp\n");
    let t0 = 1_560_000_000_000i64;
    for i in 0..events {
        let (case, step) = (i / traffic::STEPS.len(), i % traffic::STEPS.len());
        let at = flowlens_core::Millis(t0 + case as i64 * 7_000 + step as i64 * 60_000).to_rfc3339();
        csv.push_str(&format!("r-{case},{},{at}\n", traffic::STEPS[step]));
    }
    std::fs::write(&log, csv).unwrap();
    let url = format!("sqlite://{}", dir.join("replay.db").display());
    println!("replay: {events} events in a {} MB CSV", std::fs::metadata(&log).unwrap().len() / 1_000_000);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .arg("replay")
        .arg(&log)
        .args(["--database-url", &url, "--flows"])
        .arg(support::repo().join("flows"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    println!("replay: {}", String::from_utf8_lossy(&out.stdout).trim());
    let rate = events as f64 / seconds;
    vec![figure(format!("replay: {events}-event CSV into SQLite"), format!("{seconds:.0} s = {rate:.0} ev/s"), "≤ 30 s", Some(seconds <= 30.0))]
}

// ---------------------------------------------------------------------------------------------
// Bundle

/// The browser app as the server sends it (the gzipped files `scripts/build` writes), and the
/// overview's first load in headless Chromium (`end2end/first-load.mjs`: a fresh profile each
/// time, navigation until hydrated) against the release server.
fn bundle() -> Vec<Figure> {
    let site = std::env::var("FLOWLENS_SITE_ROOT").map(std::path::PathBuf::from).unwrap_or_else(|_| support::repo().join("target/site"));
    let sizes: Vec<Option<u64>> =
        ["flowlens.wasm.gz", "flowlens.js.gz", "flowlens.css.gz"].iter().map(|f| std::fs::metadata(site.join("pkg").join(f)).ok().map(|m| m.len())).collect();
    let mut figures = Vec::new();
    match sizes.iter().copied().collect::<Option<Vec<u64>>>() {
        Some(sizes) => {
            let total: u64 = sizes.iter().sum();
            let kb = |b: u64| b as f64 / 1024.0;
            figures.push(figure(
                "bundle: browser app gzipped (wasm + JS + CSS)",
                format!("{:.0} KB ({:.0} + {:.0} + {:.0})", kb(total), kb(sizes[0]), kb(sizes[1]), kb(sizes[2])),
                "≤ 350 KB",
                Some(total <= 350 * 1024),
            ));
        }
        None => figures.push(figure("bundle: browser app gzipped", format!("not built in {} (scripts/build)", site.display()), "≤ 350 KB", Some(false))),
    }
    println!("bundle: timing the overview's first load in Chromium");
    let run = Command::new("node")
        .arg(support::repo().join("end2end/first-load.mjs"))
        .env("FLOWLENS_BIN", env!("CARGO_BIN_EXE_flowlens"))
        .env("FLOWLENS_SITE_ROOT", &site)
        .stderr(Stdio::inherit())
        .output();
    let measured = run.ok().filter(|o| o.status.success()).and_then(|o| {
        let line = String::from_utf8_lossy(&o.stdout).lines().last().map(str::to_string)?;
        serde_json::from_str::<serde_json::Value>(&line).ok()
    });
    figures.push(match measured {
        Some(m) => figure(
            format!("first load of the overview in Chromium, p50 of {} (max)", m["runs"]),
            format!("{} ms ({} ms), {:.0} KB", m["p50_ms"], m["max_ms"], m["bytes"].as_f64().unwrap_or(0.0) / 1024.0),
            "",
            None,
        ),
        None => figure("first load of the overview in Chromium", "not measured (node, end2end's packages, Chromium?)", "", Some(false)),
    });
    figures
}
