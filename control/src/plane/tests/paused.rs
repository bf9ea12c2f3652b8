//! The state task against tokio's paused clock, driven with `advance`: override expiry, lost and forgotten
//! workers, and the snapshot published on each tick.

use super::*;
use crate::plane::state::TICK;
use std::sync::Arc;

#[tokio::test(start_paused = true)]
async fn an_override_with_an_expiry_ends_by_itself() {
    let plane = plane(Mode::Enforce);
    let mut pushes = attach(&plane, "w1", 1).await;
    let mut short = ov(Some("w1"), 700);
    short.expires_at = Some(OffsetDateTime::now_utc() + Duration::from_millis(300));
    plane.set_override(short).await.unwrap();
    assert_eq!(next_interval(&mut pushes).await, (700, Source::Override));
    // No policy decision yet: the worker goes back to what it attached with.
    assert_eq!(next_interval(&mut pushes).await, (100, Source::Initial));
    assert!(plane.snapshot().await.unwrap().overrides.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_worker_lost_for_long_is_forgotten_but_its_totals_stay() {
    let plane = plane_with(300.0, |config| {
        config.lost_after = Duration::from_millis(100);
        config.forget_after = Duration::from_millis(300);
    });
    let _pushes = attach(&plane, "w1", 1).await;
    plane.report(id("w1"), 1, report(100)).await;
    plane.detach(id("w1"), 1).await;
    let snapshot = plane.snapshot().await.unwrap();
    assert_eq!(snapshot.workers.len(), 1);
    tokio::time::advance(Duration::from_millis(400)).await;
    let snapshot = settled(&plane).await;
    assert!(snapshot.workers.is_empty());
    assert_eq!(snapshot.totals.batches, 1);
    assert_eq!(snapshot.totals.rows_written, 100);
}

#[tokio::test(start_paused = true)]
async fn a_worker_silent_for_longer_than_lost_after_is_marked_lost_at_the_next_tick() {
    let plane = plane_with(300.0, |config| config.lost_after = Duration::from_secs(10));
    let mut pushes = attach(&plane, "w1", 1).await;
    // Each message is handled before time moves on: the clock is read when the state task handles it.
    settled(&plane).await;
    tokio::time::advance(Duration::from_secs(8)).await;
    plane.heartbeat(id("w1"), 1, heartbeat()).await;
    settled(&plane).await;
    // Silent for 9 s since its heartbeat: still attached, its stream open.
    tokio::time::advance(Duration::from_secs(9)).await;
    assert!(settled(&plane).await.workers[0].attached);
    assert!(matches!(pushes.try_recv(), Err(TryRecvError::Empty)));
    // 11 s: the tick closes its stream.
    tokio::time::advance(Duration::from_secs(2)).await;
    let snapshot = settled(&plane).await;
    assert!(!snapshot.workers[0].attached);
    assert!(matches!(pushes.try_recv(), Err(TryRecvError::Disconnected)));
}

#[tokio::test(start_paused = true)]
async fn an_override_with_a_ttl_stops_applying_after_it_and_the_policy_takes_over_again() {
    let plane = plane(Mode::Enforce);
    let mut pushes = attach(&plane, "w1", 1).await;
    plane.report(id("w1"), 1, report(100)).await;
    assert_eq!(next_interval(&mut pushes).await, (300, Source::Policy));
    let mut ttl = ov(Some("w1"), 700);
    ttl.expires_at = Some(ttl.set_at + Duration::from_secs(30));
    let set = plane.set_override(ttl).await.unwrap();
    assert_eq!(
        set.expires_at.map(|at| at - set.set_at),
        Some(::time::Duration::seconds(30))
    );
    assert_eq!(next_interval(&mut pushes).await, (700, Source::Override));

    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(settled(&plane).await.overrides.len(), 1);
    assert!(matches!(pushes.try_recv(), Err(TryRecvError::Empty)));

    tokio::time::advance(Duration::from_secs(2)).await;
    let snapshot = settled(&plane).await;
    assert!(snapshot.overrides.is_empty());
    assert_eq!(next_interval(&mut pushes).await, (300, Source::Policy));
    assert_eq!(snapshot.workers[0].source, Source::Policy);
    assert_eq!(
        (
            snapshot.recent[0].policy.as_str(),
            snapshot.recent[0].reason.as_str()
        ),
        ("clear-override", "override expired")
    );
}

#[tokio::test(start_paused = true)]
async fn watchers_share_one_snapshot_per_tick_and_the_first_is_fresh() {
    let plane = plane(Mode::Enforce);
    let _pushes = attach(&plane, "w1", 1).await;
    let mut first = plane.watch().await.unwrap();
    // At once, and with the worker that attached just before.
    assert_eq!(first.borrow_and_update().workers.len(), 1);
    let mut second = plane.watch().await.unwrap();
    plane.report(id("w1"), 1, report(100)).await;
    tokio::time::advance(TICK).await;
    settled(&plane).await;
    assert!(first.has_changed().unwrap());
    let (a, b) = (
        first.borrow_and_update().clone(),
        second.borrow_and_update().clone(),
    );
    assert!(Arc::ptr_eq(&a, &b), "one snapshot for both watchers");
    assert_eq!(a.workers[0].batches, 1);
    // The state task stops with its last handle; the watchers learn it.
    drop(plane);
    assert!(first.changed().await.is_err());
}
