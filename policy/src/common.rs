//! What the policies share: the one clamp to bounds every decision goes through, the signals they read off
//! an observation (arrival rate, backlog, busy ratio), and how numbers look in a reason.

use crate::types::{Bounds, Decision, Observation, Settings};
use std::fmt;
use std::time::Duration;

/// `max_rows` is this many times the rows an interval is expected to collect: room for bursts and for a
/// backlog to be drained in a few large batches, since a batch that closes at `max_rows` caps throughput.
pub(crate) const ROW_HEADROOM: f64 = 4.0;

/// Makes the settings a decision returns: `interval_secs` and `max_rows` (any `f64`, even NaN or infinite)
/// clamped to `bounds`, and `max_bytes` sized from the observed bytes per row. `max_rows` is never below the
/// cold start's: a worker sized for a quiet minute must still absorb a burst without its batches closing
/// at a few hundred rows, which caps throughput (the fixed cost paid per few rows) and starves the fit of
/// the batch sizes it needs. NaN is read as "as large as
/// allowed", the safe side when falling behind is the risk.
pub(crate) fn clamp(
    bounds: &Bounds,
    interval_secs: f64,
    max_rows: f64,
    obs: &Observation,
) -> Settings {
    let lo = bounds.min_interval.as_secs_f64();
    let hi = bounds.max_interval.as_secs_f64();
    let secs = if interval_secs.is_nan() {
        hi
    } else {
        interval_secs.clamp(lo, hi)
    };
    // Within [lo, hi] from valid Durations, so the conversion cannot fail; fall back to the ceiling anyway.
    let interval = Duration::try_from_secs_f64(secs).unwrap_or(bounds.max_interval);
    let interval = interval.clamp(bounds.min_interval, bounds.max_interval);
    let rows = if max_rows.is_nan() {
        bounds.max_rows as f64
    } else {
        max_rows
    };
    let floor = bounds
        .cold_start
        .max_rows
        .clamp(bounds.min_rows, bounds.max_rows);
    let max_rows = clamp_u64(rows, floor, bounds.max_rows);
    let max_bytes = if obs.rows > 0 && obs.bytes > 0 {
        let per_row = obs.bytes as f64 / obs.rows as f64;
        clamp_u64(2.0 * per_row * max_rows as f64, 1, bounds.max_bytes)
    } else {
        obs.settings.max_bytes.clamp(1, bounds.max_bytes)
    };
    Settings {
        interval,
        max_rows,
        max_bytes,
    }
}

/// `value` rounded up into `lo..=hi` (`lo <= hi`).
fn clamp_u64(value: f64, lo: u64, hi: u64) -> u64 {
    if value >= hi as f64 {
        hi
    } else if value > lo as f64 {
        // Below `hi`, so the cast cannot saturate.
        (value.ceil() as u64).clamp(lo, hi)
    } else {
        lo
    }
}

/// `max_rows` for an interval: [`ROW_HEADROOM`] times the rows it is expected to collect.
pub(crate) fn rows_for(interval_secs: f64, rate: f64) -> f64 {
    ROW_HEADROOM * rate.max(0.0) * interval_secs.max(0.0)
}

/// The `max_rows` a policy needs after `obs` for a next interval of `next_secs`: [`rows_for`] the longer of
/// that interval and the last batch's processing time (a worker that is behind collects for as long as the
/// writer takes, and a small `max_rows` would cap its throughput exactly then), plus the backlog, which the
/// next batch takes at once.
pub(crate) fn needed_rows(next_secs: f64, obs: &Observation, rate: f64) -> f64 {
    rows_for(next_secs.max(secs(obs.processing)), rate) + backlog(obs, rate)
}

