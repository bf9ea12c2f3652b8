//! The names of the policies, as operators type them.

use std::fmt;
use std::str::FromStr;

/// Which batch-sizing policy a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A fixed interval: the original static-batch baseline.
    Static,
    /// Threshold rules on processing time, lag and end-to-end latency.
    Rules,
    /// Additive decrease of the interval while stable, multiplicative increase when not.
    Aimd,
    /// Fixed-point iteration that keeps processing time at ρ × interval (Das et al., SoCC 2014).
    FixedPoint,
    /// An online cost model (fixed + per-row cost) and arrival rate, solved for the shortest stable interval.
    Model,
    /// The same cost model, solved for the longest interval that keeps a freshness target (the fewest
    /// commits).
    Slo,
}

impl PolicyKind {
    /// Every policy, in the order help text lists them.
    pub const ALL: [PolicyKind; 6] = [
        PolicyKind::Static,
        PolicyKind::Rules,
        PolicyKind::Aimd,
        PolicyKind::FixedPoint,
        PolicyKind::Model,
        PolicyKind::Slo,
    ];

    /// The adaptive policies (all but `static`).
    pub const ADAPTIVE: [PolicyKind; 5] = [
        PolicyKind::Rules,
        PolicyKind::Aimd,
        PolicyKind::FixedPoint,
        PolicyKind::Model,
        PolicyKind::Slo,
    ];

    /// The policy the product runs unless told otherwise (chosen by simulation; see docs/POLICIES.md).
    pub const RECOMMENDED: PolicyKind = PolicyKind::Model;

    /// The name operators type: `static`, `rules`, `aimd`, `fixed-point`, `model`, `slo`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Static => "static",
            PolicyKind::Rules => "rules",
            PolicyKind::Aimd => "aimd",
            PolicyKind::FixedPoint => "fixed-point",
            PolicyKind::Model => "model",
            PolicyKind::Slo => "slo",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy name that is not one of [`PolicyKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy `{0}`: choose one of static, rules, aimd, fixed-point, model, slo")]
pub struct UnknownPolicy(pub String);

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        PolicyKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == wanted)
            .ok_or_else(|| UnknownPolicy(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in PolicyKind::ALL {
            assert_eq!(kind.as_str().parse::<PolicyKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(
            "Fixed_Point".parse::<PolicyKind>(),
            Ok(PolicyKind::FixedPoint)
        );
    }

    #[test]
    fn unknown_name_lists_the_choices() {
        let err = "pid"
            .parse::<PolicyKind>()
            .expect_err("pid is not a policy");
        let text = err.to_string();
        for kind in PolicyKind::ALL {
            assert!(text.contains(kind.as_str()), "{text}");
        }
    }
}
