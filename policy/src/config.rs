//! A policy's validated configuration: its kind, its parameters (defaults filled in) and the bounds every
//! decision stays within. The control plane validates an operator's request here, then builds one policy
//! instance per worker.

use crate::kind::PolicyKind;
use crate::types::{Bounds, Settings};
use crate::{Policy, aimd, fixed_point, model, rules, static_interval};
use std::collections::BTreeMap;
use std::time::Duration;

/// One tunable parameter of a policy: for help text and the admin API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamDoc {
    /// Lowercase snake_case, with its unit in the name (`interval_ms`, `lag_high_rows`).
    pub name: &'static str,
    /// The value used when the operator gives none.
    pub default: f64,
    /// The smallest accepted value.
    pub min: f64,
    /// The largest accepted value.
    pub max: f64,
    /// What it does, in one sentence.
    pub help: &'static str,
}

/// Why a policy configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A parameter the policy does not have.
    #[error("policy `{kind}` has no parameter `{name}`; its parameters are: {valid}")]
    Unknown {
        kind: PolicyKind,
        name: String,
        valid: String,
    },
    /// A value outside the parameter's range (or not a number).
    #[error("parameter `{name}` of policy `{kind}` must be between {min} and {max}, not {value}")]
    OutOfRange {
        kind: PolicyKind,
        name: &'static str,
        value: f64,
        min: f64,
        max: f64,
    },
    /// Parameters that are each in range but contradict each other.
    #[error("policy `{kind}`: {problem}")]
    Inconsistent { kind: PolicyKind, problem: String },
    /// Bounds that no setting can satisfy.
    #[error("invalid bounds: {0}")]
    Bounds(String),
}

/// A policy kind with validated parameters and bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    kind: PolicyKind,
    /// One value per entry of `param_docs(kind)`, in that order.
    values: Vec<f64>,
    bounds: Bounds,
}

// === impl PolicyConfig ===

