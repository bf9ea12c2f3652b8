//! Writing a batch that PostgreSQL refused as a whole (data that validation let through, or a constraint an
//! operator added): find the refused rows, make them dead letters, and write everything else, in one
//! transaction.
//!
//! Two strategies: the line-by-line copy, which takes out the row a refused `COPY` names (for the built-in
//! events layout, whose duplicates are told apart by its primary key), and halving through the staging
//! table, for a refusal that names no row and for the routes' own tables, whose merge absorbs duplicates.

use super::fast::{copy_rows, create_staging, merge};
use super::plan::TablePlan;
use super::sqlstate::{is_data_error, is_duplicate_of};
use super::{WriteOutcome, dead_letters};
use crate::batch::Batch;
use crate::copy::CopyText;
use crate::letter::DeadLetter;
use crate::rows::{Routes, TableRows};
use crate::transform::Transformed;
use rdkafka::Message;
use sqlx::{Connection, PgConnection};

/// One table's rows of the refused batch, and where the outcome goes.
struct Refused<'a> {
    batch: &'a Batch,
    table: &'a TableRows,
    plan: &'a TablePlan,
    dead: &'a mut Vec<DeadLetter>,
    outcome: &'a mut WriteOutcome,
    /// Rows that became dead letters.
    refused: u64,
    /// Which rows became dead letters.
    refused_rows: Vec<bool>,
}

/// Writes a refused batch, finding its refused rows (see [`super::Sink::write_isolating`]).
pub(super) async fn write_isolating(
    conn: &mut PgConnection,
    worker_id: &str,
    routes: &Routes,
    batch: &Batch,
    transformed: &Transformed,
) -> Result<WriteOutcome, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let mut dead = transformed.dead.clone();
    let mut outcome = WriteOutcome::default();
    let mut refused = 0;
    let mut deletes = Vec::new();
    for table in &transformed.tables {
        let plan = &routes.get(table.route).1.plan;
        let mut part = Refused {
            batch,
            table,
            plan,
            dead: &mut dead,
            outcome: &mut outcome,
            refused: 0,
            refused_rows: vec![false; table.rows.len()],
        };
        if plan.builtin.is_some() {
            part.line_by_line(&mut tx).await?;
        } else {
            let rows: Vec<usize> = (0..table.rows.len()).collect();
            part.halving(&mut tx, &rows).await?;
        }
        refused += part.refused;
        if plan.deletes.is_some() {
            deletes.push((table, plan, part.refused_rows));
        }
    }
    // As on the fast path, the deletes run after every route's merge: an older version staged for another
    // route of the table cannot bring a deleted row back.
    for (table, plan, refused_rows) in deletes {
        let kept: Vec<usize> = (0..table.rows.len())
            .filter(|&i| !refused_rows[i])
            .collect();
        let mut part = Refused {
            batch,
            table,
            plan,
            dead: &mut dead,
            outcome: &mut outcome,
            refused: 0,
            refused_rows,
        };
        part.deletes(&mut tx, &kept).await?;
        refused += part.refused;
    }
    outcome.dead_letters = dead_letters::insert(&mut tx, worker_id, &dead).await?;
    tx.commit().await?;
    outcome.duplicates = (transformed.valid as u64).saturating_sub(outcome.written + refused);
    Ok(outcome)
}

