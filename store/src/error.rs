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
}
