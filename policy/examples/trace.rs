//! Prints every admitted decision of worker 0 under one policy (debugging aid):
//! `cargo run --release -p pacer-policy --example trace -- model 300 [from_s] [to_s]`.

use pacer_policy::sim::{self, CostModel, SimConfig, standard_profile};
use pacer_policy::{Bounds, PolicyConfig};
use std::io::Write;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map_or("model", String::as_str).parse()?;
    let phase: f64 = args.get(1).map_or(Ok(300.0), |a| a.parse())?;
    let from: f64 = args.get(2).map_or(Ok(0.0), |a| a.parse())?;
    let to: f64 = args.get(3).map_or(Ok(f64::MAX), |a| a.parse())?;
    let all = args.get(4).is_some();
    let mut cost = CostModel::default();
    if let Some(ms) = std::env::var("TRACE_FIXED_MS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        cost.fixed = Duration::from_secs_f64(ms / 1e3);
    }
    let profile = standard_profile(cost.sustainable_rate(4), Duration::from_secs_f64(phase));
    let mut config = SimConfig::new(PolicyConfig::default_for(kind, Bounds::default())?, profile);
    config.cost = cost;
    if std::env::var("TRACE_TIMER").is_ok() {
        config.worker = sim::WorkerModel::Timer;
    }
    let mut out = std::io::stdout().lock();
    sim::run_observed(&config, |step| {
        let at = step.observation.at.as_secs_f64();
        let admitted = step.admitted.is_some();
        if (all || (step.worker == 0 && admitted)) && at >= from && at <= to {
            let o = step.observation;
            let _ = writeln!(
                out,
                "{at:9.3} {} rows {} lag {:?} p {:?} flush {:?} | {}",
                if admitted { "*" } else { " " },
                o.rows,
                o.lag,
                o.processing,
                o.flush,
                step.decision.reason
            );
        }
    });
    Ok(())
}
