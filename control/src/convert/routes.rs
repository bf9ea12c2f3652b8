//! Per-route figures on the wire: a report's route counts, checked on the way in (the names become the keys
//! of what the control plane keeps and shows), and the snapshot's route totals on the way out.

use super::Invalid;
use crate::domain::RouteCount;
use crate::plane::RouteTotals;
use pacer_proto::v1 as pb;

/// The most routes one report may name: a pipeline file names a few.
const MAX_PER_REPORT: usize = 256;

/// Route names are PostgreSQL-sized identifiers (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// Whether `name` is a route name (`[a-z][a-z0-9_]*`, at most [`MAX_NAME`] bytes) or the name of no route.
fn route_name(name: &str) -> bool {
    let mut chars = name.chars();
    name == pacer_batch::NO_ROUTE
        || (name.len() <= MAX_NAME
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
}

/// A report's route counts: at most [`MAX_PER_REPORT`], each a route name, none twice.
pub(super) fn route_counts(counts: Vec<pb::RouteCount>) -> Result<Vec<RouteCount>, Invalid> {
    const FIELD: &str = "report.routes";
    if counts.len() > MAX_PER_REPORT {
        return Err(Invalid::new(
            FIELD,
            format!("must name at most {MAX_PER_REPORT} routes"),
        ));
    }
    let mut out: Vec<RouteCount> = Vec::with_capacity(counts.len());
    for count in counts {
        if !route_name(&count.route) {
            return Err(Invalid::new(
                FIELD,
                format!(
                    "route names must be [a-z][a-z0-9_]* of at most {MAX_NAME} bytes, or \"{}\"",
                    pacer_batch::NO_ROUTE
                ),
            ));
        }
        if out.iter().any(|seen| seen.route == count.route) {
            return Err(Invalid::new(FIELD, "must name each route once"));
        }
        out.push(RouteCount {
            route: count.route,
            rows: count.rows,
            dead_letters: count.dead_letters,
        });
    }
    Ok(out)
}

/// A route's totals as a message.
pub(super) fn route_totals_pb(r: &RouteTotals) -> pb::RouteTotals {
    pb::RouteTotals {
        route: r.route.clone(),
        rows_total: r.rows,
        dead_letters_total: r.dead_letters,
        rows_per_s: r.rows_per_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(route: &str) -> pb::RouteCount {
        pb::RouteCount {
            route: route.into(),
            rows: 3,
            dead_letters: 1,
        }
    }

    #[test]
    fn route_names_are_checked_and_each_comes_once() {
        let ok = route_counts(vec![count("orders"), count("page_views2"), count("-")]).unwrap();
        assert_eq!(ok.len(), 3);
        assert_eq!((ok[0].rows, ok[0].dead_letters), (3, 1));
        for bad in ["", "Orders", "9lives", "a b", "--", &"x".repeat(64)] {
            let error = route_counts(vec![count(bad)]).unwrap_err();
            assert_eq!(error.field, "report.routes", "{bad:?}");
        }
        assert!(route_counts(vec![count(&"x".repeat(63))]).is_ok());
        let twice = route_counts(vec![count("orders"), count("orders")]).unwrap_err();
        assert!(twice.to_string().contains("once"), "{twice}");
        let many: Vec<pb::RouteCount> = (0..=MAX_PER_REPORT)
            .map(|i| count(&format!("r{i}")))
            .collect();
        assert!(route_counts(many).is_err());
    }
}
