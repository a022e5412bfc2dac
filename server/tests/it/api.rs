//! Black-box tests of the HTTP API: each starts Flowlens on port 0 with a fresh store, and runs
//! twice: on a new SQLite file and on a new PostgreSQL database.

use crate::support;

use std::time::Duration;

use flowlens::startup::Application;
use serde_json::{json, Value};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;


on_both_stores!(
    posted_events_become_an_instance_that_can_be_read_back,
    a_whole_onboarding_completes_and_duplicates_change_nothing,
    bad_input_gets_a_4xx_that_says_why,
    events_no_flow_handles_are_dead_lettered_not_dropped,
    changes_are_pushed_to_open_streams,
    a_list_page_is_sent_the_rows_its_filter_shows_and_an_overview_only_that_figures_moved,
    health_checks_answer,
    an_instance_stays_on_the_flow_version_it_started_with,
    a_reworked_step_counts_its_visits_in_the_instance_the_list_and_the_heat,
    the_instance_list_downloads_as_csv_with_every_matching_row,
    instances_that_deviate_from_their_flow_are_marked_filtered_and_counted,
    instances_from_before_conformance_are_marked_when_the_store_opens,
    step_times_count_every_finished_visit_and_a_store_from_before_gets_them_when_it_opens,
    the_overview_counts_breaches_per_step_and_per_instance_and_sums_throughput_into_bars,
    servers_sharing_a_store_build_on_each_others_writes,
);

fn node<'a>(detail: &'a Value, id: &str) -> &'a Value {
    detail["nodes"].as_array().unwrap().iter().find(|n| n["id"] == id).unwrap()
}

