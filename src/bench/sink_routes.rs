//! The routes benchmark: the worker's write path for a pipeline file's typed routes — `append` (rows
//! copied straight into the table) and `upsert` (staging table and one merge) — against `psql \copy` of
//! rows of the same shape into the same typed table, alternating, on one private PostgreSQL.
//!
//! The pipeline and the events are also those of the ingest schema benchmark ([`pipeline_file`],
//! [`event`]), so that both measure the same routes.

use super::sink::batches;
use super::{print_table, private_postgres};
use anyhow::Context;
use clap::Args;
use pacer_pipeline::Pipeline;
use pacer_worker::{Batch, Routes, Sink, Transformed, WriteOutcome, transform};
use rdkafka::Timestamp;
use rdkafka::message::OwnedMessage;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[derive(Debug, Args)]
pub struct RoutesArgs {
    /// Rows per round.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Rows per worker batch.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Rounds of each contender.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// The typed table's columns, in the routes' order (the order of their `COPY` text).
const COLUMNS: &str = "tenant, order_id, amount, items, details, placed_at";

/// The routes' columns: text, uuid, numeric, text[], jsonb and timestamptz; the key is (tenant, order_id).
const COLUMNS_TOML: &str = r#"tenant = { type = "text", from = "/data/tenant" }
order_id = { type = "uuid", from = "/data/order_id" }
amount = { type = "numeric", from = "/data/amount" }
items = { type = "text[]", from = "/data/items" }
details = { type = "jsonb", from = "/data/details" }
placed_at = { type = "timestamptz", from = "/time" }"#;

/// The JSON Schema of the events' data (as a user would write one: required fields, types, bounds, an
/// enum, a nested object, no other properties).
const SCHEMA: &str = r#"{
  "type": "object", "additionalProperties": false,
  "required": ["tenant", "order_id", "amount", "items", "details"],
  "properties": {
    "tenant": { "type": "string", "minLength": 1, "maxLength": 64 },
    "order_id": { "type": "string", "format": "uuid" },
    "amount": { "type": "number", "exclusiveMinimum": 0 },
    "items": { "type": "array", "minItems": 1, "items": { "type": "string", "minLength": 1 } },
    "details": { "type": "object", "required": ["channel", "line"], "properties": {
      "channel": { "enum": ["web", "app", "store"] }, "line": { "type": "integer", "minimum": 0 } } }
  }
}"#;

/// The event type of each route.
pub(super) const APPEND_TYPE: &str = "bench.append";
const UPSERT_TYPE: &str = "bench.upsert";

/// Writes the benchmark's `pacer.toml` (and, with `schema`, the schema beside it) into `dir` and loads it.
/// Route `appended` (type `bench.append`) appends to `bench.appended`; route `upserted` (type
/// `bench.upsert`) upserts `bench.upserted` ordered by `placed_at`; both keyed on `(tenant, order_id)`.
pub(super) fn pipeline_file(dir: &Path, schema: bool) -> anyhow::Result<Pipeline> {
    let schema_line = if schema {
        std::fs::write(dir.join("order.json"), SCHEMA)?;
        "schema = \"order.json\"\n"
    } else {
        ""
    };
    let text = format!(
        "[[route]]\nname = \"appended\"\ntype = \"{APPEND_TYPE}\"\ntable = \"bench.appended\"\nmode = \"append\"\n\
         key = [\"tenant\", \"order_id\"]\n{schema_line}\n[route.columns]\n{COLUMNS_TOML}\n\n\
         [[route]]\nname = \"upserted\"\ntype = \"{UPSERT_TYPE}\"\ntable = \"bench.upserted\"\nmode = \"upsert\"\n\
         key = [\"tenant\", \"order_id\"]\norder = \"placed_at\"\n{schema_line}\n[route.columns]\n{COLUMNS_TOML}\n"
    );
    let path = dir.join("pacer.toml");
    std::fs::write(&path, text)?;
    Ok(Pipeline::from_file(&path)?)
}

