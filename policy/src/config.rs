//! A policy's validated configuration: its kind, its typed parameters (defaults filled in, each checked
//! against its range) and the bounds every decision stays within. The control plane validates an
//! operator's request here, once, then builds one policy instance per worker.

use crate::Policy;
use crate::aimd::{Aimd, AimdParams};
use crate::bounds::Bounds;
use crate::fixed_point::{FixedPoint, FixedPointParams};
use crate::kind::PolicyKind;
use crate::model::{Model, ModelParams};
use crate::params::{ParamDoc, ParamError, ParamSet};
use crate::rules::{Rules, RulesParams};
use crate::slo::{Slo, SloParams};
use crate::static_interval::{self, StaticInterval, StaticParams};
use crate::types::Settings;
use std::collections::BTreeMap;

/// A policy kind with validated parameters and bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    params: Params,
    bounds: Bounds,
}

/// The parameters of one policy, typed: which variant says which policy.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Params {
    Static(StaticParams),
    Rules(RulesParams),
    Aimd(AimdParams),
    FixedPoint(FixedPointParams),
    Model(ModelParams),
    Slo(SloParams),
}

// === impl PolicyConfig ===

impl PolicyConfig {
    /// Validates `params` for `kind` (missing ones take their defaults) and `bounds`.
    pub fn new(
        kind: PolicyKind,
        params: &BTreeMap<String, f64>,
        bounds: Bounds,
    ) -> Result<Self, ParamError> {
        if let Some(problem) = bounds.problem() {
            return Err(ParamError::Bounds(problem));
        }
        let params = match kind {
            PolicyKind::Static => Params::Static(ParamSet::parse(kind, params)?),
            PolicyKind::Rules => Params::Rules(ParamSet::parse(kind, params)?),
            PolicyKind::Aimd => Params::Aimd(ParamSet::parse(kind, params)?),
            PolicyKind::FixedPoint => Params::FixedPoint(ParamSet::parse(kind, params)?),
            PolicyKind::Model => Params::Model(ParamSet::parse(kind, params)?),
            PolicyKind::Slo => Params::Slo(ParamSet::parse(kind, params)?),
        };
        Ok(PolicyConfig { params, bounds })
    }

    /// The default configuration of `kind` within `bounds`.
    pub fn default_for(kind: PolicyKind, bounds: Bounds) -> Result<Self, ParamError> {
        Self::new(kind, &BTreeMap::new(), bounds)
    }

    /// Which policy this configures.
    pub fn kind(&self) -> PolicyKind {
        match self.params {
            Params::Static(_) => PolicyKind::Static,
            Params::Rules(_) => PolicyKind::Rules,
            Params::Aimd(_) => PolicyKind::Aimd,
            Params::FixedPoint(_) => PolicyKind::FixedPoint,
            Params::Model(_) => PolicyKind::Model,
            Params::Slo(_) => PolicyKind::Slo,
        }
    }

    /// The floors, ceilings and cold start every decision respects.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// The effective parameter values by name, defaults filled in: for display.
    pub fn params(&self) -> BTreeMap<String, f64> {
        let values = match &self.params {
            Params::Static(p) => p.values(),
            Params::Rules(p) => p.values(),
            Params::Aimd(p) => p.values(),
            Params::FixedPoint(p) => p.values(),
            Params::Model(p) => p.values(),
            Params::Slo(p) => p.values(),
        };
        values
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// The parameters `kind` accepts.
    pub fn param_docs(kind: PolicyKind) -> &'static [ParamDoc] {
        match kind {
            PolicyKind::Static => StaticParams::DOCS,
            PolicyKind::Rules => RulesParams::DOCS,
            PolicyKind::Aimd => AimdParams::DOCS,
            PolicyKind::FixedPoint => FixedPointParams::DOCS,
            PolicyKind::Model => ModelParams::DOCS,
            PolicyKind::Slo => SloParams::DOCS,
        }
    }

