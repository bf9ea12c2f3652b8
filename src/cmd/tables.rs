//! `pacer tables plan|apply`: the DDL that makes the database hold every table the pipeline file's
//! routes declare, printed or run. Additive only; see `pacer_worker::tables`.

use anyhow::Context;
use clap::{Args, Subcommand};
use pacer_pipeline::Pipeline;
use pacer_worker::tables;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TablesArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print the SQL that would make the tables match the pipeline file; change nothing.
    Plan(Target),
    /// Print that SQL, then run it in one transaction.
    Apply(Target),
}

/// Which pipeline file, against which database.
#[derive(Debug, Args)]
struct Target {
    /// The pipeline file (pacer.toml) whose routes declare the tables.
    #[arg(long, env = "PACER_PIPELINE")]
    pipeline: PathBuf,
    /// PostgreSQL URL of the pipeline's database.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
}

impl Target {
    /// The checked pipeline file and a connection to the database.
    async fn open(&self) -> anyhow::Result<(Pipeline, sqlx::PgPool)> {
        // The pipeline error names the file, line and column itself: no context to add.
        let pipeline = Pipeline::from_file(&self.pipeline)?;
        let pool = tables::connect(&self.database_url).await?;
        Ok((pipeline, pool))
    }
}

const NOTHING_TO_DO: &str = "nothing to do: every route's table matches";

#[allow(clippy::print_stdout, reason = "the plan is the command's output")]
pub async fn run(args: TablesArgs) -> anyhow::Result<()> {
    let (target, applying) = match &args.action {
        Action::Plan(target) => (target, false),
        Action::Apply(target) => (target, true),
    };
    let (pipeline, pool) = target.open().await?;
    let plan = tables::plan(&pool, &pipeline).await?;
    if plan.is_empty() {
        println!("{NOTHING_TO_DO}");
        return Ok(());
    }
    print!("{plan}");
    if !applying {
        return Ok(());
    }
    tables::apply(&pool, &plan).await?;
    let count = plan.steps().len();
    let noun = if count == 1 {
        "statement"
    } else {
        "statements"
    };
    println!("\napplied {count} {noun} in one transaction:");
    for step in plan.steps() {
        println!("  {}", step.summary());
    }
    // A table changed by someone else meanwhile would leave a difference: say so now rather than at
    // the worker's start.
    let left = tables::plan(&pool, &pipeline)
        .await
        .context("the plan was applied, but the tables could not be read again")?;
    if !left.is_empty() {
        anyhow::bail!(
            "the plan was applied, but the tables still differ from the pipeline file (changed \
             meanwhile?); run `pacer tables plan` again to see what remains:\n{}",
            left.summary()
        );
    }
    Ok(())
}
