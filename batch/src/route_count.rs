//! One route's share of a batch: how many rows its table took and how many of its records became dead
//! letters. Routes are named in the pipeline file, so the names are few.

/// The route label of the dead letters that reached no route (not events, or matched none): not a valid
/// route name, so it names none.
pub const NO_ROUTE: &str = "-";

/// One route's share of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCount {
    /// The route's name, or [`NO_ROUTE`] for records that reached no route.
    pub route: String,
    /// Rows written to its table (inserted, replaced or deleted).
    pub rows: u64,
    /// Its records that became dead letters.
    pub dead_letters: u64,
}
