//! The state task driven directly: override precedence, advise mode, pause, stale streams, policy changes;
//! the tests of time are in [`paused`].

mod paused;
mod routes;
mod sim_parity;

use super::*;
use crate::domain::{BoundsChange, PartitionLag, Source};
use pacer_policy::{Bounds, Flush, PolicyKind, Settings};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use tokio::sync::mpsc::error::TryRecvError;

fn settings(interval_ms: u64) -> Settings {
    Settings {
        interval: Duration::from_millis(interval_ms),
        max_rows: 10_000,
        max_bytes: 1 << 24,
    }
}

fn plane(mode: Mode) -> Plane {
    plane_with(300.0, |config| config.mode = mode)
}

/// A state task under the static policy (`static_ms`), with `adjust` applied to its configuration.
fn plane_with(static_ms: f64, adjust: impl FnOnce(&mut PlaneConfig)) -> Plane {
    let params = BTreeMap::from([("interval_ms".to_owned(), static_ms)]);
    let policy = PolicyConfig::new(PolicyKind::Static, &params, Bounds::default()).unwrap();
    let mut config = PlaneConfig {
        policy,
        mode: Mode::Enforce,
        lost_after: Duration::from_secs(60),
        forget_after: Duration::from_secs(600),
        min_gap: Duration::ZERO,
        hysteresis: 0.1,
        metrics: crate::ControlMetrics::new(),
    };
    adjust(&mut config);
    // Nothing listens there: decisions are kept in memory and the writes fail in the background.
    let store = DecisionStore::connect("postgres://nobody@127.0.0.1:1/none").unwrap();
    Plane::start(config, store).0
}

fn id(name: &str) -> WorkerId {
    WorkerId::new(name).unwrap()
}

async fn attach(plane: &Plane, name: &str, connection: u64) -> mpsc::Receiver<Push> {
    let (outbox, pushes) = mpsc::channel(16);
    let hello = Hello {
        worker_id: id(name),
        host: "h".into(),
        group: "g".into(),
        topic: "t".into(),
        partitions: vec![0],
        settings: settings(100),
        paused: false,
        version: "test".into(),
    };
    plane.attach(hello, connection, outbox).await;
    pushes
}

fn report(interval_ms: u64) -> Report {
    Report {
        batch_no: 1,
        finished_at: Some(OffsetDateTime::now_utc()),
        records: 100,
        rows_written: 100,
        duplicates: 0,
        invalid: 0,
        bytes: 10_000,
        flush: Flush::Interval,
        settings: settings(interval_ms),
        poll: Duration::from_millis(interval_ms),
        transform: Duration::from_millis(1),
        write: Duration::from_millis(5),
        commit: Duration::from_millis(1),
        lag: vec![lag_at_end(100)],
        e2e_p50: Some(Duration::from_millis(60)),
        e2e_max: Some(Duration::from_millis(120)),
        receipt_to_commit: None,
        routes: Vec::new(),
    }
}

/// Partition 0 of the topic, caught up at `end`.
fn lag_at_end(end: i64) -> PartitionLag {
    PartitionLag {
        topic: "events".into(),
        partition: 0,
        lag: 0,
        end: Some(end),
    }
}

fn heartbeat() -> Heartbeat {
    Heartbeat {
        partitions: vec![0],
        lag: vec![lag_at_end(100)],
        paused: false,
    }
}

/// A snapshot taken once the tick that came due (after an `advance`) has been handled: the state task
/// handles it at the latest right after answering the first request.
async fn settled(plane: &Plane) -> Snapshot {
    plane.snapshot().await.unwrap();
    plane.snapshot().await.unwrap()
}

async fn next_interval(pushes: &mut mpsc::Receiver<Push>) -> (u64, Source) {
    let push = tokio::time::timeout(Duration::from_secs(5), pushes.recv())
        .await
        .expect("a push")
        .expect("an open stream");
    match push {
        Push::Settings {
            settings, source, ..
        } => (settings.interval.as_millis() as u64, source),
        other => panic!("expected settings, got {other:?}"),
    }
}