/// Keeps `current` `max_rows` while it lies within `needed` ..= 4 × `needed`; otherwise 2 × `needed`, so
/// that `max_rows` does not follow every wobble of the rate (each change is a change pushed to the worker).
pub(crate) fn hold_rows(current: u64, needed: f64) -> f64 {
    let now = current as f64;
    if needed.is_finite() && now >= needed && now <= 4.0 * needed {
        now
    } else {
        2.0 * needed
    }
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
            _ if obs.collect > Duration::ZERO && obs.flush != crate::Flush::MaxRows => {
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

/// The settings an adaptive policy moves to: interval `next_secs`, and `max_rows` for what it brings (held
/// while the current value is close enough), within the bounds.
pub(crate) fn adaptive_settings(
    bounds: &Bounds,
    next_secs: f64,
    current: Settings,
    obs: &Observation,
    rate: f64,
) -> Settings {
    clamp(
        bounds,
        next_secs,
        hold_rows(current.max_rows, needed_rows(next_secs, obs, rate)),
        obs,
    )
}

/// A decision that moves the interval from `from` (seconds) to `settings`, for the reason `why`.
pub(crate) fn interval_decision(why: &str, from: f64, settings: Settings, rate: f64) -> Decision {
    let reason = format!(
        "{why}: interval {} → {}, max_rows {} for {} rows/s",
        ms(from),
        ms(secs(settings.interval)),
        settings.max_rows,
        count(rate)
    );
    Decision {
        settings,
        reason,
        advice: None,
    }
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A duration in seconds as a reason shows it: `8.2 ms`, `125 ms`, `2.50 s`.
pub(crate) fn ms(secs: f64) -> Ms {
    Ms(secs)
}

/// Row counts and rates as a reason shows them: `950`, `45.2k`, `1.20M`.
pub(crate) fn count(n: f64) -> Count {
    Count(n)
}

/// `x` with `decimals` (0..=3) digits after the point.
pub(crate) fn fixed(x: f64, decimals: u32) -> Fixed {
    Fixed(x, decimals.min(3))
}

// The simulator writes millions of reasons: these format through integers, straight into the reason,
// where float formatting and intermediate strings were most of its time.

/// See [`ms`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ms(f64);

/// See [`count`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Count(f64);

/// See [`fixed`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed(f64, u32);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 * 1000.0;
        if !ms.is_finite() {
            f.write_str("∞")
        } else if ms < 9.95 {
            write!(f, "{} ms", Fixed(ms, 1))
        } else if ms < 999.5 {
            write!(f, "{} ms", Fixed(ms, 0))
        } else {
            write!(f, "{} s", Fixed(ms / 1000.0, 2))
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if !n.is_finite() {
            f.write_str("∞")
        } else if n.abs() < 9999.5 {
            Fixed(n, 0).fmt(f)
        } else if n.abs() < 999_950.0 {
            write!(f, "{}k", Fixed(n / 1e3, 1))
        } else {
            write!(f, "{}M", Fixed(n / 1e6, 2))
        }
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fixed(x, decimals) = *self;
        if !x.is_finite() {
            return f.write_str(if x.is_nan() {
                "NaN"
            } else if x > 0.0 {
                "∞"
            } else {
                "-∞"
            });
        }
        let scale = 10_u64.pow(decimals);
        let scaled = (x.abs() * scale as f64).round();
        if scaled >= 1e18 {
            return write!(f, "{x:e}");
        }
        // Below 1e18, so the cast cannot saturate.
        let scaled = scaled as u64;
        let sign = if x < 0.0 && scaled > 0 { "-" } else { "" };
        if decimals == 0 {
            write!(f, "{sign}{scaled}")
        } else {
            write!(
                f,
                "{sign}{}.{:0width$}",
                scaled / scale,
                scaled % scale,
                width = decimals as usize
            )
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Flush;

    /// A batch of `rows` collected for `interval_ms`, processed in `processing_ms`, with `lag` behind.
    pub(crate) fn obs(
        at_ms: u64,
        interval_ms: u64,
        rows: u64,
        processing_ms: u64,
        lag: u64,
    ) -> Observation {
        let settings = Settings {
            interval: Duration::from_millis(interval_ms),
            max_rows: 100_000,
            max_bytes: 1 << 26,
        };
        Observation {
            at: Duration::from_millis(at_ms),
            settings,
            rows,
            bytes: rows * 500,
            flush: Flush::Interval,
            collect: settings.interval,
            processing: Duration::from_millis(processing_ms),
            lag: Some(lag),
            e2e_p50: None,
            e2e_max: None,
        }
    }

    #[test]
    fn clamp_respects_bounds_and_survives_nan() {
        let b = Bounds::default();
        let o = obs(0, 100, 0, 0, 0);
        let s = clamp(&b, f64::NAN, f64::NAN, &o);
        assert_eq!((s.interval, s.max_rows), (b.max_interval, b.max_rows));
        let s = clamp(&b, -1.0, f64::NEG_INFINITY, &o);
        assert_eq!(
            (s.interval, s.max_rows),
            (b.min_interval, b.cold_start.max_rows)
        );
        let s = clamp(&b, f64::INFINITY, 1e300, &o);
        assert_eq!((s.interval, s.max_rows), (b.max_interval, b.max_rows));
    }

    #[test]
    fn rate_from_lag_counts_backlog_rows_once() {
        let mut rate = ArrivalRate::default();
        rate.update(&obs(1000, 100, 1000, 50, 500), 1.0);
        // 100 ms later: 1000 rows taken, lag up by 500: 1500 arrived in 0.1 s.
        let r = rate.update(&obs(1100, 100, 1000, 50, 1000), 1.0);
        assert!((r - 15_000.0).abs() < 1e-6, "{r}");
    }

    #[test]
    fn formats() {
        assert_eq!(ms(0.0082).to_string(), "8.2 ms");
        assert_eq!(ms(0.125).to_string(), "125 ms");
        assert_eq!(ms(2.5).to_string(), "2.50 s");
        assert_eq!(count(45_200.0).to_string(), "45.2k");
        assert_eq!(fixed(-0.004, 2).to_string(), "0.00");
        assert_eq!(fixed(-1.5, 1).to_string(), "-1.5");
        assert_eq!(fixed(0.96, 2).to_string(), "0.96");
        assert_eq!(ms(0.009_96).to_string(), "10 ms");
        assert_eq!(ms(0.999_6).to_string(), "1.00 s");
    }
}
