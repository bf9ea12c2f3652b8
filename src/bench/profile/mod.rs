//! The standard load profile on the real pipeline (nisshi, PostgreSQL, the control plane, ingest and
//! workers, all on this machine), once per contender: the adaptive policies and static intervals. Rates are
//! fractions of the sustainable rate, measured first in the same run unless given. Per phase it reports the
//! p50/p99 freshness of the rows (ingest's receipt to the commit, from the batches' own figures), the
//! PostgreSQL commits per second, the CPU of the worker processes and of the PostgreSQL cluster per million
//! rows, the peak lag, the rows written and the setting changes; then the goals of each `slo` contender.
//!
//! This file is the command: its arguments, the phases, the shared rig and the run over the contenders;
//! `contender` parses what runs, `runner` runs it, `measure` reads the figures back and `report` prints them.

mod contender;
mod cost;
mod measure;
mod report;
mod runner;

use crate::load::{Phase, Profile};
use clap::Args;
use contender::Contender;
use pacer_stack::Broker;
use sqlx::PgPool;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The contenders: policy names, `static:DURATION` for a static interval and `slo:DURATION` for the
    /// `slo` policy with that p99 target.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "slo:250ms,model,static:10ms,static:50ms,static:250ms,static:1s"
    )]
    contenders: Vec<Contender>,
    /// How long each phase lasts.
    #[arg(long, default_value = "30s", value_parser = crate::duration::parse_duration)]
    phase: Duration,
    /// The sustainable rate (events/s) the phases are fractions of; measured first when left out.
    #[arg(long)]
    rate: Option<f64>,
    /// Load at the first phase's rate before the profile, not measured: the policies leave their cold start
    /// (the workers start at 500 ms) before the first phase counts.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse_duration)]
    warmup: Duration,
    /// Workers.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Events per request of the load (as many clients post one event at a time, fewer is closer to them).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Partitions of each contender's topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Where the plot goes: latency and interval over time, one line per contender (SVG).
    #[arg(long, default_value = "pacer-profile.svg")]
    plot: std::path::PathBuf,
}

/// The standard profile's phases: name and fraction of the sustainable rate.
const PHASES: [(&str, f64); 4] = [
    ("idle", 0.02),
    ("spike", 0.9),
    ("steady", 0.3),
    ("idle", 0.02),
];

/// A shared private PostgreSQL and broker for the whole run.
struct Rig {
    pg: pacer_stack::PrivatePostgres,
    _dir: tempfile::TempDir,
    broker: Broker,
    pool: PgPool,
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub async fn run(args: ProfileArgs) -> anyhow::Result<()> {
    let (pg, dir, broker, pool) = super::pipeline_rig().await?;
    let mut rig = Rig {
        pg,
        _dir: dir,
        broker,
        pool,
    };

    let rate = match args.rate {
        Some(rate) => rate,
        None => runner::calibrate(&rig, &args).await?,
    };
    println!(
        "\nStandard profile on the real pipeline: sustainable rate {rate:.0} events/s, phases of {:?} after {:?} of warm-up, {} workers, {} partitions, {} events per request\n",
        args.phase, args.warmup, args.workers, args.partitions, args.batch
    );
    let mut results = Vec::new();
    let mut lines = Vec::new();
    for (i, contender) in args.contenders.iter().enumerate() {
        let phases: Vec<Phase> = PHASES
            .iter()
            .map(|(_, f)| Phase {
                rate: rate * f,
                duration: args.phase,
            })
            .collect();
        let (result, line) =
            runner::run_contender(&rig, &args, i, contender, Profile(phases)).await?;
        results.push((contender.clone(), result));
        lines.push(line);
    }
    report::print_results(&results);
    let mut spans = Vec::new();
    let mut from = 0.0;
    for (name, _) in PHASES {
        let to = from + args.phase.as_secs_f64();
        spans.push(super::plot::PhaseSpan { name, from, to });
        from = to;
    }
    let title = format!(
        "pacer: the standard profile on the real pipeline (sustainable rate {rate:.0} events/s, {} workers)",
        args.workers
    );
    super::plot::write_svg(&args.plot, &title, &spans, &lines)?;
    println!("\nThe plot: {}", args.plot.display());
    rig.broker.stop().await?;
    rig.pg.stop().await?;
    Ok(())
}