fn ov(worker: Option<&str>, interval_ms: u64) -> Override {
    Override {
        worker: worker.map(id),
        interval: Some(Duration::from_millis(interval_ms)),
        max_rows: None,
        set_at: OffsetDateTime::now_utc(),
        expires_at: None,
    }
}

#[tokio::test]
async fn a_workers_own_override_wins_over_the_one_for_all_and_both_over_the_policy() {
    let plane = plane(Mode::Enforce);
    let mut pushes = attach(&plane, "w1", 1).await;
    plane.report(id("w1"), 1, report(100)).await;
    assert_eq!(next_interval(&mut pushes).await, (300, Source::Policy));

    plane.set_override(ov(None, 900)).await.unwrap();
    assert_eq!(next_interval(&mut pushes).await, (900, Source::Override));
    plane.set_override(ov(Some("w1"), 50)).await.unwrap();
    assert_eq!(next_interval(&mut pushes).await, (50, Source::Override));
    // The policy still sees batches, but decides nothing while an override is in force.
    plane.report(id("w1"), 1, report(50)).await;
    plane.clear_override(Some(id("w1"))).await.unwrap();
    assert_eq!(next_interval(&mut pushes).await, (900, Source::Override));
    assert!(plane.clear_override(None).await.unwrap());
    assert_eq!(next_interval(&mut pushes).await, (300, Source::Policy));
    assert!(!plane.clear_override(None).await.unwrap());
    assert!(matches!(pushes.try_recv(), Err(TryRecvError::Empty)));

    let snapshot = plane.snapshot().await.unwrap();
    let policies: Vec<&str> = snapshot.recent.iter().map(|d| d.policy.as_str()).collect();
    assert_eq!(
        policies,
        [
            "clear-override",
            "clear-override",
            "override",
            "override",
            "static"
        ]
    );
}

#[tokio::test]
async fn advise_mode_suggests_without_pushing() {
    let plane = plane(Mode::Advise);
    let mut pushes = attach(&plane, "w1", 1).await;
    plane.report(id("w1"), 1, report(100)).await;
    let snapshot = plane.snapshot().await.unwrap();
    let w = &snapshot.workers[0];
    assert_eq!(w.settings, settings(100));
    assert_eq!(
        w.suggested.map(|s| s.interval),
        Some(Duration::from_millis(300))
    );
    assert_eq!(snapshot.recent[0].mode, Mode::Advise);
    assert!(matches!(pushes.try_recv(), Err(TryRecvError::Empty)));

    plane.set_mode(Mode::Enforce).await.unwrap();
    plane.report(id("w1"), 1, report(100)).await;
    assert_eq!(next_interval(&mut pushes).await, (300, Source::Policy));
}

#[tokio::test]
async fn pause_and_resume_reach_the_worker_and_unknown_ids_are_refused() {
    let plane = plane(Mode::Enforce);
    let mut pushes = attach(&plane, "w1", 1).await;
    assert_eq!(
        plane.pause(Some(id("nobody")), true).await,
        Err(AdminError::UnknownWorker(id("nobody")))
    );
    assert_eq!(plane.pause(None, true).await.unwrap(), [id("w1")]);
    assert!(matches!(pushes.recv().await, Some(Push::Pause { .. })));
    assert!(plane.set_override(ov(Some("nobody"), 5)).await.is_err());
    // A worker that re-attaches unpaused is paused again: the operator's wish outlives the stream.
    let mut again = attach(&plane, "w1", 2).await;
    assert!(matches!(again.recv().await, Some(Push::Pause { .. })));
    plane.pause(Some(id("w1")), false).await.unwrap();
    assert_eq!(again.recv().await, Some(Push::Resume));
}