impl PolicyConfig {
    /// Validates `params` for `kind` (missing ones take their defaults) and `bounds`.
    pub fn new(
        kind: PolicyKind,
        params: &BTreeMap<String, f64>,
        bounds: Bounds,
    ) -> Result<Self, ParamError> {
        validate_bounds(&bounds)?;
        let docs = Self::param_docs(kind);
        if let Some(name) = params
            .keys()
            .find(|name| !docs.iter().any(|doc| doc.name == name.as_str()))
        {
            let valid = if docs.is_empty() {
                "(none)".to_owned()
            } else {
                docs.iter()
                    .map(|doc| doc.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(ParamError::Unknown {
                kind,
                name: name.clone(),
                valid,
            });
        }
        let mut values = Vec::with_capacity(docs.len());
        for doc in docs {
            let value = params.get(doc.name).copied().unwrap_or(doc.default);
            // `!(a <= b)` also refuses NaN.
            if !(doc.min <= value && value <= doc.max) {
                return Err(ParamError::OutOfRange {
                    kind,
                    name: doc.name,
                    value,
                    min: doc.min,
                    max: doc.max,
                });
            }
            values.push(value);
        }
        let config = PolicyConfig {
            kind,
            values,
            bounds,
        };
        config.check_consistent()?;
        Ok(config)
    }

    /// The default configuration of `kind` within `bounds`.
    pub fn default_for(kind: PolicyKind, bounds: Bounds) -> Result<Self, ParamError> {
        Self::new(kind, &BTreeMap::new(), bounds)
    }

    /// Which policy this configures.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The floors, ceilings and cold start every decision respects.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// The effective parameter values, defaults filled in.
    pub fn params(&self) -> BTreeMap<String, f64> {
        Self::param_docs(self.kind)
            .iter()
            .zip(&self.values)
            .map(|(doc, value)| (doc.name.to_owned(), *value))
            .collect()
    }

    /// The parameters `kind` accepts.
    pub fn param_docs(kind: PolicyKind) -> &'static [ParamDoc] {
        match kind {
            PolicyKind::Static => static_interval::PARAMS,
            PolicyKind::Rules => rules::PARAMS,
            PolicyKind::Aimd => aimd::PARAMS,
            PolicyKind::FixedPoint => fixed_point::PARAMS,
            PolicyKind::Model => model::PARAMS,
        }
    }

    /// A fresh policy instance for one worker.
    pub fn build(&self) -> Box<dyn Policy> {
        match self.kind {
            PolicyKind::Static => Box::new(static_interval::StaticInterval::new(self)),
            PolicyKind::Rules => Box::new(rules::Rules::new(self)),
            PolicyKind::Aimd => Box::new(aimd::Aimd::new(self)),
            PolicyKind::FixedPoint => Box::new(fixed_point::FixedPoint::new(self)),
            PolicyKind::Model => Box::new(model::Model::new(self)),
        }
    }

    /// What a new worker should start with: the static setting for `static`, the cold start otherwise.
    pub fn initial_settings(&self) -> Settings {
        match self.kind {
            PolicyKind::Static => static_interval::setting(self),
            _ => self.bounds.cold_start,
        }
    }

    /// The value of parameter `name` (a name from this kind's docs; anything else is a bug, answered with 0).
    pub(crate) fn param(&self, name: &str) -> f64 {
        let docs = Self::param_docs(self.kind);
        let found = docs.iter().position(|doc| doc.name == name);
        debug_assert!(
            found.is_some(),
            "policy {} has no parameter {name}",
            self.kind
        );
        found
            .and_then(|i| self.values.get(i))
            .copied()
            .unwrap_or(0.0)
    }

    fn check_consistent(&self) -> Result<(), ParamError> {
        if self.kind == PolicyKind::Rules && self.param("idle_ratio") >= self.param("busy_ratio") {
            return Err(ParamError::Inconsistent {
                kind: self.kind,
                problem: "`idle_ratio` must be below `busy_ratio`, or the rules would both grow and shrink".into(),
            });
        }
        Ok(())
    }
}

// === impl Bounds ===

/// Why these defaults: 5 ms is about the fixed cost of one batch (a transaction and an offset commit), so a
/// shorter interval only makes the writer the clock; 10 s caps latency when nothing keeps up; 100 000 rows
/// (about 2 s of processing at 20 µs a row) keeps one transaction short; 64 MiB bounds a worker's memory.
/// The cold start is the worker's historical static setting, 500 ms and 10 000 rows, but with 16 MiB.
impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            min_interval: Duration::from_millis(5),
            max_interval: Duration::from_secs(10),
            min_rows: 100,
            max_rows: 100_000,
            max_bytes: 64 * 1024 * 1024,
            cold_start: Settings {
                interval: Duration::from_millis(500),
                max_rows: 10_000,
                max_bytes: 16 * 1024 * 1024,
            },
        }
    }
}

fn validate_bounds(b: &Bounds) -> Result<(), ParamError> {
    let problem = if b.min_interval < Duration::from_millis(1) {
        Some(format!(
            "min_interval {:?} is below 1ms, the shortest batch a worker runs",
            b.min_interval
        ))
    } else if b.min_interval > b.max_interval {
        Some(format!(
            "min_interval {:?} is above max_interval {:?}",
            b.min_interval, b.max_interval
        ))
    } else if b.min_rows == 0 || b.min_rows > b.max_rows {
        Some(format!(
            "min_rows {} must be at least 1 and at most max_rows {}",
            b.min_rows, b.max_rows
        ))
    } else if b.max_bytes == 0 {
        Some("max_bytes must be at least 1".to_owned())
    } else if b.cold_start.interval < b.min_interval || b.cold_start.interval > b.max_interval {
        Some(format!(
            "the cold-start interval {:?} is outside {:?}..={:?}",
            b.cold_start.interval, b.min_interval, b.max_interval
        ))
    } else if b.cold_start.max_rows < b.min_rows || b.cold_start.max_rows > b.max_rows {
        Some(format!(
            "the cold-start max_rows {} is outside {}..={}",
            b.cold_start.max_rows, b.min_rows, b.max_rows
        ))
    } else if b.cold_start.max_bytes == 0 || b.cold_start.max_bytes > b.max_bytes {
        Some(format!(
            "the cold-start max_bytes {} is outside 1..={}",
            b.cold_start.max_bytes, b.max_bytes
        ))
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(ParamError::Bounds(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn defaults_fill_in_and_are_valid() {
        for kind in PolicyKind::ALL {
            let config =
                PolicyConfig::default_for(kind, Bounds::default()).expect("defaults are valid");
            let effective = config.params();
            for doc in PolicyConfig::param_docs(kind) {
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
            }
        }
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
