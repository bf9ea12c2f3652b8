//! A worker's stream as the state task sees it: attach (first time, again, or in place of an open stream),
//! heartbeats, detach.

use super::clock::Now;
use super::entry::{Connection, Entry};
use super::state::State;
use crate::domain::{Heartbeat, Hello, Source, WorkerId};

impl State {
    pub(super) fn attach(&mut self, hello: Hello, connection: Connection, now: Now) {
        let id = hello.worker_id.clone();
        let ov = self.overrides.effective(&id);
        let mode = self.mode;
        let policy_name = self.policy.kind().as_str().to_owned();
        let known = self.workers.contains_key(&id);
        let policy = self.policy.build();
        let governor = self.governor();
        let entry = self
            .workers
            .entry(id.clone())
            .or_insert_with(|| Entry::new(hello.clone(), policy, governor, now));
        if known && entry.attached() {
            tracing::warn!(worker = %id, "a new stream replaces this worker's open one; two workers with the same id?");
        } else if known {
            tracing::info!(worker = %id, "worker re-attached");
        } else {
            tracing::info!(worker = %id, host = %hello.host, "worker attached");
        }
        entry.seen(now);
        entry.attached_at = now.wall;
        entry.partitions = hello.partitions.clone();
        entry.paused = hello.paused;
        entry.settings = hello.settings;
        entry.mismatches = 0;
        if ov.is_none() {
            // What it runs now is where it rests: in advise mode nothing moves it from there.
            entry.resting = hello.settings;
        }
        entry.connection = Some(connection);
        entry.hello = hello;
        // A worker that comes back (a new process, or after the control plane restarted) is brought back to
        // what the control plane wants for it.
        let (wanted, source) = entry.wanted(mode, ov.as_ref());
        if wanted == entry.settings {
            entry.source = source;
        } else {
            let policy = if source == Source::Policy {
                policy_name
            } else {
                String::new()
            };
            let reason = if source == Source::Override {
                "override in force"
            } else {
                "settings restored on re-attach"
            };
            entry.push_settings(wanted, source, policy, reason.into(), 0);
        }
        if entry.want_paused != entry.paused {
            entry.push_pause(now);
        }
    }

    pub(super) fn heartbeat(
        &mut self,
        worker: &WorkerId,
        connection: u64,
        heartbeat: Heartbeat,
        now: Now,
    ) {
        self.partitions.observe(&heartbeat.lag);
        let Some(entry) = self.current(worker, connection) else {
            return;
        };
        entry.heartbeat(heartbeat, now);
        entry.repush_lagging_pause(now);
    }

    pub(super) fn detach(&mut self, worker: &WorkerId, connection: u64) {
        if let Some(entry) = self.current(worker, connection) {
            entry.connection = None;
            tracing::info!(worker = %worker, "worker detached");
        }
    }
}
