//! The control plane's own types: what it knows of workers, overrides and decisions. They know nothing of
//! protobuf; `convert` turns them into messages and back at the edge.

use pacer_policy::{Flush, Settings};
use std::fmt;
use std::time::Duration;
use time::OffsetDateTime;

/// `settings` as they travel to a worker: the interval in whole milliseconds (at least one), as in
/// `BatchSettings.interval_ms`. Whatever the control plane pushes, and compares with what workers report, is
/// in this form.
pub fn on_the_wire(settings: Settings) -> Settings {
    let ms = settings.interval.as_secs_f64() * 1e3;
    Settings {
        interval: Duration::from_millis((ms.round() as u64).max(1)),
        ..settings
    }
}

/// A worker's id, unique in its consumer group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(String);

impl WorkerId {
    /// The most bytes an id may have.
    pub const MAX_LEN: usize = 256;

    /// An id, if it is not empty, not too long and printable.
    pub fn new(id: impl Into<String>) -> Option<Self> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id.chars().all(|c| !c.is_control() && !c.is_whitespace());
        valid.then_some(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether decisions reach the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Decisions are pushed.
    Enforce,
    /// Decisions are recorded and shown as suggestions only.
    Advise,
}

impl Mode {
    /// The name stored in `policy_decisions.mode` and taken by `--mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Advise => "advise",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enforce" => Ok(Mode::Enforce),
            "advise" => Ok(Mode::Advise),
            other => Err(format!(
                "unknown mode {other:?}: expected enforce or advise"
            )),
        }
    }
}

/// Who chose a worker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The worker's own flags.
    Initial,
    /// The policy.
    Policy,
    /// An operator's override.
    Override,
}

/// What a worker says about itself when it attaches.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    /// Its id.
    pub worker_id: WorkerId,
    /// Its host.
    pub host: String,
    /// Its consumer group.
    pub group: String,
    /// The topic it consumes.
    pub topic: String,
    /// Its partitions now.
    pub partitions: Vec<i32>,
    /// Its settings now.
    pub settings: Settings,
    /// Whether it is paused now.
    pub paused: bool,
    /// Its pacer version.
    pub version: String,
}

/// A worker's sign of life.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Its partitions now.
    pub partitions: Vec<i32>,
    /// Records behind per partition.
    pub lag: Vec<(i32, i64)>,
    /// The end of each partition, where known.
    pub ends: Vec<(i32, i64)>,
    /// Whether it is paused now.
    pub paused: bool,
}

/// One batch as a worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Its number in the worker's run.
    pub batch_no: u64,
    /// When it finished.
    pub finished_at: OffsetDateTime,
    /// Records in it.
    pub records: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Duplicates absorbed.
    pub duplicates: u64,
    /// Dead letters.
    pub invalid: u64,
    /// Record bytes.
    pub bytes: u64,
    /// What closed it.
    pub flush: Flush,
    /// The settings it was collected under.
    pub settings: Settings,
    /// Collect time.
    pub poll: Duration,
    /// Transform time.
    pub transform: Duration,
    /// Write time.
    pub write: Duration,
    /// Commit time.
    pub commit: Duration,
    /// Records behind per partition after it.
    pub lag: Vec<(i32, i64)>,
    /// The end of each partition after it, where known.
    pub ends: Vec<(i32, i64)>,
    /// Median end-to-end latency.
    pub e2e_p50: Option<Duration>,
    /// Largest end-to-end latency.
    pub e2e_max: Option<Duration>,
}

impl Report {
    /// Transform, write and commit: the time the batch took once collected.
    pub fn processing(&self) -> Duration {
        self.transform
            .saturating_add(self.write)
            .saturating_add(self.commit)
    }

    /// Total records behind, if any partition's lag is known.
    pub fn total_lag(&self) -> Option<u64> {
        (!self.lag.is_empty()).then(|| {
            self.lag
                .iter()
                .fold(0u64, |sum, (_, l)| sum.saturating_add((*l).max(0) as u64))
        })
    }
}

/// A manual override of interval and/or max rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The worker, or `None` for every worker.
    pub worker: Option<WorkerId>,
    /// The interval it fixes, if any.
    pub interval: Option<Duration>,
    /// The max rows it fixes, if any.
    pub max_rows: Option<u64>,
    /// When it was set.
    pub set_at: OffsetDateTime,
    /// When it ends, if it does by itself.
    pub expires_at: Option<OffsetDateTime>,
}

impl Override {
    /// `base` with this override's fields put in.
    pub fn apply(&self, base: Settings) -> Settings {
        Settings {
            interval: self.interval.unwrap_or(base.interval),
            max_rows: self.max_rows.unwrap_or(base.max_rows),
            max_bytes: base.max_bytes,
        }
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A decision, by the policy or an operator, as recorded in `policy_decisions`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    /// When.
    pub at: OffsetDateTime,
    /// The worker, or `None` for every worker.
    pub worker: Option<WorkerId>,
    /// The policy's name, or `override` / `clear-override`.
    pub policy: String,
    /// Settings before.
    pub old: Settings,
    /// Settings after.
    pub new: Settings,
    /// Pushed or only advised.
    pub mode: Mode,
    /// Why.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_must_be_printable_and_short() {
        assert!(WorkerId::new("host-12-w0").is_some());
        assert!(WorkerId::new("").is_none());
        assert!(WorkerId::new("a b").is_none());
        assert!(WorkerId::new("a\u{7}").is_none());
        assert!(WorkerId::new("x".repeat(WorkerId::MAX_LEN)).is_some());
        assert!(WorkerId::new("x".repeat(WorkerId::MAX_LEN + 1)).is_none());
    }

    #[test]
    fn an_override_replaces_only_what_it_sets_and_expires() {
        let base = Settings {
            interval: Duration::from_millis(100),
            max_rows: 1000,
            max_bytes: 1 << 20,
        };
        let now = OffsetDateTime::now_utc();
        let ov = Override {
            worker: None,
            interval: Some(Duration::from_millis(700)),
            max_rows: None,
            set_at: now,
            expires_at: Some(now + Duration::from_secs(3)),
        };
        assert_eq!(
            ov.apply(base),
            Settings {
                interval: Duration::from_millis(700),
                ..base
            }
        );
        assert!(!ov.expired(now));
        assert!(ov.expired(now + Duration::from_secs(3)));
        let forever = Override {
            expires_at: None,
            ..ov
        };
        assert!(!forever.expired(now + Duration::from_secs(86_400)));
    }
}
