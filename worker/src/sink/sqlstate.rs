//! What a PostgreSQL error means for the batch that met it, told by its SQLSTATE class: the data itself was
//! refused (isolate the rows and dead-letter them), the event is already there (a duplicate), or PostgreSQL
//! is away (wait and retry).

/// True if `error` is a unique violation on any index.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    sqlstate_in(error, &["23505"])
}

/// True if `error` is a conflict on `constraint` (the primary key of an events-layout table): the event is
/// already there. A conflict on another unique index (one an operator added) is a refusal of the row, not a
/// duplicate.
pub(crate) fn is_duplicate_of(error: &sqlx::Error, constraint: &str) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            is_unique_violation(error)
                && e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|pg| pg.constraint())
                    == Some(constraint)
        }
        _ => false,
    }
}

/// True if PostgreSQL refused the data itself, so that the same rows would fail again however often they are
/// retried: class 22 (data exception), 23 (integrity constraint, such as a CHECK an operator added), 54
/// (program limit exceeded) and P0 (raised by a trigger). Class 42 and 0A stop the worker
/// ([`is_schema_error`]), a missing privilege among them. Everything else — connections, shutdowns, locks,
/// timeouts — is retried with back-off, and never turns a valid event into a dead letter.
pub(crate) fn is_data_error(error: &sqlx::Error) -> bool {
    // P0: a trigger (or rule) an operator added raised an error for the row.
    sqlstate_in(error, &["22", "23", "54", "P0"])
}

/// True if PostgreSQL refused the statements themselves: class 42 (a table or column that is not there or
/// not of the declared type, a missing privilege) and 0A (a feature it does not support for this table).
/// Retrying cannot heal that, and no row is at fault: the worker stops and says so.
pub(crate) fn is_schema_error(error: &sqlx::Error) -> bool {
    sqlstate_in(error, &["42", "0A"])
}

// Whether PostgreSQL is away (wait and retry) is `pacer_pg::is_unavailable`, shared with the control plane.

fn sqlstate_in(error: &sqlx::Error, classes: &[&str]) -> bool {
    pacer_pg::sqlstate_in(error, classes)
}
