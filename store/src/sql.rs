//! Multi-row statements: a batch's rows for a table passed as one JSON parameter.

/// A column of rows passed as one JSON parameter: its name, and its PostgreSQL type.
pub(crate) type JsonCol = (&'static str, &'static str);

/// `SELECT … FROM` the rows of the JSON array bound at `$1` (`[[a, b], [c, d]]`), one column
/// per entry of `cols`: a whole batch in one statement and one parameter, whatever its size.
/// Binding is cheap on both databases then, and a batch is a handful of round trips, not hundreds.
///
/// On SQLite, `->>` yields the JSON value as its SQL type (integer, text, NULL); on PostgreSQL it
/// yields text, cast to the column's type. An `INSERT … SELECT` with `ON CONFLICT` needs a
/// `WHERE` on SQLite to parse, hence the `WHERE true`.
pub(crate) fn json_rows(backend: crate::Backend, cols: &[JsonCol]) -> String {
    match backend {
        crate::Backend::Sqlite => {
            let picks: Vec<String> = cols.iter().enumerate().map(|(i, (name, _))| format!("value ->> {i} AS {name}")).collect();
            format!("SELECT {} FROM json_each($1) WHERE true", picks.join(", "))
        }
        crate::Backend::Postgres => {
            let picks: Vec<String> = cols.iter().enumerate().map(|(i, (name, ty))| format!("(r ->> {i})::{ty} AS {name}")).collect();
            format!("SELECT {} FROM json_array_elements($1::json) AS r WHERE true", picks.join(", "))
        }
    }
}

/// The rows themselves, as the JSON text [`json_rows`] reads: each row a serialisable tuple.
pub(crate) fn json_param<T: serde::Serialize>(rows: &[T]) -> String {
    serde_json::to_string(rows).expect("rows of plain values serialise")
}

/// `INSERT INTO table (cols…) SELECT … FROM` the JSON rows bound at `$1`, then `tail` (an
/// `ON CONFLICT …`, a `RETURNING …`): a whole batch of rows into one table in one statement.
pub(crate) fn insert_rows(backend: crate::Backend, table: &str, cols: &[JsonCol], tail: &str) -> String {
    let names: Vec<&str> = cols.iter().map(|(name, _)| *name).collect();
    format!("INSERT INTO {table} ({}) {} {tail}", names.join(", "), json_rows(backend, cols))
}

/// A table of running sums: a row whose `keys` are stored already adds its `sums` to the stored
/// ones; `also` columns are written with a new row only. Counters written as deltas (throughput,
/// counts by state, discovery) are all of this kind.
pub(crate) struct Sums {
    pub table: &'static str,
    pub keys: &'static [JsonCol],
    pub also: &'static [JsonCol],
    pub sums: &'static [JsonCol],
}

impl Sums {
    /// Adds `rows` (each: its keys, its `also` columns, its sums, in that order), in one statement
    /// (none for no rows).
    pub async fn add<T: serde::Serialize>(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        backend: crate::Backend,
        rows: &[T],
    ) -> Result<(), crate::StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let cols: Vec<JsonCol> = self.keys.iter().chain(self.also).chain(self.sums).copied().collect();
        let keys: Vec<&str> = self.keys.iter().map(|(name, _)| *name).collect();
        let adds: Vec<String> = self.sums.iter().map(|(name, _)| format!("{name} = {table}.{name} + excluded.{name}", table = self.table)).collect();
        let tail = format!("ON CONFLICT ({}) DO UPDATE SET {}", keys.join(", "), adds.join(", "));
        sqlx::query(&insert_rows(backend, self.table, &cols, &tail)).bind(json_param(rows)).execute(&mut **tx).await?;
        Ok(())
    }
}
