//! The batches of the last few seconds over every worker, summed up for the console and scripts: batch
//! duration and end-to-end latency percentiles that a one-batch-per-worker snapshot cannot show.

use crate::domain::Report;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// How far back the summary looks.
pub const WINDOW: Duration = Duration::from_secs(10);

/// At most this many batches are kept (10 s of 1,000 workers at 10 batches/s would be 100k; the newest win).
const CAPACITY: usize = 20_000;

/// One batch, in short.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    records: u64,
    duration: Duration,
    e2e_p50: Option<Duration>,
    e2e_max: Option<Duration>,
}

/// The batches reported in the last [`WINDOW`].
#[derive(Debug, Default)]
pub struct BatchWindow {
    samples: VecDeque<Sample>,
    /// The summary of `samples` as they are, until they change: every snapshot asks for it.
    summary: std::cell::Cell<Option<RecentBatches>>,
}

/// What the batches of the window add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecentBatches {
    /// How far back it looks.
    pub window: Duration,
    /// Batches reported in it.
    pub batches: u64,
    /// Records in those batches.
    pub records: u64,
    /// Median batch duration (transform, write and commit).
    pub duration_p50: Option<Duration>,
    /// 99th percentile of batch duration.
    pub duration_p99: Option<Duration>,
    /// Median of the batches' median end-to-end latencies.
    pub e2e_p50: Option<Duration>,
    /// 99th percentile of the batches' largest end-to-end latencies: an upper bound of the events' p99.
    pub e2e_p99: Option<Duration>,
}

impl BatchWindow {
    /// Adds a batch reported at `at`.
    pub fn push(&mut self, at: Instant, report: &Report) {
        if self.samples.len() == CAPACITY {
            self.samples.pop_front();
        }
        self.summary.set(None);
        self.samples.push_back(Sample {
            at,
            records: report.records,
            duration: report.processing(),
            e2e_p50: report.e2e_p50,
            e2e_max: report.e2e_max,
        });
    }

    /// Drops what is older than the window at `now`.
    pub fn prune(&mut self, now: Instant) {
        while self
            .samples
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) > WINDOW)
        {
            self.samples.pop_front();
            self.summary.set(None);
        }
    }

    /// The summary of what the window holds.
    pub fn summary(&self) -> RecentBatches {
        if let Some(summary) = self.summary.get() {
            return summary;
        }
        let summary = self.compute();
        self.summary.set(Some(summary));
        summary
    }

    fn compute(&self) -> RecentBatches {
        let mut durations: Vec<Duration> = self.samples.iter().map(|s| s.duration).collect();
        let mut medians: Vec<Duration> = self.samples.iter().filter_map(|s| s.e2e_p50).collect();
        let mut maxima: Vec<Duration> = self.samples.iter().filter_map(|s| s.e2e_max).collect();
        RecentBatches {
            window: WINDOW,
            batches: self.samples.len() as u64,
            records: self.samples.iter().map(|s| s.records).sum(),
            duration_p50: quantile(&mut durations, 0.5),
            duration_p99: quantile(&mut durations, 0.99),
            e2e_p50: quantile(&mut medians, 0.5),
            e2e_p99: quantile(&mut maxima, 0.99),
        }
    }
}

/// The nearest-rank quantile `q` of `values` (sorted in place); `None` if there are none.
fn quantile(values: &mut [Duration], q: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (q * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(duration_ms: u64, e2e_ms: Option<u64>) -> Report {
        Report {
            write: Duration::from_millis(duration_ms),
            e2e_p50: e2e_ms.map(Duration::from_millis),
            e2e_max: e2e_ms.map(|ms| Duration::from_millis(ms * 2)),
            ..Report::sample()
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_window() {
        let mut window = BatchWindow::default();
        let t0 = Instant::now();
        for ms in 1..=100 {
            window.push(t0, &report(ms, Some(ms)));
        }
        assert_eq!(window.summary().batches, 100);
        // A new batch is in the next summary, not hidden by the one before.
        window.push(t0, &report(500, None));
        let s = window.summary();
        assert_eq!(s.batches, 101);
        assert_eq!(s.records, 1010);
        assert_eq!(s.duration_p50, Some(Duration::from_millis(51)));
        assert_eq!(s.duration_p99, Some(Duration::from_millis(100)));
        // The empty batch has no latency: the latencies are over the 100 others.
        assert_eq!(s.e2e_p50, Some(Duration::from_millis(50)));
        assert_eq!(s.e2e_p99, Some(Duration::from_millis(198)));
    }

    #[test]
    fn old_batches_leave_the_window_and_an_empty_one_has_no_percentiles() {
        let mut window = BatchWindow::default();
        let t0 = Instant::now();
        window.push(t0, &report(5, Some(5)));
        window.push(t0 + Duration::from_secs(8), &report(7, Some(7)));
        window.prune(t0 + Duration::from_secs(12));
        assert_eq!(window.summary().batches, 1);
        assert_eq!(
            window.summary().duration_p50,
            Some(Duration::from_millis(7))
        );
        window.prune(t0 + Duration::from_secs(30));
        let empty = window.summary();
        assert_eq!(empty.batches, 0);
        assert_eq!(empty.duration_p99, None);
        assert_eq!(empty.e2e_p50, None);
    }
}
