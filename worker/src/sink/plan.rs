//! The SQL that writes one route's table, built once from the route: the straight `COPY` of an `append`,
//! and the staging table and merge statements of everything else.
//!
//! - `append`: rows are copied straight into the table. A batch that holds a key already there (a
//!   re-delivery) is refused by the key's unique constraint, and written again through the staging table
//!   with `ON CONFLICT (key) DO NOTHING`. A route with a column `default` always goes through staging,
//!   where `COALESCE` puts the default in (PostgreSQL 15's `COPY` cannot ask for a default per row).
//! - `upsert`: staged, then one `INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO UPDATE … WHERE`
//!   the stored row is not newer. The newest version per key in the batch wins (order column, then
//!   partition, then offset), and it replaces the stored row only if its order value is not older; when
//!   the route stores the record's partition and offset, those break a tie with the stored row too. A batch
//!   whose key texts are all different takes the same statement without `DISTINCT ON` (and its sort).
//! - `delete`: the upsert statement for the route's other events, then, after every route of the batch
//!   has merged, one `DELETE … USING` the newest delete per key, which removes the stored row only if it
//!   is not newer than the delete. A delete leaves no tombstone: an older version of the row that arrives
//!   in a later batch writes the row again.

use crate::rows::builtin::EVENT_COLUMNS;
use pacer_pipeline::ColumnSource;
use pacer_pipeline::{Mode, RecordFact, Route};

/// How one route's rows reach its table.
#[derive(Debug, Clone)]
pub(crate) struct TablePlan {
    /// The route's name, for logs and dead letters.
    pub(crate) route: String,
    /// `COPY` straight into the table, for routes that can take their rows as they are.
    pub(crate) direct: Option<String>,
    /// Creates the session's staging table for the route (emptied at every commit).
    pub(crate) create_staging: String,
    /// `COPY` into the staging table.
    pub(crate) copy_staging: String,
    /// Empties the staging table inside a transaction.
    pub(crate) truncate_staging: String,
    /// Move the staged rows into the table; their row counts add up to the rows written.
    pub(crate) merge: Vec<String>,
    /// For `upsert` and `delete`: the upsert for a batch whose staged keys are all different, without the
    /// `DISTINCT ON` that picks the newest version of each key (and the sort it needs). If the keys turn
    /// out not to be different to PostgreSQL after all (`21000`), [`Self::merge`] runs instead.
    pub(crate) merge_distinct: Option<String>,
    /// For `delete`: deletes the rows the staged delete events remove. It runs after every route's merge
    /// of the batch, so that an older version of the row, staged for another route of the same table in
    /// the same batch, cannot bring it back.
    pub(crate) deletes: Option<String>,
    /// For a table of the built-in events layout (keyed by `(source, id)`), what isolating its rows needs.
    pub(crate) builtin: Option<Builtin>,
}

/// What isolating refused rows of the built-in layout needs: it tells duplicates from refusals.
#[derive(Debug, Clone)]
pub(crate) struct Builtin {
    /// The name of its primary key constraint, which a duplicate `(source, id)` violates.
    pub(crate) primary_key: String,
    /// Takes the staged rows already in the table out of staging, returning their `(source, id)`.
    pub(crate) already_there: String,
}

/// `"name"`: every identifier quoted, so that a column called `order` or `user` is just a column.
pub(crate) fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

