//! The vocabulary every policy speaks: the settings it chooses, what it observes of each batch, and the
//! decision it returns.

pub use pacer_batch::{Flush, Settings};
use std::time::Duration;

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
    /// 99th percentile of the batch's events' freshness, from ingest's receipt of the request (the
    /// record's timestamp) to the commit of the row, if known.
    pub receipt_p99: Option<Duration>,
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
