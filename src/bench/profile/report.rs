//! The profile's tables: every contender's figures per phase, then each adaptive contender's p99 against the
//! best static interval's.

use super::measure::PhaseResult;

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub(super) fn print_results(results: &[(String, Vec<PhaseResult>)]) {
    println!(
        "| contender | phase | rate/s | rows | e2e p50 ms | e2e p99 ms | peak lag | changes |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, phases) in results {
        for p in phases {
            println!(
                "| {name} | {} | {:.0} | {} | {:.0} | {:.0} | {} | {} |",
                p.name, p.rate, p.rows, p.p50, p.p99, p.peak_lag, p.changes
            );
        }
    }
    // Each adaptive contender's p99 against the best static interval's, phase by phase.
    let statics: Vec<&(String, Vec<PhaseResult>)> = results
        .iter()
        .filter(|(n, _)| n.starts_with("static:"))
        .collect();
    if statics.is_empty() {
        return;
    }
    println!();
    println!("| adaptive | phase | its p99 ms | best static | best static p99 ms | ratio |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, phases) in results.iter().filter(|(n, _)| !n.starts_with("static:")) {
        for (i, p) in phases.iter().enumerate() {
            let best = statics
                .iter()
                .filter_map(|(n, s)| s.get(i).map(|s| (n, s.p99)))
                .filter(|(_, p99)| p99.is_finite())
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((best_name, best_p99)) = best {
                println!(
                    "| {name} | {} | {:.0} | {best_name} | {best_p99:.0} | {:.2} |",
                    p.name,
                    p.p99,
                    p.p99 / best_p99
                );
            }
        }
    }
}
