//! `pacer load`: post generated CloudEvents to ingest, with a progress bar of the achieved rate and errors.
//! With `--pipeline`, the events fit the routes of a pipeline file.

use crate::duration::parse_duration;
use crate::load::{Events, LoadPlan, LoadStats, Profile, RoutedLoad, generate_events};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pacer_pipeline::Pipeline;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Ingest's base URL.
    #[arg(
        long,
        env = "PACER_INGEST_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// Events per second (ignored with --profile).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// How long to run (ignored with --profile).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// A rate profile instead: `RATE:DURATION,...` (e.g. `100:10s,2000:5s,100:10s`) or `spike:RATE`.
    #[arg(long)]
    pub profile: Option<Profile>,
    /// Events per request; more than 1 posts CloudEvents batches.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// A pipeline file (pacer.toml): post events that fit its routes, one route after the other, instead
    /// of the generic events.
    #[arg(long, env = "PACER_PIPELINE")]
    pub pipeline: Option<PathBuf>,
    /// The Kafka topic ingest writes to: with --pipeline, routes that read another topic get no events.
    #[arg(long, env = "PACER_TOPIC", default_value = "events")]
    pub topic: String,
}

impl LoadArgs {
    pub fn plan(&self) -> LoadPlan {
        LoadPlan {
            url: self.url.clone(),
            profile: self
                .profile
                .clone()
                .unwrap_or_else(|| Profile::constant(self.rate, self.duration)),
            batch: self.batch.max(1),
            concurrency: self.concurrency.max(1),
        }
    }
}

/// The events a pipeline file's routes take, as posted to an ingest writing `topic`; says which routes no
/// event reaches.
pub fn routed_events(path: &Path, topic: &str) -> anyhow::Result<Events> {
    let pipeline = Pipeline::from_file(path)?;
    let load = RoutedLoad::new(&pipeline, topic)
        .with_context(|| format!("{}: nothing to load", path.display()))?;
    for skipped in load.skipped() {
        tracing::warn!(
            route = %skipped.route,
            "the load makes no events for route {}: {}",
            skipped.route,
            skipped.reason
        );
    }
    let routes: Vec<&str> = load.routes().collect();
    tracing::info!(
        pipeline = %path.display(),
        routes = %routes.join(", "),
        "the load makes events for each route in turn"
    );
    Ok(Events::Routed(Arc::new(load)))
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let plan = args.plan();
    let events = match &args.pipeline {
        Some(path) => routed_events(path, &args.topic)?,
        None => Events::Generic,
    };
    let total = plan.profile.total();
    let stats = Arc::new(LoadStats::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::shutdown::signalled().await;
        let _ = stop_tx.send(true);
    });
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} events sent  {msg}",
        )?
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let task = tokio::spawn(generate_events(plan, events, stats.clone(), stop));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while !task.is_finished() {
        tick.tick().await;
        let (sent, acked, failed) = stats.snapshot();
        let rate = acked as f64 / start.elapsed().as_secs_f64().max(1e-3);
        bar.set_position(sent);
        bar.set_message(format!(
            "{acked} acknowledged ({rate:.0}/s), {failed} failed"
        ));
    }
    task.await?;
    let (sent, acked, failed) = stats.snapshot();
    let rate = acked as f64 / start.elapsed().as_secs_f64().max(1e-3);
    bar.finish_with_message(format!(
        "{acked} acknowledged ({rate:.0}/s), {failed} failed"
    ));
    tracing::info!(
        sent,
        acked,
        failed,
        rate = format!("{rate:.0}/s"),
        "load finished"
    );
    if failed > 0 {
        anyhow::bail!("{failed} of {sent} events were not acknowledged");
    }
    Ok(())
}
