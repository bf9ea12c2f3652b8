//! Durations as people type them on the command line (`250ms`, `2s`, `1m`), for every subcommand.

use std::time::Duration;

/// Parses `250ms`, `2s`, `1m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (write it like 250ms, 2s or 1m)"))
}

/// Parses a batch interval: a duration of at least 1 ms.
pub fn parse_interval(text: &str) -> Result<humantime::Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_millis(1) {
        return Err("the interval must be at least 1ms".into());
    }
    Ok(interval.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_at_least_a_millisecond() {
        assert_eq!(
            parse_interval("250ms").map(Duration::from),
            Ok(Duration::from_millis(250))
        );
        assert!(parse_interval("10us").is_err());
        assert!(parse_duration("soon").is_err_and(|e| e.contains("250ms")));
    }
}
