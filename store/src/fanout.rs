//! Live updates across replicas (PostgreSQL only). Several servers may share one database and one
//! consumer group; each ingests only its own partitions, yet a page open on any of them must see
//! every instance change. So a transaction that changes instances also sends a notification
//! (`pg_notify` is transactional: it goes out when, and only if, the data commits), and every
//! replica listens, loads the instances another replica changed, and pushes them to its own pages.

use flowlens_core::InstanceChanged;
use sqlx::postgres::PgListener;
use sqlx::{Any, Transaction};

use crate::{Backend, Store, StoreError};

const CHANNEL: &str = "flowlens_changes";
/// Ids per notification: well under PostgreSQL's 8000-byte payload limit.
const IDS_PER_NOTICE: usize = 300;

/// What one notification says: which replica changed which instances.
fn payload(replica: &str, ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("{replica}:{}", ids.join(","))
}

fn parse(payload: &str) -> Option<(&str, Vec<i64>)> {
    let (replica, ids) = payload.split_once(':')?;
    Some((replica, ids.split(',').filter_map(|i| i.parse().ok()).collect()))
}

impl Store {
    /// Tells the other replicas, when `tx` commits, that these instances changed.
    pub(crate) async fn notify_changed(&self, tx: &mut Transaction<'_, Any>, ids: &[i64]) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        for chunk in ids.chunks(IDS_PER_NOTICE) {
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload(&self.replica, chunk)).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The current state of instances, as a change to push (with each one's latest event).
    pub async fn changes(&self, ids: &[i64]) -> Result<Vec<InstanceChanged>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(loaded) = self.load(id).await? else { continue };
            let event = sqlx::query(
                "SELECT id, type, time, received_at, data, data_form FROM events WHERE instance_id = $1 ORDER BY received_at DESC, time DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| crate::instances::event_record(&r))
            .transpose()?;
            out.push(loaded.change(crate::now(), event));
        }
        Ok(out)
    }

    /// Follows the changes other replicas make, calling `each` with every one, until the process
    /// ends. Does nothing on SQLite (one server per file). While the database is away it waits and
    /// listens again; changes made meanwhile are not replayed (pages catch up on their next load).
    pub async fn follow_other_replicas(&self, mut each: impl FnMut(InstanceChanged) + Send) -> Result<(), StoreError> {
        // Only a PostgreSQL store keeps its URL.
        let Some(url) = self.url.as_deref() else { return Ok(()) };
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        loop {
            // `recv` reconnects by itself after the connection drops.
            let notice = match listener.recv().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "replica fan-out: listening failed; trying again");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some((replica, ids)) = parse(notice.payload()) else { continue };
            if replica == &*self.replica {
                continue;
            }
            match self.changes(&ids).await {
                Ok(changes) => changes.into_iter().for_each(&mut each),
                Err(e) => tracing::warn!(error = %e, "replica fan-out: could not load changed instances"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn payloads_round_trip() {
        let p = super::payload("r-1", &[3, 40, 500]);
        assert_eq!(super::parse(&p), Some(("r-1", vec![3, 40, 500])));
        assert_eq!(super::parse("nonsense"), None);
    }
}
