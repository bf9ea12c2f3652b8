//! The routes' tables for `pacer up`: in the private PostgreSQL that `pacer up` started, the additive plan
//! of `pacer tables apply` is applied at start, so that `pacer up --pipeline FILE` runs at once. A database
//! given with `--database-url` is not ours: its tables are left alone, and a worker refuses to start if one
//! does not match (pointing to `pacer tables apply`).

use anyhow::Context;
use pacer_pipeline::Pipeline;

/// Brings the private database's tables in line with `pipeline` (new tables, columns and keys only).
pub(super) async fn prepare(database_url: &str, pipeline: &Pipeline) -> anyhow::Result<()> {
    let pool = pacer_worker::tables::connect(database_url).await?;
    pacer_worker::MIGRATOR
        .run(&pool)
        .await
        .context("cannot apply pacer's schema to the private PostgreSQL")?;
    let plan = pacer_worker::tables::plan(&pool, pipeline).await?;
    if plan.steps().is_empty() {
        tracing::info!("every route's table matches the pipeline file");
    } else {
        for step in plan.steps() {
            tracing::info!(sql = %step.sql(), "{}", step.summary());
        }
        pacer_worker::tables::apply(&pool, &plan).await?;
        tracing::info!(
            steps = plan.steps().len(),
            "created the routes' tables in the private PostgreSQL"
        );
    }
    pool.close().await;
    Ok(())
}
