//! PostgreSQL faults as pacer reads them, for every process that talks to PostgreSQL (the worker and the
//! control plane): which failures heal by waiting (retry them with back-off), and, for those that do not, one
//! sentence that names what is wrong and what to fix (stop with it).
#![forbid(unsafe_code)]

/// A PostgreSQL failure as pacer reports it: each says what went wrong once, with the cause in the
/// message (not repeated as a source), and [`PgError::heals`] says whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL is not a PostgreSQL URL.
    #[error("invalid PostgreSQL URL in --database-url: {0}")]
    Url(String),
    /// PostgreSQL refused the connection for a reason waiting will not change (what to fix, in words).
    #[error("{0}")]
    Misconfigured(String),
    /// Connecting or running a statement failed.
    #[error("PostgreSQL: {}", describe(.0))]
    Database(sqlx::Error),
    /// The schema could not be applied.
    #[error("cannot apply the schema to PostgreSQL: {0}")]
    Migrate(String),
}

impl PgError {
    /// A URL that does not parse.
    pub fn url(error: sqlx::Error) -> Self {
        PgError::Url(error.to_string())
    }

    /// Whether waiting can heal it: PostgreSQL down, restarting or starting up. A refused password, a
    /// missing database or a bad URL cannot.
    pub fn heals(&self) -> bool {
        matches!(self, PgError::Database(e) if is_unavailable(e))
    }
}

impl From<sqlx::Error> for PgError {
    fn from(e: sqlx::Error) -> Self {
        match misconfigured(&e, "--database-url") {
            Some(fix) => PgError::Misconfigured(fix),
            None => PgError::Database(e),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for PgError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(e) => e.into(),
            other => PgError::Migrate(other.to_string()),
        }
    }
}

/// True if `error` is PostgreSQL being unreachable or not accepting work for now (down, restarting,
/// starting up, out of connections), which heals by waiting.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    // 08: connection exception; 53: insufficient resources; 57: operator intervention (shutdown, startup).
    sqlstate_in(error, &["08", "53", "57"])
        || matches!(
            error,
            sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Protocol(_)
        )
}

/// True if `error` is a PostgreSQL error whose SQLSTATE belongs to one of `classes` (two-character prefixes).
pub fn sqlstate_in(error: &sqlx::Error, classes: &[&str]) -> bool {
    sqlstate(error).is_some_and(|code| classes.iter().any(|class| code.starts_with(class)))
}

/// The SQLSTATE of a PostgreSQL error.
pub fn sqlstate(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(e) => e.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// What to fix when PostgreSQL refuses the connection itself for a reason that waiting will not change (a
/// refused password, an unknown role, a missing database), in one sentence; `None` for anything else.
pub fn misconfigured(error: &sqlx::Error, flag: &str) -> Option<String> {
    let sqlx::Error::Database(e) = error else {
        return None;
    };
    let message = e.message();
    let fix = match e.code()?.as_ref() {
        // invalid_password
        "28P01" => {
            format!("PostgreSQL refused the password ({message}): fix the password in {flag}")
        }
        // invalid_authorization_specification: no such role, or pg_hba.conf refuses it
        "28000" => format!(
            "PostgreSQL refused the connection ({message}): fix the user in {flag}, or create the role or allow it in pg_hba.conf"
        ),
        // invalid_catalog_name
        "3D000" => format!(
            "PostgreSQL has no such database ({message}): create it (createdb) or fix the database name in {flag}"
        ),
        _ => return None,
    };
    Some(fix)
}

/// `error` in words, without the wrapper text sqlx puts around a server's message and without any `Debug`
/// spelling: the server's own message for a PostgreSQL error, sqlx's text otherwise.
pub fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(e) => match e.code() {
            Some(code) => format!("{} (SQLSTATE {code})", e.message()),
            None => e.message().to_owned(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_and_pool_failures_heal_and_others_do_not() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_unavailable(&refused));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert_eq!(misconfigured(&refused, "--database-url"), None);
        assert!(
            !describe(&refused).contains("Io("),
            "{}",
            describe(&refused)
        );
    }
}
