//! A worker's batch report: counted, placed on the policy's time axis, handed to the worker's policy, and
//! its decision pushed (enforce) or kept as a suggestion (advise) and recorded.

use super::clock::Now;
use super::state::State;
use crate::domain::{DecisionRecord, Mode, Report, Source, WorkerId};
use std::time::Duration;

/// How many decisions the snapshot carries.
const RECENT: usize = 50;

impl State {
    pub(super) fn report(&mut self, worker: &WorkerId, connection: u64, report: Report, now: Now) {
        let mode = self.mode;
        let ov = self.overrides.effective(worker);
        let policy_name = self.policy.kind().as_str().to_owned();
        let received = self.clock.since_start(now);
        // Not `current()`: the entry is borrowed while the counters beside it are updated.
        let Some(entry) = self
            .workers
            .get_mut(worker)
            .filter(|e| e.connection.as_ref().is_some_and(|c| c.id == connection))
        else {
            return;
        };
        self.config.metrics.report();
        self.partitions.observe(&report.lag);
        let topic = (self.partitions.arrived(), self.partitions.count());
        self.batches.push(now.mono, worker, &report, topic);
        self.routes.add(received, &report.routes);
        let at = axis_time(entry.last_at, received, &report);
        entry.last_at = at;
        if (mode == Mode::Enforce || ov.is_some()) && entry.ran_other_settings(report.settings) {
            tracing::info!(worker = %worker, ran = %report.settings, wanted = %entry.settings, "the worker still runs other settings than pushed; pushing them again");
            entry.push_settings(
                entry.settings,
                entry.source,
                String::new(),
                "pushed again: the worker still ran the previous settings".into(),
                0,
            );
        }
        let batch_no = report.batch_no;
        let Some(admitted) = entry.report(report, at, mode, ov.as_ref(), now) else {
            return;
        };
        let source = if ov.is_some() {
            Source::Override
        } else {
            Source::Policy
        };
        // In advise mode the controller keeps the suggestion itself; only enforce pushes.
        if mode == Mode::Enforce {
            let pushed = entry.push_settings(
                admitted.new,
                source,
                policy_name.clone(),
                admitted.reason.clone(),
                batch_no,
            );
            if !pushed {
                return;
            }
        }
        let record = DecisionRecord {
            at: now.wall,
            worker: Some(worker.clone()),
            policy: policy_name,
            old: admitted.old,
            new: admitted.new,
            mode,
            reason: admitted.reason,
        };
        tracing::debug!(worker = %worker, reason = %record.reason, mode = mode.as_str(), "policy decision");
        self.config
            .metrics
            .decision(&record.policy, "worker", mode.as_str());
        self.record(record);
    }

    /// Stores a decision and keeps it for the snapshot.
    pub(super) fn record(&mut self, record: DecisionRecord) {
        self.store.record(record.clone());
        self.recent.push_front(record);
        self.recent.truncate(RECENT);
    }
}

/// Where a report received at `received` goes on the policy's time axis, after the worker's previous one
/// went at `last`.
///
/// The axis is one clock, the control plane's monotonic clock (time since the state task started): a
/// worker's clock is neither the control plane's nor sure to be monotonic, and differences between the two
/// are no durations. A report normally goes where it was received. But the reports a worker kept while the
/// control plane was away arrive together on reconnect; at their receipt times they would seem microseconds
/// apart, and every rate the policy computes over that spacing would explode. So a report goes no earlier
/// than its predecessor plus the least time a batch can end after the one before it, with one batch in
/// flight: its own collect time, or its write and commit, whichever is longer (durations the worker measured,
/// not times on its clock). Replayed reports keep that spacing, live ones their receipt time, and the axis
/// stays strictly increasing per worker.
fn axis_time(last: Duration, received: Duration, report: &Report) -> Duration {
    let least = report
        .poll
        .max(report.write.saturating_add(report.commit))
        .max(Duration::from_micros(1));
    received.max(last.saturating_add(least))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_policy::Settings;

    fn report(poll_ms: u64, write_ms: u64) -> Report {
        let sample = Report::sample();
        Report {
            settings: Settings {
                interval: Duration::from_millis(poll_ms),
                ..sample.settings
            },
            poll: Duration::from_millis(poll_ms),
            write: Duration::from_millis(write_ms),
            ..sample
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn live_reports_go_where_they_were_received() {
        assert_eq!(axis_time(1000 * MS, 1105 * MS, &report(100, 5)), 1105 * MS);
        // Received a little early (the one before was late on the way): still after it by its own spacing.
        assert_eq!(axis_time(1000 * MS, 1090 * MS, &report(100, 5)), 1100 * MS);
    }

    #[test]
    fn replayed_reports_keep_their_own_spacing_and_the_axis_increases() {
        let received = 60_000 * MS;
        let mut last = 1000 * MS;
        let mut placed = Vec::new();
        for r in [report(100, 5), report(100, 5), report(20, 80), report(0, 0)] {
            last = axis_time(last, received, &r);
            placed.push(last);
        }
        // The first goes at its receipt; each next one a batch's time later (its collect, or its write when
        // that was longer), at least a microsecond for a batch that took no time.
        assert_eq!(
            placed,
            [
                received,
                received + 100 * MS,
                received + 180 * MS,
                received + 180 * MS + Duration::from_micros(1)
            ]
        );
    }
}
