//! Multi-row statements: how many rows one may carry, and their parameter lists.

/// Rows per multi-row statement with `cols` parameters each. PostgreSQL takes thousands of
/// parameters in stride. SQLite does not: binding looks each parameter's name up in a list, so a
/// statement's cost grows with the square of its parameters (4 800 made ingest spend 60 % of its
/// time there); a hundred or so keeps that negligible and the statements few.
pub(crate) fn rows_per_statement(backend: crate::Backend, cols: usize) -> usize {
    match backend {
        crate::Backend::Sqlite => (120 / cols).max(1),
        crate::Backend::Postgres => (4800 / cols).max(1),
    }
}

/// `($1, $2), ($3, $4), ...`: `rows` tuples of `cols` parameters.
pub(crate) fn tuples(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", (1..=cols).map(|c| format!("${}", r * cols + c)).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}
