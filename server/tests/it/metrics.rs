//! `/metrics`: parsed by a Prometheus text-format parser that is not ours, its counters moving
//! with traffic, and readable only as configured (the metrics token, loopback, or a reader).
//! Kafka's metrics are checked in malformed.rs, the alerts' in api.rs.

use crate::support;

use serde_json::json;
use support::*;

on_both_stores!(the_metrics_move_with_what_happens);

fn hour_ago() -> String {
    flowlens_core::Millis(flowlens_store::now().0 - 3_600_000).to_rfc3339()
}

async fn the_metrics_move_with_what_happens(db: Db) {
    let addr = spawn_app(db, "metrics").await;
    let before = scrape(addr).await;
    assert_eq!(metric(&before, "flowlens_build_info", &[]), 1.0);
    let flow = [("flow", "customer-onboarding")];

    // One batch: a registration whose address check was asked for an hour ago (its 10-minute
    // SLA long gone, so the step is stuck), and an event no flow handles.
    let at = hour_ago();
    let (status, report) = post(addr, &json!([
        {"id": "m-0", "type": "RegistrationRequested", "key": "m-1", "time": at},
        {"id": "m-1", "type": "AddressCheckRequested", "key": "m-1", "time": at},
        {"id": "m-2", "type": "CreditCheckRequested", "key": "m-1", "time": at},
        {"id": "m-3", "type": "NobodyListens", "key": "m-1"}
    ]))
    .await;
    assert_eq!(status, 200, "{report}");
    let id = report["instances"][0]["id"].as_i64().unwrap();
    // The same batch again: duplicates, counted as such.
    post(addr, &json!({"id": "m-0", "type": "RegistrationRequested", "key": "m-1", "time": at})).await;
    // Nothing listens for commands here: the retry is sent to no one and fails; a retry of what
    // is no task is refused.
    assert_eq!(call(addr, "POST", &format!("/api/v1/instances/{id}/retry"), Some(br#"{"node": "credit"}"#)).await.0, 200);
    assert_eq!(call(addr, "POST", &format!("/api/v1/instances/{id}/retry"), Some(br#"{"node": "checks"}"#)).await.0, 409);
    let stream = open_stream(addr, "", &[("Authorization", &format!("Bearer {TOKEN}"))]).await;

    let after = scrape(addr).await;
    let moved = |name: &str, labels: &[(&str, &str)]| metric(&after, name, labels) - metric(&before, name, labels);
    let http = [("source", "http")];
    assert_eq!(moved("flowlens_events_ingested_total", &http), 3.0);
    assert_eq!(moved("flowlens_events_duplicate_total", &http), 1.0);
    assert_eq!(moved("flowlens_events_dead_lettered_total", &[("source", "http"), ("reason", "unroutable")]), 1.0);
    assert_eq!(moved("flowlens_ingest_batch_size_count", &http), 2.0, "two batches");
    assert_eq!(moved("flowlens_ingest_batch_size_sum", &http), 5.0, "four, then one");
    assert_eq!(moved("flowlens_ingest_commit_seconds_count", &http), 2.0);
    assert!(metric(&after, "flowlens_ingest_commit_seconds_sum", &http) > 0.0);
    assert_eq!(metric(&after, "flowlens_instances", &[flow[0], ("state", "running")]), 1.0);
    assert_eq!(metric(&after, "flowlens_steps_stuck", &[flow[0], ("step", "address")]), 1.0, "the address check is past its SLA");
    assert_eq!(metric(&after, "flowlens_steps_stuck", &[flow[0], ("step", "credit")]), 1.0);
    assert_eq!(moved("flowlens_actions_total", &[("kind", "retry"), ("outcome", "failed")]), 1.0);
    assert_eq!(moved("flowlens_actions_total", &[("kind", "retry"), ("outcome", "refused")]), 1.0);
    let retried = [("method", "POST"), ("route", "/api/v1/instances/:id/retry")];

    assert_eq!(moved("flowlens_http_request_duration_seconds_count", &[retried[0], retried[1], ("status", "200")]), 1.0);
    assert_eq!(moved("flowlens_http_request_duration_seconds_count", &[retried[0], retried[1], ("status", "409")]), 1.0);
    assert_eq!(moved("flowlens_http_request_duration_seconds_count", &[("route", "/api/v1/events"), ("status", "200")]), 2.0);
    assert_eq!(metric(&after, "flowlens_live_streams", &[]), 1.0);
    // Paths are not labels: what no route knows is one series, whatever the path.
    call(addr, "GET", "/api/v1/no-such-thing-1", None).await;
    call(addr, "GET", "/api/v1/no-such-thing-2", None).await;
    let unknown = scrape(addr).await;
    assert!(unknown.samples.iter().all(|s| !s.labels.get("route").unwrap_or_default().contains("no-such-thing")));

    // Finishing the step clears it from the stuck ones; closing the page leaves the stream count.
    post(addr, &json!({"id": "m-4", "type": "AddressChecked", "key": "m-1"})).await;
    drop(stream);
    eventually(10, "the stream to close", || async { metric(&scrape(addr).await, "flowlens_live_streams", &[]) == 0.0 }).await;
    let last = scrape(addr).await;
    assert_eq!(metric(&last, "flowlens_steps_stuck", &[flow[0], ("step", "address")]), 0.0);

    // OpenMetrics for a scraper that asks for it.
    let (status, head, body) = exchange(addr, "GET", "/metrics", None, &[("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")]).await;
    assert_eq!(status, 200);
    assert!(head.to_lowercase().contains("content-type: application/openmetrics-text"), "{head}");
    let body = whole_body(&head, body);
    assert!(body.trim_end().ends_with("# EOF"), "OpenMetrics ends with its marker");
}

/// With a token and loopback turned off, only the token or a reader's credential opens it; with
/// loopback on, a request relayed by a proxy is not local.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_read_only_by_who_may() {
    let dir = scratch("metrics-access");
    let mut s = settings(Db::Sqlite, &dir).await;
    s.access.metrics_token = Some("scrape-secret".into());
    s.access.metrics_loopback = false;
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    let read = |headers: &'static [(&'static str, &'static str)]| async move { exchange(addr, "GET", "/metrics", None, headers).await };
    let (status, _, body) = read(&[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("metrics token"), "{body}");
    assert_eq!(read(&[("Authorization", "Bearer not-the-token")]).await.0, 401);
    let (status, _, body) = read(&[("Authorization", "Bearer scrape-secret")]).await;
    assert_eq!(status, 200);
    assert!(body.contains("flowlens_build_info"), "{body}");
    // An API token (here an admin's) reads it as a signed-in reader would.
    let (status, _, _) = exchange(addr, "GET", "/metrics", None, &[("Authorization", &format!("Bearer {TOKEN}"))]).await;
    assert_eq!(status, 200);

    let open = spawn_app(Db::Sqlite, "metrics-loopback").await;
    assert_eq!(exchange(open, "GET", "/metrics", None, &[]).await.0, 200, "loopback may, by default");
    let (status, _, body) = exchange(open, "GET", "/metrics", None, &[("X-Forwarded-For", "203.0.113.9")]).await;
    assert_eq!(status, 401, "a relayed request is not a local one: {body}");
    let (status, _, _) = exchange(open, "GET", "/metrics", None, &[("Forwarded", "for=203.0.113.9")]).await;
    assert_eq!(status, 401);
}
