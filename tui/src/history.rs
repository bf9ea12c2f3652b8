//! The time series the charts draw, derived from the stream of snapshots. Time is the snapshots' own clock
//! (seconds since the first one seen), so the same snapshots always draw the same charts.

use crate::format;
use pacer_proto::v1 as pb;
use std::collections::VecDeque;

/// How many points each series keeps (10 minutes at one snapshot a second).
pub const CAPACITY: usize = 600;

/// One series of `(seconds, value)` points.
#[derive(Debug, Default, Clone)]
pub struct Series {
    points: VecDeque<(f64, f64)>,
}

impl Series {
    fn push(&mut self, x: f64, y: f64) {
        if self.points.len() == CAPACITY {
            self.points.pop_front();
        }
        self.points.push_back((x, y));
    }

    /// The points, oldest first.
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.points.iter().copied().collect()
    }

    /// The newest value.
    pub fn last(&self) -> Option<f64> {
        self.points.back().map(|p| p.1)
    }

    /// The largest value.
    pub fn max(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    /// Whether it has no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// Every series the console draws.
#[derive(Debug, Default)]
pub struct History {
    /// Unix time of the first snapshot, in seconds.
    origin: Option<f64>,
    /// The previous snapshot's time and counters, for the rates.
    previous: Option<Counters>,
    /// Events ingested per second: the growth of the partitions' ends.
    pub ingested: Series,
    /// Rows written per second.
    pub written: Series,
    /// Median batch duration, ms.
    pub duration_p50: Series,
    /// 99th percentile of batch duration, ms.
    pub duration_p99: Series,
    /// Median end-to-end latency, ms.
    pub e2e_p50: Series,
    /// 99th percentile (upper bound) of end-to-end latency, ms.
    pub e2e_p99: Series,
    /// The mean interval of the attached workers, ms.
    pub interval: Series,
    /// Total lag, records.
    pub lag: VecDeque<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Counters {
    at: f64,
    arrived: f64,
    written: f64,
}

impl History {
    /// Takes in one snapshot.
    pub fn record(&mut self, snapshot: &pb::PipelineSnapshot) {
        let Some(at) = snapshot
            .taken_at
            .as_ref()
            .map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
        else {
            return;
        };
        let origin = *self.origin.get_or_insert(at);
        let x = at - origin;
        let totals = snapshot.totals.unwrap_or_default();
        let now = Counters {
            at,
            arrived: totals.arrived as f64,
            written: totals.rows_written as f64,
        };
        if let Some(before) = self.previous {
            let dt = now.at - before.at;
            // A control plane that restarted counts from zero again: no rate across the restart.
            if dt > 0.0 && now.written >= before.written && now.arrived >= before.arrived {
                self.ingested.push(x, (now.arrived - before.arrived) / dt);
                self.written.push(x, (now.written - before.written) / dt);
            }
        }
        self.previous = Some(now);

        let recent = snapshot.recent_batches.clone().unwrap_or_default();
        let ms = |d: &Option<prost_types::Duration>| {
            d.as_ref().map(|d| format::from_pb(d).as_secs_f64() * 1e3)
        };
        for (series, value) in [
            (&mut self.duration_p50, ms(&recent.duration_p50)),
            (&mut self.duration_p99, ms(&recent.duration_p99)),
            (&mut self.e2e_p50, ms(&recent.e2e_p50)),
            (&mut self.e2e_p99, ms(&recent.e2e_p99)),
        ] {
            if let Some(value) = value {
                series.push(x, value);
            }
        }
        let intervals: Vec<f64> = snapshot
            .workers
            .iter()
            .filter(|w| w.status() == pb::WorkerStatus::Attached)
            .filter_map(|w| w.settings.as_ref().map(|s| s.interval_ms as f64))
            .collect();
        if !intervals.is_empty() {
            self.interval
                .push(x, intervals.iter().sum::<f64>() / intervals.len() as f64);
        }
        if self.lag.len() == CAPACITY {
            self.lag.pop_front();
        }
        self.lag.push_back(totals.lag.max(0) as u64);
    }

    /// Seconds covered, from the first point to the last.
    pub fn span(&self) -> (f64, f64) {
        let first = [&self.ingested, &self.duration_p50, &self.interval]
            .iter()
            .filter_map(|s| s.points.front().map(|p| p.0))
            .fold(f64::INFINITY, f64::min);
        let last = [&self.ingested, &self.duration_p50, &self.interval]
            .iter()
            .filter_map(|s| s.points.back().map(|p| p.0))
            .fold(0.0, f64::max);
        if first.is_finite() && last > first {
            (first, last)
        } else {
            (0.0, last.max(1.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(at: i64, ingested: u64, rows: u64, lag: i64) -> pb::PipelineSnapshot {
        pb::PipelineSnapshot {
            taken_at: Some(prost_types::Timestamp {
                seconds: at,
                nanos: 0,
            }),
            totals: Some(pb::Totals {
                arrived: ingested,
                records: rows,
                rows_written: rows,
                lag,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn rates_come_from_the_difference_of_two_snapshots() {
        let mut h = History::default();
        h.record(&snapshot(100, 0, 0, 0));
        h.record(&snapshot(102, 1_500, 900, 500));
        // 1,500 ingested and 900 written in 2 s.
        assert_eq!(h.ingested.points(), vec![(2.0, 750.0)]);
        assert_eq!(h.written.points(), vec![(2.0, 450.0)]);
        assert_eq!(h.lag, VecDeque::from([0, 500]));
    }

    #[test]
    fn a_restarted_control_plane_makes_no_negative_rate() {
        let mut h = History::default();
        h.record(&snapshot(100, 5_000, 5_000, 0));
        h.record(&snapshot(101, 10, 10, 0));
        assert!(h.written.is_empty());
        h.record(&snapshot(102, 110, 110, 0));
        assert_eq!(h.written.points(), vec![(2.0, 100.0)]);
    }

    #[test]
    fn series_keep_a_bounded_number_of_points() {
        let mut h = History::default();
        for i in 0..(CAPACITY as i64 + 50) {
            h.record(&snapshot(i, i as u64, i as u64, 0));
        }
        assert_eq!(h.written.points().len(), CAPACITY);
        assert_eq!(h.lag.len(), CAPACITY);
    }
}
