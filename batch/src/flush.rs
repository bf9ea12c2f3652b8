//! Why a batch closed.

use std::fmt;

/// Which limit closed a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flush {
    /// The interval elapsed.
    Interval,
    /// The batch reached `max_rows`.
    MaxRows,
    /// The batch reached `max_bytes`.
    MaxBytes,
    /// The worker was stopping and wrote what it had.
    Drain,
}

impl Flush {
    /// Every reason.
    pub const ALL: [Flush; 4] = [
        Flush::Interval,
        Flush::MaxRows,
        Flush::MaxBytes,
        Flush::Drain,
    ];

    /// The name stored in `batch_metrics.flush_reason` and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Flush::Interval => "interval",
            Flush::MaxRows => "max_rows",
            Flush::MaxBytes => "max_bytes",
            Flush::Drain => "drain",
        }
    }
}

impl fmt::Display for Flush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