/// A CloudEvent for the order of key `key`: its data is one row of the typed table.
pub(super) fn event(ty: &str, id: &str, key: usize, time: &str) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0", "id": id, "source": "/bench", "type": ty, "time": time,
        "partitionkey": format!("k{}", key % 64), "datacontenttype": "application/json",
        "data": {
            "tenant": format!("tenant-{}", key % 16),
            "order_id": format!("00000000-0000-4000-8000-{key:012x}"),
            "amount": 12.5 + (key % 100) as f64,
            "items": ["sku-1", "sku-2", "sku-3"],
            "details": {"channel": "web", "line": key},
        },
    })
}

/// When the seeded rows and the benchmark's rows happened: a row of a round is newer than a seeded one.
const SEEDED_AT: &str = "2026-01-01T00:00:00Z";
const ROUND_AT: &str = "2026-01-01T00:00:01Z";

/// Kafka records of events of type `ty`, one per key, in batches of `size`.
fn records(ty: &str, keys: impl Iterator<Item = usize>, time: &str, size: usize) -> Vec<Batch> {
    let now_ms = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let records = keys
        .enumerate()
        .map(|(i, key)| {
            let payload = event(ty, &format!("e{i}"), key, time).to_string();
            OwnedMessage::new(
                Some(payload.into_bytes()),
                None,
                "events".into(),
                Timestamp::CreateTime(now_ms),
                (i % 4) as i32,
                i as i64,
                None,
            )
        })
        .collect();
    batches(records, size)
}

/// Transforms every batch; none may leave a dead letter.
fn transform_all(batches: &[Batch], routes: &Routes) -> anyhow::Result<Vec<Transformed>> {
    let out: Vec<Transformed> = batches
        .iter()
        .map(|b| transform(b, routes, OffsetDateTime::now_utc()))
        .collect();
    let dead: usize = out.iter().map(|t| t.dead.len()).sum();
    anyhow::ensure!(dead == 0, "{dead} events became dead letters");
    Ok(out)
}

/// The `COPY` text of every row of `transformed`.
fn copy_text(transformed: &[Transformed]) -> Vec<u8> {
    let mut text = Vec::new();
    for table in transformed.iter().flat_map(|t| &t.tables) {
        text.extend_from_slice(table.rows.as_bytes());
    }
    text
}

/// Empties `table` (and the dead letters), copies `seed` into it, and checkpoints.
async fn reset(pool: &PgPool, table: &str, seed: &[u8]) -> anyhow::Result<()> {
    sqlx::query(&format!("TRUNCATE {table}, dead_letters"))
        .execute(pool)
        .await?;
    if !seed.is_empty() {
        let mut conn = pool.acquire().await?;
        let mut copy = conn
            .copy_in_raw(&format!("COPY {table} ({COLUMNS}) FROM STDIN"))
            .await?;
        copy.send(seed).await?;
        copy.finish().await?;
    }
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

/// Checks that `table` holds `rows` rows, `newer` of them from the round (not seeded).
async fn expect(pool: &PgPool, table: &str, rows: usize, newer: usize) -> anyhow::Result<()> {
    let (all, fresh): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*), count(*) FILTER (WHERE placed_at = '{ROUND_AT}') FROM {table}"
    ))
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(
        (all, fresh) == (rows as i64, newer as i64),
        "{table} holds {all} rows, {fresh} from the round; expected {rows}, {newer}"
    );
    Ok(())
}

/// A table, and what it holds before each contender.
struct Target<'a> {
    pool: &'a PgPool,
    table: &'a str,
    seed: &'a [u8],
}

impl Target<'_> {
    /// Resets the table to its seed, then times `contender` (a future does nothing until awaited) into
    /// `samples`, and checks that the table holds `rows.0` rows, `rows.1` of them from the round.
    async fn time(
        &self,
        samples: &mut Vec<Duration>,
        rows: (usize, usize),
        contender: impl Future<Output = anyhow::Result<Duration>>,
    ) -> anyhow::Result<()> {
        reset(self.pool, self.table, self.seed).await?;
        samples.push(contender.await?);
        expect(self.pool, self.table, rows.0, rows.1).await
    }
}