async fn posted_events_become_an_instance_that_can_be_read_back(db: Db) {
    let addr = spawn_app(db, "read-back").await;
    let (status, report) = post(addr, &json!([
        {"id": "e1", "type": "RegistrationRequested", "key": "cust-1", "time": "2026-11-27T08:00:00Z", "data": {"name": "Ada"}},
        {"id": "e2", "type": "AddressCheckRequested", "key": "cust-1", "time": "2026-11-27T08:00:01Z"},
        {"id": "e3", "type": "AddressChecked", "key": "cust-1", "time": "2026-11-27T08:00:05Z"}
    ])).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["stored"], 3);
    let id = report["instances"][0]["id"].as_i64().unwrap();

    let (status, list) = get(addr, "/api/v1/instances?key=cust-1").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["status"], "running");
    assert_eq!(list[0]["events"], 3);

    let (status, detail) = get(addr, &format!("/api/v1/instances/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(node(&detail, "registration")["status"], "done");
    assert_eq!(node(&detail, "address")["status"], "done");
    assert_eq!(node(&detail, "credit")["status"], "active");
    assert_eq!(node(&detail, "approved")["status"], "not_reached");
    let types: Vec<&str> = detail["events"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["RegistrationRequested", "AddressCheckRequested", "AddressChecked"]);
    assert_eq!(detail["events"][0]["data"], r#"{"name":"Ada"}"#);
}

async fn a_whole_onboarding_completes_and_duplicates_change_nothing(db: Db) {
    let addr = spawn_app(db, "complete").await;
    let types = [
        "RegistrationRequested", "AddressCheckRequested", "CreditCheckRequested", "CriminalRecordCheckRequested",
        "AddressChecked", "CreditChecked", "CriminalRecordChecked", "CustomerCreated",
    ];
    let batch: Vec<Value> = types.iter().enumerate().map(|(i, t)| json!({"id": format!("c-{i}"), "type": t, "key": "cust-2"})).collect();
    let (_, first) = post(addr, &Value::Array(batch.clone())).await;
    assert_eq!((first["stored"].as_u64(), first["duplicates"].as_u64()), (Some(8), Some(0)));
    assert_eq!(first["instances"][0]["status"], "completed");

    let (status, again) = post(addr, &Value::Array(batch)).await;
    assert_eq!(status, 200);
    assert_eq!((again["stored"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(8)));
    let (_, list) = get(addr, "/api/v1/instances?key=cust-2").await;
    assert_eq!(list[0]["events"], 8, "duplicates are not stored twice");
    assert_eq!(list[0]["status"], "completed");
}

async fn bad_input_gets_a_4xx_that_says_why(db: Db) {
    let addr = spawn_app(db, "bad-input").await;
    let cases: [(&[u8], u16, &str); 6] = [
        (b"{not json", 400, "the body is not JSON"),
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"[]", 400, "the batch is empty"),
        (br#"{"key": "k"}"#, 422, "event 0: the event has no `type`"),
        (br#"{"type": "RegistrationRequested"}"#, 422, "event 0: flow `customer-onboarding` finds the business key in the message key (`key`), and this event has none there"),
        (br#"[{"type": "RegistrationRequested", "key": "a"}, 7]"#, 422, "event 1: an event must be a JSON object, not a number"),
    ];
    for (body, expected_status, expected_text) in cases {
        let (status, text) = call(addr, "POST", "/api/v1/events", Some(body)).await;
        assert_eq!(status, expected_status, "{}: {text}", String::from_utf8_lossy(body));
        assert!(text.contains(expected_text), "{}: {text}", String::from_utf8_lossy(body));
    }
    // A malformed batch is refused whole: the good event in it was not stored either.
    let (_, list) = get(addr, "/api/v1/instances?key=a").await;
    assert_eq!(list, json!([]));

    let (status, text) = call(addr, "GET", "/api/v1/instances/abc", None).await;
    assert_eq!((status, text.contains("`abc` is not an instance id")), (400, true), "{text}");
    let (status, _) = call(addr, "GET", "/api/v1/instances/999999", None).await;
    assert_eq!(status, 404);
    let (status, text) = call(addr, "GET", "/api/v1/instances?status=sleeping", None).await;
    assert_eq!((status, text.contains("unknown status `sleeping`")), (400, true), "{text}");
}

async fn events_no_flow_handles_are_dead_lettered_not_dropped(db: Db) {
    let addr = spawn_app(db, "dead-letter").await;
    let (status, report) = post(addr, &json!([
        {"type": "InvoiceSent", "key": "x"},
        {"type": "RegistrationRequested", "key": "cust-3"}
    ])).await;
    assert_eq!(status, 200);
    assert_eq!(report["stored"], 1);
    assert_eq!(report["dead_lettered"][0]["index"], 0);
    assert_eq!(report["dead_lettered"][0]["reason"], "no flow handles events of type `InvoiceSent`");
}

async fn changes_are_pushed_to_open_streams(db: Db) {
    let addr = spawn_app(db, "push").await;
    let (_, report) = post(addr, &json!({"type": "RegistrationRequested", "key": "cust-4"})).await;
    let id = report["instances"][0]["id"].as_i64().unwrap();

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /api/v1/stream?instance={id} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    // Wait for the response head, so the subscription exists before the event is posted.
    while !seen.contains("\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    post(addr, &json!({"type": "RegistrationRequested", "key": "other"})).await;
    post(addr, &json!({"type": "CreditCheckFailed", "key": "cust-4"})).await;
    let pushed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(line) = seen.lines().find(|l| l.starts_with("data: {")) {
                return serde_json::from_str::<Value>(&line["data: ".len()..]).unwrap();
            }
        }
    })
    .await
    .expect("a change is pushed within 5 s");
    assert_eq!(pushed["summary"]["key"], "cust-4", "the stream only carries the instance asked for");
    assert_eq!(pushed["event"]["event_type"], "CreditCheckFailed");
    assert!(pushed["nodes"].as_array().unwrap().iter().any(|n| n["id"] == "credit" && n["status"] == "failed"));
}

/// Reads server-sent messages from `stream` (adding to `seen`) until one of kind `kind` is among
/// them; returns every message read so far (kind, data), in order.
async fn messages_until(stream: &mut TcpStream, kind: &str, seen: &mut String) -> Vec<(String, Value)> {
    let mut buf = [0u8; 8192];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let messages = sse_messages(seen);
            if messages.iter().any(|(k, _)| k == kind) {
                return messages;
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended; read so far: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `{kind}` message within 10 s; read so far: {seen}"))
}

/// The whole messages in a stream's text: each `event:` line with the `data:` line after it.
fn sse_messages(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut kind = String::new();
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            if let Ok(v) = serde_json::from_str(d) {
                out.push((kind.clone(), v));
            }
        }
    }
    out
}

async fn a_list_page_is_sent_the_rows_its_filter_shows_and_an_overview_only_that_figures_moved(db: Db) {
    let addr = spawn_app(db, "push-list").await;
    let auth = [("Authorization", format!("Bearer {TOKEN}"))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, first) = post(addr, &json!({"type": "RegistrationRequested", "key": "on-the-page"})).await;
    let shown = first["instances"][0]["id"].as_i64().unwrap();
    let (status, _, body) = exchange(addr, "GET", "/api/v1/stream?view=list&status=sleeping", None, &auth).await;
    assert_eq!((status, body.contains("unknown status `sleeping`")), (400, true), "{body}");

    let mut list = open_stream(addr, "?view=list&flow=customer-onboarding&status=running&limit=3", &auth).await;
    let mut totals = open_stream(addr, "?view=totals&flow=customer-onboarding", &auth).await;
    let (mut seen_list, mut seen_totals) = (String::new(), String::new());
    // One burst: an instance on the page completes, which takes it off, and two new running ones.
    let steps = [
        "RegistrationRequested", "AddressCheckRequested", "CreditCheckRequested", "CriminalRecordCheckRequested",
        "AddressChecked", "CreditChecked", "CriminalRecordChecked", "CustomerCreated",
    ];
    let mut burst: Vec<Value> = steps[1..].iter().map(|t| json!({"type": t, "key": "on-the-page"})).collect();
    burst.push(json!({"type": "RegistrationRequested", "key": "new-1"}));
    burst.push(json!({"type": "RegistrationRequested", "key": "new-2"}));
    let (status, report) = post(addr, &Value::Array(burst)).await;
    assert_eq!(status, 200, "{report}");

    let messages = messages_until(&mut list, "rows", &mut seen_list).await;
    let frames: Vec<&Value> = messages.iter().filter(|(k, _)| k == "rows").map(|(_, v)| v).collect();
    assert_eq!(frames.len(), 1, "one message for the burst: {seen_list}");
    let keys: Vec<&str> = frames[0]["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["new-2", "new-1"], "the new running rows, newest first");
    assert_eq!(frames[0]["gone"], json!([shown]), "the completed instance leaves the page of running ones");
    assert!(frames[0]["rows"][0].get("nodes").is_none(), "rows only, no diagrams: {seen_list}");

    let messages = messages_until(&mut totals, "moved", &mut seen_totals).await;
    assert_eq!(messages.iter().filter(|(k, _)| k == "moved").count(), 1, "{seen_totals}");
    assert!(!seen_totals.contains("new-1") && !seen_totals.contains("on-the-page"), "totals carry no instance: {seen_totals}");

    // A change of another flow sends neither page anything; the next one they show comes alone.
    post(addr, &json!({"type": "OrderPlaced", "data": {"orderId": "o-1"}})).await;
    post(addr, &json!({"type": "AddressCheckRequested", "key": "new-1"})).await;
    let mut frames = Vec::new();
    while frames.len() < 2 {
        frames = messages_until(&mut list, "rows", &mut seen_list).await.into_iter().filter(|(k, _)| k == "rows").collect();
        if frames.len() < 2 {
            // What was read holds one frame still: read more.
            let mut buf = [0u8; 8192];
            let n = tokio::time::timeout(Duration::from_secs(10), list.read(&mut buf)).await.expect("a second frame").unwrap();
            seen_list.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert_eq!(frames.len(), 2, "{seen_list}");
    let keys: Vec<&str> = frames[1].1["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!((keys, &frames[1].1["gone"]), (vec!["new-1"], &json!([])), "{seen_list}");
    // The order's change would have come before new-1's.
    let mut buf = [0u8; 8192];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), totals.read(&mut buf)).await {
        seen_totals.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(sse_messages(&seen_totals).iter().filter(|(k, _)| k == "moved").count(), 2, "{seen_totals}");
}

#[tokio::test]
async fn a_bad_flow_file_stops_the_server_with_file_place_and_problem() {
    let dir = scratch("bad-flow");
    let flows = flows_dir(&dir, &[("broken.toml", &onboarding().replace("next = [\"decision\"]", "next = [\"decide\"]"))]);
    let mut s = settings(Db::Sqlite, &dir).await;
    s.flows = flows;
    let err = Application::build(s).await.err().expect("a bad flow refuses to start").to_string();
    assert!(err.contains("broken.toml:82:9: node `checked`: `next` names `decide`, which is no node of this flow"), "{err}");
    assert!(err.contains("broken.toml:85:6: node `decision` cannot be reached from the start node"), "{err}");
}

async fn health_checks_answer(db: Db) {
    let addr = spawn_app(db, "health").await;
    assert_eq!(call(addr, "GET", "/healthz", None).await, (200, "ok".into()));
    assert_eq!(call(addr, "GET", "/readyz", None).await, (200, "ready".into()));
}

async fn an_instance_stays_on_the_flow_version_it_started_with(db: Db) {
    let dir = scratch("versions");
    let v1 = onboarding();
    let flows = flows_dir(&dir, &[("onboarding-v1.toml", &v1)]);
    let mut s = settings(db, &dir).await;
    s.flows = flows.clone();
    let first = start(s.clone()).await;
    let addr = first.local_addr();
    tokio::spawn(first.run());
    post(addr, &json!({"type": "RegistrationRequested", "key": "old"})).await;

    // Version 2 gives the checks five minutes instead of ten.
    let v2 = v1.replace("version = 1", "version = 2").replace("sla = \"10m\"", "sla = \"5m\"");
    std::fs::write(flows.join("onboarding-v2.toml"), v2).unwrap();
    let second = start(s).await;
    let addr = second.local_addr();
    tokio::spawn(second.run());
    post(addr, &json!([
        {"type": "AddressCheckRequested", "key": "old", "time": "2026-11-27T10:00:00Z"},
        {"type": "RegistrationRequested", "key": "new", "time": "2026-11-27T10:00:00Z"}
    ]))
    .await;
    let (_, old) = get(addr, "/api/v1/instances?key=old").await;
    let (_, new) = get(addr, "/api/v1/instances?key=new").await;
    assert_eq!((old[0]["flow_version"].as_u64(), new[0]["flow_version"].as_u64()), (Some(1), Some(2)));
    let (_, old) = get(addr, &format!("/api/v1/instances/{}", old[0]["id"])).await;
    let (_, new) = get(addr, &format!("/api/v1/instances/{}", new[0]["id"])).await;
    let ten_am = 1_795_773_600_000i64; // 2026-11-27T10:00:00Z
    assert_eq!(node(&old, "address")["due"].as_i64(), Some(ten_am + 10 * 60_000), "v1's ten minutes");
    assert_eq!(node(&new, "address")["due"].as_i64(), Some(ten_am + 5 * 60_000), "v2's five minutes");
}

mod actions {
    use super::*;

    async fn demo_app(db: Db) -> std::net::SocketAddr {
        let mut s = settings(db, &scratch("actions")).await;
        s.demo = true;
        s.demo_interval = 3600.0; // the demo's own traffic stays out of the way
        let app = support::start(s).await;
        let addr = app.local_addr();
        tokio::spawn(app.run());
        addr
    }

    async fn start(addr: std::net::SocketAddr, key: &str) -> i64 {
        let (_, r) = post(addr, &json!([
            {"id": format!("{key}-0"), "type": "RegistrationRequested", "key": key},
            {"id": format!("{key}-1"), "type": "CreditCheckRequested", "key": key, "data": {"customerId": key, "bureau": "north"}},
            {"id": format!("{key}-2"), "type": "AddressCheckRequested", "key": key},
            {"id": format!("{key}-3"), "type": "AddressChecked", "key": key}
        ]))
        .await;
        r["instances"][0]["id"].as_i64().unwrap_or_else(|| panic!("no instance started: {r}"))
    }

    async fn retry_reaches_the_demo_service_and_takes_effect(db: Db) {
        let addr = demo_app(db).await;
        let id = start(addr, "r-1").await;
        let (status, action) = call(addr, "POST", &format!("/api/v1/instances/{id}/retry"), Some(br#"{"node": "credit"}"#)).await;
        assert_eq!(status, 200, "{action}");
        let action: Value = serde_json::from_str(&action).unwrap();
        assert_eq!((action["kind"].as_str(), action["command"].as_str(), action["result"].as_str()), (Some("retry"), Some("CheckCredit"), Some("sent")));
        assert_eq!(action["payload"], r#"{"bureau":"north","customerId":"r-1"}"#, "the request's payload is sent again");
        let mut settled = Value::Null;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            settled = get(addr, &format!("/api/v1/instances/{id}/actions")).await.1[0].clone();
            if settled["result"] == "took_effect" {
                break;
            }
        }
        assert_eq!(settled["result"], "took_effect", "{settled}");
        let (_, detail) = get(addr, &format!("/api/v1/instances/{id}")).await;
        assert_eq!(node(&detail, "credit")["status"], "done");
    }

    async fn retry_and_cancel_refuse_what_makes_no_sense(db: Db) {
        let addr = demo_app(db).await;
        let id = start(addr, "r-2").await;
        let cases: [(&str, &[u8], u16, &str); 5] = [
            ("retry", br#"{"node": "address"}"#, 409, "task `address` is done; only an active or failed task of a running instance can be retried"),
            ("retry", br#"{"node": "checks"}"#, 409, "`checks` is not a task"),
            ("retry", br#"{"node": "nope"}"#, 409, "the flow has no node `nope`"),
            ("retry", b"{}", 400, "missing field `node`"),
            ("retry", br#"{"node": "credit"}"#, 200, "CheckCredit"),
        ];
        for (what, body, expected, text) in cases {
            let (status, answer) = call(addr, "POST", &format!("/api/v1/instances/{id}/{what}"), Some(body)).await;
            assert_eq!(status, expected, "{answer}");
            assert!(answer.contains(text), "{answer}");
        }
        let (status, answer) = call(addr, "POST", "/api/v1/instances/999999/cancel", None).await;
        assert_eq!((status, answer.contains("no instance 999999")), (404, true), "{answer}");
    }

    async fn cancel_publishes_compensations_and_marks_the_instance(db: Db) {
        let addr = demo_app(db).await;
        let id = start(addr, "c-1").await;
        post(addr, &json!({"type": "CreditChecked", "key": "c-1"})).await;
        let (status, answer) = call(addr, "POST", &format!("/api/v1/instances/{id}/cancel"), None).await;
        assert_eq!(status, 200, "{answer}");
        let actions: Value = serde_json::from_str(&answer).unwrap();
        let kinds: Vec<(&str, &str, &str)> = actions
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["kind"].as_str().unwrap(), a["command"].as_str().unwrap(), a["result"].as_str().unwrap()))
            .collect();
        assert_eq!(kinds, [("cancel", "CancelRegistration", "sent"), ("compensation", "WithdrawCreditInquiry", "sent")]);
        let (_, list) = get(addr, "/api/v1/instances?key=c-1").await;
        assert_eq!(list[0]["status"], "cancelled");
        let (status, answer) = call(addr, "POST", &format!("/api/v1/instances/{id}/cancel"), None).await;
        assert_eq!((status, answer.contains("the instance is cancelled; only a running instance can be cancelled")), (409, true), "{answer}");
    }

    async fn without_kafka_or_demo_a_retry_fails_and_says_why(db: Db) {
        let addr = spawn_app(db, "no-listener").await;
        let id = start(addr, "n-1").await;
        let (status, answer) = call(addr, "POST", &format!("/api/v1/instances/{id}/retry"), Some(br#"{"node": "credit"}"#)).await;
        assert_eq!(status, 200, "{answer}");
        let action: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(action["result"], "failed");
        assert!(action["detail"].as_str().unwrap().contains("nothing listens for commands"), "{action}");
    }

    on_both_stores!(
        retry_reaches_the_demo_service_and_takes_effect,
        retry_and_cancel_refuse_what_makes_no_sense,
        cancel_publishes_compensations_and_marks_the_instance,
        without_kafka_or_demo_a_retry_fails_and_says_why,
    );
}

mod escalation {
    use super::*;

    /// A flow whose instances must end within a second, and are cancelled when they do not.
    async fn impatient_app(db: Db) -> std::net::SocketAddr {
        let dir = scratch("escalation");
        let flows = flows_dir(&dir, &[("onboarding.toml", &onboarding().replace("instance = \"4h\"", "instance = \"1s\""))]);
        let mut s = settings(db, &dir).await;
        s.flows = flows;
        s.demo = true;
        s.demo_interval = 3600.0;
        let app = start(s).await;
        let addr = app.local_addr();
        tokio::spawn(app.run());
        addr
    }

    async fn an_instance_past_its_sla_is_cancelled_by_the_scheduler(db: Db) {
        let addr = impatient_app(db).await;
        let (_, r) = post(addr, &json!([
            {"type": "RegistrationRequested", "key": "slow"},
            {"type": "CreditCheckRequested", "key": "slow"},
            {"type": "CreditChecked", "key": "slow"}
        ]))
        .await;
        let id = r["instances"][0]["id"].as_i64().unwrap();
        let mut status = Value::Null;
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            status = get(addr, "/api/v1/instances?key=slow").await.1[0]["status"].clone();
            if status == "cancelled" {
                break;
            }
        }
        assert_eq!(status, "cancelled");
        let (_, actions) = get(addr, &format!("/api/v1/instances/{id}/actions")).await;
        let rows: Vec<(&str, &str)> = actions.as_array().unwrap().iter().map(|a| (a["kind"].as_str().unwrap(), a["actor"].as_str().unwrap())).collect();
        assert_eq!(rows, [("cancel", "sla"), ("compensation", "sla")], "{actions}");
    }

    /// A webhook that fails twice, then answers 200: Flowlens retries with backoff, and the audit
    /// trail says the alert took effect, once, alongside the cancel.
    async fn a_breach_alerts_the_webhook_with_retries_and_the_audit_trail_shows_it(db: Db) {
        let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = hook.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = received.clone();
        tokio::spawn(async move {
            let mut calls = 0;
            loop {
                let (mut conn, _) = hook.accept().await.unwrap();
                calls += 1;
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).await.unwrap();
                seen.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).to_string());
                let status = if calls <= 2 { "500 Internal Server Error" } else { "200 OK" };
                let _ = conn.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
            }
        });
        let dir = scratch("webhook");
        let flows = onboarding_with_webhook(&dir, "1s", port);
        let mut s = settings(db, &dir).await;
        s.flows = flows;
        // No demo: its own first registration would breach too and take the failing answers.
        s.demo = false;
        let app = support::start(s).await;
        let addr = app.local_addr();
        tokio::spawn(app.run());
        let (_, r) = post(addr, &json!({"type": "RegistrationRequested", "key": "late"})).await;
        let id = r["instances"][0]["id"].as_i64().unwrap();
        let mut webhook = Value::Null;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (_, actions) = get(addr, &format!("/api/v1/instances/{id}/actions")).await;
            if let Some(a) = actions.as_array().unwrap().iter().find(|a| a["kind"] == "webhook" && a["result"] != "sent") {
                webhook = a.clone();
                break;
            }
        }
        assert_eq!(webhook["result"], "took_effect", "{webhook}");
        assert_eq!(webhook["actor"], "sla");
        assert_eq!(webhook["detail"], "attempt 1: HTTP 500; attempt 2: HTTP 500; attempt 3: HTTP 200", "every attempt in the audit trail");
        let calls = received.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "two failures and a success");
        assert!(calls[2].starts_with("POST /alerts HTTP/1.1"), "{}", calls[2]);
        assert!(calls[2].contains(r#""type":"flowlens.sla.breached""#) && calls[2].contains(r#""key":"late""#), "{}", calls[2]);
        let (_, actions) = get(addr, &format!("/api/v1/instances/{id}/actions")).await;
        let kinds: Vec<&str> = actions.as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "webhook").count(), 1, "one alert: {kinds:?}");
        assert!(kinds.contains(&"cancel"), "the flow also cancels on breach: {kinds:?}");
        let m = scrape(addr).await;
        assert_eq!(metric(&m, "flowlens_webhook_attempts_total", &[("outcome", "refused")]), 2.0);
        assert_eq!(metric(&m, "flowlens_webhook_attempts_total", &[("outcome", "delivered")]), 1.0);
        assert_eq!(metric(&m, "flowlens_sla_breaches_total", &[("flow", "customer-onboarding")]), 1.0);
        assert_eq!(metric(&m, "flowlens_actions_total", &[("kind", "cancel")]), 1.0, "the SLA's cancel (sent to no one here)");
    }

    on_both_stores!(
        an_instance_past_its_sla_is_cancelled_by_the_scheduler,
        a_breach_alerts_the_webhook_with_retries_and_the_audit_trail_shows_it,
    );
}

/// The onboarding's rework loop over HTTP: a failed address check, a corrected address, the
/// check again. The step's two visits show in the instance, the list filters the instance as
/// rework, and the overview's rework heat counts it; an instance without rework is not listed.
async fn a_reworked_step_counts_its_visits_in_the_instance_the_list_and_the_heat(db: Db) {
    let addr = spawn_app(db, "rework").await;
    // Recent: the overview below reads the last seven days.
    let base = flowlens_store::now().0 - 60_000;
    let at = |s: u32| flowlens_core::Millis(base + 1000 * i64::from(s)).to_rfc3339();
    let reworked = [
        "RegistrationRequested", "AddressCheckRequested", "AddressCheckFailed", "AddressCorrectionRequested",
        "AddressCorrected", "AddressCheckRequested", "AddressChecked",
    ];
    // Sent last to first: the order events arrive in does not matter, their times do.
    let batch: Vec<Value> = reworked
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"id": format!("r-{i}"), "type": t, "key": "cust-rework", "time": at(i as u32)}))
        .collect();
    let (status, report) = post(addr, &Value::Array(batch)).await;
    assert_eq!(status, 200, "{report}");
    let id = report["instances"][0]["id"].as_i64().unwrap();
    let (_, plain) = post(addr, &json!([{"id": "p-0", "type": "RegistrationRequested", "key": "cust-plain"}])).await;
    assert_eq!(plain["stored"], 1);

    let (_, detail) = get(addr, &format!("/api/v1/instances/{id}")).await;
    let address = node(&detail, "address");
    assert_eq!(address["status"], "done", "{address}");
    let outcomes: Vec<&str> = address["visits"].as_array().unwrap().iter().map(|v| v["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["failed", "done"]);
    assert_eq!(node(&detail, "correction")["visits"].as_array().unwrap().len(), 1);
    assert_eq!(detail["deviations"], json!([]), "the loop is part of the flow");
    assert_eq!(detail["summary"]["reworked"], true);

    let (status, list) = get(addr, "/api/v1/instances?rework=true").await;
    assert_eq!(status, 200, "{list}");
    let keys: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["cust-rework"]);
    let (status, refused) = get(addr, "/api/v1/instances?rework=maybe").await;
    assert_eq!(status, 400, "{refused}");

    let (status, overview) = get(addr, "/api/v1/flows/customer-onboarding/overview?range=7d").await;
    assert_eq!(status, 200, "{overview}");
    let heat = overview["heat"].as_array().unwrap().iter().find(|h| h["id"] == "address").unwrap().clone();
    assert_eq!((heat["reached"].as_u64(), heat["reworked"].as_u64()), (Some(2), Some(1)), "{heat}");
}

/// More rows than a page (500), keys a spreadsheet would misread, and a filter: the CSV holds
/// every matching row once, quoted, with no formula.
async fn the_instance_list_downloads_as_csv_with_every_matching_row(db: Db) {
    let addr = spawn_app(db, "csv").await;
    let mut events: Vec<Value> = (0..620).map(|i| json!({"type": "RegistrationRequested", "key": format!("csv-{i:03}")})).collect();
    events.push(json!({"type": "RegistrationRequested", "key": "=HYPERLINK(\"http://evil\")"}));
    events.push(json!({"type": "RegistrationRequested", "key": "Smith, Ann"}));
    events.push(json!({"type": "RegistrationRequested", "key": "done-1"}));
    events.push(json!({"type": "RegistrationRejected", "key": "done-1"}));
    assert_eq!(post(addr, &Value::Array(events)).await.0, 200);

    let auth = format!("Bearer {TOKEN}");
    let (status, head, body) = exchange(addr, "GET", "/api/v1/instances.csv?status=running&limit=5", None, &[("Authorization", &auth)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "streamed: {head}");
    let body = dechunk(&body);
    assert!(head.to_ascii_lowercase().contains("content-type: text/csv"), "{head}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "id,flow,version,key,status,waiting_at,started_at,updated_at,events,due_at,reworked");
    assert_eq!(lines.len(), 1 + 622, "every running instance, not a page of them");
    let keys: std::collections::BTreeSet<&str> = lines[1..].iter().map(|l| l.split(',').nth(3).unwrap()).collect();
    assert_eq!(keys.len(), 622, "each once");
    assert!(body.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""), "a formula is defused and quoted: {}", &body[..200]);
    assert!(body.contains(",\"Smith, Ann\",running,"));
    assert!(!body.contains("done-1"), "the filter holds");
    let (status, _, text) = exchange(addr, "GET", "/api/v1/instances.csv?status=sleeping", None, &[("Authorization", &auth)]).await;
    assert_eq!(status, 400, "{text}");
}

/// Conformance: an instance with a deviation (here, registered twice) is marked, found by the
/// filter, and counted on the overview; one that follows its flow fits.
async fn instances_that_deviate_from_their_flow_are_marked_filtered_and_counted(db: Db) {
    let addr = spawn_app(db, "fits").await;
    let events = json!([
        {"id": "f1", "type": "RegistrationRequested", "key": "fit-1"},
        {"id": "f2", "type": "AddressCheckRequested", "key": "fit-1"},
        {"id": "d1", "type": "RegistrationRequested", "key": "dev-1"},
        {"id": "d2", "type": "RegistrationRequested", "key": "dev-1"},
        {"id": "e1", "type": "RegistrationRequested", "key": "dev-2"},
        {"id": "e2", "type": "CreditChecked", "key": "dev-2"},
    ]);
    assert_eq!(post(addr, &events).await.0, 200);
    let keys = |rows: &Value| -> Vec<String> { rows.as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap().to_string()).collect() };
    let (_, deviating) = get(addr, "/api/v1/instances?fits=false").await;
    assert_eq!(keys(&deviating).len(), 2);
    let deviating = json!(deviating.as_array().unwrap().iter().filter(|r| r["key"] == "dev-1").collect::<Vec<_>>());
    assert_eq!(deviating[0]["fits"], false);
    let (_, fitting) = get(addr, "/api/v1/instances?fits=true").await;
    assert_eq!(keys(&fitting), vec!["fit-1"]);
    let (_, detail) = get(addr, &format!("/api/v1/instances/{}", deviating[0]["id"])).await;
    assert!(detail["deviations"].as_array().unwrap().iter().any(|d| d["problem"].as_str().unwrap().contains("2 start events")), "{detail}");
    let (_, overview) = get(addr, "/api/v1/flows/customer-onboarding/overview?range=1h").await;
    assert_eq!(overview["counts"]["deviating"], 2, "{}", overview["counts"]);
    // The deviation heat: per step, the instances that deviate there (two starts; a check's
    // outcome without its request), of the three started.
    let heat = |node: &str| overview["heat"].as_array().unwrap().iter().find(|h| h["id"] == node).map(|h| (h["deviations"].as_u64().unwrap(), h["reached"].as_u64().unwrap()));
    assert_eq!((heat("registration"), heat("credit"), heat("address")), (Some((1, 3)), Some((1, 3)), Some((0, 3))), "{}", overview["heat"]);
    assert_eq!(get(addr, "/api/v1/instances?fits=maybe").await.0, 400);
}

/// A store from before conformance was kept: its deviating instances are found when it opens
/// (once), and counted on the overview's deviation heat.
async fn instances_from_before_conformance_are_marked_when_the_store_opens(db: Db) {
    let dir = scratch("upgrade-fits");
    let s = settings(db, &dir).await;
    let url = s.database_url.clone();
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    let events = json!([
        {"id": "o1", "type": "RegistrationRequested", "key": "old-1"},
        {"id": "o2", "type": "RegistrationRequested", "key": "old-1"},
        {"id": "o3", "type": "RegistrationRequested", "key": "old-2"},
    ]);
    assert_eq!(post(addr, &events).await.0, 200);
    // As the store was before: nothing marked, the upgrade not done.
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE instances SET fits = 1, deviating_at = ''").execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM upgrades").execute(&pool).await.unwrap();
    assert_eq!(get(addr, "/api/v1/instances?fits=false").await.1.as_array().unwrap().len(), 0);
    let flows = flowlens::startup::load_flows(&repo().join("flows")).unwrap();
    flowlens_store::Store::open(&url, flows).await.unwrap();
    let (_, deviating) = get(addr, "/api/v1/instances?fits=false").await;
    let keys: Vec<&str> = deviating.as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["old-1"]);
    let (_, overview) = get(addr, "/api/v1/flows/customer-onboarding/overview?range=1h").await;
    let registration = overview["heat"].as_array().unwrap().iter().find(|h| h["id"] == "registration").unwrap().clone();
    assert_eq!(registration["deviations"], 1, "{registration}");
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM upgrades WHERE name = 'conformance'").fetch_one(&pool).await.unwrap();
    assert_eq!(done, 1, "done once");
}

/// 2 500 credit checks of known durations, more than a sample would read: the overview's mean is
/// theirs exactly and its p95 their nearest-rank 95th percentile to its histogram bucket (1/32);
/// a range before them shows none. A store from before the histograms were kept counts them from
/// its visits when it opens, to the same figures.
async fn step_times_count_every_finished_visit_and_a_store_from_before_gets_them_when_it_opens(db: Db) {
    let dir = scratch("step-times");
    let s = settings(db, &dir).await;
    let url = s.database_url.clone();
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    let base = flowlens_store::now().0 - 30 * 60_000;
    let at = |ms: i64| flowlens_core::Millis(ms).to_rfc3339();
    let durations: Vec<i64> = (0..2_500i64).map(|i| 1_000 + (i * 7_919) % 50_000 + i / 7).collect();
    let events: Vec<Value> = durations
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            let (key, started) = (format!("credit-{i}"), base + i as i64 * 100);
            [
                json!({"id": format!("s-{i}-0"), "type": "RegistrationRequested", "key": key, "time": at(started)}),
                json!({"id": format!("s-{i}-1"), "type": "CreditCheckRequested", "key": key, "time": at(started + 10)}),
                json!({"id": format!("s-{i}-2"), "type": "CreditChecked", "key": key, "time": at(started + 10 + d)}),
            ]
        })
        .collect();
    for batch in events.chunks(900) {
        let (status, report) = post(addr, &Value::Array(batch.to_vec())).await;
        assert_eq!(status, 200, "{report}");
    }
    let mut sorted = durations.clone();
    sorted.sort_unstable();
    let exact_mean = durations.iter().sum::<i64>() / durations.len() as i64;
    let exact_p95 = sorted[(sorted.len() as f64 * 0.95).ceil() as usize - 1];
    let credit = |overview: &Value| overview["heat"].as_array().unwrap().iter().find(|h| h["id"] == "credit").unwrap().clone();
    let check = |heat: &Value| {
        assert_eq!(heat["finished"], 2_500, "{heat}");
        assert_eq!(heat["mean_ms"], exact_mean, "{heat}");
        let p95 = heat["p95_ms"].as_i64().unwrap();
        assert!((p95 - exact_p95).abs() * 32 <= exact_p95, "p95 {p95}, exactly {exact_p95}");
    };
    let (status, overview) = get(addr, "/api/v1/flows/customer-onboarding/overview?range=24h").await;
    assert_eq!(status, 200, "{overview}");
    check(&credit(&overview));
    let before = format!("/api/v1/flows/customer-onboarding/overview?range={}..{}", at(base - 86_400_000), at(base - 3_600_000));
    let (status, earlier) = get(addr, &before).await;
    assert_eq!(status, 200, "{earlier}");
    assert_eq!((credit(&earlier)["finished"].as_u64(), credit(&earlier)["p95_ms"].as_i64()), (Some(0), None), "{}", credit(&earlier));

    // As a store from before: no histograms, the upgrade not done. Opening it counts them.
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM step_durations").execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM upgrades WHERE name = 'step_durations'").execute(&pool).await.unwrap();
    assert_eq!(credit(&get(addr, "/api/v1/flows/customer-onboarding/overview?range=24h").await.1)["finished"], 0);
    let flows = flowlens::startup::load_flows(&repo().join("flows")).unwrap();
    flowlens_store::Store::open(&url, flows).await.unwrap();
    check(&credit(&get(addr, "/api/v1/flows/customer-onboarding/overview?range=24h").await.1));
}

