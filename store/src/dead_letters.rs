//! Reading dead letters: what could not be tracked, and why.

use flowlens_core::{DeadLetterView, Millis};

use crate::row::Columns;
use crate::{Store, StoreError};

impl Store {
    /// The most recent dead letters.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetterView>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, received_at, source, origin, reason, raw FROM dead_letters ORDER BY received_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DeadLetterView {
                id: r.col("dead_letters", "id")?,
                received_at: Millis(r.col("dead_letters", "received_at")?),
                source: r.col("dead_letters", "source")?,
                origin: r.col("dead_letters", "origin")?,
                reason: r.col("dead_letters", "reason")?,
                raw: String::from_utf8_lossy(&r.col::<Vec<u8>>("dead_letters", "raw")?).into_owned(),
                })
            })
            .collect()
    }

}
