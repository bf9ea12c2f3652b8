//! The batches of the last few seconds over every worker, summed up for the console and scripts: batch
//! duration, end-to-end latency and freshness percentiles that a one-batch-per-worker snapshot cannot show,
//! and how many workers the arrivals need ([`ScaleAdvice`], from each worker's rows per busy second).

use crate::domain::{Report, WorkerId};
use pacer_policy::{ScaleAdvice, ScaleInput};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// How far back the summary looks.
pub const WINDOW: Duration = Duration::from_secs(10);

/// The utilisation the scale advice plans each worker for: a fifth of its time left for bursts.
pub const TARGET_UTILISATION: f64 = 0.8;

/// At most this many batches are kept (10 s of 1,000 workers at 10 batches/s would be 100k; the newest win).
const CAPACITY: usize = 20_000;

/// One batch, in short.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    worker: WorkerId,
    records: u64,
    duration: Duration,
    e2e_p50: Option<Duration>,
    e2e_max: Option<Duration>,
    receipt_p50: Option<Duration>,
    receipt_p99: Option<Duration>,
    /// Over how many partitions the topic spread when the batch was reported.
    partitions: u32,
}

/// The batches reported in the last [`WINDOW`].
#[derive(Debug, Default)]
pub struct BatchWindow {
    samples: VecDeque<Sample>,
    /// When batches were reported and what the topic had taken in all by then: those of the window, and
    /// the newest one before it. A worker whose batches take longer than the window (the overloaded
    /// worker the scale advice is for) still leaves two points to measure the arrivals between.
    arrivals: VecDeque<(Instant, u64)>,
    /// The summary of `samples` as they are, until they change: every snapshot asks for it.
    summary: std::cell::Cell<Option<RecentBatches>>,
}

/// What the batches of the window add up to.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
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
    /// Median of the batches' median receipt → commit.
    pub receipt_p50: Option<Duration>,
    /// 99th percentile of the batches' 99th percentiles of receipt → commit.
    pub receipt_p99: Option<Duration>,
    /// Rows arriving per second over the window (the growth of the partitions' ends).
    pub arrival: Option<f64>,
    /// How many workers the arrivals need at [`TARGET_UTILISATION`]; absent until two reports span some
    /// time and a worker has measured busy time.
    pub scale: Option<ScaleAdvice>,
}

