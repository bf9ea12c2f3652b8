//! The vocabulary every policy speaks: the settings it chooses, the bounds it must respect, what it observes
//! of each batch, and the decision it returns.

use std::fmt;
use std::time::Duration;

/// The limits of a worker's micro-batches: a batch closes at whichever it reaches first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a batch collects records.
    pub interval: Duration,
    /// The most records in one batch.
    pub max_rows: u64,
    /// The most record bytes in one batch.
    pub max_bytes: u64,
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

/// Why a batch closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// The interval elapsed.
    Interval,
    /// The batch reached `max_rows`.
    MaxRows,
    /// The batch reached `max_bytes`.
    MaxBytes,
    /// The worker was stopping.
    Drain,
}

/// What a policy sees of one finished batch. Times are passed in, never read from a clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// When the batch finished, as time since an arbitrary origin fixed by the caller (monotonic).
    pub at: Duration,
    /// The settings the batch was collected under.
    pub settings: Settings,
    /// Records in the batch.
    pub rows: u64,
    /// Record bytes in the batch.
    pub bytes: u64,
    /// Which limit closed it.
    pub flush: Flush,
    /// Time spent collecting records (close to the interval unless a size limit closed it).
    pub collect: Duration,
    /// Time spent processing: transform, write and commit.
    pub processing: Duration,
    /// Records behind the end of the worker's partitions after the batch, if known.
    pub lag: Option<u64>,
    /// Median end-to-end latency of the batch's events, if known.
    pub e2e_p50: Option<Duration>,
    /// Largest end-to-end latency of the batch's events, if known.
    pub e2e_max: Option<Duration>,
}

/// What a policy wants after an observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The settings to run the next batches with (equal to the current ones when nothing should change).
    pub settings: Settings,
    /// Why, in words an operator can read: the signal and the rule that produced the settings.
    pub reason: String,
    /// Set when no setting can keep up: what to do instead (for example, add workers or partitions).
    pub advice: Option<String>,
}
