//! A corpus of malformed events, sent over HTTP and over Kafka (a real Kafka-protocol broker) with
//! good events between them: every bad one is refused (HTTP) or dead-lettered (Kafka) with a reason
//! that names the problem, every good one is stored, and the server goes on serving.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::broker::{produce, Broker, Record};
use support::*;

on_both_stores!(malformed_events_over_http_are_refused_with_their_reason, malformed_messages_over_kafka_are_dead_lettered_with_their_reason);

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// `[[[…]]]` deeper than any JSON parser should follow.
fn deep(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

/// Event bodies that are wrong whatever carries them: JSON text, and what the reason must say.
fn bad_events() -> Vec<(String, &'static str)> {
    let ev = |v: Value| v.to_string();
    vec![
        ("{".into(), "not JSON"),
        (r#"{"type": "RegistrationRequested", "key": "k""#.into(), "not JSON"),
        ("{'type': 'RegistrationRequested'}".into(), "not JSON"),
        (r#"{"type": "RegistrationRequested", "key": NaN}"#.into(), "not JSON"),
        ("\u{feff}{\"type\": \"RegistrationRequested\"}".into(), "not JSON"),
        (deep(5000), "not JSON"),
        (r#""just a string""#.into(), "must be a JSON object, not a string"),
        ("42".into(), "must be a JSON object, not a number"),
        ("null".into(), "must be a JSON object, not null"),
        ("true".into(), "must be a JSON object, not a boolean"),
        (ev(json!({"id": "b-1", "key": "k"})), "the event has no `type`"),
        (ev(json!({"type": null, "key": "k"})), "the event has no `type`"),
        (ev(json!({"type": "", "key": "k"})), "`type` is empty"),
        (ev(json!({"type": "   ", "key": "k"})), "`type` is empty"),
        (ev(json!({"type": 7, "key": "k"})), "`type` must be a string, not a number"),
        (ev(json!({"type": {"name": "RegistrationRequested"}, "key": "k"})), "`type` must be a string, not an object"),
        (ev(json!({"type": ["RegistrationRequested"], "key": "k"})), "`type` must be a string, not an array"),
        (ev(json!({"type": long(5000), "key": "k"})), "`type` is longer than"),
        (ev(json!({"type": "RegistrationRequested", "id": {"n": 1}, "key": "k"})), "`id` must be a string, not an object"),
        (ev(json!({"type": "RegistrationRequested", "id": "", "key": "k"})), "`id` is empty"),
        (ev(json!({"type": "RegistrationRequested", "id": long(5000), "key": "k"})), "`id` is longer than"),
        (ev(json!({"type": "RegistrationRequested", "key": true})), "`key` must be a string, not a boolean"),
        (ev(json!({"type": "RegistrationRequested", "key": ""})), "`key` is empty"),
        (ev(json!({"type": "RegistrationRequested", "key": "k", "time": "yesterday"})), "is not an RFC 3339 time"),
        (ev(json!({"type": "RegistrationRequested", "key": "k", "time": "2026-13-45T00:00:00Z"})), "no such date"),
        (ev(json!({"type": "RegistrationRequested", "key": "k", "time": "2026-11-27T25:61:00Z"})), "no such time of day"),
        (ev(json!({"type": "RegistrationRequested", "key": "k", "time": ["2026-11-27T10:00:00Z"]})), "`time` must be a string, not an array"),
        (ev(json!({"type": "RegistrationRequested", "key": "k", "time": false})), "`time` must be a string, not a boolean"),
    ]
}

/// Well-formed events no flow can take: dead-lettered over HTTP too, with the reason.
fn unroutable() -> Vec<(String, &'static str)> {
    vec![
        (json!({"type": "InvoicePaid", "key": "k"}).to_string(), "no flow handles events of type `InvoicePaid`"),
        (json!({"type": "registrationrequested", "key": "k"}).to_string(), "no flow handles events of type `registrationrequested`"),
    ]
}

fn good(n: usize) -> Value {
    json!({"id": format!("good-{n}"), "type": "RegistrationRequested", "key": format!("good-{n}"), "data": {}})
}

async fn good_instances(addr: std::net::SocketAddr) -> usize {
    let (_, rows) = get(addr, "/api/v1/instances?limit=500").await;
    rows.as_array().unwrap().iter().filter(|r| r["key"].as_str().unwrap_or_default().starts_with("good-")).count()
}

async fn malformed_events_over_http_are_refused_with_their_reason(db: Db) {
    let addr = spawn_app(db, "malformed-http").await;
    // Bodies that only HTTP can get wrong, besides the events above.
    // 400: the body is not a batch of JSON values; 422: it is, but an event in it is malformed.
    let mut refused: Vec<(Vec<u8>, u16, &str)> = vec![
        (Vec::new(), 400, "not JSON"),
        (b"\xff\xfe{}".to_vec(), 400, "not UTF-8"),
        (b"[]".to_vec(), 400, "the batch is empty"),
        (serde_json::to_vec(&vec![good(999); 1001]).unwrap(), 400, "at most 1000 events"),
        (format!("[{}, 5]", good(998)).into_bytes(), 422, "event 1: an event must be a JSON object"),
        (vec![b' '; 3 * 1024 * 1024], 413, ""),
    ];
    refused.extend(bad_events().into_iter().map(|(body, why)| {
        let status = if serde_json::from_str::<Value>(&body).is_ok() { 422 } else { 400 };
        (body.into_bytes(), status, why)
    }));
    assert!(refused.len() >= 30, "the corpus has {} kinds", refused.len());

    let mut sent_good = 0;
    for (i, (body, status, why)) in refused.iter().enumerate() {
        let (got, text) = call(addr, "POST", "/api/v1/events", Some(body)).await;
        assert_eq!(got, *status, "case {i} ({why}): {text}");
        if *status != 413 {
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("case {i}: not JSON: {text}"));
            let said = error.to_string();
            assert!(said.contains(why), "case {i}: the refusal should say {why:?}: {said}");
        }
        let (got, _) = post(addr, &good(i)).await;
        assert_eq!(got, 200, "the good event after case {i}");
        sent_good += 1;
    }
    for (body, why) in unroutable() {
        let (got, text) = call(addr, "POST", "/api/v1/events", Some(body.as_bytes())).await;
        assert_eq!(got, 200, "{text}");
        let report: Value = serde_json::from_str(&text).unwrap();
        assert!(report["dead_lettered"][0]["reason"].as_str().unwrap().contains(why), "{report}");
    }
    // Nothing of the refused batches was stored (not even the good event of a mixed batch), and
    // every good event was.
    assert_eq!(good_instances(addr).await, sent_good);
    let (_, letters) = get(addr, "/api/v1/dead-letters").await;
    assert_eq!(letters.as_array().unwrap().len(), unroutable().len(), "{letters}");
    assert_eq!(get(addr, "/healthz").await.0, 200);
}

async fn malformed_messages_over_kafka_are_dead_lettered_with_their_reason(db: Db) {
    let broker = Broker::start().await;
    broker.create_topic("malformed", 2).await;
    let key = || Some("k".to_string());
    let ce = |name: &str, value: &[u8]| (name.to_string(), value.to_vec());
    // Messages only a bus can get wrong, besides the events above.
    let mut bad: Vec<(Record, &str)> = vec![
        ((key(), vec![], b"\xff\xfe\xfd".to_vec()), "the value is not UTF-8 text"),
        ((key(), vec![], vec![b' '; 1024 * 1024 + 10]), "over the limit"),
        ((None, vec![], json!({"id": "x2", "type": "RegistrationRequested"}).to_string().into_bytes()), "finds the business key in the message key"),
        ((key(), vec![ce("ce_specversion", b"1.0"), ce("ce_type", b"\xff\xfe")], b"{}".to_vec()), "header `ce_type` is not UTF-8 text"),
        ((key(), vec![ce("ce_specversion", b"1.0"), ce("ce_type", b"")], b"{}".to_vec()), "`type` is empty"),
        ((key(), vec![ce("ce_specversion", b"1.0"), ce("ce_id", b"b-9")], b"{}".to_vec()), "the event has no `type`"),
        ((key(), vec![ce("ce_type", b"RegistrationRequested"), ce("content-type", b"application/json")], b"{not json".to_vec()), "declared `application/json` but is not JSON"),
        ((key(), vec![], br#"{"type": "RegistrationRequested", "data_base64": "not base64!"}"#.to_vec()), "`data_base64` is not base64"),
        ((key(), vec![ce("content-type", b"application/cloudevents+json")], b"[1, 2]".to_vec()), "must be a JSON object, not an array"),
    ];
    bad.extend(bad_events().into_iter().map(|(body, why)| ((key(), vec![], body.into_bytes()), why)));
    bad.extend(unroutable().into_iter().map(|(body, why)| ((key(), vec![], body.into_bytes()), why)));
    assert!(bad.len() >= 30, "the corpus has {} kinds", bad.len());

    let good_record = |n: usize| -> Record { (Some(format!("good-{n}")), vec![], good(n).to_string().into_bytes()) };
    let mut records = Vec::new();
    for (i, (record, _)) in bad.iter().enumerate() {
        records.push(good_record(i));
        records.push(record.clone());
    }
    records.push(good_record(bad.len()));
    produce(&broker.producer(), "malformed", &records);

    let mut s = settings(db, &scratch("malformed-kafka")).await;
    s.kafka.brokers = broker.address.clone();
    s.kafka.topics = vec!["malformed".into()];
    s.kafka.group = "flowlens-malformed".into();
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());

    let started = Instant::now();
    loop {
        let (_, letters) = get(addr, "/api/v1/dead-letters?limit=500").await;
        if letters.as_array().unwrap().len() >= bad.len() && good_instances(addr).await == bad.len() + 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "gave up: {} dead letters of {}", letters.as_array().unwrap().len(), bad.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, letters) = get(addr, "/api/v1/dead-letters?limit=500").await;
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), bad.len(), "one dead letter per bad message: {letters:?}");
    for (i, (_, why)) in bad.iter().enumerate() {
        assert!(letters.iter().any(|l| l["reason"].as_str().unwrap().contains(why)), "case {i}: no dead letter says {why:?}");
    }
    assert!(letters.iter().all(|l| l["source"] == "kafka" && l["origin"].as_str().unwrap().starts_with("kafka:malformed/")));
    let big = letters.iter().find(|l| l["reason"].as_str().unwrap().contains("over the limit")).unwrap();
    assert!(big["reason"].as_str().unwrap().contains("raw bytes cut to 65536"), "raw bytes are bounded: {}", big["reason"]);
    assert_eq!(get(addr, "/healthz").await.0, 200);

    // The metrics count the same, by reason class, and the lag of each partition consumed.
    let kafka = ("source", "kafka");
    eventually(20, "the lag of both partitions", || async {
        let m = scrape(addr).await;
        ["0", "1"].iter().all(|p| m.samples.iter().any(|s| s.metric == "flowlens_kafka_consumer_lag" && s.labels.get("partition") == Some(p) && s.labels.get("topic") == Some("malformed")))
    })
    .await;
    let m = scrape(addr).await;
    assert_eq!(metric(&m, "flowlens_events_ingested_total", &[kafka]), (bad.len() + 1) as f64);
    assert_eq!(metric(&m, "flowlens_events_dead_lettered_total", &[kafka, ("reason", "unroutable")]), unroutable().len() as f64);
    assert_eq!(metric(&m, "flowlens_events_dead_lettered_total", &[kafka, ("reason", "malformed")]), (bad.len() - unroutable().len()) as f64);
    assert_eq!(metric(&m, "flowlens_ingest_batch_size_sum", &[kafka]), (2 * bad.len() + 1) as f64, "every message in some batch, once");
}
