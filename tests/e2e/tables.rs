//! `pacer tables plan|apply` and the start-up check against a real private PostgreSQL (no broker): the
//! plan creates what is missing and only that, apply runs it, and what cannot be done additively is
//! refused with the table, the column and both types named.

use pacer_pipeline::Pipeline;
use pacer_stack::{PostgresOptions, PrivatePostgres};
use pacer_worker::tables::{self, TablesError};
use sqlx::PgPool;
use std::path::PathBuf;
use std::process::{Command, Output};

const ORDERS: &str = r#"
[[route]]
name = "orders"
type = "shop.order.*"
table = "shop.orders"
mode = "upsert"
key = ["order_id"]
order = "event_time"

[route.columns]
order_id = { type = "uuid", from = "/data/order/id" }
amount = { type = "numeric", from = "/data/amount" }
items = { type = "text[]", from = "/data/items", nullable = true }
event_time = { type = "timestamptz", from = "/time" }
note = { type = "text", from = "/data/note", default = "''" }
"#;

/// The orders route with one more column, `coupon`, declared as `rest` says.
fn orders_with_coupon(rest: &str) -> String {
    format!("{ORDERS}coupon = {{ type = \"text\", from = \"/data/coupon\"{rest} }}\n")
}

/// A private PostgreSQL with an empty database, and a directory for pipeline files.
struct Db {
    pg: PrivatePostgres,
    dir: tempfile::TempDir,
    pool: PgPool,
}

impl Db {
    async fn start() -> Db {
        let dir = tempfile::Builder::new()
            .prefix("pacer-test-")
            .tempdir()
            .expect("temp dir");
        let pg = PrivatePostgres::start_or_reuse(&PostgresOptions {
            state_dir: dir.path().to_path_buf(),
            port: 0,
            database: "pacer".into(),
        })
        .await
        .expect("start the private PostgreSQL (scripts/setup.sh installs it)");
        let pool = tables::connect(&pg.url()).await.unwrap();
        Db { pg, dir, pool }
    }

