//! `pacer sim`: the batch-sizing policies against a grid of static intervals in the deterministic simulator,
//! as a table on stdout, with the product requirement checked on the standard profile.

use crate::duration::parse_duration;
use clap::Args;
use pacer_policy::sim::{self, CostModel, GovernorConfig, Profile, SimConfig, WorkerModel};
use pacer_policy::{Bounds, PolicyConfig, PolicyKind};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Workers sharing the load evenly.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// Fixed processing cost of a batch (transaction, offset commit, report), e.g. `8ms`.
    #[arg(long, default_value = "8ms", value_parser = parse_duration)]
    pub fixed_cost: Duration,
    /// Processing cost of one row, e.g. `20us`.
    #[arg(long, default_value = "20us", value_parser = parse_duration)]
    pub per_row_cost: Duration,
    /// σ of the lognormal noise on each batch's processing time (0.1 is about ±10 %).
    #[arg(long, default_value_t = 0.1)]
    pub noise: f64,
    /// Load profile: standard, steady, step, spike or sine (rates relative to what the workers sustain).
    #[arg(long, default_value = "standard")]
    pub profile: Profile,
    /// Length of one phase of the profile, e.g. `5m`.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub phase: Duration,
    /// Simulate only this policy (static, rules, aimd, fixed-point, model, slo); all adaptive ones by default.
    #[arg(long)]
    pub policy: Option<PolicyKind>,
    /// A policy parameter, `name=value` or `policy.name=value` (repeatable); see docs/POLICIES.md.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Seed of arrivals and noise: the same seed gives the same table.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Shortest time between two ordinary setting changes of a worker.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub min_gap: Duration,
    /// Relative change below which the governor ignores a proposal (0.1 is 10 %).
    #[arg(long, default_value_t = 0.1)]
    pub hysteresis: f64,
    /// Simulate a timer-driven worker (batches close every interval and queue for the writer) instead of
    /// pacer's, which collects the next batch only once the previous one is handed to the writer.
    #[arg(long)]
    pub timer_worker: bool,
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.noise >= 0.0, "--noise must be 0 or more");
    anyhow::ensure!(args.hysteresis >= 0.0, "--hysteresis must be 0 or more");
    let kinds: Vec<PolicyKind> = match args.policy {
        Some(kind) => vec![kind],
        None => PolicyKind::ADAPTIVE.to_vec(),
    };
    let params = split_params(&args.params, &kinds)?;
    let bounds = Bounds::default();
    let policies = kinds
        .iter()
        .map(|kind| {
            let given = params.get(kind).cloned().unwrap_or_default();
            PolicyConfig::new(*kind, &given, bounds).map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let workers = usize::from(args.workers);
    let cost = CostModel {
        fixed: args.fixed_cost,
        per_row: args.per_row_cost,
        noise: args.noise,
    };
    let sustainable = cost.sustainable_rate_within(workers, &bounds);
    let base = SimConfig {
        workers,
        cost,
        governor: GovernorConfig {
            min_gap: args.min_gap,
            hysteresis: args.hysteresis,
        },
        seed: args.seed,
        worker: if args.timer_worker {
            WorkerModel::Timer
        } else {
            WorkerModel::Pipelined
        },
        ..SimConfig::new(
            policies[0].clone(),
            args.profile.phases(sustainable, args.phase),
        )
    };
    let comparison = sim::compare(&base, &policies, &sim::STATIC_GRID_MS)?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "profile {}, {} phases of {}, {workers} workers sustaining {:.0} rows/s, cost {:?} + {:?}/row (noise {}), seed {}",
        args.profile,
        base.profile.len(),
        humantime::format_duration(args.phase),
        sustainable,
        cost.fixed,
        cost.per_row,
        cost.noise,
        args.seed
    )?;
    writeln!(
        out,
        "p50 / p99 end-to-end latency, peak lag in rows (↑: grew without bound), setting changes pushed"
    )?;
    writeln!(out)?;
    write!(out, "{}", sim::render_table(&comparison))?;
    if args.profile == Profile::Standard {
        let checked = args.policy.unwrap_or(PolicyKind::RECOMMENDED);
        if let Some(result) = comparison
            .adaptive
            .iter()
            .find(|r| r.label == checked.as_str())
        {
            writeln!(out)?;
            writeln!(out, "{}", sim::goal_met(result, &comparison.statics))?;
        }
    }
    Ok(())
}

/// Sorts `--param` values by policy: `policy.name=value` goes to that policy; a bare `name=value` to every
/// simulated policy that has a parameter of that name (an error if none has).
fn split_params(
    given: &[String],
    kinds: &[PolicyKind],
) -> anyhow::Result<HashMap<PolicyKind, BTreeMap<String, f64>>> {
    let mut out: HashMap<PolicyKind, BTreeMap<String, f64>> = HashMap::new();
    for text in given {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--param `{text}`: write it as name=value"))?;
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("--param `{text}`: the value is not a number ({e})"))?;
        let targets: Vec<(PolicyKind, &str)> = match name.split_once('.') {
            Some((kind, name)) => {
                let kind: PolicyKind = kind.parse()?;
                anyhow::ensure!(
                    kinds.contains(&kind),
                    "--param `{text}`: policy {kind} is not simulated"
                );
                vec![(kind, name)]
            }
            None => kinds
                .iter()
                .filter(|kind| {
                    PolicyConfig::param_docs(**kind)
                        .iter()
                        .any(|d| d.name == name)
                })
                .map(|kind| (*kind, name))
                .collect(),
        };
        anyhow::ensure!(
            !targets.is_empty(),
            "--param `{text}`: no simulated policy has a parameter `{name}` (see docs/POLICIES.md)"
        );
        for (kind, name) in targets {
            out.entry(kind)
                .or_default()
                .insert(name.trim().to_owned(), value);
        }
    }
    Ok(out)
}
