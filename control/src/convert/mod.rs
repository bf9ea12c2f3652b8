//! Protobuf messages to domain types and back. Incoming messages are checked here, and a message that does
//! not make sense is refused with an error that names the field.

use crate::domain::{
    BoundsChange, DecisionRecord, Heartbeat, Hello, Mode, Override, Report, Source, WorkerId,
};
use crate::plane::{PolicyView, Push, Snapshot, WorkerView};
use pacer_batch::proto::{self, duration_pb, flush_pb, settings_pb, timestamp_pb};
use pacer_policy::Bounds;
use pacer_proto::v1 as pb;
use std::time::Duration;
use time::OffsetDateTime;

pub use pacer_batch::proto::Invalid;

mod routes;

/// A worker id from a request field.
pub fn worker_id(field: &'static str, id: String) -> Result<WorkerId, Invalid> {
    WorkerId::new(id).ok_or_else(|| {
        Invalid::new(
            field,
            format!(
                "must be 1 to {} bytes, without spaces or control characters",
                WorkerId::MAX_LEN
            ),
        )
    })
}

/// An optional worker id: empty means every worker.
pub fn scope(field: &'static str, id: String) -> Result<Option<WorkerId>, Invalid> {
    if id.is_empty() {
        Ok(None)
    } else {
        worker_id(field, id).map(Some)
    }
}

/// The longest duration a report may carry: anything longer is a broken (or hostile) worker.
const MAX_REPORTED: Duration = Duration::from_secs(86_400);

/// A reported duration: absent is zero; negative or longer than a day is refused.
fn reported(field: &'static str, d: Option<prost_types::Duration>) -> Result<Duration, Invalid> {
    let Some(d) = d else {
        return Ok(Duration::ZERO);
    };
    match Duration::try_from(d) {
        Ok(d) if d <= MAX_REPORTED => Ok(d),
        _ => Err(Invalid::new(field, "must be between 0 and one day")),
    }
}

/// A request duration that must be valid when present.
pub fn duration_field(
    field: &'static str,
    d: Option<prost_types::Duration>,
) -> Result<Option<Duration>, Invalid> {
    d.map(|d| {
        Duration::try_from(d).map_err(|_| Invalid::new(field, "must be a non-negative duration"))
    })
    .transpose()
}

/// A report's time, if it has one in range.
fn timestamp(t: Option<prost_types::Timestamp>) -> Option<OffsetDateTime> {
    t.and_then(proto::timestamp)
}

impl TryFrom<pb::Hello> for Hello {
    type Error = Invalid;

    fn try_from(h: pb::Hello) -> Result<Self, Invalid> {
        Ok(Hello {
            worker_id: worker_id("hello.worker_id", h.worker_id)?,
            host: h.host,
            group: h.group,
            topic: h.topic,
            partitions: h.partitions,
            settings: proto::settings("hello.settings", h.settings)?,
            paused: h.paused,
            version: h.version,
        })
    }
}

impl From<pb::Heartbeat> for Heartbeat {
    fn from(h: pb::Heartbeat) -> Self {
        Heartbeat {
            partitions: h.partitions,
            lag: proto::lag(h.lag),
            paused: h.paused,
        }
    }
}

impl TryFrom<pb::BatchReport> for Report {
    type Error = Invalid;

