//! Observations and parameters for the policies' unit tests.

use crate::kind::PolicyKind;
use crate::params::ParamSet;
use crate::types::{Flush, Observation, Settings};
use std::time::Duration;

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
        receipt_p99: None,
    }
}

/// `P` with the values in `given`, the others at their defaults.
pub(crate) fn params<P: ParamSet>(given: &[(&str, f64)]) -> P {
    let given = given.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    // The kind only names the policy in an error, and a test's parameters are valid.
    P::parse(PolicyKind::Static, &given).expect("valid test parameters")
}
