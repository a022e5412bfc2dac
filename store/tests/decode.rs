//! A stored value that does not decode is an error that names its table and column, never a panic.

use flowlens_core::{Flow, Flows, ListParams, ListQuery, Millis};
use flowlens_store::{Store, StoreError};
use sqlx::{Connection, SqliteConnection};

async fn store(dir: &std::path::Path) -> (Store, SqliteConnection) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../flows/customer-onboarding.toml")).unwrap();
    let flows = Flows::new(vec![Flow::parse_toml("onboarding", &text).unwrap()]).unwrap();
    let url = format!("sqlite://{}", dir.join("decode.db").display());
    let store = Store::open(&url, flows).await.unwrap();
    let raw = SqliteConnection::connect(&url).await.unwrap();
    (store, raw)
}

#[tokio::test]
async fn unreadable_values_name_their_table_and_column() {
    let dir = std::env::temp_dir().join(format!("flowlens-decode-{}-{}", std::process::id(), Millis(0).0));
    std::fs::create_dir_all(&dir).unwrap();
    let (store, mut raw) = store(&dir).await;

    sqlx::query("INSERT INTO users (name, role, password_hash, created_at) VALUES ('mallory', 'superuser', 'x', 0)").execute(&mut raw).await.unwrap();
    match store.user("mallory").await {
        Err(StoreError::Decode { table: "users", column: "role", reason }) => assert!(reason.contains("superuser"), "{reason}"),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("a role nobody knows was read"),
    }

    sqlx::query(
        "INSERT INTO instances (flow_id, flow_version, key, status, waiting_at, updated_at, events, facts)
         VALUES ('customer-onboarding', 1, 'k-1', 'lost', '', 0, 1, '{}')",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let query = ListQuery::parse(&ListParams::default(), Millis(0)).unwrap();
    match store.list(&query, Millis(0)).await {
        Err(e @ StoreError::Decode { table: "instances", column: "status", .. }) => {
            assert!(e.to_string().contains("instances.status"), "{e}")
        }
        Err(other) => panic!("another error: {other}"),
        Ok(page) => panic!("an unknown status was listed: {page:?}"),
    }
    std::fs::remove_dir_all(&dir).ok();
}
