//! The CloudEvents Kafka protocol binding as the spec describes it, through a real broker: binary
//! mode (attributes in `ce_*` headers, data in any content type) and structured mode (the event as
//! JSON, `data_base64` for bytes), charset parameters, the same id from two sources (two events),
//! and a redelivered event (one).

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::broker::{produce, Broker, Record};
use support::*;

on_both_stores!(cloudevents_in_binary_and_structured_mode_are_tracked_whatever_their_data);

async fn cloudevents_in_binary_and_structured_mode_are_tracked_whatever_their_data(db: Db) {
    let broker = Broker::start().await;
    broker.create_topic("ce", 1).await;
    let h = |name: &str, value: &str| (name.to_string(), value.as_bytes().to_vec());
    let binary = |id: &str, source: &str, ty: &str, content_type: Option<&str>, value: &[u8]| -> Record {
        let mut headers = vec![h("ce_specversion", "1.0"), h("ce_id", id), h("ce_source", source), h("ce_type", ty)];
        headers.extend(content_type.map(|ct| h("content-type", ct)));
        (Some("ce-1".into()), headers, value.to_vec())
    };
    let structured = |event: Value| -> Record {
        (Some("ce-1".into()), vec![h("content-type", "application/cloudevents+json; charset=UTF-8")], event.to_string().into_bytes())
    };
    let records = vec![
        binary("1", "/web", "RegistrationRequested", Some("text/plain; charset=utf-8"), b"registered by phone"),
        // The same id from another source: another event, not a duplicate.
        binary("1", "/address", "AddressCheckRequested", Some("application/json; charset=utf-8"), br#"{"street":"Main 1"}"#),
        binary("2", "/credit", "CreditCheckRequested", Some("application/avro"), &[0x00, 0x9f, 0x92, 0x96, 0x02]),
        structured(json!({"specversion": "1.0", "id": "3", "source": "/records", "type": "CriminalRecordCheckRequested",
            "datacontenttype": "application/octet-stream", "data_base64": "3q2+7w=="})),
        // Redelivered: the same source and id again.
        structured(json!({"specversion": "1.0", "id": "3", "source": "/records", "type": "CriminalRecordCheckRequested",
            "datacontenttype": "application/octet-stream", "data_base64": "3q2+7w=="})),
        structured(json!({"specversion": "1.0", "id": "4", "source": "/address", "type": "AddressChecked",
            "datacontenttype": "application/xml", "data": "<ok/>"})),
    ];
    produce(&broker.producer(), "ce", &records);

    let mut s = settings(db, &scratch("cloudevents")).await;
    s.kafka.brokers = broker.address.clone();
    s.kafka.topics = vec!["ce".into()];
    s.kafka.group = "flowlens-ce".into();
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());

    let started = Instant::now();
    let instance = loop {
        let (_, rows) = get(addr, "/api/v1/instances?key=ce-1").await;
        if let Some(row) = rows.as_array().unwrap().first().filter(|r| r["events"] == 5) {
            break row.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "gave up waiting for 5 events: {rows}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, detail) = get(addr, &format!("/api/v1/instances/{}", instance["id"])).await;
    let events = detail["events"].as_array().unwrap();
    let by_id = |id: &str| events.iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("no event {id}: {events:?}"));
    assert_eq!((by_id("/web 1")["form"].as_str(), by_id("/web 1")["data"].as_str()), (Some("text"), Some("registered by phone")));
    assert_eq!(by_id("/address 1")["form"], "json");
    assert_eq!(serde_json::from_str::<Value>(by_id("/address 1")["data"].as_str().unwrap()).unwrap(), json!({"street": "Main 1"}));
    assert_eq!((by_id("/credit 2")["form"].as_str(), by_id("/credit 2")["data"].as_str()), (Some("base64"), Some("5 bytes: 00 9f 92 96 02")));
    assert_eq!(by_id("/records 3")["data"], "4 bytes: de ad be ef");
    assert_eq!((by_id("/address 4")["form"].as_str(), by_id("/address 4")["data"].as_str()), (Some("text"), Some("<ok/>")));
    assert_eq!(events.len(), 5, "the redelivered event is kept once: {events:?}");
    // The address check was requested and answered: the steps moved on the attributes alone.
    let address = detail["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "address").unwrap();
    assert_eq!(address["status"], "done", "{address}");
    let (_, letters) = get(addr, "/api/v1/dead-letters").await;
    assert_eq!(letters.as_array().unwrap().len(), 0, "nothing was dead-lettered: {letters}");
}