/// The reference: `psql \copy` of the file into `table`.
async fn psql_copy(url: &str, table: &str, file: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let status = tokio::process::Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "\\copy {table} ({COLUMNS}) FROM '{}'",
            file.display()
        ))
        .status()
        .await
        .context("running psql (Debian's postgresql-client)")?;
    let took = start.elapsed();
    anyhow::ensure!(status.success(), "psql \\copy into {table} failed");
    Ok(took)
}

/// As the worker does it: batch N+1 transformed while batch N is written (one batch in flight); `rows`
/// must be written.
async fn pipelined(sink: &Sink, batches: &[Batch], rows: usize) -> anyhow::Result<Duration> {
    type Write = tokio::task::JoinHandle<Result<WriteOutcome, sqlx::Error>>;
    let start = Instant::now();
    let mut written = 0;
    let mut in_flight: Option<Write> = None;
    for batch in batches {
        let t = transform(batch, sink.routes(), OffsetDateTime::now_utc());
        anyhow::ensure!(t.dead.is_empty(), "events became dead letters");
        if let Some(previous) = in_flight.take() {
            written += previous.await??.written;
        }
        let sink = sink.clone();
        in_flight = Some(tokio::spawn(async move { sink.write(&t).await }));
    }
    if let Some(previous) = in_flight.take() {
        written += previous.await??.written;
    }
    let took = start.elapsed();
    anyhow::ensure!(written == rows as u64, "wrote {written} rows of {rows}");
    Ok(took)
}

/// The writes alone, batch after batch, everything transformed beforehand; `rows` must be written.
async fn write_only(
    sink: &Sink,
    transformed: &[Transformed],
    rows: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut written = 0;
    for t in transformed {
        written += sink.write(t).await?.written;
    }
    let took = start.elapsed();
    anyhow::ensure!(written == rows as u64, "wrote {written} rows of {rows}");
    Ok(took)
}

/// Transforms every batch (as [`transform_all`]) and adds the time it took to `samples`.
fn timed(
    samples: &mut Vec<Duration>,
    batches: &[Batch],
    routes: &Routes,
) -> anyhow::Result<Vec<Transformed>> {
    let start = Instant::now();
    let out = transform_all(batches, routes)?;
    samples.push(start.elapsed());
    Ok(out)
}

