//! Runs the simulator's comparison and prints the table and the goal check: the library half of
//! `pacer sim`, runnable on its own (`cargo run --release -p pacer-policy --example sim -- workers=4`).
//!
//! Arguments are `name=value`: `workers`, `fixed_ms`, `per_row_us`, `noise`, `phase_s`, `profile`, `seed`,
//! `worker` (`pipelined` or `timer`), `only` (one policy, no static grid) and any policy parameter as `model.headroom=1.4`.

use pacer_policy::sim::{self, CostModel, Profile, SimConfig, WorkerModel};
use pacer_policy::{Bounds, PolicyConfig, PolicyKind};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut workers = 4;
    let mut cost = CostModel::default();
    let mut phase = Duration::from_secs(300);
    let mut profile = Profile::Standard;
    let mut seed = 1;
    let mut only: Option<PolicyKind> = None;
    let mut worker = WorkerModel::Pipelined;
    let mut params: HashMap<PolicyKind, BTreeMap<String, f64>> = HashMap::new();
    for arg in std::env::args().skip(1) {
        let (name, value) = arg
            .split_once('=')
            .ok_or(format!("`{arg}` is not name=value"))?;
        match name {
            "workers" => workers = value.parse()?,
            "fixed_ms" => cost.fixed = Duration::from_secs_f64(value.parse::<f64>()? / 1e3),
            "per_row_us" => cost.per_row = Duration::from_secs_f64(value.parse::<f64>()? / 1e6),
            "noise" => cost.noise = value.parse()?,
            "phase_s" => phase = Duration::from_secs_f64(value.parse()?),
            "profile" => profile = value.parse()?,
            "seed" => seed = value.parse()?,
            "only" => only = Some(value.parse()?),
            "worker" if value == "timer" => worker = WorkerModel::Timer,
            "worker" if value == "pipelined" => worker = WorkerModel::Pipelined,
            _ => {
                let (kind, param) = name
                    .split_once('.')
                    .ok_or(format!("unknown argument `{name}`"))?;
                params
                    .entry(kind.parse()?)
                    .or_default()
                    .insert(param.to_owned(), value.parse()?);
            }
        }
    }
    let bounds = Bounds::default();
    let adaptive = PolicyKind::ADAPTIVE
        .iter()
        .map(|kind| {
            PolicyConfig::new(
                *kind,
                &params.get(kind).cloned().unwrap_or_default(),
                bounds,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let phases = profile.phases(cost.sustainable_rate_within(workers, &bounds), phase);
    let base = SimConfig {
        workers,
        cost,
        seed,
        worker,
        ..SimConfig::new(adaptive[0].clone(), phases)
    };
    let started = Instant::now();
    let comparison = match only {
        Some(kind) => {
            let policy = PolicyConfig::new(
                kind,
                &params.get(&kind).cloned().unwrap_or_default(),
                bounds,
            )?;
            sim::compare(&base, &[policy], &[])?
        }
        None => sim::compare(&base, &adaptive, &sim::STATIC_GRID_MS)?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", sim::render_table(&comparison))?;
    for result in &comparison.adaptive {
        writeln!(out, "{}", sim::goal_met(result, &comparison.statics))?;
    }
    writeln!(
        out,
        "({} runs in {:.1?})",
        comparison.adaptive.len() + comparison.statics.len(),
        started.elapsed()
    )?;
    Ok(())
}
