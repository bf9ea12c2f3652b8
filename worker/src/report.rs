//! The figures of one written batch: the worker counts them in Prometheus, reports them to the control plane
//! and keeps them in `batch_metrics` (see [`crate::batch_metrics`]).

use crate::letter::DeadLetter;
use crate::rows::Routes;
use crate::sink::WriteOutcome;
use pacer_batch::Flush;
use pacer_batch::Settings;
use std::time::Duration;
use time::OffsetDateTime;

/// The figures of one batch.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// The worker that wrote the batch.
    pub worker_id: String,
    /// The batch's number in this worker's run, from 1.
    pub batch_no: u64,
    /// When the batch started collecting records.
    pub started_at: OffsetDateTime,
    /// When its offsets were committed.
    pub finished_at: OffsetDateTime,
    /// Records in the batch.
    pub records: usize,
    /// Rows inserted, replaced or deleted, in every route's table.
    pub rows_written: u64,
    /// Valid events already written (re-deliveries, client retries) or older than the row (upserts).
    pub duplicates: u64,
    /// Records that became dead letters.
    pub invalid: usize,
    /// Key and payload bytes of the records.
    pub bytes: usize,
    /// Which limit closed the batch.
    pub flush_reason: Flush,
    /// The settings the batch was collected under.
    pub settings: Settings,
    /// Time spent collecting records.
    pub poll: Duration,
    /// Time spent parsing, validating, enriching and encoding.
    pub transform: Duration,
    /// Time spent in PostgreSQL, retries included.
    pub write: Duration,
    /// Time spent committing the Kafka offsets.
    pub commit: Duration,
    /// Write attempts (1 unless PostgreSQL failed).
    pub write_attempts: u32,
    /// Records behind the end of the owned partitions after this batch, if known.
    pub lag: Option<i64>,
    /// Records behind the end of each owned (topic, partition), from the same statistics.
    pub partition_lag: Vec<crate::ownership::PartitionLag>,
    /// Median end-to-end latency (`processed_at - time`) of the batch's events.
    pub e2e_p50: Option<Duration>,
    /// Largest end-to-end latency of the batch's events.
    pub e2e_max: Option<Duration>,
    /// Freshness: the median, 99th percentile and largest time from each valid event's receipt (its
    /// record's timestamp) to the commit of the transaction that wrote its row.
    pub receipt_to_commit: Option<[Duration; 3]>,
    /// Per route that had rows or dead letters in the batch: its figures, in route order.
    pub routes: Vec<RouteCount>,
    /// Where the records waited until the batch closed: receipt → fetched, fetched → closed.
    pub stages: Option<crate::FetchStages>,
}

pub use pacer_batch::{NO_ROUTE, RouteCount};

/// Each route's rows and dead letters in a written batch: the rows from the write's outcome, the dead
/// letters from the transform's (`dead`) and PostgreSQL's refusals.
pub(crate) fn route_counts(
    routes: &Routes,
    outcome: &WriteOutcome,
    dead: &[DeadLetter],
) -> Vec<RouteCount> {
    let mut counts: Vec<RouteCount> = routes
        .names()
        .enumerate()
        .map(|(i, name)| RouteCount {
            route: name.to_owned(),
            rows: outcome.by_route.get(i).copied().unwrap_or(0),
            dead_letters: outcome.refused_by_route.get(i).copied().unwrap_or(0),
        })
        .collect();
    let mut unrouted = 0;
    for letter in dead {
        match letter
            .route
            .as_deref()
            .and_then(|name| counts.iter_mut().find(|c| c.route == name))
        {
            Some(count) => count.dead_letters += 1,
            None => unrouted += 1,
        }
    }
    if unrouted > 0 {
        counts.push(RouteCount {
            route: NO_ROUTE.to_owned(),
            rows: 0,
            dead_letters: unrouted,
        });
    }
    counts.retain(|count| count.rows > 0 || count.dead_letters > 0);
    counts
}