impl BatchWindow {
    /// Adds a batch of `worker` reported at `at`, when the topic had taken `arrived` records in all over
    /// `partitions` partitions.
    pub fn push(
        &mut self,
        at: Instant,
        worker: &WorkerId,
        report: &Report,
        (arrived, partitions): (u64, u32),
    ) {
        if self.samples.len() == CAPACITY {
            self.samples.pop_front();
        }
        if self.arrivals.len() == CAPACITY {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((at, arrived));
        self.summary.set(None);
        let [receipt_p50, receipt_p99] = match report.receipt_to_commit {
            Some([p50, p99, _]) => [Some(p50), Some(p99)],
            None => [None, None],
        };
        self.samples.push_back(Sample {
            at,
            worker: worker.clone(),
            records: report.records,
            duration: report.processing(),
            e2e_p50: report.e2e_p50,
            e2e_max: report.e2e_max,
            receipt_p50,
            receipt_p99,
            partitions,
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
        let old = |point: Option<&(Instant, u64)>| {
            point.is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW)
        };
        while old(self.arrivals.get(1)) {
            self.arrivals.pop_front();
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
        let mut receipt_medians: Vec<Duration> =
            self.samples.iter().filter_map(|s| s.receipt_p50).collect();
        let mut receipt_p99s: Vec<Duration> =
            self.samples.iter().filter_map(|s| s.receipt_p99).collect();
        let arrival = self.arrival();
        RecentBatches {
            window: WINDOW,
            batches: self.samples.len() as u64,
            records: self.samples.iter().map(|s| s.records).sum(),
            duration_p50: quantile(&mut durations, 0.5),
            duration_p99: quantile(&mut durations, 0.99),
            e2e_p50: quantile(&mut medians, 0.5),
            e2e_p99: quantile(&mut maxima, 0.99),
            receipt_p50: quantile(&mut receipt_medians, 0.5),
            receipt_p99: quantile(&mut receipt_p99s, 0.99),
            arrival,
            scale: arrival.and_then(|arrival| self.scale(arrival)),
        }
    }

    /// Rows per second the topic took over the window (from the last report before it, if any), if the
    /// reports span some time.
    fn arrival(&self) -> Option<f64> {
        let ((first, from), (last, to)) = (self.arrivals.front()?, self.arrivals.back()?);
        let span = last.saturating_duration_since(*first).as_secs_f64();
        (span > 0.0).then(|| to.saturating_sub(*from) as f64 / span)
    }

    /// The workers `arrival` needs, from each worker's rows per second of busy time in the window.
    fn scale(&self, arrival: f64) -> Option<ScaleAdvice> {
        let mut busy: HashMap<&WorkerId, (u64, Duration)> = HashMap::new();
        for sample in &self.samples {
            let (rows, time) = busy.entry(&sample.worker).or_default();
            *rows += sample.records;
            *time += sample.duration;
        }
        let true_rates: Vec<f64> = busy
            .values()
            .filter(|(rows, time)| *rows > 0 && !time.is_zero())
            .map(|(rows, time)| *rows as f64 / time.as_secs_f64())
            .collect();
        ScaleAdvice::new(&ScaleInput {
            arrival,
            true_rates: &true_rates,
            utilisation: TARGET_UTILISATION,
            partitions: self.samples.back()?.partitions,
        })
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
            receipt_to_commit: e2e_ms.map(|ms| [ms, ms * 3, ms * 4].map(Duration::from_millis)),
            ..Report::sample()
        }
    }

    fn worker(name: &str) -> WorkerId {
        WorkerId::new(name).unwrap()
    }

    /// Pushes a batch of `w1` that leaves the topic with nothing new.
    fn push(window: &mut BatchWindow, at: Instant, report: &Report) {
        window.push(at, &worker("w1"), report, (0, 4));
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_window() {
        let mut window = BatchWindow::default();
        let t0 = Instant::now();
        for ms in 1..=100 {
            push(&mut window, t0, &report(ms, Some(ms)));
        }
        assert_eq!(window.summary().batches, 100);
        // A new batch is in the next summary, not hidden by the one before.
        push(&mut window, t0, &report(500, None));
        let s = window.summary();
        assert_eq!(s.batches, 101);
        assert_eq!(s.records, 1010);
        assert_eq!(s.duration_p50, Some(Duration::from_millis(51)));
        assert_eq!(s.duration_p99, Some(Duration::from_millis(100)));
        // The empty batch has no latency: the latencies are over the 100 others.
        assert_eq!(s.e2e_p50, Some(Duration::from_millis(50)));
        assert_eq!(s.e2e_p99, Some(Duration::from_millis(198)));
        assert_eq!(s.receipt_p50, Some(Duration::from_millis(50)));
        assert_eq!(s.receipt_p99, Some(Duration::from_millis(297)));
    }

    #[test]
    fn the_scale_advice_divides_the_arrivals_by_what_each_worker_processes_when_busy() {
        let mut window = BatchWindow::default();
        let t0 = Instant::now();
        // One worker, 10 records per 1 ms of busy time (10,000 rows/s), while the topic takes 150 records
        // in each 10 ms (15,000 rows/s): 150 % of what it can do, so ⌈1.5 / 0.8⌉ = 2 workers.
        for i in 0..=100_u64 {
            let batch = Report {
                write: Duration::from_millis(1),
                ..Report::sample()
            };
            window.push(
                t0 + Duration::from_millis(10 * i),
                &worker("w1"),
                &batch,
                (150 * i, 8),
            );
        }
        let s = window.summary();
        assert_eq!(s.arrival, Some(15_000.0));
        let scale = s.scale.unwrap();
        assert_eq!((scale.needed, scale.usable), (2, 2));
        assert!((scale.rate_per_worker - 10_000.0).abs() < 1e-6, "{scale:?}");
        // Over 1 partition, the second worker could not help.
        window.push(
            t0 + Duration::from_millis(1_010),
            &worker("w1"),
            &Report::sample(),
            (15_150, 1),
        );
        assert!(window.summary().scale.unwrap().capped());
    }

    #[test]
    fn batches_longer_than_the_window_still_measure_the_arrivals_and_advise() {
        let mut window = BatchWindow::default();
        let t0 = Instant::now();
        // Each batch takes 12 s for 240 rows (20 rows/s busy) while 600 arrive (50/s): the window holds one
        // batch at a time, and the report before it is the arrivals' anchor.
        for i in 0..3_u64 {
            let at = t0 + Duration::from_secs(12 * i);
            window.prune(at);
            let batch = Report {
                records: 240,
                write: Duration::from_secs(12),
                ..Report::sample()
            };
            window.push(at, &worker("w1"), &batch, (600 * i, 4));
        }
        let s = window.summary();
        assert_eq!(s.batches, 1);
        assert_eq!(s.arrival, Some(50.0));
        // ⌈50 / (20 × 0.8)⌉ = 4.
        assert_eq!(s.scale.unwrap().needed, 4);
        // Long after the last report, nothing is left to measure between.
        window.prune(t0 + Duration::from_secs(60));
        assert_eq!(window.summary().arrival, None);
    }

    #[test]
    fn old_batches_leave_the_window_and_an_empty_one_has_no_percentiles() {
        let mut window = BatchWindow::default();
        let t0 = Instant::now();
        push(&mut window, t0, &report(5, Some(5)));
        push(
            &mut window,
            t0 + Duration::from_secs(8),
            &report(7, Some(7)),
        );
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
