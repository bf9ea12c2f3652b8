//! What a profile runs under: a contender, named as on the command line (a policy, `static:DURATION` for a
//! static interval, or `slo:DURATION` for the `slo` policy with that p99 target).

use pacer_policy::{Bounds, PolicyConfig, PolicyKind, SLO_TARGET_PARAM};
use std::collections::BTreeMap;
use std::time::Duration;

/// A policy to run the profile under.
#[derive(Debug, Clone)]
pub struct Contender {
    pub(super) name: String,
    pub(super) policy: PolicyConfig,
}

impl Contender {
    /// Whether this is a static interval (the baselines).
    pub(super) fn is_static(&self) -> bool {
        self.policy.kind() == PolicyKind::Static
    }

    /// The freshness target, for the `slo` policy.
    pub(super) fn target(&self) -> Option<Duration> {
        if self.policy.kind() != PolicyKind::Slo {
            return None;
        }
        let ms = *self.policy.params().get(SLO_TARGET_PARAM)?;
        Duration::try_from_secs_f64(ms / 1e3).ok()
    }
}

impl std::str::FromStr for Contender {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let with = |kind, param: &str, value: &str| {
            let ms = crate::duration::parse_duration(value)?.as_secs_f64() * 1e3;
            Ok::<_, String>((kind, BTreeMap::from([(param.to_owned(), ms)])))
        };
        let (kind, params) = if let Some(interval) = text.strip_prefix("static:") {
            with(PolicyKind::Static, "interval_ms", interval)?
        } else if let Some(target) = text.strip_prefix("slo:") {
            with(PolicyKind::Slo, SLO_TARGET_PARAM, target)?
        } else {
            (
                text.parse::<PolicyKind>().map_err(|e| e.to_string())?,
                BTreeMap::new(),
            )
        };
        let policy =
            PolicyConfig::new(kind, &params, Bounds::default()).map_err(|e| e.to_string())?;
        Ok(Self {
            name: text.to_owned(),
            policy,
        })
    }
}