    fn try_from(r: pb::BatchReport) -> Result<Self, Invalid> {
        Ok(Report {
            batch_no: r.batch_no,
            finished_at: timestamp(r.finished_at),
            records: r.records,
            rows_written: r.rows_written,
            duplicates: r.duplicates,
            invalid: r.invalid,
            bytes: r.bytes,
            flush: proto::flush("report.flush_reason", r.flush_reason)?,
            settings: proto::settings("report.settings", r.settings)?,
            poll: reported("report.poll", r.poll)?,
            transform: reported("report.transform", r.transform)?,
            write: reported("report.write", r.write)?,
            commit: reported("report.commit", r.commit)?,
            lag: proto::lag(r.lag),
            e2e_p50: r
                .e2e_p50
                .map(|d| reported("report.e2e_p50", Some(d)))
                .transpose()?,
            e2e_max: r
                .e2e_max
                .map(|d| reported("report.e2e_max", Some(d)))
                .transpose()?,
            receipt_to_commit: r
                .receipt_to_commit
                .map(|w| {
                    Ok::<_, Invalid>([
                        reported("report.receipt_to_commit.p50", w.p50)?,
                        reported("report.receipt_to_commit.p99", w.p99)?,
                        reported("report.receipt_to_commit.max", w.max)?,
                    ])
                })
                .transpose()?,
            routes: routes::route_counts(r.routes)?,
        })
    }
}

fn source_pb(source: Source) -> pb::SettingsSource {
    match source {
        Source::Initial => pb::SettingsSource::Initial,
        Source::Policy => pb::SettingsSource::Policy,
        Source::Override => pb::SettingsSource::Override,
    }
}

impl From<Push> for pb::AttachResponse {
    fn from(push: Push) -> Self {
        use pb::attach_response::Message;
        let message = match push {
            Push::Settings {
                settings,
                source,
                policy,
                reason,
                batch_no,
            } => Message::Settings(pb::SettingsUpdate {
                settings: Some(settings_pb(settings)),
                source: source_pb(source).into(),
                policy,
                reason,
                batch_no,
            }),
            Push::Pause { reason } => Message::Pause(pb::Pause { reason }),
            Push::Resume => Message::Resume(pb::Resume {}),
        };
        pb::AttachResponse {
            message: Some(message),
        }
    }
}

/// The mode from a request.
pub fn mode(m: i32) -> Result<Mode, Invalid> {
    match pb::Mode::try_from(m) {
        Ok(pb::Mode::Enforce) => Ok(Mode::Enforce),
        Ok(pb::Mode::Advise) => Ok(Mode::Advise),
        _ => Err(Invalid::new("mode", "must be MODE_ENFORCE or MODE_ADVISE")),
    }
}

fn mode_pb(m: Mode) -> pb::Mode {
    match m {
        Mode::Enforce => pb::Mode::Enforce,
        Mode::Advise => pb::Mode::Advise,
    }
}

/// The bounds fields a request changes: a field left at 0 keeps its current value.
pub fn bounds(b: pb::Bounds) -> BoundsChange {
    let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
    let n = |v: u64| (v > 0).then_some(v);
    BoundsChange {
        min_interval: ms(b.min_interval_ms),
        max_interval: ms(b.max_interval_ms),
        min_rows: n(b.min_rows),
        max_rows: n(b.max_rows),
        max_bytes: n(b.max_bytes),
    }
}

fn bounds_pb(b: Bounds) -> pb::Bounds {
    pb::Bounds {
        min_interval_ms: b.min_interval.as_millis() as u64,
        max_interval_ms: b.max_interval.as_millis() as u64,
        min_rows: b.min_rows,
        max_rows: b.max_rows,
        max_bytes: b.max_bytes,
    }
}

/// The running policy as a message.
pub fn policy_pb(p: &PolicyView) -> pb::PolicyState {
    pb::PolicyState {
        name: p.config.kind().as_str().to_owned(),
        params: p.config.params().into_iter().collect(),
        mode: mode_pb(p.mode).into(),
        bounds: Some(bounds_pb(p.config.bounds())),
    }
}

/// An override as a message.
pub fn override_pb(o: &Override) -> pb::Override {
    pb::Override {
        worker_id: o.worker.as_ref().map(|w| w.to_string()).unwrap_or_default(),
        interval_ms: o.interval.map_or(0, |d| d.as_millis() as u64),
        max_rows: o.max_rows.unwrap_or(0),
        expires_at: o.expires_at.map(timestamp_pb),
        set_at: Some(timestamp_pb(o.set_at)),
    }
}

