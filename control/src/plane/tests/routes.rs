//! Per-route figures through the state task: the reports of several workers add up per route in the
//! snapshot, and so on the wire, and stay when a worker is forgotten.

use super::*;
use crate::domain::RouteCount;

fn with_routes(counts: &[(&str, u64, u64)]) -> Report {
    Report {
        routes: counts
            .iter()
            .map(|&(route, rows, dead_letters)| RouteCount {
                route: route.into(),
                rows,
                dead_letters,
            })
            .collect(),
        ..report(100)
    }
}

#[tokio::test(start_paused = true)]
async fn two_workers_reports_add_up_per_route() {
    let plane = plane_with(300.0, |config| {
        config.lost_after = Duration::from_millis(100);
        config.forget_after = Duration::from_millis(300);
    });
    let _w1 = attach(&plane, "w1", 1).await;
    let _w2 = attach(&plane, "w2", 2).await;
    tokio::time::advance(Duration::from_secs(2)).await;
    plane
        .report(id("w1"), 1, with_routes(&[("orders", 60, 0), ("-", 0, 2)]))
        .await;
    plane
        .report(
            id("w2"),
            2,
            with_routes(&[("orders", 30, 1), ("views", 10, 0)]),
        )
        .await;
    plane
        .report(id("w1"), 1, with_routes(&[("views", 10, 0)]))
        .await;
    // A report from a stale stream counts for nothing.
    plane
        .report(id("w2"), 9, with_routes(&[("orders", 1_000, 0)]))
        .await;
    let snapshot = plane.snapshot().await.unwrap();
    let totals: Vec<(&str, u64, u64)> = snapshot
        .routes
        .iter()
        .map(|r| (r.route.as_str(), r.rows, r.dead_letters))
        .collect();
    assert_eq!(totals, [("-", 0, 2), ("orders", 90, 1), ("views", 20, 0)]);
    // Two seconds into the run, all of it in the window.
    let rates: Vec<f64> = snapshot.routes.iter().map(|r| r.rows_per_s).collect();
    assert_eq!(rates, [0.0, 45.0, 10.0]);
    let wire = crate::convert::snapshot_pb(&snapshot);
    assert_eq!(wire.routes.len(), 3);
    assert_eq!(
        (wire.routes[1].route.as_str(), wire.routes[1].rows_total),
        ("orders", 90)
    );
    assert_eq!(wire.routes[1].dead_letters_total, 1);
    assert_eq!(wire.routes[2].rows_per_s, 10.0);

    // Both workers go and are forgotten: the totals stay, the rates fall to zero with the window.
    plane.detach(id("w1"), 1).await;
    plane.detach(id("w2"), 2).await;
    tokio::time::advance(Duration::from_secs(20)).await;
    let snapshot = settled(&plane).await;
    assert!(snapshot.workers.is_empty());
    let orders = &snapshot.routes[1];
    assert_eq!(
        (orders.rows, orders.dead_letters, orders.rows_per_s),
        (90, 1, 0.0)
    );
}