#[tokio::test]
async fn a_stale_stream_cannot_detach_or_report_for_the_current_one() {
    let plane = plane(Mode::Enforce);
    let _old = attach(&plane, "w1", 1).await;
    let mut current = attach(&plane, "w1", 2).await;
    plane.detach(id("w1"), 1).await;
    plane.report(id("w1"), 1, report(100)).await;
    let snapshot = plane.snapshot().await.unwrap();
    assert!(snapshot.workers[0].attached);
    assert_eq!(snapshot.workers[0].batches, 0);
    plane.report(id("w1"), 2, report(100)).await;
    assert_eq!(next_interval(&mut current).await, (300, Source::Policy));
    plane.detach(id("w1"), 2).await;
    assert!(!plane.snapshot().await.unwrap().workers[0].attached);
}

#[tokio::test]
async fn overrides_merge_field_by_field_and_leave_the_rest_to_the_policy() {
    let plane = plane(Mode::Enforce);
    let mut pushes = attach(&plane, "w1", 1).await;
    plane.set_override(ov(None, 900)).await.unwrap();
    assert_eq!(next_interval(&mut pushes).await, (900, Source::Override));
    let rows_only = Override {
        interval: None,
        max_rows: Some(50),
        ..ov(Some("w1"), 0)
    };
    plane.set_override(rows_only).await.unwrap();
    let Some(Push::Settings { settings, .. }) = pushes.recv().await else {
        panic!("expected settings");
    };
    // The worker's own override sets max_rows; the one for all still sets the interval.
    assert_eq!(
        (settings.interval, settings.max_rows),
        (Duration::from_millis(900), 50)
    );
    // The policy (static: 300 ms, its own max_rows) still decides what the overrides leave open, here
    // max_bytes; the overridden fields stay.
    plane.report(id("w1"), 1, report(900)).await;
    let snapshot = plane.snapshot().await.unwrap();
    let w = &snapshot.workers[0];
    assert_eq!(
        (w.settings.interval, w.settings.max_rows),
        (Duration::from_millis(900), 50)
    );
    assert_eq!(w.source, Source::Override);
}

#[tokio::test]
async fn settings_the_worker_did_not_take_are_pushed_again() {
    let plane = plane(Mode::Enforce);
    let mut pushes = attach(&plane, "w1", 1).await;
    plane.report(id("w1"), 1, report(100)).await;
    assert_eq!(next_interval(&mut pushes).await, (300, Source::Policy));
    // The worker keeps reporting batches under its old 100 ms: two are expected, the third is not.
    plane.report(id("w1"), 1, report(100)).await;
    plane.report(id("w1"), 1, report(100)).await;
    assert!(matches!(pushes.try_recv(), Err(TryRecvError::Empty)));
    plane.report(id("w1"), 1, report(100)).await;
    assert_eq!(next_interval(&mut pushes).await, (300, Source::Policy));
}

#[tokio::test]
async fn an_interval_with_a_fraction_of_a_millisecond_is_pushed_once() {
    let plane = plane_with(57.4, |_| {});
    let mut pushes = attach(&plane, "w1", 1).await;
    plane.report(id("w1"), 1, report(100)).await;
    let Some(Push::Settings { settings, .. }) = pushes.recv().await else {
        panic!("expected settings");
    };
    assert_eq!(settings.interval, Duration::from_millis(57));
    // The worker runs whole milliseconds, as the wire carries them: that is not a mismatch to push again.
    for _ in 0..6 {
        let mut ran = report(57);
        ran.settings = settings;
        plane.report(id("w1"), 1, ran).await;
    }
    plane.snapshot().await.unwrap();
    assert!(matches!(pushes.try_recv(), Err(TryRecvError::Empty)));
}