impl TablePlan {
    /// The plan of `route`, the pipeline's route number `index`.
    pub(crate) fn new(index: usize, route: &Route) -> Self {
        let table = match route.table().schema() {
            Some(schema) => format!("{}.{}", quote(schema), quote(route.table().name())),
            None => quote(route.table().name()),
        };
        // One staging table per route and session, named by the route's number with a `-`, which no table a
        // route names can hold, and always qualified: an unqualified name would look in `pg_temp` first, so
        // a staging table could otherwise stand in for a user's table of the same name.
        let staging = format!("pg_temp.\"pacer-stage-{index}\"");
        let truncate_staging = format!("TRUNCATE {staging}");
        if route.uses_builtin_table() {
            return Self {
                route: route.name().to_owned(),
                direct: Some(format!("COPY {table} ({EVENT_COLUMNS}) FROM STDIN")),
                create_staging: format!(
                    "CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                ),
                copy_staging: format!("COPY {staging} ({EVENT_COLUMNS}) FROM STDIN"),
                truncate_staging,
                merge: vec![format!(
                    "INSERT INTO {table} ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM {staging} ON CONFLICT (source, id) DO NOTHING"
                )],
                merge_distinct: None,
                deletes: None,
                builtin: Some(Builtin {
                    primary_key: format!("{}_pkey", route.table().name()),
                    already_there: format!(
                        "DELETE FROM {staging} s USING {table} e WHERE e.source = s.source AND e.id = s.id RETURNING s.source, s.id"
                    ),
                }),
            };
        }
        let columns: Vec<String> = route.columns().iter().map(|c| quote(c.name())).collect();
        let list = columns.join(", ");
        let merges = crate::rows::merges(route.mode());
        let extras = if merges {
            ", \"pacer-partition\", \"pacer-offset\", \"pacer-delete\""
        } else {
            ""
        };
        let extra_types = if merges {
            ", NULL::integer AS \"pacer-partition\", NULL::bigint AS \"pacer-offset\", NULL::boolean AS \"pacer-delete\""
        } else {
            ""
        };
        // Staging columns without the table's constraints: a delete event leaves its non-key columns NULL.
        let create_staging = format!(
            "CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS SELECT {list}{extra_types} FROM {table} WITH NO DATA"
        );
        let copy_staging = format!("COPY {staging} ({list}{extras}) FROM STDIN");
        let values: Vec<String> = route
            .columns()
            .iter()
            .map(|column| match column.default() {
                Some(default) => format!("COALESCE({0}, {default}) AS {0}", quote(column.name())),
                None => quote(column.name()),
            })
            .collect();
        let values = values.join(", ");
        let key: Vec<String> = route.key().iter().map(|k| quote(k)).collect();
        let key = key.join(", ");
        let has_defaults = route.columns().iter().any(|c| c.default().is_some());
        let (direct, merge) = match route.mode() {
            Mode::Append => {
                let conflict = if key.is_empty() {
                    String::new()
                } else {
                    format!(" ON CONFLICT ({key}) DO NOTHING")
                };
                (
                    (!has_defaults).then(|| format!("COPY {table} ({list}) FROM STDIN")),
                    vec![format!(
                        "INSERT INTO {table} ({list}) SELECT {values} FROM {staging}{conflict}"
                    )],
                )
            }
            Mode::Upsert | Mode::Delete => (
                None,
                vec![upsert(route, &table, &staging, &list, &values, &key, false)],
            ),
        };
        let merge_distinct = crate::rows::merges(route.mode())
            .then(|| upsert(route, &table, &staging, &list, &values, &key, true));
        let deletes = (route.mode() == Mode::Delete).then(|| delete(route, &table, &staging, &key));
        Self {
            route: route.name().to_owned(),
            direct,
            create_staging,
            copy_staging,
            truncate_staging,
            merge,
            merge_distinct,
            deletes,
            builtin: None,
        }
    }
}

/// The order column, and the route's columns of the record's partition and offset if it stores them: what
/// says which of two versions of a row is newer.
fn version(route: &Route) -> Vec<String> {
    let order = route.order_column().map(quote);
    let fact = |fact: RecordFact| {
        route
            .columns()
            .iter()
            .find(|c| *c.source() == ColumnSource::Record(fact))
            .map(|c| quote(c.name()))
    };
    match (
        order,
        fact(RecordFact::KafkaPartition),
        fact(RecordFact::KafkaOffset),
    ) {
        (Some(order), Some(partition), Some(offset)) => vec![order, partition, offset],
        (Some(order), _, _) => vec![order],
        (None, _, _) => Vec::new(),
    }
}

fn newest_first(route: &Route, key: &str) -> String {
    let order = route
        .order_column()
        .map(quote)
        .unwrap_or_else(|| "\"pacer-offset\"".to_owned());
    format!("ORDER BY {key}, {order} DESC, \"pacer-partition\" DESC, \"pacer-offset\" DESC")
}

/// The upsert of the staged rows; `distinct` when the staged keys are all different (no `DISTINCT ON`).
fn upsert(
    route: &Route,
    table: &str,
    staging: &str,
    list: &str,
    values: &str,
    key: &str,
    distinct: bool,
) -> String {
    let updates: Vec<String> = route
        .columns()
        .iter()
        .filter(|c| !route.key().iter().any(|k| k == c.name()))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote(c.name())))
        .collect();
    let version = version(route);
    let stored: Vec<String> = version.iter().map(|c| format!("cur.{c}")).collect();
    let incoming: Vec<String> = version.iter().map(|c| format!("EXCLUDED.{c}")).collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!(
            "DO UPDATE SET {} WHERE ({}) <= ({})",
            updates.join(", "),
            stored.join(", "),
            incoming.join(", ")
        )
    };
    if distinct {
        return format!(
            "INSERT INTO {table} AS cur ({list}) SELECT {values} FROM {staging} \
             WHERE NOT \"pacer-delete\" ON CONFLICT ({key}) {action}"
        );
    }
    format!(
        "INSERT INTO {table} AS cur ({list}) SELECT DISTINCT ON ({key}) {values} FROM {staging} \
         WHERE NOT \"pacer-delete\" {} ON CONFLICT ({key}) {action}",
        newest_first(route, key)
    )
}

