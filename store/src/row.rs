//! Reading columns without panicking: a value that does not decode (a wrong type, a NULL where
//! none belongs, a word no enum knows) becomes a store error that names the table and column.

use sqlx::any::AnyRow;
use sqlx::{Any, Decode, Row, Type};

use crate::StoreError;

pub(crate) trait Columns {
    /// The value of `column` of a row of `table`.
    fn col<'r, T: Decode<'r, Any> + Type<Any>>(&'r self, table: &'static str, column: &'static str) -> Result<T, StoreError>;
}

impl Columns for AnyRow {
    fn col<'r, T: Decode<'r, Any> + Type<Any>>(&'r self, table: &'static str, column: &'static str) -> Result<T, StoreError> {
        self.try_get(column).map_err(|e| StoreError::Decode { table, column, reason: e.to_string() })
    }
}

/// A stored word that should name one of a fixed set (a status, a role, an action kind).
pub(crate) fn word<T>(table: &'static str, column: &'static str, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Decode { table, column, reason: format!("`{text}` is not a known value") })
}
