//! Multi-row statements: a batch's rows for a table passed as one JSON parameter.

/// A column of rows passed as one JSON parameter: its name, and its PostgreSQL type.
pub(crate) type JsonCol = (&'static str, &'static str);

/// `SELECT … FROM` the rows of the JSON array bound at `$param` (`[[a, b], [c, d]]`), one column
/// per entry of `cols`: a whole batch in one statement and one parameter, whatever its size.
/// Binding is cheap on both databases then, and a batch is a handful of round trips, not hundreds.
///
/// On SQLite, `->>` yields the JSON value as its SQL type (integer, text, NULL); on PostgreSQL it
/// yields text, cast to the column's type. An `INSERT … SELECT` with `ON CONFLICT` needs a
/// `WHERE` on SQLite to parse, hence the `WHERE true`.
pub(crate) fn json_rows(backend: crate::Backend, param: usize, cols: &[JsonCol]) -> String {
    match backend {
        crate::Backend::Sqlite => {
            let picks: Vec<String> = cols.iter().enumerate().map(|(i, (name, _))| format!("value ->> {i} AS {name}")).collect();
            format!("SELECT {} FROM json_each(${param}) WHERE true", picks.join(", "))
        }
        crate::Backend::Postgres => {
            let picks: Vec<String> = cols.iter().enumerate().map(|(i, (name, ty))| format!("(r ->> {i})::{ty} AS {name}")).collect();
            format!("SELECT {} FROM json_array_elements(${param}::json) AS r WHERE true", picks.join(", "))
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
    format!("INSERT INTO {table} ({}) {} {tail}", names.join(", "), json_rows(backend, 1, cols))
}