impl Refused<'_> {
    /// The built-in layout: rows already in the table are left out first, then the rest is copied straight
    /// in under a savepoint. PostgreSQL names the line of a `COPY` it refuses: that row is taken out (a
    /// dead letter, or a duplicate for a conflict on the primary key), and the rows before and after it are
    /// copied on their own. A refusal that names no line is handled by halving.
    async fn line_by_line(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let (table, plan) = (self.table, self.plan);
        let (Some(direct), Some(builtin)) = (plan.direct.as_deref(), &plan.builtin) else {
            let rows: Vec<usize> = (0..table.rows.len()).collect();
            return self.halving(tx, &rows).await;
        };
        let rows = &table.rows;
        let mut left_out = already_written(&mut *tx, plan, &builtin.already_there, rows).await?;
        // Ranges of rows still to copy. A refusal splits its range around the refused row: the rows before it
        // are copied again (they may hold a refusal found later, such as a duplicate key: PostgreSQL checks
        // the keys of a `COPY` in batches), then the rows after it.
        let mut ranges = Vec::new();
        ranges.push(0..rows.len());
        while let Some(range) = ranges.pop() {
            let kept: Vec<usize> = range.clone().filter(|&i| !left_out[i]).collect();
            if kept.is_empty() {
                continue;
            }
            savepoint(&mut *tx, "pacer_rows").await?;
            let error = match copy_rows(&mut *tx, direct, &rows_bytes(rows, &kept)).await {
                Ok(written) => {
                    self.outcome.add(self.table.route, written);
                    release(&mut *tx, "pacer_rows").await?;
                    continue;
                }
                Err(e) => e,
            };
            roll_back_to(&mut *tx, "pacer_rows").await?;
            let Some(line) = copy_line(&error).filter(|line| (1..=kept.len()).contains(line))
            else {
                if !is_data_error(&error) {
                    return Err(error);
                }
                self.halving(&mut *tx, &kept).await?;
                continue;
            };
            let row = kept[line - 1];
            if is_duplicate_of(&error, &builtin.primary_key) {
                // Counted as a duplicate: neither written nor refused.
            } else if is_data_error(&error) {
                self.dead_letter(row, &error);
            } else {
                return Err(error);
            }
            left_out[row] = true;
            ranges.push(row + 1..range.end);
            ranges.push(range.start..row);
        }
        Ok(())
    }

    /// Writes `rest` by halves under savepoints, through the staging table and the route's merge: a part
    /// PostgreSQL takes is written in one go (keys already there absorbed by the merge), a part it refuses
    /// is halved again, down to the single rows it refuses, which become dead letters.
    async fn halving(&mut self, tx: &mut PgConnection, rest: &[usize]) -> Result<(), sqlx::Error> {
        create_staging(&mut *tx, self.plan).await?;
        let mut parts = vec![rest];
        while let Some(part) = parts.pop() {
            if part.is_empty() {
                continue;
            }
            savepoint(&mut *tx, "pacer_part").await?;
            match self.write_part(&mut *tx, part).await {
                Ok(written) => {
                    self.outcome.add(self.table.route, written);
                    release(&mut *tx, "pacer_part").await?;
                }
                Err(e) if is_data_error(&e) => {
                    roll_back_to(&mut *tx, "pacer_part").await?;
                    if let [row] = part {
                        self.dead_letter(*row, &e);
                    } else {
                        let (first, second) = part.split_at(part.len() / 2);
                        parts.push(second);
                        parts.push(first);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes some rows through the (emptied) staging table; returns how many the merge wrote.
    async fn write_part(
        &self,
        conn: &mut PgConnection,
        part: &[usize],
    ) -> Result<u64, sqlx::Error> {
        sqlx::query(&self.plan.truncate_staging)
            .execute(&mut *conn)
            .await?;
        copy_rows(
            &mut *conn,
            &self.plan.copy_staging,
            &rows_bytes(&self.table.rows, part),
        )
        .await?;
        // The route's deletes run once every part and route is merged (see `write_isolating`).
        merge(conn, self.plan).await
    }

    /// Runs the route's deletes for `rows` under a savepoint; if PostgreSQL refuses them (a foreign key
    /// that still points at the row, say), one delete event at a time, and the refused ones become dead
    /// letters.
    async fn deletes(&mut self, tx: &mut PgConnection, rows: &[usize]) -> Result<(), sqlx::Error> {
        let Some(statement) = self.plan.deletes.as_deref() else {
            return Ok(());
        };
        if self.delete_part(tx, statement, rows).await?.is_ok() {
            return Ok(());
        }
        for &row in rows {
            if let Err(e) = self.delete_part(tx, statement, &[row]).await? {
                self.dead_letter(row, &e);
            }
        }
        Ok(())
    }

    /// The deletes of `rows` under a savepoint: `Ok(Err(e))` if PostgreSQL refused them for their data.
    async fn delete_part(
        &mut self,
        tx: &mut PgConnection,
        statement: &str,
        rows: &[usize],
    ) -> Result<Result<(), sqlx::Error>, sqlx::Error> {
        savepoint(&mut *tx, "pacer_deletes").await?;
        sqlx::query(&self.plan.truncate_staging)
            .execute(&mut *tx)
            .await?;
        copy_rows(
            &mut *tx,
            &self.plan.copy_staging,
            &rows_bytes(&self.table.rows, rows),
        )
        .await?;
        match sqlx::query(statement).execute(&mut *tx).await {
            Ok(done) => {
                self.outcome.add(self.table.route, done.rows_affected());
                release(&mut *tx, "pacer_deletes").await?;
                Ok(Ok(()))
            }
            Err(e) if is_data_error(&e) => {
                roll_back_to(&mut *tx, "pacer_deletes").await?;
                Ok(Err(e))
            }
            Err(e) => Err(e),
        }
    }

    fn dead_letter(&mut self, row: usize, error: &sqlx::Error) {
        let record = &self.batch.records()[self.table.row_records[row]];
        tracing::warn!(route = %self.plan.route, partition = record.partition(), offset = record.offset(), error = %error, "PostgreSQL refused one event; dead-lettering it");
        self.dead
            .push(dead_letters::refused_event(record, &self.plan.route, error));
        self.outcome.refuse(self.table.route);
        self.refused += 1;
        self.refused_rows[row] = true;
    }
}

async fn savepoint(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("SAVEPOINT {name}"))
        .execute(conn)
        .await?;
    Ok(())
}

async fn release(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("RELEASE SAVEPOINT {name}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Rolls back to a savepoint and releases it, so that refusals do not pile up nested subtransactions.
async fn roll_back_to(conn: &mut PgConnection, savepoint: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("ROLLBACK TO SAVEPOINT {savepoint}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!("RELEASE SAVEPOINT {savepoint}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// The `COPY` text of some rows of a batch.
fn rows_bytes(rows: &CopyText, which: &[usize]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for &i in which {
        bytes.extend_from_slice(rows.row_range(i..i + 1));
    }
    bytes
}

/// Which rows of the built-in layout are already in the table (by `(source, id)`), found by copying them
/// into the staging table. All `false` if PostgreSQL refuses them even there (then the line-by-line copy
/// sorts the rows out).
async fn already_written(
    conn: &mut PgConnection,
    plan: &TablePlan,
    already_there: &str,
    rows: &CopyText,
) -> Result<Vec<bool>, sqlx::Error> {
    let mut written = vec![false; rows.len()];
    create_staging(&mut *conn, plan).await?;
    savepoint(&mut *conn, "pacer_staging").await?;
    match copy_rows(&mut *conn, &plan.copy_staging, rows.as_bytes()).await {
        Ok(_) => {}
        Err(e) if is_data_error(&e) => {
            roll_back_to(&mut *conn, "pacer_staging").await?;
            return Ok(written);
        }
        Err(e) => return Err(e),
    }
    let there: Vec<(String, String)> = sqlx::query_as(already_there).fetch_all(&mut *conn).await?;
    sqlx::query(&plan.truncate_staging)
        .execute(&mut *conn)
        .await?;
    release(&mut *conn, "pacer_staging").await?;
    if !there.is_empty() {
        let there: std::collections::HashSet<(String, String)> = there.into_iter().collect();
        for (row, written) in written.iter_mut().enumerate() {
            *written = identity(rows, row).is_some_and(|identity| there.contains(&identity));
        }
    }
    Ok(written)
}

/// The `(source, id)` of a row of the built-in layout: its first two columns, unescaped.
fn identity(rows: &CopyText, row: usize) -> Option<(String, String)> {
    let text = std::str::from_utf8(rows.row_range(row..row + 1)).ok()?;
    let mut fields = text.splitn(3, '\t').map(unescape);
    Some((fields.next()?, fields.next()?))
}

/// Undoes `COPY` text escapes (`\\`, `\t`, `\n`, `\r`).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The line of the `COPY` input that PostgreSQL refused (1 for the first row), from the error's context
/// (`COPY events, line 12, column type: "..."`).
fn copy_line(error: &sqlx::Error) -> Option<usize> {
    let sqlx::Error::Database(e) = error else {
        return None;
    };
    let context = e
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?
        .r#where()?;
    let after = context.split_once("COPY ")?.1.split_once(", line ")?.1;
    let digits = after
        .find(|c: char| !c.is_ascii_digit())
        .map_or(after, |end| &after[..end]);
    digits.parse().ok()
}
