//! Kafka as companies run it, against a real Kafka-protocol broker (tansu): over TLS (a real
//! terminator, stunnel, with certificates made for the test), with SASL SCRAM-SHA-256 and -512,
//! with and without TLS (tansu as built here has no PLAIN). Through each, events come in and a retry command goes out. Wrong credentials, an
//! untrusted CA and an unreachable broker are told apart, in `/api/v1/status` and readiness.

use crate::support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use flowlens::config::KafkaSecurity;
use flowlens::kafka::Mechanism;
use rdkafka::message::Message;
use serde_json::json;
use support::broker::{produce, Broker, Record, Secured};
use support::tls::Certs;
use support::*;

async fn secured_app(broker_address: &str, name: &str, security: KafkaSecurity) -> SocketAddr {
    let mut s = settings(Db::Sqlite, &scratch(name)).await;
    s.kafka.brokers = broker_address.to_string();
    s.kafka.topics = vec!["onboarding-events".into()];
    s.kafka.group = format!("flowlens-{name}");
    s.kafka.security = security;
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    addr
}

fn event(key: &str, n: usize, ty: &str, data: serde_json::Value) -> Record {
    (Some(key.into()), vec![], json!({"id": format!("{key}-{n}"), "type": ty, "data": data}).to_string().into_bytes())
}

/// Events in through the broker, a retry command out through it, read back by a test client.
async fn round_trip(broker: &Broker, addr: SocketAddr, key: &str) {
    produce(&broker.producer(), "onboarding-events", &[
        event(key, 0, "RegistrationRequested", json!({})),
        event(key, 1, "CreditCheckRequested", json!({"customerId": key})),
    ]);
    eventually(30, "the instance, consumed through the secured connection", || async {
        get(addr, &format!("/api/v1/instances?key={key}")).await.1.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let id = get(addr, &format!("/api/v1/instances?key={key}")).await.1[0]["id"].as_i64().unwrap();
    let commands = broker.consumer(&format!("commands-{key}"), &["onboarding-commands"]);
    let (status, answer) = call(addr, "POST", &format!("/api/v1/instances/{id}/retry"), Some(br#"{"node": "credit"}"#)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(r#""result":"sent""#), "the command was produced through the secured connection: {answer}");
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), commands.recv()).await.expect("the retry command arrives").unwrap();
        let command: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        if command["flowlensretries"] == json!(key) || command["subject"] == json!(key) {
            assert_eq!(command["type"], "CheckCredit");
            break;
        }
    }
    let (status, _) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "ready once the brokers answered");
    assert_eq!(get(addr, "/api/v1/status").await.1["kafka_problem"], serde_json::Value::Null);
}

async fn topics(broker: &Broker) {
    broker.create_topic("onboarding-events", 2).await;
    broker.create_topic("onboarding-commands", 1).await;
}

