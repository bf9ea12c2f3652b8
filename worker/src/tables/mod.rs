//! The tables the pipeline file's routes write: read from PostgreSQL's catalog, compared with what the
//! file declares, and made to match it additively.
//!
//! - [`plan`] reads the tables and returns the DDL that makes them match (a [`Plan`]), or refuses what
//!   cannot be done without dropping or retyping ([`TablesError::Refused`]); [`apply`] runs a plan in
//!   one transaction. `pacer tables plan|apply` is their command line.
//! - [`check`] is what a worker runs at start: every table, column and key there, or every problem in
//!   one [`TablesError::Mismatch`].
//!
//! Files: `introspect` reads the catalog, `diff` compares a table with a route (and holds the type
//! compatibility rules), `plan` turns differences into DDL, `check` into problems.

mod check;
mod diff;
mod introspect;
mod plan;

pub use check::{Problem, check};
pub use plan::{Plan, Refusal, Step, apply, plan};

use pacer_pg::PgError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// Why the tables could not be read, planned, changed or accepted.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    /// PostgreSQL could not be reached or refused a catalog query.
    #[error(transparent)]
    Database(#[from] PgError),
    /// A statement of the plan failed; the transaction was rolled back.
    #[error("cannot apply the plan, so nothing was changed: {statement} failed: {cause}")]
    Apply {
        /// What the statement was to do.
        statement: String,
        /// What PostgreSQL said.
        cause: PgError,
    },
    /// The pipeline file asks for what pacer does not do to a table that exists.
    #[error("{}", refused_message(.0))]
    Refused(Vec<Refusal>),
    /// The tables do not match the pipeline file (the start-up check).
    #[error("{}", check::mismatch_message(.0))]
    Mismatch(Vec<Problem>),
}

fn refused_message(refusals: &[Refusal]) -> String {
    let mut message = String::from(
        "the pipeline file asks for changes pacer does not make to a table that exists \
         (it only adds tables, columns and unique indexes):",
    );
    for refusal in refusals {
        message.push_str("\n  ");
        message.push_str(&refusal.to_string());
    }
    message
}

/// Connects to `database_url` now (for `pacer tables`, which has nothing to wait for): a refused
/// connection, password or database is reported as PostgreSQL gave it, not as a pool's time-out.
pub async fn connect(database_url: &str) -> Result<PgPool, TablesError> {
    let options = PgConnectOptions::from_str(database_url).map_err(PgError::url)?;
    let probe = PgConnection::connect_with(&options)
        .await
        .map_err(PgError::from)?;
    // The probe only tells a bad URL, password or database apart; closing it cannot fail usefully.
    let _ = probe.close().await;
    Ok(PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options))
}
