//! Operators' overrides: set, cleared or expired, merged field by field (a worker's own over the one for
//! every worker), and each change brought to the workers it concerns and recorded.

use super::AdminError;
use super::clock::Now;
use super::state::State;
use crate::domain::{DecisionRecord, Mode, Override, Source, WorkerId};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The overrides in force, by worker; `None` is the one for every worker.
#[derive(Debug, Default)]
pub struct Overrides {
    by_scope: BTreeMap<Option<WorkerId>, Override>,
}

impl Overrides {
    /// The override in force for a worker: its own override's fields win over those of the one for every
    /// worker, field by field.
    pub fn effective(&self, id: &WorkerId) -> Option<Override> {
        let own = self.by_scope.get(&Some(id.clone()));
        let all = self.by_scope.get(&None);
        match (own, all) {
            (Some(own), Some(all)) => Some(Override {
                interval: own.interval.or(all.interval),
                max_rows: own.max_rows.or(all.max_rows),
                ..own.clone()
            }),
            (own, all) => own.or(all).cloned(),
        }
    }

    /// How many are in force.
    pub fn len(&self) -> usize {
        self.by_scope.len()
    }

    /// Those in force, the one for every worker first, then by worker.
    pub fn iter(&self) -> impl Iterator<Item = &Override> {
        self.by_scope.values()
    }

    /// The scopes of those that have expired at `now`.
    fn expired(&self, now: OffsetDateTime) -> Vec<Option<WorkerId>> {
        self.by_scope
            .iter()
            .filter(|(_, ov)| ov.expired(now))
            .map(|(scope, _)| scope.clone())
            .collect()
    }
}

/// How a scope reads in the log.
fn scope_name(scope: Option<&WorkerId>) -> &str {
    scope.map_or("every worker", WorkerId::as_str)
}

impl State {
    pub(super) fn set_override(
        &mut self,
        mut ov: Override,
        now: Now,
    ) -> Result<Override, AdminError> {
        if let Some(id) = &ov.worker
            && !self.workers.contains_key(id)
        {
            return Err(AdminError::UnknownWorker(id.clone()));
        }
        // On this task's clock, which expiry is checked against: it lasts as long after it arrives here as
        // it was set to.
        let ttl = ov.expires_at.map(|at| at - ov.set_at);
        ov.set_at = now.wall;
        ov.expires_at = ttl.map(|ttl| now.wall.saturating_add(ttl));
        tracing::info!(
            worker = scope_name(ov.worker.as_ref()),
            interval_ms = ov.interval.map(|d| d.as_millis() as u64),
            max_rows = ov.max_rows,
            expires_at = ov.expires_at.map(tracing::field::display),
            "override set"
        );
        self.overrides
            .by_scope
            .insert(ov.worker.clone(), ov.clone());
        self.reapply(
            ov.worker.as_ref(),
            "override",
            "override set by an operator",
            now,
        );
        Ok(ov)
    }

    /// Clears the override of `scope`; false if there was none.
    pub(super) fn clear_override(&mut self, scope: Option<WorkerId>, now: Now) -> bool {
        let removed = self.overrides.by_scope.remove(&scope).is_some();
        if removed {
            self.reapply(
                scope.as_ref(),
                "clear-override",
                "override cleared by an operator",
                now,
            );
        }
        removed
    }

    /// Ends the overrides whose time is up at `now`.
    pub(super) fn expire_overrides(&mut self, now: Now) {
        for scope in self.overrides.expired(now.wall) {
            self.overrides.by_scope.remove(&scope);
            tracing::info!(worker = scope_name(scope.as_ref()), "override expired");
            self.reapply(scope.as_ref(), "clear-override", "override expired", now);
        }
    }

    /// Brings the workers that `scope` concerns (one, or all) to what they should run now, after an override
    /// changed, and records each change pushed under `label` (`override` or `clear-override`).
    fn reapply(&mut self, scope: Option<&WorkerId>, label: &str, reason: &str, now: Now) {
        let ids: Vec<WorkerId> = match scope {
            Some(id) => vec![id.clone()],
            None => self.workers.keys().cloned().collect(),
        };
        let policy_name = self.policy.kind().as_str().to_owned();
        let mode = self.mode;
        let mut records = Vec::new();
        for id in ids {
            let ov = self.overrides.effective(&id);
            let Some(entry) = self.workers.get_mut(&id) else {
                continue;
            };
            if ov.is_some() && entry.source != Source::Override {
                // Where to come back to in advise mode, or before the policy has decided.
                entry.resting = entry.settings;
            }
            let (wanted, source) = entry.wanted(mode, ov.as_ref());
            let old = entry.settings;
            if wanted == old {
                entry.source = source;
                continue;
            }
            let policy = if source == Source::Policy {
                policy_name.clone()
            } else {
                String::new()
            };
            // A worker away gets what it should run when it re-attaches; only what was pushed is recorded.
            if !entry.push_settings(wanted, source, policy, reason.to_owned(), 0) {
                continue;
            }
            records.push(DecisionRecord {
                at: now.wall,
                worker: Some(id.clone()),
                policy: label.to_owned(),
                old,
                new: wanted,
                mode: Mode::Enforce,
                reason: reason.to_owned(),
            });
        }
        // One operator action is one decision, whatever number of workers it changed.
        if !records.is_empty() {
            let scope = if scope.is_some() { "worker" } else { "all" };
            self.config
                .metrics
                .decision(label, scope, Mode::Enforce.as_str());
        }
        for record in records {
            self.record(record);
        }
    }
}
