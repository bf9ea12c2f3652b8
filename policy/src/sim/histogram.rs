//! A weighted histogram of latencies in logarithmic buckets, into which a whole batch is added at once as a
//! uniform range of latencies: the simulator never looks at single events.

/// The smallest latency told apart (seconds): 10 µs.
const FLOOR: f64 = 1e-5;
/// Each bucket is this many times wider than the one before: quantiles are exact to about 2 %.
const GROWTH: f64 = 1.04;
/// Buckets up to FLOOR · GROWTH^BUCKETS ≈ 3 days.
const BUCKETS: usize = 620;

/// Weighted latencies (seconds) in logarithmic buckets.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    weights: Vec<f64>,
    total: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            weights: vec![0.0; BUCKETS],
            total: 0.0,
        }
    }
}

/// The bucket of `x` and the position in it as a fraction, `x >= FLOOR`.
fn position(x: f64) -> f64 {
    ((x.max(FLOOR) / FLOOR).ln() / GROWTH.ln()).min(BUCKETS as f64 - 1e-9)
}

fn value_at(position: f64) -> f64 {
    FLOOR * GROWTH.powf(position)
}

impl Histogram {
    /// Adds `weight` spread uniformly (in log space, close enough at 4 % buckets) over `lo..=hi` seconds.
    pub(crate) fn add_range(&mut self, lo: f64, hi: f64, weight: f64) {
        if weight.is_nan() || weight <= 0.0 || !lo.is_finite() || !hi.is_finite() {
            return;
        }
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let (a, b) = (position(lo), position(hi));
        self.total += weight;
        if b - a < 1e-9 {
            self.weights[a as usize] += weight;
            return;
        }
        let per_unit = weight / (b - a);
        let mut i = a as usize;
        let last = b as usize;
        while i <= last {
            let start = (i as f64).max(a);
            let end = ((i + 1) as f64).min(b);
            self.weights[i] += per_unit * (end - start);
            i += 1;
        }
    }

    /// Adds another histogram's weights to this one.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (w, o) in self.weights.iter_mut().zip(&other.weights) {
            *w += o;
        }
        self.total += other.total;
    }

    /// The `q` quantile (0..=1) in seconds, or `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        let wanted = q.clamp(0.0, 1.0) * self.total;
        let mut seen = 0.0;
        for (i, w) in self.weights.iter().enumerate() {
            if *w > 0.0 && seen + w >= wanted {
                let within = ((wanted - seen) / w).clamp(0.0, 1.0);
                return Some(value_at(i as f64 + within));
            }
            seen += w;
        }
        Some(value_at(BUCKETS as f64))
    }

    /// Total weight (rows).
    pub(crate) fn total(&self) -> f64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_uniform_range() {
        let mut h = Histogram::default();
        h.add_range(1.0, 1.0, 1.0);
        assert!((h.quantile(0.5).expect("not empty") - 1.0).abs() < 0.05);
        let mut h = Histogram::default();
        for i in 0..100 {
            let x = 0.01 * f64::from(i + 1);
            h.add_range(x, x, 1.0);
        }
        let p99 = h.quantile(0.99).expect("not empty");
        assert!((p99 - 0.99).abs() < 0.05, "{p99}");
        let p50 = h.quantile(0.5).expect("not empty");
        assert!((p50 - 0.5).abs() < 0.03, "{p50}");
    }

    #[test]
    fn ranges_spread_their_weight() {
        let mut h = Histogram::default();
        h.add_range(0.1, 0.2, 1000.0);
        assert!((h.total() - 1000.0).abs() < 1e-9);
        let p50 = h.quantile(0.5).expect("not empty");
        assert!(p50 > 0.13 && p50 < 0.16, "{p50}");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