    /// A fresh policy instance for one worker.
    pub fn build(&self) -> Box<dyn Policy> {
        let b = &self.bounds;
        match &self.params {
            Params::Static(p) => Box::new(StaticInterval::new(b, p)),
            Params::Rules(p) => Box::new(Rules::new(b, p)),
            Params::Aimd(p) => Box::new(Aimd::new(b, p)),
            Params::FixedPoint(p) => Box::new(FixedPoint::new(b, p)),
            Params::Model(p) => Box::new(Model::new(b, p)),
            Params::Slo(p) => Box::new(Slo::new(b, p)),
        }
    }

    /// What a new worker should start with: the static setting for `static`, the cold start otherwise.
    pub fn initial_settings(&self) -> Settings {
        match &self.params {
            Params::Static(p) => static_interval::setting(&self.bounds, p),
            _ => self.bounds.cold_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn params(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn defaults_fill_in_and_are_valid() {
        for kind in PolicyKind::ALL {
            let config =
                PolicyConfig::default_for(kind, Bounds::default()).expect("defaults are valid");
            assert_eq!(config.kind(), kind);
            assert_eq!(config.build().kind(), kind);
            let effective = config.params();
            let docs = PolicyConfig::param_docs(kind);
            assert_eq!(effective.len(), docs.len(), "{kind}");
            for doc in docs {
                assert_eq!(
                    effective.get(doc.name),
                    Some(&doc.default),
                    "{kind} {}",
                    doc.name
                );
                assert!(
                    doc.min <= doc.default && doc.default <= doc.max,
                    "{kind} {}",
                    doc.name
                );
                assert!(
                    doc.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{}",
                    doc.name
                );
                assert!(
                    doc.help.ends_with('.') && !doc.help.starts_with(' '),
                    "{}",
                    doc.help
                );
            }
        }
    }

    #[test]
    fn given_values_reach_the_policy_and_the_display() {
        let config = PolicyConfig::new(
            PolicyKind::Static,
            &params(&[("interval_ms", 250.0)]),
            Bounds::default(),
        )
        .expect("valid");
        assert_eq!(config.params().get("interval_ms"), Some(&250.0));
        assert_eq!(
            config.initial_settings().interval,
            Duration::from_millis(250)
        );
        let model = PolicyConfig::default_for(PolicyKind::Model, Bounds::default()).expect("valid");
        assert_eq!(model.initial_settings(), Bounds::default().cold_start);
    }

    #[test]
    fn unknown_parameter_is_named_with_the_valid_ones() {
        let err = PolicyConfig::new(
            PolicyKind::Model,
            &params(&[("rhoo", 0.5)]),
            Bounds::default(),
        )
        .expect_err("rhoo is not a parameter");
        let text = err.to_string();
        assert!(
            text.contains("rhoo") && text.contains("headroom") && text.contains("forgetting"),
            "{text}"
        );
    }

    #[test]
    fn out_of_range_names_the_parameter_and_range() {
        let err = PolicyConfig::new(
            PolicyKind::Aimd,
            &params(&[("rho", 2.5)]),
            Bounds::default(),
        )
        .expect_err("rho 2.5 is out of range");
        let text = err.to_string();
        assert!(
            text.contains("`rho`") && text.contains("2.5") && text.contains("between"),
            "{text}"
        );
        let nan = PolicyConfig::new(
            PolicyKind::Aimd,
            &params(&[("rho", f64::NAN)]),
            Bounds::default(),
        );
        assert!(matches!(
            nan,
            Err(ParamError::OutOfRange { name: "rho", .. })
        ));
    }

    #[test]
    fn contradictory_rules_are_refused() {
        let p = params(&[("idle_ratio", 0.9), ("busy_ratio", 0.8)]);
        let err =
            PolicyConfig::new(PolicyKind::Rules, &p, Bounds::default()).expect_err("contradiction");
        assert!(err.to_string().contains("idle_ratio"));
    }

    #[test]
    fn bounds_are_validated() {
        let b = Bounds {
            min_interval: Duration::from_secs(20),
            ..Bounds::default()
        };
        assert!(matches!(
            PolicyConfig::default_for(PolicyKind::Model, b),
            Err(ParamError::Bounds(_))
        ));
        let mut b = Bounds::default();
        b.cold_start.max_rows = 10;
        let err = PolicyConfig::default_for(PolicyKind::Model, b).expect_err("cold start outside");
        assert!(err.to_string().contains("cold-start max_rows"));
    }
}
