//! The decision loop between a policy and one worker: the one the control plane runs for every report, and
//! the one the simulator drives, so that what the simulator measures is the controller that ships.
//!
//! After each batch a [`Controller`] asks its policy for a decision, stepping from the settings the policy
//! believes are in force; rounds it as the wire carries it; puts an operator's override on top; and lets the
//! [`Governor`] decide whether it replaces what the worker runs (enforce) or what was last suggested
//! (advise). What it keeps between batches is the policy's own state, the governor's, and three answers for
//! the control plane: the policy's latest admitted settings, the latest suggestion and the latest advice.
//! Time is the observation's, never a clock's.

use crate::Policy;
use crate::governor::Governor;
use crate::kind::PolicyKind;
use crate::mode::Mode;
use crate::types::{Decision, Observation, Settings};
use pacer_batch::Overlay;

/// Who chose a worker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The worker's own flags (or what it ran before an override began).
    Initial,
    /// The policy.
    Policy,
    /// An operator's override.
    Override,
}

/// A policy decision that passed the governor: to push (enforce) or to show (advise).
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    /// What it replaces: what the worker runs (enforce), or the last suggestion (advise).
    pub old: Settings,
    /// The new settings, as they travel to a worker ([`Settings::on_the_wire`]), override included.
    pub new: Settings,
    /// The policy's reason, and whether an override was put on top.
    pub reason: String,
}

/// One worker's policy, its governor, and what they decided last.
#[derive(Debug)]
pub struct Controller {
    policy: Box<dyn Policy>,
    governor: Governor,
    /// The policy's latest admitted settings (enforced or advised). Under an override in enforce mode, its
    /// latest decision, admitted or not: where the worker goes when the override ends.
    policy_settings: Option<Settings>,
    /// In advise mode, the latest suggestion admitted.
    suggested: Option<Settings>,
    /// The policy's latest decision, rounded as it would travel, whether admitted or not.
    decision: Option<Decision>,
}

// === impl Controller ===

impl Controller {
    /// A controller that has decided nothing yet.
    pub fn new(policy: Box<dyn Policy>, governor: Governor) -> Self {
        Controller {
            policy,
            governor,
            policy_settings: None,
            suggested: None,
            decision: None,
        }
    }

    /// Lets the policy decide after `obs`, for a worker that runs `running` (as far as the caller knows:
    /// what was last pushed to it), in `mode`, with `overlay` the override in force if any. Returns what to
    /// push (enforce) or suggest (advise) if the governor admits it; in advise mode an admitted suggestion
    /// becomes [`suggested`](Self::suggested).
    ///
    /// With an override in force the policy still decides, and the override's fields are put over its
    /// decision: an override of the interval alone leaves `max_rows` to the policy.
    pub fn observe(
        &mut self,
        obs: &Observation,
        running: Settings,
        mode: Mode,
        overlay: Option<Overlay>,
    ) -> Option<Admitted> {
        // The policy steps from what it believes is in force: its own last setting, or its last suggestion.
        let believed = match mode {
            Mode::Enforce => self.policy_settings.unwrap_or(running),
            Mode::Advise => self.suggested.unwrap_or(running),
        };
        let mut decision = self.policy.decide(believed, obs);
        // Whole milliseconds, as pushed: the governor compares, and the policy next steps from, what a worker
        // can actually run.
        decision.settings = decision.settings.on_the_wire();
        let settings = decision.settings;
        let (current, proposed, on_top) = match (mode, overlay) {
            (Mode::Enforce, Some(overlay)) => {
                // Not pushed as such, but kept: it is where the worker goes when the override ends.
                self.policy_settings = Some(settings);
                (running, overlay.apply(settings), true)
            }
            (Mode::Enforce, None) => (running, settings, false),
            // A suggestion shows what the policy would run; an override is pushed apart from it.
            (Mode::Advise, _) => (self.suggested.unwrap_or(running), settings, false),
        };
        let decision = self.decision.insert(decision);
        if !self.governor.admit(obs.at, &current, &proposed) {
            return None;
        }
        if overlay.is_none() {
            self.policy_settings = Some(settings);
        }
        if mode == Mode::Advise {
            self.suggested = Some(proposed);
        }
        let reason = if on_top {
            format!("{} (override in force on top)", decision.reason)
        } else {
            decision.reason.clone()
        };
        Some(Admitted {
            old: current,
            new: proposed,
            reason,
        })
    }

    /// What the worker should run, and who chose it, in `mode` under `overlay` (if any): the policy's
    /// settings in enforce mode once it has some, `resting` otherwise (the settings the worker attached
    /// with, or those it ran just before an override began), with the override's fields on top.
    pub fn wanted(
        &self,
        mode: Mode,
        overlay: Option<Overlay>,
        resting: Settings,
    ) -> (Settings, Source) {
        let (base, source) = match (mode, self.policy_settings) {
            (Mode::Enforce, Some(settings)) => (settings, Source::Policy),
            _ => (resting, Source::Initial),
        };
        match overlay {
            Some(overlay) => (overlay.apply(base), Source::Override),
            None => (base, source),
        }
    }

    /// The mode changed: the last suggestion no longer describes anything, and the governor's gap, counted
    /// from changes made in the other mode, starts afresh. The policy and its settings are kept.
    pub fn mode_changed(&mut self) {
        self.suggested = None;
        self.governor.restart();
    }

    /// Which policy decides.
    pub fn kind(&self) -> PolicyKind {
        self.policy.kind()
    }

    /// The policy's latest admitted settings (enforced or advised), or under an override in enforce mode
    /// its latest decision; `None` before its first.
    pub fn policy_settings(&self) -> Option<Settings> {
        self.policy_settings
    }

    /// In advise mode, the latest suggestion admitted.
    pub fn suggested(&self) -> Option<Settings> {
        self.suggested
    }

    /// The advice of the policy's latest decision: what to do when no setting keeps up.
    pub fn advice(&self) -> Option<&str> {
        self.decision.as_ref()?.advice.as_deref()
    }

    /// The policy's latest decision, rounded as it would travel, admitted or not.
    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// The governor, for when it last admitted a change.
    pub fn governor(&self) -> &Governor {
        &self.governor
    }
}

#[cfg(test)]
mod tests;
