//! The store's ceiling, for the bench: how fast this database takes a batch of events appended as
//! plain rows (an id that must be unique, the instance key, the type, the time, the payload), in
//! the same transactions and through the same connections ingest uses, and nothing else. What
//! ingest reaches is then read against what the store itself can do on the same machine.

use crate::sql::{insert_rows, json_param};
use crate::{Store, StoreError};

impl Store {
    /// Makes the table of plain rows, empty: once, before [`Store::append_plain_for_bench`] is
    /// timed. It has nothing but its unique id.
    #[doc(hidden)]
    pub async fn make_plain_for_bench(&self) -> Result<(), StoreError> {
        sqlx::query("DROP TABLE IF EXISTS bench_plain").execute(&self.pool).await?;
        sqlx::query("CREATE TABLE bench_plain (id TEXT PRIMARY KEY, key TEXT NOT NULL, type TEXT NOT NULL, time BIGINT NOT NULL, data TEXT NOT NULL)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Appends `rows` (id, key, type, time, payload) to the table of plain rows, in one
    /// transaction; returns how many were new.
    #[doc(hidden)]
    pub async fn append_plain_for_bench(&self, rows: &[(String, String, String, i64, String)]) -> Result<u64, StoreError> {
        let cols = [("id", "text"), ("key", "text"), ("type", "text"), ("time", "bigint"), ("data", "text")];
        let sql = insert_rows(self.backend, "bench_plain", &cols, "ON CONFLICT (id) DO NOTHING");
        let mut tx = self.pool.begin().await?;
        let new = sqlx::query(&sql).bind(json_param(rows)).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(new)
    }
}