/// Samples of one contender.
#[derive(Debug, Default)]
struct Samples {
    psql: Vec<Duration>,
    pipelined: Vec<Duration>,
    write_only: Vec<Duration>,
    transform: Vec<Duration>,
    transform_schema: Vec<Duration>,
    transform_builtin: Vec<Duration>,
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub async fn run(args: RoutesArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rows >= 2 && args.rows.is_multiple_of(2),
        "--rows must be even (half of the upserts update held keys)"
    );
    let (pg, _dir) = private_postgres().await?;
    let url = pg.url();
    let files = tempfile::Builder::new().prefix("pacer-bench-").tempdir()?;
    let routes = Arc::new(Routes::new(pipeline_file(files.path(), false)?));
    let schema_dir = tempfile::Builder::new().prefix("pacer-bench-").tempdir()?;
    let with_schema = Routes::new(pipeline_file(schema_dir.path(), true)?);
    let builtin = Routes::default();
    let sink = Sink::new(&url, "bench")?.with_routes(routes.clone());
    sink.migrate().await?;
    let pool = sink.pool().clone();
    let plan = pacer_worker::tables::plan(&pool, routes.pipeline()).await?;
    pacer_worker::tables::apply(&pool, &plan).await?;
    // No autovacuum worker may run during a round.
    for table in ["bench.appended", "bench.upserted", "dead_letters"] {
        sqlx::query(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = false)"
        ))
        .execute(&pool)
        .await?;
    }
    let file: PathBuf = files.path().join("rows.copy");
    let (n, half) = (args.rows, args.rows / 2);

    let (mut append, mut upsert) = (Samples::default(), Samples::default());
    for round in 0..args.rounds {
        // append: new keys 0..n into an empty table.
        let table = "bench.appended";
        let batches = records(APPEND_TYPE, 0..n, ROUND_AT, args.batch);
        let transformed = timed(&mut append.transform, &batches, &routes)?;
        timed(&mut append.transform_schema, &batches, &with_schema)?;
        // The same records as the built-in events route writes them: what a transform costs without columns.
        timed(&mut append.transform_builtin, &batches, &builtin)?;
        std::fs::write(&file, copy_text(&transformed))?;

        let target = Target {
            pool: &pool,
            table,
            seed: &[],
        };
        let contender = psql_copy(&url, table, &file);
        target.time(&mut append.psql, (n, n), contender).await?;
        let contender = pipelined(&sink, &batches, n);
        target
            .time(&mut append.pipelined, (n, n), contender)
            .await?;
        let contender = write_only(&sink, &transformed, n);
        target
            .time(&mut append.write_only, (n, n), contender)
            .await?;

        // upsert: the table holds keys 0..n/2 (older). The round's rows alternate an update of a held key
        // and a new key, so every batch is half updates; the reference copies n new keys.
        let table = "bench.upserted";
        let seed = copy_text(&transform_all(
            &records(APPEND_TYPE, 0..half, SEEDED_AT, args.batch),
            &routes,
        )?);
        let new_keys = copy_text(&transform_all(
            &records(APPEND_TYPE, n..2 * n, ROUND_AT, args.batch),
            &routes,
        )?);
        std::fs::write(&file, new_keys)?;
        let keys = (0..n).map(|i| i / 2 + half * (i % 2));
        let batches = records(UPSERT_TYPE, keys, ROUND_AT, args.batch);
        let transformed = timed(&mut upsert.transform, &batches, &routes)?;
        timed(&mut upsert.transform_schema, &batches, &with_schema)?;

        let target = Target {
            pool: &pool,
            table,
            seed: &seed,
        };
        let contender = psql_copy(&url, table, &file);
        target
            .time(&mut upsert.psql, (half + n, n), contender)
            .await?;
        let contender = pipelined(&sink, &batches, n);
        target
            .time(&mut upsert.pipelined, (n, n), contender)
            .await?;
        let contender = write_only(&sink, &transformed, n);
        target
            .time(&mut upsert.write_only, (n, n), contender)
            .await?;
        tracing::info!(round, append = %append.last(), upsert = %upsert.last(), "round done (seconds)");
    }
    pg.stop().await?;

    println!(
        "routes: {n} rows per round, batches of {}, {} rounds, medians",
        args.batch, args.rounds
    );
    println!("\nappend (key on tenant, order_id; rows copied straight in):\n");
    append.print(n, "psql \\copy into the typed table (reference)");
    println!(
        "\nupsert (the table holds {half} rows; half the rows update them, half are new; staging + merge):\n"
    );
    upsert.print(n, "psql \\copy of new keys into the same table (reference)");
    Ok(())
}

impl Samples {
    /// The last round's samples: `\copy`, pipelined, write only.
    fn last(&self) -> String {
        let s = |v: &[Duration]| v.last().map_or(0.0, Duration::as_secs_f64);
        let (copy, pipelined) = (s(&self.psql), s(&self.pipelined));
        format!(
            "copy {copy:.3} pipelined {pipelined:.3} write {:.3}",
            s(&self.write_only)
        )
    }

    /// The table of medians, `reference` naming the `\copy`.
    fn print(&self, rows: usize, reference: &str) {
        let mut lines: Vec<(&str, &[Duration])> = vec![
            (reference, &self.psql),
            ("worker: transform + write, pipelined", &self.pipelined),
            ("worker: write only", &self.write_only),
            ("transform only (no I/O)", &self.transform),
            (
                "transform only, route with a JSON Schema",
                &self.transform_schema,
            ),
        ];
        if !self.transform_builtin.is_empty() {
            let builtin = "transform only, the same events by the built-in events route";
            lines.push((builtin, &self.transform_builtin));
        }
        print_table("rows", rows as u64, &lines);
    }
}
