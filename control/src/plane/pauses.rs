//! Pause and resume: what an operator wants, pushed to the worker, and pushed again while the worker's own
//! word lags behind it.

use super::AdminError;
use super::clock::Now;
use super::entry::{Entry, Push};
use super::state::State;
use crate::domain::WorkerId;
use std::time::Duration;

/// The least time between two pushes of the same pause or resume to a worker that has not taken it.
const REPUSH_AFTER: Duration = Duration::from_secs(5);

impl State {
    /// Pauses (or resumes) one worker, or every attached one; the ids of those it was pushed to.
    pub(super) fn pause(
        &mut self,
        worker: Option<WorkerId>,
        paused: bool,
        now: Now,
    ) -> Result<Vec<WorkerId>, AdminError> {
        let ids: Vec<WorkerId> = match worker {
            Some(id) if !self.workers.contains_key(&id) => {
                return Err(AdminError::UnknownWorker(id));
            }
            Some(id) => vec![id],
            None => self
                .workers
                .values()
                .filter(|e| e.attached())
                .map(|e| e.id.clone())
                .collect(),
        };
        let mut told = Vec::new();
        for id in ids {
            if let Some(entry) = self.workers.get_mut(&id) {
                // Kept even for a worker away: it is paused (or resumed) when it re-attaches.
                entry.want_paused = paused;
                tracing::info!(worker = %id, paused, "pause changed by an operator");
                if entry.push_pause(now) {
                    told.push(id);
                }
            }
        }
        Ok(told)
    }
}

impl Entry {
    /// Pushes the pause or resume an operator wants; true if it was queued.
    pub(super) fn push_pause(&mut self, now: Now) -> bool {
        self.pause_pushed = Some(now.mono);
        self.push(if self.want_paused {
            Push::Pause {
                reason: "paused by an operator".into(),
            }
        } else {
            Push::Resume
        })
    }

    /// Pushes a pause or resume that did not take (lost, or not queued) again, at most every
    /// [`REPUSH_AFTER`]: the worker only reports its pause once the batch it was collecting is done.
    pub(super) fn repush_lagging_pause(&mut self, now: Now) {
        if self.paused != self.want_paused
            && self
                .pause_pushed
                .is_none_or(|t| now.mono.saturating_duration_since(t) > REPUSH_AFTER)
        {
            tracing::info!(worker = %self.id, want_paused = self.want_paused, "the worker's pause state lags behind; pushing it again");
            self.push_pause(now);
        }
    }
}
