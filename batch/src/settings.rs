//! What closes a micro-batch.

use std::fmt;
use std::time::Duration;

/// The limits of one micro-batch: it closes at whichever it reaches first. They can change while a worker
/// runs; a change applies from the next batch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a batch collects records.
    pub interval: Duration,
    /// The most records in one batch.
    pub max_rows: u64,
    /// The most record bytes (key + payload) in one batch.
    pub max_bytes: u64,
}

impl Settings {
    /// What a worker runs with until told otherwise, and what a policy starts a new worker with: the
    /// historical static setting of 500 ms and 10,000 rows, with 16 MiB to bound a batch's memory.
    pub const DEFAULT: Settings = Settings {
        interval: Duration::from_millis(500),
        max_rows: 10_000,
        max_bytes: 16 * 1024 * 1024,
    };

    /// These settings as they travel to a worker: the interval in whole milliseconds, at least one (the
    /// wire's `interval_ms`). Whatever the control plane pushes, and compares with what workers report, is in
    /// this form.
    pub fn on_the_wire(self) -> Settings {
        let ms = self.interval.as_secs_f64() * 1e3;
        Settings {
            interval: Duration::from_millis((ms.round() as u64).max(1)),
            ..self
        }
    }

    /// `max_rows` as a count of records in memory (saturating on a 32-bit target).
    pub fn max_rows_usize(self) -> usize {
        usize::try_from(self.max_rows).unwrap_or(usize::MAX)
    }

    /// `max_bytes` as a size in memory (saturating on a 32-bit target).
    pub fn max_bytes_usize(self) -> usize {
        usize::try_from(self.max_bytes).unwrap_or(usize::MAX)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "interval {:?}, max_rows {}, max_bytes {}",
            self.interval, self.max_rows, self.max_bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_the_wire_rounds_to_whole_milliseconds_of_at_least_one() {
        let s = |micros| Settings {
            interval: Duration::from_micros(micros),
            ..Settings::DEFAULT
        };
        assert_eq!(s(12_400).on_the_wire().interval, Duration::from_millis(12));
        assert_eq!(s(12_500).on_the_wire().interval, Duration::from_millis(13));
        assert_eq!(s(10).on_the_wire().interval, Duration::from_millis(1));
        assert_eq!(Settings::DEFAULT.on_the_wire(), Settings::DEFAULT);
    }
}
