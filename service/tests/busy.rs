//! Two writers on one SQLite file: a batch whose transaction meets another writer's commit is
//! tried again, not answered with an error (SQLite refuses such a transaction at once: its
//! snapshot is stale, and waiting would not help).

use std::time::Duration;

use flowlens_core::{Flow, Flows};
use flowlens_service::{LocalServices, Origin, Service, Settings};
use flowlens_store::Store;
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_meets_another_writer_is_tried_again() {
    let dir = std::env::temp_dir().join(format!("flowlens-busy-{}-{}", std::process::id(), fastrand_u32()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../flows/customer-onboarding.toml")).unwrap();
    let flows = Flows::new(vec![Flow::parse_toml("onboarding", &text).unwrap()]).unwrap();
    let url = format!("sqlite://{}", dir.join("busy.db").display());
    let store = Store::open(&url, flows).await.unwrap();
    let service = Service::new(store, Box::new(LocalServices::new().0), Settings { source: "test".into(), flows_dir: None, alerts: Default::default() });
    // One instance exists, so each batch reads it before it writes.
    let first = json!({ "type": "RegistrationRequested", "key": "k-0" });
    service.submit(&Origin::Http { channel: None }, vec![first]).await.unwrap();

    let mut other = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut other).await.unwrap();
    for round in 0..20 {
        // Another writer takes the write lock and commits while the batch is under way.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
        sqlx::query("INSERT INTO dead_letters (received_at, source, reason, raw) VALUES (0, 'test', 'other writer', x'00')")
            .execute(&mut other)
            .await
            .unwrap();
        let batch = service.clone();
        let submitted = tokio::spawn(async move {
            let events = vec![json!({ "type": "AddressCheckRequested", "key": "k-0", "id": format!("a-{round}") })];
            batch.submit(&Origin::Http { channel: None }, events).await
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        let report = submitted.await.unwrap().unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!(report.stored, 1, "round {round}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn fastrand_u32() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}
