//! What the black-box tests share: scratch directories, fresh stores, settings, a tiny HTTP client.
#![allow(dead_code)]

/// Runs each listed test once per store: `mod sqlite { fn test() }` and `mod postgres { fn test() }`
/// calling `test(Db::Sqlite)` and `test(Db::Postgres)`.
#[allow(unused_macros)]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Db::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Db::Postgres).await } )*
        }
    };
}

pub mod broker;
pub mod postgres;
pub mod tls;
pub mod traffic;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use std::path::PathBuf;

use flowlens::config::{AccessSettings, KafkaSettings, Settings};
use flowlens::startup::Application;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A scratch directory of this test's own, so tests share nothing and leave nothing behind that matters.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowlens-test-{}-{name}-{}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A new, empty PostgreSQL database. Databases left by test processes that are gone are dropped
/// first, so runs do not pile them up.
pub async fn fresh_postgres() -> String {
    use sqlx::{Connection, PgConnection};
    let admin = std::env::var("FLOWLENS_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} (set FLOWLENS_TEST_POSTGRES to another): {e}"));
    let old: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'flowlens_test_%'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for name in old {
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await;
        }
    }
    let name = format!("flowlens_test_{}_{}", std::process::id(), fastrand::u32(..));
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
    format!("{base}/{name}")
}

pub async fn settings(db: Db, dir: &std::path::Path) -> Settings {
    let database_url = match db {
        Db::Sqlite => format!("sqlite://{}", dir.join("flowlens.db").display()),
        Db::Postgres => fresh_postgres().await,
    };
    Settings {
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        database_url,
        flows: repo().join("flows"),
        site_root: dir.join("site"),
        demo: false,
        demo_interval: 1.0,
        demo_sign_in: false,
        discovery: true,
        hot_instances: flowlens_store::HOT_INSTANCES,
        log_format: "text".into(),
        access: AccessSettings {
            admin_password: Some(ADMIN_PASSWORD.into()),
            admin_credential_file: dir.join("admin.txt"),
            embed_origins: vec![],
            secure_cookies: false,
            metrics_token: None,
            metrics_loopback: true,
        },
        alerts: Default::default(),
        config: None,
        kafka: KafkaSettings { topics: vec![], ..KafkaSettings::default() },
    }
}

/// The first admin's password in every test app.
pub const ADMIN_PASSWORD: &str = "test-admin-password";
/// An admin bearer token every test app accepts; `call` sends it.
pub const TOKEN: &str = "flt_test-admin-token";

/// Builds the app and gives it the test token (as an admin would, through the store).
pub async fn start(s: Settings) -> Application {
    let app = Application::build(s).await.expect("the app starts");
    give_test_token(app.store()).await;
    app
}

/// Lets TOKEN in as an admin of this store (as an admin would, through the store), once.
pub async fn give_test_token(store: &flowlens_store::Store) {
    let hash = flowlens_service::digest(TOKEN);
    if store.token(&hash).await.unwrap().is_none() {
        store.create_token("tests", flowlens_core::Role::Admin, None, &hash, "tests", flowlens_store::now()).await.unwrap();
    }
}

/// The shipped onboarding flow's file, for tests to change.
pub fn onboarding() -> String {
    std::fs::read_to_string(repo().join("flows/customer-onboarding.toml")).unwrap()
}

/// `dir/flows`, holding these flow files (name, text).
pub fn flows_dir(dir: &std::path::Path, files: &[(&str, &str)]) -> PathBuf {
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    for (name, text) in files {
        std::fs::write(flows.join(name), text).unwrap();
    }
    flows
}

/// A flows directory holding the onboarding flow with its instance SLA set to `sla` (e.g. "5s")
/// and its breach alerts sent to a webhook on 127.0.0.1:`port`.
pub fn onboarding_with_webhook(dir: &std::path::Path, sla: &str, port: u16) -> PathBuf {
    let hooked = onboarding().replace("instance = \"4h\"", &format!("instance = \"{sla}\"\nwebhook = \"http://127.0.0.1:{port}/alerts\""));
    flows_dir(dir, &[("onboarding.toml", &hooked)])
}

