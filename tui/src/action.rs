//! What an operator asks of the control plane: one admin call each, described in words for the status line
//! and the confirmation prompt.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Whom an action concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every worker, present and future.
    All,
    /// One worker, by id.
    Worker(String),
}

impl Target {
    /// The admin API's spelling: empty for every worker.
    pub fn worker_id(&self) -> String {
        match self {
            Target::All => String::new(),
            Target::Worker(id) => id.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::All => f.write_str("every worker"),
            Target::Worker(id) => f.write_str(id),
        }
    }
}

/// Enforce or advise, as the console toggles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Decisions are pushed to the workers.
    Enforce,
    /// Decisions are only recorded and shown.
    Advise,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Advise => "advise",
        })
    }
}

/// One admin call.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `SetOverride`.
    SetOverride {
        /// Whom it fixes.
        target: Target,
        /// The interval, in ms; `None` leaves it to the policy.
        interval_ms: Option<u64>,
        /// The max rows; `None` leaves them to the policy.
        max_rows: Option<u64>,
        /// How long it lasts; `None` until cleared.
        ttl: Option<Duration>,
    },
    /// `ClearOverride`.
    ClearOverride {
        /// Whose override.
        target: Target,
    },
    /// `SetPolicy`.
    SetPolicy {
        /// The policy's name.
        name: String,
        /// Parameters by name; the others take their defaults.
        params: BTreeMap<String, f64>,
    },
    /// `SetMode`.
    SetMode(Mode),
    /// `PauseWorker`.
    Pause(Target),
    /// `ResumeWorker`.
    Resume(Target),
}

impl Action {
    /// Whether it changes the whole pipeline, and so is confirmed first.
    pub fn is_pipeline_wide(&self) -> bool {
        match self {
            Action::SetOverride { target, .. }
            | Action::ClearOverride { target }
            | Action::Pause(target)
            | Action::Resume(target) => *target == Target::All,
            Action::SetPolicy { .. } | Action::SetMode(_) => true,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetOverride {
                target,
                interval_ms,
                max_rows,
                ttl,
            } => {
                write!(f, "override {target}:")?;
                if let Some(ms) = interval_ms {
                    write!(f, " interval {ms}ms")?;
                }
                if let Some(rows) = max_rows {
                    write!(f, " max rows {rows}")?;
                }
                match ttl {
                    Some(ttl) => write!(f, " for {}", crate::format::duration(*ttl)),
                    None => f.write_str(" until cleared"),
                }
            }
            Action::ClearOverride { target } => write!(f, "clear the override of {target}"),
            Action::SetPolicy { name, params } => {
                write!(f, "switch the policy to {name}")?;
                for (i, (k, v)) in params.iter().enumerate() {
                    write!(f, "{}{k}={v}", if i == 0 { " with " } else { ", " })?;
                }
                Ok(())
            }
            Action::SetMode(mode) => write!(f, "switch to {mode} mode"),
            Action::Pause(target) => write!(f, "pause {target}"),
            Action::Resume(target) => write!(f, "resume {target}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_on_every_worker_and_on_the_policy_are_pipeline_wide() {
        assert!(Action::Pause(Target::All).is_pipeline_wide());
        assert!(!Action::Pause(Target::Worker("w1".into())).is_pipeline_wide());
        assert!(Action::SetMode(Mode::Advise).is_pipeline_wide());
        assert!(
            Action::SetPolicy {
                name: "model".into(),
                params: BTreeMap::new()
            }
            .is_pipeline_wide()
        );
    }

    #[test]
    fn actions_read_as_sentences() {
        let set = Action::SetOverride {
            target: Target::Worker("w1".into()),
            interval_ms: Some(250),
            max_rows: None,
            ttl: Some(Duration::from_secs(90)),
        };
        assert_eq!(set.to_string(), "override w1: interval 250ms for 1m30s");
        let policy = Action::SetPolicy {
            name: "aimd".into(),
            params: BTreeMap::from([("rho".into(), 0.7)]),
        };
        assert_eq!(policy.to_string(), "switch the policy to aimd with rho=0.7");
        assert_eq!(
            Action::ClearOverride {
                target: Target::All
            }
            .to_string(),
            "clear the override of every worker"
        );
    }
}
