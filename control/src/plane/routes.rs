//! Rows and dead letters per route, over every worker since the control plane started, and each route's
//! rows per second over the recent window ([`WINDOW`], the one the batch percentiles use). Routes are named
//! in the pipeline files, so the set is small; it is capped all the same, since the names come from workers.

use super::window::WINDOW;
use crate::domain::RouteCount;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// At most this many routes are kept; a name first seen after that is not counted (and said once).
pub const MAX_ROUTES: usize = 256;

/// One route as the snapshot shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTotals {
    /// The route's name, or [`pacer_batch::NO_ROUTE`].
    pub route: String,
    /// Rows written to its table.
    pub rows: u64,
    /// Its records that became dead letters.
    pub dead_letters: u64,
    /// Rows per second over the recent window.
    pub rows_per_s: f64,
}

/// Every route's totals, and its rows of the recent seconds.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: BTreeMap<String, Route>,
    /// Whether a route was left out for the cap (so that it is said once).
    overflowed: bool,
}

#[derive(Debug, Default)]
struct Route {
    rows: u64,
    dead_letters: u64,
    /// Rows per whole second since the start, oldest first: at most a window's worth of seconds.
    recent: VecDeque<(u64, u64)>,
}

impl RouteTable {
    /// Adds a report's counts, received `at` (time since the control plane started).
    pub fn add(&mut self, at: Duration, counts: &[RouteCount]) {
        let second = at.as_secs();
        for count in counts {
            if !self.routes.contains_key(&count.route) && self.routes.len() >= MAX_ROUTES {
                if !self.overflowed {
                    tracing::warn!(route = %count.route, max = MAX_ROUTES, "too many route names reported; the counts of routes beyond the first ones are left out");
                    self.overflowed = true;
                }
                continue;
            }
            let route = self.routes.entry(count.route.clone()).or_default();
            route.rows = route.rows.saturating_add(count.rows);
            route.dead_letters = route.dead_letters.saturating_add(count.dead_letters);
            if count.rows > 0 {
                match route.recent.back_mut() {
                    Some((s, rows)) if *s == second => *rows = rows.saturating_add(count.rows),
                    _ => route.recent.push_back((second, count.rows)),
                }
            }
            route.prune(first_second(at));
        }
    }

    /// Every route by name, with its rate at `now` (time since the control plane started).
    pub fn totals(&mut self, now: Duration) -> Vec<RouteTotals> {
        let first = first_second(now);
        // Whole seconds from `first` to now: just under a window once the control plane has run that long.
        let span = now.saturating_sub(Duration::from_secs(first)).as_secs_f64();
        self.routes
            .iter_mut()
            .map(|(name, route)| {
                route.prune(first);
                let recent: u64 = route.recent.iter().map(|&(_, rows)| rows).sum();
                RouteTotals {
                    route: name.clone(),
                    rows: route.rows,
                    dead_letters: route.dead_letters,
                    rows_per_s: if span > 0.0 {
                        recent as f64 / span
                    } else {
                        0.0
                    },
                }
            })
            .collect()
    }
}

impl Route {
    /// Drops the seconds before `first`.
    fn prune(&mut self, first: u64) {
        while self.recent.front().is_some_and(|&(s, _)| s < first) {
            self.recent.pop_front();
        }
    }
}

/// The first whole second the window ending at `now` counts.
fn first_second(now: Duration) -> u64 {
    now.as_secs()
        .saturating_add(1)
        .saturating_sub(WINDOW.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(route: &str, rows: u64, dead_letters: u64) -> RouteCount {
        RouteCount {
            route: route.into(),
            rows,
            dead_letters,
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_rate_counts_the_rows_of_the_window_only() {
        let mut table = RouteTable::default();
        table.add(S, &[count("orders", 1_000, 0)]);
        table.add(5 * S, &[count("orders", 450, 2)]);
        // 5 s after the start: both batches, over the 5 s run so far.
        let at_five = table.totals(5 * S);
        assert_eq!(at_five[0].rows, 1_450);
        assert_eq!(at_five[0].rows_per_s, 290.0);
        // 12 s: the first batch left the window, which now runs from second 3 (9 s and now's second).
        let later = table.totals(12 * S);
        assert_eq!((later[0].rows, later[0].dead_letters), (1_450, 2));
        assert_eq!(later[0].rows_per_s, 50.0);
        // The totals stay when nothing is recent.
        let idle = table.totals(30 * S);
        assert_eq!((idle[0].rows, idle[0].rows_per_s), (1_450, 0.0));
    }

    #[test]
    fn the_number_of_routes_is_capped() {
        let mut table = RouteTable::default();
        for i in 0..MAX_ROUTES + 10 {
            table.add(S, &[count(&format!("r{i}"), 1, 0)]);
        }
        table.add(S, &[count("r0", 1, 0)]);
        let totals = table.totals(S);
        assert_eq!(totals.len(), MAX_ROUTES);
        assert_eq!(
            totals.iter().map(|t| t.rows).sum::<u64>(),
            MAX_ROUTES as u64 + 1
        );
    }
}
