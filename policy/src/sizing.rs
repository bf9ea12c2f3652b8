//! How a policy's wish becomes settings: `max_rows` sized for the interval, the backlog and bursts, and the
//! one clamp to the bounds that every decision goes through.

use crate::bounds::Bounds;
use crate::signals::{backlog, secs};
use crate::types::{Observation, Settings};
use std::time::Duration;

/// `max_rows` is this many times the rows an interval is expected to collect: room for bursts and for a
/// backlog to be drained in a few large batches, since a batch that closes at `max_rows` caps throughput.
pub(crate) const ROW_HEADROOM: f64 = 4.0;

/// Makes the settings a decision returns: `interval_secs` and `max_rows` (any `f64`, even NaN or infinite)
/// clamped to `bounds`, and `max_bytes` sized from the observed bytes per row. `max_rows` is never below the
/// cold start's: a worker sized for a quiet minute must still absorb a burst without its batches closing
/// at a few hundred rows, which caps throughput (the fixed cost paid per few rows) and starves the fit of
/// the batch sizes it needs. NaN is read as "as large as allowed", the safe side when falling behind is the
/// risk.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::obs;

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
    fn max_bytes_follows_the_row_size() {
        let b = Bounds::default();
        // 500 bytes a row, 20 000 rows: room for twice that.
        let s = clamp(&b, 0.1, 20_000.0, &obs(0, 100, 1000, 10, 0));
        assert_eq!(s.max_bytes, 2 * 500 * 20_000);
    }

    #[test]
    fn rows_are_held_within_a_band() {
        assert_eq!(hold_rows(10_000, 5_000.0), 10_000.0);
        assert_eq!(hold_rows(10_000, 20_000.0), 40_000.0);
        assert_eq!(hold_rows(10_000, 1_000.0), 2_000.0);
        assert!(hold_rows(10_000, f64::NAN).is_nan());
    }
}
