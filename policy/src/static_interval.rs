//! The `static` policy: one fixed interval for ever, the static-batch baseline the adaptive policies are
//! measured against. `max_rows` and `max_bytes` are the bounds' ceilings, so that the interval alone
//! decides the batch (a smaller `max_rows` would quietly make it an adaptive policy of sorts).

use crate::Policy;
use crate::bounds::Bounds;
use crate::kind::PolicyKind;
use crate::params::declare_params;
use crate::reason::ms;
use crate::types::{Decision, Observation, Settings};
use std::time::Duration;

declare_params! {
    /// The `static` policy's parameters.
    pub(crate) struct StaticParams {
        /// The fixed batch interval in milliseconds (clamped to the bounds).
        interval_ms: 500.0 in 1.0..=3_600_000.0,
    }
}

/// The setting `static` runs with: `interval_ms` clamped to the bounds, the bounds' `max_rows` and `max_bytes`.
pub(crate) fn setting(bounds: &Bounds, params: &StaticParams) -> Settings {
    // `interval_ms` is validated to 1..=3_600_000, so the conversion cannot fail.
    let interval = Duration::try_from_secs_f64(params.interval_ms / 1000.0)
        .unwrap_or(bounds.cold_start.interval);
    Settings {
        interval: interval.clamp(bounds.min_interval, bounds.max_interval),
        max_rows: bounds.max_rows,
        max_bytes: bounds.max_bytes,
    }
}

/// The `static` policy.
#[derive(Debug, Clone)]
pub(crate) struct StaticInterval {
    settings: Settings,
}

impl StaticInterval {
    pub(crate) fn new(bounds: &Bounds, params: &StaticParams) -> Self {
        StaticInterval {
            settings: setting(bounds, params),
        }
    }
}

impl Policy for StaticInterval {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Static
    }

    fn decide(&mut self, current: Settings, _obs: &Observation) -> Decision {
        let reason = if current == self.settings {
            format!(
                "static: interval {} (the static-batch baseline), nothing to adapt",
                ms(self.settings.interval.as_secs_f64())
            )
        } else {
            format!(
                "static: back to the fixed interval {}, max_rows {}",
                ms(self.settings.interval.as_secs_f64()),
                self.settings.max_rows
            )
        };
        Decision {
            settings: self.settings,
            reason,
            advice: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{obs, params};

    #[test]
    fn always_the_same_setting() {
        let (bounds, params) = (Bounds::default(), params(&[("interval_ms", 250.0)]));
        let mut policy = StaticInterval::new(&bounds, &params);
        let first = policy.decide(setting(&bounds, &params), &obs(0, 250, 10, 900, 1_000_000));
        assert_eq!(first.settings.interval, Duration::from_millis(250));
        assert!(
            first.reason.contains("static-batch baseline"),
            "{}",
            first.reason
        );
        let second = policy.decide(first.settings, &obs(900, 250, 0, 0, 0));
        assert_eq!(first.settings, second.settings);
    }

    #[test]
    fn interval_is_clamped() {
        let bounds = Bounds::default();
        let s = setting(&bounds, &params(&[("interval_ms", 1.0)]));
        assert_eq!(s.interval, bounds.min_interval);
        assert_eq!(
            (s.max_rows, s.max_bytes),
            (bounds.max_rows, bounds.max_bytes)
        );
    }
}
