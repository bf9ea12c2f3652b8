//! The periodic work of the state task, every [`TICK`](super::state::TICK): overrides expire, silent workers
//! are marked lost and long-lost ones forgotten, the registry's figures are set, and the watchers' snapshot
//! is published.

use super::clock::Now;
use super::state::State;
use crate::domain::WorkerId;
use std::sync::Arc;

impl State {
    pub(super) fn tick(&mut self, now: Now) {
        self.expire_overrides(now);
        self.mark_lost(now);
        self.forget(now);
        self.set_registry_metrics();
        self.set_scale_metrics(now);
        // One snapshot for every watcher, and none while nobody watches.
        if self.published.receiver_count() > 0 {
            let snapshot = self.snapshot(now);
            self.published.send_replace(Arc::new(snapshot));
        }
    }

    /// Closes the streams of workers silent for longer than `lost_after`.
    fn mark_lost(&mut self, now: Now) {
        let lost_after = self.config.lost_after;
        for entry in self.workers.values_mut() {
            let silent = entry.silent(now);
            if entry.attached() && silent > lost_after {
                tracing::warn!(worker = %entry.id, silent_ms = silent.as_millis() as u64, "worker missed its heartbeats; marking it lost");
                // Dropping the outbox ends the stream; a live worker reconnects.
                entry.connection = None;
            }
        }
    }

    /// Drops workers lost for longer than `forget_after`, keeping what they reported in the totals.
    fn forget(&mut self, now: Now) {
        let forget_after = self.config.forget_after;
        let forgotten: Vec<WorkerId> = self
            .workers
            .values()
            .filter(|e| !e.attached() && e.silent(now) > forget_after)
            .map(|e| e.id.clone())
            .collect();
        for id in forgotten {
            if let Some(entry) = self.workers.remove(&id) {
                tracing::info!(worker = %id, "forgetting a worker lost for long");
                self.forgotten.add(&entry);
                self.config.metrics.forget(id.as_str());
            }
        }
    }

    fn set_registry_metrics(&self) {
        let registry: Vec<(String, &'static str, f64, u64)> = self
            .workers
            .values()
            .map(|e| {
                let state = match (e.attached(), e.paused) {
                    (true, false) => "attached",
                    (true, true) => "paused",
                    (false, _) => "lost",
                };
                (
                    e.id.to_string(),
                    state,
                    e.settings.interval.as_secs_f64(),
                    e.settings.max_rows,
                )
            })
            .collect();
        self.config
            .metrics
            .registry(&registry, self.overrides.len());
    }

    /// Sets the scale advice's gauges from the window of recent batches.
    fn set_scale_metrics(&mut self, now: Now) {
        self.batches.prune(now.mono);
        let scale = self.batches.summary().scale;
        let (needed, usable) = scale.map_or((0, 0), |s| (s.needed, s.usable));
        self.config.metrics.workers_needed(needed, usable);
    }
}
