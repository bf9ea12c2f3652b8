//! The floors and ceilings every decision of every policy stays within, their defaults, and the check that
//! some setting can satisfy them.

use crate::types::Settings;
use std::time::Duration;

/// Floors and ceilings that every decision of every policy stays within, and the cold-start setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The shortest interval a policy may choose.
    pub min_interval: Duration,
    /// The longest interval a policy may choose.
    pub max_interval: Duration,
    /// The fewest `max_rows` a policy may choose.
    pub min_rows: u64,
    /// The most `max_rows` a policy may choose.
    pub max_rows: u64,
    /// The most `max_bytes` a policy may choose.
    pub max_bytes: u64,
    /// What a worker runs with before the policy has seen any batch of it.
    pub cold_start: Settings,
}

/// Why these defaults: 5 ms is about the fixed cost of one batch (a transaction and an offset commit), so a
/// shorter interval only makes the writer the clock; 10 s caps latency when nothing keeps up; 100 000 rows
/// (about 2 s of processing at 20 µs a row) keeps one transaction short; 64 MiB bounds a worker's memory.
/// The cold start is the worker's historical static setting, 500 ms and 10 000 rows, but with 16 MiB.
impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            min_interval: Duration::from_millis(5),
            max_interval: Duration::from_secs(10),
            min_rows: 100,
            max_rows: 100_000,
            max_bytes: 64 * 1024 * 1024,
            cold_start: Settings::DEFAULT,
        }
    }
}

impl Bounds {
    /// What makes these bounds unsatisfiable, if anything: a floor above its ceiling, a minimum interval
    /// below the 1 ms a worker can run, or a cold start outside the bounds.
    pub(crate) fn problem(&self) -> Option<String> {
        let b = self;
        if b.min_interval < Duration::from_millis(1) {
            Some(format!(
                "min_interval {:?} is below 1ms, the shortest batch a worker runs",
                b.min_interval
            ))
        } else if b.min_interval > b.max_interval {
            Some(format!(
                "min_interval {:?} is above max_interval {:?}",
                b.min_interval, b.max_interval
            ))
        } else if b.min_rows == 0 || b.min_rows > b.max_rows {
            Some(format!(
                "min_rows {} must be at least 1 and at most max_rows {}",
                b.min_rows, b.max_rows
            ))
        } else if b.max_bytes == 0 {
            Some("max_bytes must be at least 1".to_owned())
        } else if b.cold_start.interval < b.min_interval || b.cold_start.interval > b.max_interval {
            Some(format!(
                "the cold-start interval {:?} is outside {:?}..={:?}",
                b.cold_start.interval, b.min_interval, b.max_interval
            ))
        } else if b.cold_start.max_rows < b.min_rows || b.cold_start.max_rows > b.max_rows {
            Some(format!(
                "the cold-start max_rows {} is outside {}..={}",
                b.cold_start.max_rows, b.min_rows, b.max_rows
            ))
        } else if b.cold_start.max_bytes == 0 || b.cold_start.max_bytes > b.max_bytes {
            Some(format!(
                "the cold-start max_bytes {} is outside 1..={}",
                b.cold_start.max_bytes, b.max_bytes
            ))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_satisfiable_and_odd_bounds_are_named() {
        assert_eq!(Bounds::default().problem(), None);
        let b = Bounds {
            min_interval: Duration::from_secs(20),
            ..Bounds::default()
        };
        assert!(
            b.problem()
                .is_some_and(|p| p.contains("above max_interval"))
        );
        let mut b = Bounds::default();
        b.cold_start.max_rows = 10;
        assert!(
            b.problem()
                .is_some_and(|p| p.contains("cold-start max_rows"))
        );
    }
}
