//! An instance stored before visits (per-step facts, no log) is replayed from its stored events
//! when it is read, so an upgraded server shows it as it was.

use flowlens_core::{Flow, Flows, Millis, NodeStatus, Status};
use flowlens_store::Store;
use sqlx::{Connection, SqliteConnection};

#[tokio::test]
async fn an_instance_kept_as_facts_is_replayed_from_its_events() {
    let dir = std::env::temp_dir().join(format!("flowlens-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../flows/customer-onboarding.toml")).unwrap();
    let flows = Flows::new(vec![Flow::parse_toml("onboarding", &text).unwrap()]).unwrap();
    let url = format!("sqlite://{}", dir.join("upgrade.db").display());
    let store = Store::open(&url, flows).await.unwrap();
    let mut raw = SqliteConnection::connect(&url).await.unwrap();

    // What the previous version wrote: facts per node, the ids it had seen, no log.
    let old_facts = r#"{"facts":[{"done":0},{},{"requested":[1000,"e1"],"done":2000},{},{}],"seen":["e0","e1","e2"],"starts":[[0,"e0"]],"first_event":0,"last_event":2000}"#;
    sqlx::query(
        "INSERT INTO instances (id, flow_id, flow_version, key, status, waiting_at, started_at, updated_at, events, facts)
         VALUES (7, 'customer-onboarding', 1, 'old-1', 'running', '', 0, 2000, 3, $1)",
    )
    .bind(old_facts)
    .execute(&mut raw)
    .await
    .unwrap();
    for (id, ty, t) in [("e0", "RegistrationRequested", 0), ("e1", "AddressCheckRequested", 1000), ("e2", "AddressChecked", 2000)] {
        sqlx::query("INSERT INTO events (id, instance_id, type, time, received_at, data) VALUES ($1, 7, $2, $3, $3, '{}')")
            .bind(id)
            .bind(ty)
            .bind(t)
            .execute(&mut raw)
            .await
            .unwrap();
    }

    let detail = store.instance(7).await.unwrap().expect("the instance is there");
    assert_eq!(detail.summary.status, Status::Running);
    let state = |id: &str| detail.nodes.iter().find(|n| n.id == id).unwrap().clone();
    assert_eq!((state("address").status, state("address").visits.len()), (NodeStatus::Done, 1));
    assert_eq!(state("address").finished, Some(Millis(2000)));
    assert_eq!(state("credit").status, NodeStatus::Active, "the other checks wait, as before the upgrade");
    std::fs::remove_dir_all(&dir).ok();
}
