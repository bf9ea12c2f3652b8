//! How a reason reads: durations, counts and ratios formatted for an operator, and the reason of a decision
//! that moves the interval.

use crate::signals::secs;
use crate::types::{Decision, Settings};
use std::fmt;

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
mod tests {
    use super::*;

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

    #[test]
    fn odd_numbers_still_read() {
        assert_eq!(ms(f64::INFINITY).to_string(), "∞");
        assert_eq!(count(1.2e6).to_string(), "1.20M");
        assert_eq!(fixed(f64::NAN, 1).to_string(), "NaN");
        assert_eq!(fixed(f64::NEG_INFINITY, 1).to_string(), "-∞");
    }
}
