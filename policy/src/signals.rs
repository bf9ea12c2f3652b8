//! The signals policies read off an observation: the arrival rate, the backlog and the busy ratio, and the
//! largest of a signal's recent values.

use crate::types::{Flush, Observation};
use std::collections::VecDeque;
use std::time::Duration;

/// A duration in seconds, the unit policies compute in.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A smoothed arrival rate (rows per second) of one worker's partitions.
///
/// With lag known, the rows that arrived between two observations are the change in lag plus the rows the
/// batch took, exact even when a batch was filled from a backlog; without it, rows over collect time.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArrivalRate {
    last: Option<(Duration, u64)>,
    rate: Option<f64>,
}

impl ArrivalRate {
    /// Folds in `obs` with weight `smoothing` (0..=1) and returns the smoothed rate.
    pub(crate) fn update(&mut self, obs: &Observation, smoothing: f64) -> f64 {
        let sample = match (self.last, obs.lag) {
            (Some((at, lag0)), Some(lag)) if obs.at > at => {
                let arrived = lag as f64 - lag0 as f64 + obs.rows as f64;
                Some(arrived.max(0.0) / (obs.at - at).as_secs_f64())
            }
            // A batch closed by `max_rows` may have been filled from a backlog: its rows over collect time
            // would measure how fast the backlog was taken, not how fast rows arrive.
            _ if obs.collect > Duration::ZERO && obs.flush != Flush::MaxRows => {
                Some(obs.rows as f64 / obs.collect.as_secs_f64())
            }
            _ => None,
        };
        self.last = obs.lag.map(|lag| (obs.at, lag));
        if let Some(sample) = sample.filter(|s| s.is_finite()) {
            self.rate = Some(match self.rate {
                Some(rate) => rate + smoothing * (sample - rate),
                None => sample,
            });
        }
        self.rate.unwrap_or(0.0)
    }
}

/// The largest of the last `len` values pushed: it rises at once with a larger value and falls only when
/// every larger one has left the window, so a run of quick batches cannot hide the slow one before them.
#[derive(Debug, Clone)]
pub(crate) struct WindowMax {
    len: u64,
    pushed: u64,
    /// (index, value), values strictly falling from front to back: the front is the window's largest.
    candidates: VecDeque<(u64, f64)>,
}

impl WindowMax {
    /// A window over the last `len` values (at least one).
    pub(crate) fn new(len: u64) -> Self {
        WindowMax {
            len: len.max(1),
            pushed: 0,
            candidates: VecDeque::new(),
        }
    }

    /// Adds `value` and returns the window's largest.
    pub(crate) fn push(&mut self, value: f64) -> f64 {
        while self.candidates.back().is_some_and(|(_, v)| *v <= value) {
            self.candidates.pop_back();
        }
        self.candidates.push_back((self.pushed, value));
        self.pushed += 1;
        while self
            .candidates
            .front()
            .is_some_and(|(i, _)| *i + self.len < self.pushed)
        {
            self.candidates.pop_front();
        }
        self.max().unwrap_or(value)
    }

    /// The window's largest value, once one was pushed.
    pub(crate) fn max(&self) -> Option<f64> {
        self.candidates.front().map(|(_, v)| *v)
    }
}

/// Rows that waited in the log beyond those that arrived while the batch was processed: zero when the
/// worker keeps up, growing when it falls behind.
pub(crate) fn backlog(obs: &Observation, rate: f64) -> f64 {
    let lag = obs.lag.unwrap_or(0) as f64;
    (lag - rate * secs(obs.processing)).max(0.0)
}

/// Processing time over the time the batch's rows took to arrive (rows / arrival rate): at or above 1 the
/// writer cannot keep up with the arrivals, whatever the interval. Dividing by the interval instead would
/// read a batch filled from a backlog (more rows than an interval brings) as a sign of falling behind, and
/// a policy that grows the interval on it would feed on its own transient. Without a rate or rows, processing
/// over the interval.
pub(crate) fn busy_ratio(obs: &Observation, rate: f64) -> f64 {
    let p = secs(obs.processing);
    if obs.rows > 0 && rate > 0.0 {
        return p * rate / obs.rows as f64;
    }
    let interval = secs(obs.settings.interval).max(secs(obs.collect)).max(1e-6);
    p / interval
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::obs;

    #[test]
    fn rate_from_lag_counts_backlog_rows_once() {
        let mut rate = ArrivalRate::default();
        rate.update(&obs(1000, 100, 1000, 50, 500), 1.0);
        // 100 ms later: 1000 rows taken, lag up by 500: 1500 arrived in 0.1 s.
        let r = rate.update(&obs(1100, 100, 1000, 50, 1000), 1.0);
        assert!((r - 15_000.0).abs() < 1e-6, "{r}");
    }

    #[test]
    fn rate_without_lag_is_rows_over_collect_time() {
        let mut rate = ArrivalRate::default();
        let mut o = obs(1000, 100, 1000, 50, 0);
        o.lag = None;
        assert!((rate.update(&o, 1.0) - 10_000.0).abs() < 1e-6);
        o.flush = Flush::MaxRows;
        o.rows = 5000;
        assert!(
            (rate.update(&o, 1.0) - 10_000.0).abs() < 1e-6,
            "a capped batch is no sample"
        );
    }

    #[test]
    fn window_max_keeps_the_largest_of_the_last_values() {
        let mut w = WindowMax::new(3);
        assert_eq!(w.max(), None);
        let seen: Vec<f64> = [1.0, 5.0, 2.0, 3.0, 1.0, 0.5, 4.0]
            .into_iter()
            .map(|v| w.push(v))
            .collect();
        // 5 holds while it is among the last three, then 3, then the window's own largest.
        assert_eq!(seen, [1.0, 5.0, 5.0, 5.0, 3.0, 3.0, 4.0]);
    }

    #[test]
    fn window_max_agrees_with_a_scan() {
        let mut rng = fastrand::Rng::with_seed(7);
        for len in [1_usize, 2, 7, 50] {
            let mut w = WindowMax::new(len as u64);
            let mut values = Vec::new();
            for _ in 0..500 {
                let v = (rng.f64() * 100.0).round();
                values.push(v);
                let start = values.len().saturating_sub(len);
                let scan = values[start..].iter().copied().fold(f64::MIN, f64::max);
                assert_eq!(w.push(v), scan, "window {len}");
            }
        }
    }

    #[test]
    fn backlog_and_busy_ratio() {
        // 10 000 rows/s, 50 ms processing: 500 of the 800 rows behind arrived meanwhile.
        let o = obs(1000, 100, 1000, 50, 800);
        assert!((backlog(&o, 10_000.0) - 300.0).abs() < 1e-9);
        // 1000 rows took 100 ms to arrive and 50 ms to process.
        assert!((busy_ratio(&o, 10_000.0) - 0.5).abs() < 1e-9);
        assert!(
            (busy_ratio(&o, 0.0) - 0.5).abs() < 1e-9,
            "processing over the interval"
        );
    }
}