/// Breaches by step and by instance (an instance late at two steps is one breached instance), and
/// the throughput chart's bars holding every event of the range once.
async fn the_overview_counts_breaches_per_step_and_per_instance_and_sums_throughput_into_bars(db: Db) {
    let addr = spawn_app(db, "breaches").await;
    let base = flowlens_store::now().0 - 50 * 60_000;
    let at = |ms: i64| flowlens_core::Millis(ms).to_rfc3339();
    // Both checks have a 10-minute SLA: `late-both` misses both, `late-credit` one, `on-time` none;
    // the criminal-record check, started beside them and never answered, is overdue in all three.
    let cases = [("late-both", 11, 12), ("late-credit", 1, 11), ("on-time", 1, 2)];
    let mut events = Vec::new();
    for (key, address_min, credit_min) in cases {
        let took = |min: i64| base + 1_000 + min * 60_000;
        events.extend([
            json!({"id": format!("{key}-0"), "type": "RegistrationRequested", "key": key, "time": at(base)}),
            json!({"id": format!("{key}-1"), "type": "AddressCheckRequested", "key": key, "time": at(base + 1_000)}),
            json!({"id": format!("{key}-2"), "type": "CreditCheckRequested", "key": key, "time": at(base + 1_000)}),
            json!({"id": format!("{key}-3"), "type": "AddressChecked", "key": key, "time": at(took(address_min))}),
            json!({"id": format!("{key}-4"), "type": "CreditChecked", "key": key, "time": at(took(credit_min))}),
        ]);
    }
    let (status, report) = post(addr, &Value::Array(events)).await;
    assert_eq!(status, 200, "{report}");
    let (status, overview) = get(addr, "/api/v1/flows/customer-onboarding/overview?range=1h").await;
    assert_eq!(status, 200, "{overview}");
    let heat = |node: &str| overview["heat"].as_array().unwrap().iter().find(|h| h["id"] == node).unwrap()["breaches"].as_u64();
    assert_eq!((heat("address"), heat("credit"), heat("criminal")), (Some(1), Some(2), Some(3)), "{}", overview["heat"]);
    assert_eq!(overview["counts"]["breached"], 3, "six breaches, three instances: {}", overview["counts"]);
    let bars = overview["throughput"].as_array().unwrap();
    assert!(bars.len() >= 20, "{bars:?}");
    assert_eq!(bars.iter().map(|b| b["events"].as_u64().unwrap()).sum::<u64>(), 15, "{bars:?}");
    assert!(bars.iter().filter(|b| b["events"].as_u64() > Some(0)).count() >= 3, "spread over the bars of their times: {bars:?}");
}