pub async fn spawn_app(db: Db, name: &str) -> SocketAddr {
    let app = start(settings(db, &scratch(name)).await).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    addr
}

/// A minimal HTTP/1.1 exchange as the test admin, enough for JSON requests (no client library to build).
pub async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
    let (status, _, body) = exchange(addr, method, path, body, &[("Authorization", &format!("Bearer {TOKEN}"))]).await;
    (status, body)
}

/// The same with any headers (or none): status, response head, body.
pub async fn exchange(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or_default();
    let mut extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        extra.push_str("Content-Type: application/json\r\n");
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        extra.push_str(&format!("Host: {addr}\r\n"));
    }
    let head = format!(
        "{method} {path} HTTP/1.1\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // A server may answer (413) and close before a large body is all sent: read its answer anyway.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(_) if !response.is_empty() => break,
            Err(e) => panic!("no answer to {method} {path}: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").map(|(h, b)| (h.to_string(), b.to_string())).unwrap_or_default();
    (status, head, body)
}

/// A response's body as sent, put together if it came in chunks.
pub fn whole_body(head: &str, body: String) -> String {
    if head.to_lowercase().contains("transfer-encoding: chunked") { dechunk(&body) } else { body }
}

/// A chunked HTTP/1.1 body, put together.
pub fn dechunk(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

pub async fn post(addr: SocketAddr, body: &Value) -> (u16, Value) {
    let (status, text) = call(addr, "POST", "/api/v1/events", Some(body.to_string().as_bytes())).await;
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

pub async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, text) = call(addr, "GET", path, None).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Polls until `check` holds, for at most `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(secs), "gave up after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Events committed in the database at `database_url` (0 while it cannot be reached).
pub async fn stored_events(database_url: &str) -> i64 {
    use sqlx::{AnyConnection, Connection};
    sqlx::any::install_default_drivers();
    let Ok(mut conn) = AnyConnection::connect(database_url).await else { return 0 };
    sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut conn).await.unwrap_or(0)
}

/// The real `flowlens serve` on port 0 with these flags (and the known admin password), its
/// address read from its output; its output is drained so it never blocks.
pub fn serve_binary(flags: &[&str]) -> (std::process::Child, SocketAddr) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .args(["serve", "--port", "0"])
        .args(flags)
        .env("FLOWLENS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Logs share standard output; the address is on the line that says it listens.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server printed its address").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// Signs in with a form as a browser would; the session cookie (`name=value`), if one was set.
pub async fn sign_in(addr: SocketAddr, name: &str, password: &str) -> (u16, String, Option<String>) {
    let form = serde_urlencoded::to_string([("name", name), ("password", password), ("next", "/")]).unwrap();
    let (status, head, _) =
        exchange(addr, "POST", "/auth/login", Some(form.as_bytes()), &[("Content-Type", "application/x-www-form-urlencoded")]).await;
    let cookie = head
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie:"))
        .and_then(|l| l.split_once(':'))
        .and_then(|(_, c)| c.trim().split(';').next())
        .filter(|c| !c.ends_with('='))
        .map(str::to_string);
    (status, head, cookie)
}

/// Opens `/api/v1/stream{query}` with these headers and reads until the answer's head is in.
pub async fn open_stream(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let request = format!("GET /api/v1/stream{query} HTTP/1.1\r\nHost: {addr}\r\n{extra}Accept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[9..12], b"200", "the stream opened");
    stream
}


/// `/metrics` as a scraper on this machine reads it, parsed by a Prometheus text-format parser.
pub async fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let (status, head, body) = exchange(addr, "GET", "/metrics", None, &[]).await;
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(head.to_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    let body = whole_body(&head, body);
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

/// The sum of the samples of `metric` carrying these labels (0 when there is none): a counter,
/// gauge, or a histogram's `_count`/`_sum`.
pub fn metric(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value;
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}
