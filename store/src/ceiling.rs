//! The store's ceiling, for the bench: how fast this database takes a batch of events appended as
//! plain rows (an id that must be unique, the instance key, the type, the time, the payload), in
//! the same transactions and through the same connections ingest uses, and nothing else. What
//! ingest reaches is then read against what the store itself can do on the same machine.

use crate::sql::{json_param, json_rows};
use crate::{Store, StoreError};

impl Store {
    /// Appends `rows` (id, key, type, time, payload) to a table of plain rows, in one transaction;
    /// returns how many were new. The table is made on first use and has nothing but its unique id.
    #[doc(hidden)]
    pub async fn append_plain_for_bench(&self, rows: &[(String, String, String, i64, String)]) -> Result<u64, StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS bench_plain (id TEXT PRIMARY KEY, key TEXT NOT NULL, type TEXT NOT NULL, time BIGINT NOT NULL, data TEXT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let mut tx = self.pool.begin().await?;
        let cols = [("id", "text"), ("key", "text"), ("type", "text"), ("time", "bigint"), ("data", "text")];
        let sql = format!("INSERT INTO bench_plain (id, key, type, time, data) {} ON CONFLICT (id) DO NOTHING", json_rows(self.backend, 1, &cols));
        let new = sqlx::query(&sql).bind(json_param(rows)).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(new)
    }
}