/// A decision as a message.
pub fn decision_pb(d: &DecisionRecord) -> pb::Decision {
    pb::Decision {
        at: Some(timestamp_pb(d.at)),
        worker_id: d.worker.as_ref().map(|w| w.to_string()).unwrap_or_default(),
        policy: d.policy.clone(),
        old_settings: Some(settings_pb(d.old)),
        new_settings: Some(settings_pb(d.new)),
        mode: mode_pb(d.mode).into(),
        reason: d.reason.clone(),
    }
}

/// A worker as a message.
pub fn worker_pb(w: &WorkerView) -> pb::WorkerInfo {
    pb::WorkerInfo {
        worker_id: w.id.to_string(),
        host: w.host.clone(),
        group: w.group.clone(),
        status: if w.attached {
            pb::WorkerStatus::Attached
        } else {
            pb::WorkerStatus::Lost
        }
        .into(),
        paused: w.paused,
        partitions: w.partitions.clone(),
        lag: proto::lag_pb(&w.lag),
        settings: Some(settings_pb(w.settings)),
        settings_source: source_pb(w.source).into(),
        suggested: w.suggested.map(settings_pb),
        last_batch: w.last.as_ref().map(|r| pb::LastBatch {
            batch_no: r.batch_no,
            records: r.records,
            duration: Some(duration_pb(r.processing())),
            flush_reason: flush_pb(r.flush).into(),
            e2e_p50: r.e2e_p50.map(duration_pb),
            finished_at: r.finished_at.map(timestamp_pb),
        }),
        attached_at: Some(timestamp_pb(w.attached_at)),
        last_seen: Some(timestamp_pb(w.last_seen)),
        batches: w.batches,
        rows_written: w.rows_written,
        invalid: w.invalid,
        advice: w.advice.clone().unwrap_or_default(),
    }
}

/// A snapshot as a message.
pub fn snapshot_pb(s: &Snapshot) -> pb::PipelineSnapshot {
    pb::PipelineSnapshot {
        taken_at: Some(timestamp_pb(s.taken_at)),
        policy: Some(policy_pb(&s.policy)),
        overrides: s.overrides.iter().map(override_pb).collect(),
        workers: s.workers.iter().map(worker_pb).collect(),
        totals: Some(pb::Totals {
            batches: s.totals.batches,
            records: s.totals.records,
            rows_written: s.totals.rows_written,
            invalid: s.totals.invalid,
            duplicates: s.totals.duplicates,
            lag: s.totals.lag,
            events_ingested: s.totals.ingested,
            arrived: s.totals.arrived,
        }),
        recent_decisions: s.recent.iter().map(decision_pb).collect(),
        started_at: Some(timestamp_pb(s.started_at)),
        recent_batches: Some(pb::RecentBatches {
            window: Some(duration_pb(s.batches.window)),
            batches: s.batches.batches,
            records: s.batches.records,
            duration_p50: s.batches.duration_p50.map(duration_pb),
            duration_p99: s.batches.duration_p99.map(duration_pb),
            e2e_p50: s.batches.e2e_p50.map(duration_pb),
            e2e_p99: s.batches.e2e_p99.map(duration_pb),
            receipt_commit_p50: s.batches.receipt_p50.map(duration_pb),
            receipt_commit_p99: s.batches.receipt_p99.map(duration_pb),
            arrival_per_s: s.batches.arrival,
            scale: s.batches.scale.map(|scale| pb::ScaleAdvice {
                workers_needed: scale.needed,
                workers_usable: scale.usable,
                rate_per_worker: scale.rate_per_worker,
                capped: scale.capped(),
                advice: scale.to_string(),
            }),
        }),
        routes: s.routes.iter().map(routes::route_totals_pb).collect(),
    }
}

#[cfg(test)]
mod tests;
