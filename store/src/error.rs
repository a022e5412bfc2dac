//! What can go wrong in the store, in words that name the place.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unsupported database URL `{0}`: use sqlite://FILE or postgres://...")]
    Url(String),
    #[error("could not migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored instance {0} is unreadable: {1}")]
    Corrupt(i64, String),
    /// A column that does not decode: a wrong type, a NULL where none belongs, an unknown word.
    #[error("stored {table}.{column} is unreadable: {reason}")]
    Decode { table: &'static str, column: &'static str, reason: String },
    #[error("instance {instance} runs on flow `{flow}` version {version}, which is not loaded; keep its file in the flow directory")]
    FlowVersionMissing { instance: i64, flow: String, version: u32 },
    /// Another writer changed the instance between reading and writing it back.
    #[error("instance {0} was changed by another writer meanwhile; read it again")]
    Changed(i64),
}

impl StoreError {
    /// A conflict with another writer that the same transaction, tried again, would not meet
    /// (an instance written meanwhile: [`StoreError::Changed`]),
    /// SQLite busy or locked (a write transaction began while another connection wrote),
    /// PostgreSQL serialization failure or deadlock.
    pub fn is_transient(&self) -> bool {
        if matches!(self, StoreError::Changed(_)) {
            return true;
        }
        let StoreError::Db(sqlx::Error::Database(e)) = self else { return false };
        let code = e.code();
        let code = code.as_deref().unwrap_or_default();
        // SQLite's primary result codes BUSY (5) and LOCKED (6), and their extended forms.
        let sqlite_busy = code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
        sqlite_busy || matches!(code, "40001" | "40P01") || e.message().contains("database is locked")
    }
}