/// Two servers on one database (replicas, or a restart beside a running one): each keeps the
/// instances it wrote in memory, and must still see what the other wrote meanwhile: the step the
/// other recorded stays recorded, the visits stay counted, nothing is lost to a stale copy.
async fn servers_sharing_a_store_build_on_each_others_writes(db: Db) {
    let dir = scratch("shared-store");
    let s = settings(db, &dir).await;
    let (one, two) = (support::start(s.clone()).await, support::start(s).await);
    let (a, b) = (one.local_addr(), two.local_addr());
    tokio::spawn(one.run());
    tokio::spawn(two.run());
    let base = flowlens_store::now().0 - 60_000;
    let event = |id: &str, ty: &str, second: u32| {
        json!({"id": id, "type": ty, "key": "shared-1", "time": flowlens_core::Millis(base + 1000 * i64::from(second)).to_rfc3339()})
    };
    // Alternating servers, each event building on the one before it.
    let steps = [
        (a, "s0", "RegistrationRequested"),
        (a, "s1", "AddressCheckRequested"),
        (b, "s2", "AddressCheckFailed"),
        (a, "s3", "AddressCorrectionRequested"),
        (b, "s4", "AddressCorrected"),
        (a, "s5", "AddressCheckRequested"),
    ];
    let mut id = 0;
    for (second, (server, event_id, ty)) in steps.iter().enumerate() {
        let (status, report) = post(*server, &event(event_id, ty, second as u32)).await;
        assert_eq!((status, report["stored"].as_u64()), (200, Some(1)), "{event_id}: {report}");
        id = report["instances"][0]["id"].as_i64().unwrap();
    }
    for server in [a, b] {
        let (_, detail) = get(server, &format!("/api/v1/instances/{id}")).await;
        assert_eq!(detail["summary"]["events"], 6, "{detail}");
        let address = node(&detail, "address");
        let outcomes: Vec<&str> = address["visits"].as_array().unwrap().iter().map(|v| v["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["failed", "open"], "{address}");
        assert_eq!(node(&detail, "correction")["visits"].as_array().unwrap().len(), 1, "{detail}");
    }
    let (_, overview) = get(a, "/api/v1/flows/customer-onboarding/overview?range=7d").await;
    let heat = overview["heat"].as_array().unwrap().iter().find(|h| h["id"] == "address").unwrap().clone();
    // One instance reached the address check, and it ran there twice.
    assert_eq!((heat["reached"].as_u64(), heat["reworked"].as_u64()), (Some(1), Some(1)), "{heat}");
}

/// `GET path` with these request headers, as raw bytes: the response head, and the body (whose
/// length the server gave).
async fn raw_get(addr: std::net::SocketAddr, path: &str, headers: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    (head, raw[split + 4..].to_vec())
}

#[tokio::test]
async fn the_browser_app_goes_gzipped_to_browsers_that_take_it() {
    use std::io::{Read, Write};
    let dir = scratch("assets");
    let pkg = dir.join("site/pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let wasm: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
    std::fs::write(pkg.join("flowlens.wasm"), &wasm).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&wasm).unwrap();
    std::fs::write(pkg.join("flowlens.wasm.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(pkg.join("flowlens.css"), "body { color: black }").unwrap();
    let app = support::start(settings(Db::Sqlite, &dir).await).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());

    let (head, body) = raw_get(addr, "/pkg/flowlens.wasm", "Accept-Encoding: gzip, deflate, br\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip") && head.contains("content-type: application/wasm") && head.contains("vary: accept-encoding"), "{head}");
    assert!(body.len() < wasm.len() / 10, "{} bytes on the wire", body.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut unzipped).unwrap();
    assert!(unzipped == wasm, "the gzipped body is the file");

    // A browser that does not take gzip, or refuses it, gets the file as it is.
    for accept in ["", "Accept-Encoding: br\r\n", "Accept-Encoding: gzip;q=0\r\n"] {
        let (head, body) = raw_get(addr, "/pkg/flowlens.wasm", accept).await;
        assert!(head.starts_with("http/1.1 200") && !head.contains("content-encoding"), "{accept}: {head}");
        assert!(body == wasm, "{accept}: the plain file");
    }
    // A file without a .gz goes plain; a .gz older than its file (a rebuild without it) is not used.
    let (head, body) = raw_get(addr, "/pkg/flowlens.css", "Accept-Encoding: gzip\r\n").await;
    assert!(head.contains("content-type: text/css") && !head.contains("content-encoding"), "{head}");
    assert_eq!(body, b"body { color: black }");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let rebuilt: Vec<u8> = wasm.iter().rev().copied().collect();
    std::fs::write(pkg.join("flowlens.wasm"), &rebuilt).unwrap();
    let (head, body) = raw_get(addr, "/pkg/flowlens.wasm", "Accept-Encoding: gzip\r\n").await;
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(body == rebuilt, "the rebuilt file, not the stale .gz");
    // Nothing else is served from there.
    for path in ["/pkg/.built-from", "/pkg/flowlens.wasm.gz", "/pkg/a%2Fb.js", "/pkg/missing.js"] {
        let (head, _) = raw_get(addr, path, "Accept-Encoding: gzip\r\n").await;
        assert!(head.starts_with("http/1.1 404"), "{path}: {head}");
    }
}

/// An action (a cancel, a retry) reads an instance and writes it back; another replica's ingest
/// may write it in between. Its write must then be refused, not laid over the other one.
#[tokio::test]
async fn an_action_does_not_write_over_a_change_made_since_it_read_the_instance() {
    let dir = scratch("stale-save");
    let s = settings(Db::Sqlite, &dir).await;
    let url = s.database_url.clone();
    let app = support::start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    let (_, report) = post(addr, &json!({"id": "stale-0", "type": "RegistrationRequested", "key": "stale-1"})).await;
    let id = report["instances"][0]["id"].as_i64().unwrap();
    let flows = flowlens::startup::load_flows(&repo().join("flows")).unwrap();
    let (one, two) = (flowlens_store::Store::open(&url, flows.clone()).await.unwrap(), flowlens_store::Store::open(&url, flows).await.unwrap());
    let stale = one.load(id).await.unwrap().unwrap();
    let mut fresh = two.load(id).await.unwrap().unwrap();
    let now = flowlens_store::now();
    fresh.instance.mark_cancelled(now);
    two.save(fresh, now).await.unwrap();
    let refused = one.save(stale, now).await.err().expect("a stale write is refused");
    assert!(refused.is_transient() && refused.to_string().contains("changed by another writer"), "{refused}");
    let (_, detail) = get(addr, &format!("/api/v1/instances/{id}")).await;
    assert_eq!(detail["summary"]["status"], "cancelled", "the other writer's change stays: {detail}");
    // Read again, it saves.
    let again = one.load(id).await.unwrap().unwrap();
    one.save(again, flowlens_store::now()).await.unwrap();
}
