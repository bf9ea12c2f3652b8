//! The routes panel drawn from fixed snapshots on ratatui's `TestBackend`: each route's rows, rate and dead
//! letters beside the decisions, shown only when it says more than the header, cut to the room it has.
#![allow(clippy::unwrap_used)]

mod common;

use common::{T0, app_with, pipeline, render, route};
use pacer_proto::v1 as pb;
use pacer_tui::app::App;
use std::time::Instant;

/// The line of `screen` that holds `what`, or nothing.
fn line_with<'a>(screen: &'a str, what: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_default()
}

#[test]
fn the_routes_panel_shows_each_routes_rows_rate_and_dead_letters() {
    let mut app = App::new("http://127.0.0.1:50051", true);
    let mut snapshot = pipeline(T0, pb::Mode::Enforce);
    snapshot.routes = vec![
        route("-", 0, 4, 0.0),
        route("orders", 12_340, 6, 250.0),
        route("page_views", 21_650, 0, 1_500.0),
    ];
    app.on_snapshot(snapshot);
    for (width, height) in [(80, 24), (120, 40)] {
        let screen = render(&app, width, height, Instant::now());
        let size = format!("{width}x{height}");
        assert!(screen.contains(" routes "), "{size}\n{screen}");
        let header = line_with(&screen, "rows/s");
        assert!(
            header.contains("route") && header.contains("dead"),
            "{header}"
        );
        let orders = line_with(&screen, "orders");
        assert!(
            orders.contains("12.3k") && orders.contains("250") && orders.contains(" 6"),
            "{size}\n{orders}"
        );
        let views = line_with(&screen, "page_views");
        assert!(views.contains("21.6k") && views.contains("1.5k"), "{views}");
        // The dead letters that reached no route, named so and listed last.
        let unrouted = line_with(&screen, "(no route)");
        assert!(
            unrouted.contains(" -") && unrouted.contains(" 4"),
            "{size}\n{unrouted}"
        );
        let names: Vec<usize> = ["orders", "page_views", "(no route)"]
            .iter()
            .filter_map(|n| screen.lines().position(|l| l.contains(n)))
            .collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}\n{screen}");
        // The rest of the console keeps its place: both workers and the decision.
        assert!(
            screen.contains("w-alpha-01") && screen.contains("w-bravo-02"),
            "{screen}"
        );
        assert!(screen.contains("model"), "{screen}");
    }
}

#[test]
fn one_route_without_dead_letters_needs_no_panel_and_many_are_cut() {
    let app = app_with(pb::Mode::Enforce);
    let screen = render(&app, 80, 24, Instant::now());
    assert!(!screen.contains("rows/s"), "{screen}");
    let mut app = App::new("http://127.0.0.1:50051", true);
    let mut snapshot = pipeline(T0, pb::Mode::Enforce);
    snapshot.routes = (0..8)
        .map(|i| route(&format!("r{i}"), 10, 0, 1.0))
        .collect();
    app.on_snapshot(snapshot);
    let small = render(&app, 80, 24, Instant::now());
    assert!(small.contains("routes (3 of 8)"), "{small}");
    assert!(small.contains("w-bravo-02"), "{small}");
    let large = render(&app, 200, 60, Instant::now());
    assert!(
        large.contains(" routes ") && large.contains("r7"),
        "{large}"
    );
}
