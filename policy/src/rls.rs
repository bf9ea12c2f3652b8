//! Recursive least squares for a straight line y ≈ θ₀ + θ₁·x with exponential forgetting: the `model`
//! policy's fit of processing time against rows.
//!
//! Each sample updates the estimate in O(1); a forgetting factor below 1 weights a sample k steps old by
//! forgetting^k, so the fit follows a cost that drifts. Without fresh excitation (every batch the same size)
//! forgetting makes the covariance grow without bound ("wind-up"), so its trace is capped. Samples can be
//! weighted: with noise proportional to y (processing times vary by a percentage), weighting by 1/y² keeps
//! a few large batches from drowning the fixed cost that the small ones measure.

/// Recursive least squares of y ≈ θ₀ + θ₁·x.
#[derive(Debug, Clone, PartialEq)]
pub struct Rls {
    theta: [f64; 2],
    p: [[f64; 2]; 2],
    forgetting: f64,
    samples: u64,
    max_trace: f64,
    /// Forgotten-and-weighted sums of w, w·x and w·y: the centroid the fitted line passes through.
    sums: [f64; 3],
}

impl Rls {
    /// A fit starting from `prior` with variance `prior_var` on each coefficient (large = know nothing) and
    /// forgetting factor `forgetting` in (0, 1] (1 = remember everything).
    pub fn new(prior: [f64; 2], prior_var: f64, forgetting: f64) -> Self {
        let var = if prior_var.is_finite() && prior_var > 0.0 {
            prior_var
        } else {
            1e6
        };
        Rls {
            theta: prior,
            p: [[var, 0.0], [0.0, var]],
            forgetting: if forgetting > 0.0 && forgetting <= 1.0 {
                forgetting
            } else {
                1.0
            },
            samples: 0,
            max_trace: 2.0 * var,
            sums: [0.0; 3],
        }
    }

    /// Folds in one sample; non-finite samples are ignored.
    pub fn update(&mut self, x: f64, y: f64) {
        self.update_weighted(x, y, 1.0);
    }

    /// Folds in one sample with weight `weight` (> 0); others and non-finite samples are ignored.
    pub fn update_weighted(&mut self, x: f64, y: f64, weight: f64) {
        if !(x.is_finite() && y.is_finite() && weight.is_finite() && weight > 0.0) {
            return;
        }
        let (x0, y0) = (x, y);
        let w = weight.sqrt();
        // The weighted regressor φ = √w·(1, x) and target √w·y.
        let phi = [w, w * x];
        let y = w * y;
        let [[p00, p01], [p10, p11]] = self.p;
        let pf = [p00 * phi[0] + p01 * phi[1], p10 * phi[0] + p11 * phi[1]];
        let denom = self.forgetting + phi[0] * pf[0] + phi[1] * pf[1];
        if !(denom.is_finite() && denom > 0.0) {
            return;
        }
        let gain = [pf[0] / denom, pf[1] / denom];
        let error = y - (self.theta[0] * phi[0] + self.theta[1] * phi[1]);
        let theta = [
            self.theta[0] + gain[0] * error,
            self.theta[1] + gain[1] * error,
        ];
        // P ← (P − k·φᵀ·P) / forgetting, kept symmetric.
        let mut p = [[0.0; 2]; 2];
        for (i, row) in p.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = (self.p[i][j] - gain[i] * pf[j]) / self.forgetting;
            }
        }
        let off = 0.5 * (p[0][1] + p[1][0]);
        p[0][1] = off;
        p[1][0] = off;
        let trace = p[0][0] + p[1][1];
        if trace > self.max_trace {
            let scale = self.max_trace / trace;
            p.iter_mut().flatten().for_each(|c| *c *= scale);
        }
        if theta
            .iter()
            .chain(p.iter().flatten())
            .all(|v| v.is_finite())
        {
            self.theta = theta;
            self.p = p;
            self.samples += 1;
            let f = self.forgetting;
            self.sums = [
                f * self.sums[0] + weight,
                f * self.sums[1] + weight * x0,
                f * self.sums[2] + weight * y0,
            ];
        }
    }

    /// The current estimate (θ₀, θ₁).
    pub fn estimate(&self) -> [f64; 2] {
        self.theta
    }

    /// The weighted mean (x, y) of the samples, with the same forgetting: the point the data pins down best,
    /// through which a constrained fit should pass.
    pub fn centroid(&self) -> Option<(f64, f64)> {
        let [w, wx, wy] = self.sums;
        (w > 0.0).then(|| (wx / w, wy / w))
    }

    /// How many samples have been folded in.
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_line_exactly() {
        let mut rls = Rls::new([0.0, 0.0], 1e6, 0.98);
        for i in 0..50 {
            let x = f64::from(i % 7) * 1.5;
            rls.update(x, 8.0 + 20.0 * x);
        }
        let [a, b] = rls.estimate();
        assert!((a - 8.0).abs() < 1e-3 && (b - 20.0).abs() < 1e-4, "{a} {b}");
    }

    #[test]
    fn weighting_recovers_a_under_proportional_noise() {
        let mut rls = Rls::new([0.0, 0.0], 1e4, 0.99);
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..5000 {
            let x = if i % 10 == 0 {
                100.0
            } else {
                0.5 + f64::from(i % 3)
            };
            let y = (8.0 + 20.0 * x) * (1.0 + 0.1 * (rng.f64() - 0.5));
            rls.update_weighted(x, y, 1.0 / (y * y));
        }
        let [a, b] = rls.estimate();
        assert!((a - 8.0).abs() < 1.0 && (b - 20.0).abs() < 0.5, "{a} {b}");
    }

    #[test]
    fn follows_a_drift() {
        let mut rls = Rls::new([0.0, 0.0], 1e6, 0.9);
        for i in 0..100 {
            rls.update(f64::from(i % 5), 5.0 + 2.0 * f64::from(i % 5));
        }
        for i in 0..100 {
            rls.update(f64::from(i % 5), 9.0 + 3.0 * f64::from(i % 5));
        }
        let [a, b] = rls.estimate();
        assert!((a - 9.0).abs() < 1e-2 && (b - 3.0).abs() < 1e-2, "{a} {b}");
    }

    #[test]
    fn survives_without_excitation_and_bad_input() {
        let mut rls = Rls::new([0.0, 0.0], 1e4, 0.95);
        for _ in 0..100_000 {
            rls.update(1.0, 3.0);
        }
        rls.update(f64::NAN, 1.0);
        rls.update(1e300, 1e300);
        let [a, b] = rls.estimate();
        assert!(a.is_finite() && b.is_finite());
        assert!((a + b - 3.0).abs() < 1e-3, "{a} + {b}");
    }
}
