//! Whether a policy's decisions reach the workers, as operators name it.

use std::fmt;
use std::str::FromStr;

/// Whether decisions reach the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Decisions are pushed.
    Enforce,
    /// Decisions are recorded and shown as suggestions only.
    Advise,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Enforce, Mode::Advise];

    /// The name stored in `policy_decisions.mode` and taken by `--mode`: `enforce` or `advise`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Advise => "advise",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is neither `enforce` nor `advise`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode {0:?}: expected enforce or advise")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == text)
            .ok_or_else(|| UnknownMode(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
    }

    #[test]
    fn unknown_mode_names_the_choices() {
        let err = "x".parse::<Mode>().expect_err("x is not a mode");
        assert_eq!(
            err.to_string(),
            r#"unknown mode "x": expected enforce or advise"#
        );
    }
}
