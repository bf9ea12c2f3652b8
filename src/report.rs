//! An error as a person reads it at the end of a command: each cause once, in one line.

use std::fmt::Write;

/// `error` and its causes joined by ": ", leaving out a cause whose text the line already holds (sqlx and
/// others repeat their source's text in their own, which `{:#}` would print two or three times).
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        let _ = write!(line, "{text}");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error returned from database: password authentication failed for user \"x\"")]
    struct Wrapper(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("password authentication failed for user \"x\"")]
    struct Inner;

    #[test]
    fn each_cause_is_said_once() {
        let e = anyhow::Error::new(Wrapper(Inner)).context("cannot start the worker");
        assert_eq!(
            one_line(&e),
            "cannot start the worker: error returned from database: password authentication failed for user \"x\""
        );
    }
}
