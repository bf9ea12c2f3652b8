//! The policy and the mode: replaced or switched by an operator, which restarts every worker's policy state.

use super::AdminError;
use super::snapshot::PolicyView;
use super::state::State;
use crate::domain::{Mode, PolicyChange};
use pacer_policy::{Controller, PolicyConfig};
use std::collections::BTreeMap;

impl State {
    /// Replaces the policy: `change` over the bounds in force, validated.
    pub(super) fn set_policy(&mut self, change: PolicyChange) -> Result<PolicyView, AdminError> {
        let bounds = change.bounds.over(self.policy.bounds());
        let config = PolicyConfig::new(change.kind, &change.params, bounds)
            .map_err(|e| AdminError::InvalidPolicy(e.to_string()))?;
        tracing::info!(
            policy = config.kind().as_str(),
            params = %params_text(&config.params()),
            "policy replaced"
        );
        let governor = self.governor();
        for entry in self.workers.values_mut() {
            entry.controller = Controller::new(config.build(), governor.clone());
        }
        self.policy = config;
        Ok(self.policy_view())
    }

    /// Switches between enforce and advise.
    pub(super) fn set_mode(&mut self, mode: Mode) -> PolicyView {
        if mode != self.mode {
            tracing::info!(mode = mode.as_str(), "mode changed");
            self.mode = mode;
            for entry in self.workers.values_mut() {
                entry.controller.mode_changed();
            }
        }
        self.policy_view()
    }

    pub(super) fn policy_view(&self) -> PolicyView {
        PolicyView {
            config: self.policy.clone(),
            mode: self.mode,
        }
    }
}

/// Parameters as `name=value` pairs, for the log.
fn params_text(params: &BTreeMap<String, f64>) -> String {
    params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}