    /// Writes `text` as the pipeline file `name` and returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn pipeline(&self, text: &str) -> Pipeline {
        Pipeline::parse(text, self.dir.path().join("pacer.toml")).unwrap()
    }

    /// `pacer tables <action> --pipeline FILE --database-url URL`, the file given by `PACER_PIPELINE`.
    fn pacer(&self, action: &str, text: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pacer"))
            .args(["tables", action, "--database-url", &self.pg.url()])
            .env("PACER_PIPELINE", self.file("pacer.toml", text))
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    }

    async fn execute(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(&self.pool).await.unwrap();
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.pg.stop_now();
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mismatch(result: Result<(), TablesError>) -> String {
    match result {
        Err(e @ TablesError::Mismatch(_)) => e.to_string(),
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

fn refused(result: Result<tables::Plan, TablesError>) -> String {
    match result {
        Err(e @ TablesError::Refused(_)) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn plan_creates_the_table_with_its_key_apply_runs_it_then_nothing_is_left() {
    let db = Db::start().await;
    let planned = db.pacer("plan", ORDERS);
    assert!(planned.status.success(), "{}", stderr(&planned));
    let script = stdout(&planned);
    assert!(
        script.contains("CREATE SCHEMA IF NOT EXISTS \"shop\";"),
        "{script}"
    );
    assert!(
        script.contains("CREATE TABLE \"shop\".\"orders\" ("),
        "{script}"
    );
    assert!(script.contains("PRIMARY KEY (\"order_id\")"), "{script}");
    assert!(
        script.contains("-- create table shop.orders (route \"orders\")"),
        "{script}"
    );
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass('shop.orders')::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(exists, None, "plan must change nothing");

    let applied = db.pacer("apply", ORDERS);
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert!(
        stdout(&applied).contains("applied 2 statements in one transaction"),
        "{}",
        stdout(&applied)
    );
    let key: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
         WHERE i.indrelid = 'shop.orders'::regclass AND i.indisprimary",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(key, ["order_id"]);

    let again = db.pacer("plan", ORDERS);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        stdout(&again).trim(),
        "nothing to do: every route's table matches"
    );
    tables::check(&db.pool, &db.pipeline(ORDERS)).await.unwrap();
}

#[tokio::test]
async fn a_new_nullable_column_is_added_and_rows_are_kept() {
    let db = Db::start().await;
    let v1 = db.pipeline(ORDERS);
    let plan = tables::plan(&db.pool, &v1).await.unwrap();
    tables::apply(&db.pool, &plan).await.unwrap();
    db.execute(
        "INSERT INTO shop.orders (order_id, amount, items, event_time) \
         VALUES ('00000000-0000-0000-0000-000000000001', 12.5, '{a,b}', '2024-05-01T10:00:00Z')",
    )
    .await;
    let row = "SELECT order_id::text || ' ' || amount::text || ' ' || items::text || ' ' \
               || event_time::text || ' [' || note || ']' FROM shop.orders";
    let before: String = sqlx::query_scalar(row).fetch_one(&db.pool).await.unwrap();

    let v2 = db.pipeline(&orders_with_coupon(", nullable = true"));
    let plan = tables::plan(&db.pool, &v2).await.unwrap();
    let statements: Vec<&str> = plan.steps().iter().map(|step| step.sql()).collect();
    assert_eq!(
        statements,
        ["ALTER TABLE \"shop\".\"orders\" ADD COLUMN \"coupon\" text"]
    );
    tables::apply(&db.pool, &plan).await.unwrap();

    let after: String = sqlx::query_scalar(row).fetch_one(&db.pool).await.unwrap();
    assert_eq!(after, before);
    let coupon: Option<String> = sqlx::query_scalar("SELECT coupon FROM shop.orders")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(coupon, None);
    tables::check(&db.pool, &v2).await.unwrap();
    assert!(tables::plan(&db.pool, &v2).await.unwrap().is_empty());
}

#[tokio::test]
async fn check_names_a_wrong_type_a_missing_column_and_a_missing_key_together() {
    let db = Db::start().await;
    db.execute(
        "CREATE SCHEMA shop; CREATE TABLE shop.orders (order_id uuid NOT NULL, amount text NOT NULL, \
         items text[], event_time timestamptz NOT NULL)",
    )
    .await;
    let message = mismatch(tables::check(&db.pool, &db.pipeline(ORDERS)).await);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 5, "{message}");
    assert_eq!(
        lines[1],
        "  route \"orders\": table shop.orders, column \"amount\": declared numeric, found text"
    );
    assert_eq!(
        lines[2],
        "  route \"orders\": table shop.orders, column \"note\" (declared text) does not exist"
    );
    assert!(
        lines[3].contains("no primary key or unique constraint on exactly (order_id)"),
        "{message}"
    );
    assert!(
        lines[4].starts_with("run `pacer tables apply --pipeline FILE --database-url URL`"),
        "{message}"
    );
    assert!(
        !message.contains("Some(") && !message.contains("{ "),
        "{message}"
    );
}

#[tokio::test]
async fn check_wants_the_events_layout_for_a_route_without_columns() {
    let db = Db::start().await;
    pacer_worker::Sink::new(&db.pg.url(), "test")
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let text = format!(
        "{ORDERS}\n[[route]]\nname = \"audit\"\nsource = \"/audit/*\"\ntable = \"audit\"\n\n\
         [[route]]\nname = \"rest\"\nsource = \"*\"\ntable = \"events\"\n"
    );
    let pipeline = db.pipeline(&text);
    let plan = tables::plan(&db.pool, &pipeline).await.unwrap();
    assert!(
        !plan.to_string().contains("audit"),
        "routes without columns are not planned:\n{plan}"
    );
    tables::apply(&db.pool, &plan).await.unwrap();
    let message = mismatch(tables::check(&db.pool, &pipeline).await);
    assert_eq!(message.lines().count(), 3, "{message}");
    assert!(
        message
            .contains("route \"audit\": table audit does not exist; the route declares no columns"),
        "{message}"
    );

    db.execute("CREATE TABLE audit (LIKE events INCLUDING ALL)")
        .await;
    tables::check(&db.pool, &pipeline).await.unwrap();
}

#[tokio::test]
async fn plan_refuses_a_not_null_column_without_default_and_a_retype() {
    let db = Db::start().await;
    let plan = tables::plan(&db.pool, &db.pipeline(ORDERS)).await.unwrap();
    tables::apply(&db.pool, &plan).await.unwrap();

    let message = refused(tables::plan(&db.pool, &db.pipeline(&orders_with_coupon(""))).await);
    assert!(
        message.contains(
            "route \"orders\": table shop.orders, column \"coupon\": declared text NOT NULL without a default"
        ),
        "{message}"
    );
    assert!(
        message.contains("declare it `nullable = true` or give it a `default`"),
        "{message}"
    );

    let retyped = ORDERS.replace(
        r#"amount = { type = "numeric""#,
        r#"amount = { type = "bigint""#,
    );
    let out = db.pacer("apply", &retyped);
    assert!(!out.status.success(), "a retype must be refused");
    let err = stderr(&out);
    assert!(
        err.contains(
            "route \"orders\": table shop.orders, column \"amount\": declared bigint, found numeric; pacer never changes a column's type"
        ),
        "{err}"
    );
    assert!(
        stdout(&out).is_empty(),
        "nothing is printed as a plan: {}",
        stdout(&out)
    );
    let amount: String = sqlx::query_scalar(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = 'shop.orders'::regclass AND attname = 'amount'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(amount, "numeric");
}

#[tokio::test]
async fn a_bad_pipeline_file_is_one_message_naming_the_file() {
    let db = Db::start().await;
    let out = db.pacer("plan", &ORDERS.replace("\"numeric\"", "\"money\""));
    assert!(!out.status.success());
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{err}"));
    assert!(line.contains("pacer.toml:"), "{line}");
    assert!(line.contains("unknown type \"money\""), "{line}");
}