#[tokio::test]
async fn decisions_are_counted_once_per_action_with_their_scope() {
    let metrics = crate::ControlMetrics::new();
    let registry = prometheus::Registry::new();
    metrics.register(&registry).unwrap();
    let counted = metrics.clone();
    let plane = plane_with(300.0, move |c| c.metrics = counted);
    let mut first = attach(&plane, "w1", 1).await;
    let mut second = attach(&plane, "w2", 2).await;
    plane.report(id("w1"), 1, report(100)).await;
    assert_eq!(next_interval(&mut first).await, (300, Source::Policy));
    // One override for every worker changes two workers: one decision of scope "all".
    plane.set_override(ov(None, 900)).await.unwrap();
    assert_eq!(next_interval(&mut first).await.0, 900);
    assert_eq!(next_interval(&mut second).await.0, 900);
    plane.set_override(ov(Some("w2"), 50)).await.unwrap();
    assert_eq!(next_interval(&mut second).await.0, 50);
    plane.snapshot().await.unwrap();
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    let count = |labels: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("pacer_control_decisions_total{{{labels}}}")))
            .unwrap_or_else(|| panic!("no series {labels}:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        count(r#"mode="enforce",policy="override",scope="all""#),
        1.0
    );
    assert_eq!(
        count(r#"mode="enforce",policy="override",scope="worker""#),
        1.0
    );
    assert_eq!(
        count(r#"mode="enforce",policy="static",scope="worker""#),
        1.0
    );
    // Series of kinds not seen yet exist at zero.
    assert_eq!(count(r#"mode="advise",policy="model",scope="worker""#), 0.0);
    let reports = text
        .lines()
        .find(|l| l.starts_with("pacer_control_reports_total "))
        .unwrap();
    assert_eq!(reports, "pacer_control_reports_total 1");
}

#[tokio::test]
async fn a_push_names_the_report_that_led_to_it() {
    let plane = plane(Mode::Enforce);
    let mut pushes = attach(&plane, "w1", 1).await;
    let mut first = report(100);
    first.batch_no = 7;
    plane.report(id("w1"), 1, first).await;
    let push = tokio::time::timeout(Duration::from_secs(5), pushes.recv())
        .await
        .unwrap();
    assert!(
        matches!(push, Some(Push::Settings { batch_no: 7, .. })),
        "{push:?}"
    );
    plane.set_override(ov(None, 900)).await.unwrap();
    let push = tokio::time::timeout(Duration::from_secs(5), pushes.recv())
        .await
        .unwrap();
    assert!(
        matches!(push, Some(Push::Settings { batch_no: 0, .. })),
        "{push:?}"
    );
}

#[tokio::test]
async fn a_policy_change_keeps_the_bounds_it_does_not_name_and_is_validated() {
    let plane = plane(Mode::Enforce);
    let before = plane.snapshot().await.unwrap().policy.config.bounds();
    let change = |kind, bounds| PolicyChange {
        kind,
        params: BTreeMap::new(),
        bounds,
    };
    let longer = BoundsChange {
        max_interval: Some(Duration::from_secs(2)),
        ..BoundsChange::default()
    };
    let view = plane
        .set_policy(change(PolicyKind::Aimd, longer))
        .await
        .unwrap();
    assert_eq!(view.config.kind(), PolicyKind::Aimd);
    assert_eq!(
        view.config.bounds(),
        Bounds {
            max_interval: Duration::from_secs(2),
            ..before
        }
    );
    // Over the bounds now in force (a 2 s ceiling), a 3 s floor does not hold: refused, nothing changes.
    let inverted = BoundsChange {
        min_interval: Some(Duration::from_secs(3)),
        ..BoundsChange::default()
    };
    let refused = plane.set_policy(change(PolicyKind::Static, inverted)).await;
    assert!(
        matches!(refused, Err(AdminError::InvalidPolicy(_))),
        "{refused:?}"
    );
    assert_eq!(
        plane.snapshot().await.unwrap().policy.config.kind(),
        PolicyKind::Aimd
    );
}

#[test]
fn an_unknown_worker_is_named_as_given() {
    let e = AdminError::UnknownWorker(id("nosuch"));
    assert_eq!(e.to_string(), "no worker with id nosuch is known");
}