fn secret_file(dir: &Path, name: &str, secret: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

/// The kind of problem `/api/v1/status` reports, once it reports one; readiness says it too.
async fn problem_kind(addr: SocketAddr, kind: &str) -> String {
    let mut seen = serde_json::Value::Null;
    for _ in 0..60 {
        seen = get(addr, "/api/v1/status").await.1["kafka_problem"].clone();
        if seen["kind"] == kind {
            let (status, why) = call(addr, "GET", "/readyz", None).await;
            assert_eq!(status, 503, "{why}");
            return seen["message"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("expected a `{kind}` problem in /api/v1/status, saw {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_over_tls_carries_events_in_and_commands_out() {
    let dir = scratch("kafka-tls");
    let certs = Certs::new(&dir.join("certs"), &["localhost", "127.0.0.1"]);
    let broker = Broker::start_secured(Secured { tls: Some(&certs), ..Secured::default() }).await;
    topics(&broker).await;
    let addr = secured_app(&broker.address, "kafka-tls", KafkaSecurity { ca_file: Some(certs.ca.clone()), tls_verify_hostname: true, ..KafkaSecurity::default() }).await;
    round_trip(&broker, addr, "tls-1").await;
}

/// SCRAM users live in the broker's storage: this needs tansu built with SQLite (scripts/setup).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_over_scram_with_and_without_tls_and_a_wrong_password_told_apart() {
    let dir = scratch("kafka-scram");
    let certs = Certs::new(&dir.join("certs"), &["localhost", "127.0.0.1"]);
    let storage = dir.join("broker");
    std::fs::create_dir_all(&storage).unwrap();
    let users = [("scram512", "ingest", "right-512"), ("scram256", "reader", "right-256")];
    let broker = Broker::start_secured(Secured { tls: Some(&certs), sasl: true, users: &users, dir: Some(&storage) }).await;
    topics(&broker).await;
    let scram = |mechanism, user: &str, password: &str| KafkaSecurity {
        ca_file: Some(certs.ca.clone()),
        tls_verify_hostname: true,
        sasl_mechanism: Some(mechanism),
        sasl_username: Some(user.into()),
        sasl_password: Some(password.into()),
        ..KafkaSecurity::default()
    };
    let addr = secured_app(&broker.address, "kafka-scram-512", scram(Mechanism::ScramSha512, "ingest", "right-512")).await;
    round_trip(&broker, addr, "scram-512").await;
    let addr = secured_app(&broker.address, "kafka-scram-256", scram(Mechanism::ScramSha256, "reader", "right-256")).await;
    round_trip(&broker, addr, "scram-256").await;
    drop(broker);

    // SASL without TLS (sasl_plaintext), the password from a file.
    let storage = dir.join("broker-plain");
    std::fs::create_dir_all(&storage).unwrap();
    let users = [("scram256", "plain-user", "right-plain")];
    let broker = Broker::start_secured(Secured { tls: None, sasl: true, users: &users, dir: Some(&storage) }).await;
    topics(&broker).await;
    let security = KafkaSecurity {
        tls_verify_hostname: true,
        sasl_mechanism: Some(Mechanism::ScramSha256),
        sasl_username: Some("plain-user".into()),
        sasl_password_file: Some(secret_file(&dir, "kafka-password", "right-plain")),
        ..KafkaSecurity::default()
    };
    let addr = secured_app(&broker.address, "kafka-scram-plaintext", security).await;
    round_trip(&broker, addr, "scram-plaintext").await;

    let wrong = secured_app(&broker.address, "kafka-scram-wrong", KafkaSecurity {
        tls_verify_hostname: true,
        sasl_mechanism: Some(Mechanism::ScramSha256),
        sasl_username: Some("plain-user".into()),
        sasl_password: Some("wrong".into()),
        ..KafkaSecurity::default()
    }).await;
    let said = problem_kind(wrong, "credentials").await;
    assert!(said.starts_with("the brokers refused the SASL credentials"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_and_an_unreachable_broker_are_told_apart() {
    let dir = scratch("kafka-untrusted");
    let certs = Certs::new(&dir.join("certs"), &["localhost", "127.0.0.1"]);
    let broker = Broker::start_secured(Secured { tls: Some(&certs), ..Secured::default() }).await;
    let untrusting = secured_app(&broker.address, "kafka-untrusted", KafkaSecurity { ca_file: Some(certs.other_ca.clone()), tls_verify_hostname: true, ..KafkaSecurity::default() }).await;
    let said = problem_kind(untrusting, "certificate").await;
    assert!(said.contains("certificate verify failed"), "librdkafka's words are kept: {said}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nobody = secured_app(&format!("127.0.0.1:{closed}"), "kafka-nobody", KafkaSecurity { tls_verify_hostname: true, ..KafkaSecurity::default() }).await;
    let said = problem_kind(nobody, "unreachable").await;
    assert!(said.contains("Connection refused"), "{said}");
}

/// What Flowlens's guarantees rest on cannot be passed; a misspelt property stops the start in words.
#[tokio::test]
async fn kafka_options_are_checked_at_start() {
    for (option, expected) in [
        ("enable.auto.commit=true", "`enable.auto.commit` is Flowlens's own"),
        ("producer.enable.idempotence=false", "`enable.idempotence` is Flowlens's own"),
        ("no.such.property=1", "no.such.property"),
    ] {
        let mut s = settings(Db::Sqlite, &scratch("kafka-options")).await;
        s.kafka.brokers = "127.0.0.1:9".into();
        s.kafka.security = KafkaSecurity { tls_verify_hostname: true, options: vec![option.into()], ..KafkaSecurity::default() };
        let refused = flowlens::startup::Application::build(s).await.err().unwrap_or_else(|| panic!("{option} was taken"));
        assert!(refused.to_string().contains(expected), "{option}: {refused}");
    }
}
