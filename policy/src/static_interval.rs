//! The `static` policy: one fixed interval for ever, the static-batch baseline the adaptive policies are
//! measured against. `max_rows` and `max_bytes` are the bounds' ceilings, so that the interval alone
//! decides the batch (a smaller `max_rows` would quietly make it an adaptive policy of sorts).

use crate::Policy;
use crate::common::ms;
use crate::config::{ParamDoc, PolicyConfig};
use crate::kind::PolicyKind;
use crate::types::{Decision, Observation, Settings};
use std::time::Duration;

pub(crate) const PARAMS: &[ParamDoc] = &[ParamDoc {
    name: "interval_ms",
    default: 500.0,
    min: 1.0,
    max: 3_600_000.0,
    help: "The fixed batch interval in milliseconds (clamped to the bounds).",
}];

/// The setting `static` runs with: `interval_ms` clamped to the bounds, the bounds' `max_rows` and `max_bytes`.
pub(crate) fn setting(config: &PolicyConfig) -> Settings {
    let b = config.bounds();
    // `interval_ms` is validated to 1..=3_600_000, so the conversion cannot fail.
    let interval = Duration::try_from_secs_f64(config.param("interval_ms") / 1000.0)
        .unwrap_or(b.cold_start.interval);
    Settings {
        interval: interval.clamp(b.min_interval, b.max_interval),
        max_rows: b.max_rows,
        max_bytes: b.max_bytes,
    }
}

/// The `static` policy.
#[derive(Debug, Clone)]
pub(crate) struct StaticInterval {
    settings: Settings,
}

impl StaticInterval {
    pub(crate) fn new(config: &PolicyConfig) -> Self {
        StaticInterval {
            settings: setting(config),
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
    use crate::common::tests::obs;
    use crate::types::Bounds;
    use std::collections::BTreeMap;

    #[test]
    fn always_the_same_setting() {
        let params = BTreeMap::from([("interval_ms".to_owned(), 250.0)]);
        let config =
            PolicyConfig::new(PolicyKind::Static, &params, Bounds::default()).expect("valid");
        let mut policy = config.build();
        let first = policy.decide(config.initial_settings(), &obs(0, 250, 10, 900, 1_000_000));
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
        let params = BTreeMap::from([("interval_ms".to_owned(), 1.0)]);
        let config =
            PolicyConfig::new(PolicyKind::Static, &params, Bounds::default()).expect("valid");
        assert_eq!(
            config.initial_settings().interval,
            Bounds::default().min_interval
        );
    }
}