fn delete(route: &Route, table: &str, staging: &str, key: &str) -> String {
    let order = route.order_column().map(quote).unwrap_or_default();
    let matches: Vec<String> = route
        .key()
        .iter()
        .map(|k| format!("cur.{0} = gone.{0}", quote(k)))
        .collect();
    format!(
        "DELETE FROM {table} AS cur USING (SELECT DISTINCT ON ({key}) {key}, {order} FROM {staging} \
         WHERE \"pacer-delete\" {}) AS gone WHERE {} AND cur.{order} <= gone.{order}",
        newest_first(route, key),
        matches.join(" AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_pipeline::Pipeline;

    fn plan(toml: &str) -> TablePlan {
        let pipeline = Pipeline::parse(toml, "pacer.toml").unwrap();
        TablePlan::new(0, &pipeline.routes()[0])
    }

    #[test]
    fn an_upsert_for_distinct_keys_skips_picking_the_newest() {
        let plan = plan(
            r#"
[[route]]
name = "accounts"
type = "account"
table = "accounts"
mode = "upsert"
key = ["id"]
[route.columns]
id = { type = "text", from = "/data/id" }
balance = { type = "numeric", from = "/data/balance" }
changed_at = { type = "timestamptz", from = "/time" }
"#,
        );
        let distinct = plan.merge_distinct.unwrap();
        assert!(plan.merge[0].contains("DISTINCT ON"));
        assert!(!distinct.contains("DISTINCT ON") && !distinct.contains("ORDER BY"));
        assert_eq!(
            distinct.split(" ON CONFLICT").nth(1),
            plan.merge[0].split(" ON CONFLICT").nth(1)
        );
    }

    #[test]
    fn append_copies_straight_in_and_skips_known_keys_when_staged() {
        let plan = plan(
            r#"
[[route]]
name = "orders"
type = "order"
table = "shop.orders"
key = ["id"]
[route.columns]
id = { type = "uuid", from = "/data/id" }
order = { type = "text", from = "/data/order" }
"#,
        );
        assert_eq!(
            plan.direct.as_deref(),
            Some(r#"COPY "shop"."orders" ("id", "order") FROM STDIN"#)
        );
        assert_eq!(
            plan.merge,
            [
                r#"INSERT INTO "shop"."orders" ("id", "order") SELECT "id", "order" FROM pg_temp."pacer-stage-0" ON CONFLICT ("id") DO NOTHING"#
            ]
        );
    }

    #[test]
    fn a_default_sends_append_through_staging() {
        let plan = plan(
            r#"
[[route]]
name = "notes"
type = "note"
table = "notes"
key = []
[route.columns]
body = { type = "text", from = "/data/body", default = "''" }
"#,
        );
        assert!(plan.direct.is_none());
        assert_eq!(
            plan.merge,
            [
                r#"INSERT INTO "notes" ("body") SELECT COALESCE("body", '') AS "body" FROM pg_temp."pacer-stage-0""#
            ]
        );
    }

    #[test]
    fn upsert_keeps_the_newest_version() {
        let plan = plan(
            r#"
[[route]]
name = "customers"
type = "customer"
table = "customers"
mode = "upsert"
key = ["id"]
[route.columns]
id = { type = "text", from = "/data/id" }
name = { type = "text", from = "/data/name" }
at = { type = "timestamptz", from = "/time" }
"#,
        );
        assert!(plan.direct.is_none());
        assert_eq!(
            plan.merge,
            [concat!(
                r#"INSERT INTO "customers" AS cur ("id", "name", "at") SELECT DISTINCT ON ("id") "id", "name", "at" FROM pg_temp."pacer-stage-0" "#,
                r#"WHERE NOT "pacer-delete" ORDER BY "id", "at" DESC, "pacer-partition" DESC, "pacer-offset" DESC "#,
                r#"ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "at" = EXCLUDED."at" WHERE (cur."at") <= (EXCLUDED."at")"#
            )]
        );
    }
}
