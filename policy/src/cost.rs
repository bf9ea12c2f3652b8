//! A worker's processing cost, fitted online: a batch of n rows takes p ≈ a + b·n, a fixed cost a
//! (transaction, offset commit, report) and a cost b per row, by recursive least squares with forgetting
//! ([`Rls`]), so that the fit follows a database that slows down. Shared by `model` and `slo`.

use crate::rls::Rls;
use crate::signals::secs;
use crate::types::Observation;

/// The fit of processing time against rows, in milliseconds against thousands of rows: well-conditioned
/// numbers for the fit.
#[derive(Debug, Clone)]
pub(crate) struct CostFit {
    fit: Rls,
}

impl CostFit {
    /// A fit that weighs a batch k batches old by `forgetting`^k.
    pub(crate) fn new(forgetting: f64) -> Self {
        // Weights are 1/p² with p in ms (1e-4 at 100 ms): a prior variance of 1e8 is a prior worth nothing
        // next to a single batch.
        CostFit {
            fit: Rls::new([0.0, 0.0], 1e8, forgetting),
        }
    }

    /// Folds in the batch of `obs`. Noise is a share of the processing time: each batch is weighed by
    /// 1/p², relative errors.
    pub(crate) fn add(&mut self, obs: &Observation) {
        let p_ms = secs(obs.processing) * 1e3;
        self.fit
            .update_weighted(obs.rows as f64 / 1e3, p_ms, 1.0 / p_ms.max(0.1).powi(2));
    }

    /// Batches fitted so far.
    pub(crate) fn samples(&self) -> u64 {
        self.fit.samples()
    }

    /// The fitted fixed cost (seconds) and cost per row (seconds), never negative. When the free fit has a
    /// negative coefficient, that one is set to 0 and the other refitted through the centroid of the data,
    /// rather than clamped alone, which would move the line away from every batch seen.
    pub(crate) fn cost(&self) -> (f64, f64) {
        let [a, b] = self.fit.estimate();
        let (a, b) = match self.fit.centroid() {
            Some((x, y)) if a < 0.0 => (0.0, if x > 0.0 { (y / x).max(0.0) } else { 0.0 }),
            Some((_, y)) if b < 0.0 => (y.max(0.0), 0.0),
            _ => (a.max(0.0), b.max(0.0)),
        };
        (a / 1e3, b / 1e6)
    }
}
