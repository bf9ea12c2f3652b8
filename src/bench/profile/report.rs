//! The profile's tables: every contender's figures per phase; each adaptive contender's p99 against the best
//! static interval's; and, for each `slo` contender, the goals of its target against the static intervals.

use super::contender::Contender;
use super::measure::PhaseResult;
use std::time::Duration;

/// A contender and its phases.
pub(super) type Results = [(Contender, Vec<PhaseResult>)];

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
pub(super) fn print_results(results: &Results) {
    println!(
        "| contender | phase | rate/s | rows | receipt → commit p50 ms | p99 ms | receipt → fetched p99 ms | batches/s | PostgreSQL commits/s | worker CPU s/M rows | PostgreSQL CPU s/M rows | peak lag | changes |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (contender, phases) in results {
        for p in phases {
            println!(
                "| {} | {} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.2} | {:.2} | {} | {} |",
                contender.name,
                p.name,
                p.rate,
                p.rows,
                p.p50,
                p.p99,
                p.fetched_p99,
                p.batches_per_s,
                p.commits_per_s,
                p.worker_cpu,
                p.postgres_cpu,
                p.peak_lag,
                p.changes
            );
        }
    }
    let statics: Vec<&(Contender, Vec<PhaseResult>)> =
        results.iter().filter(|(c, _)| c.is_static()).collect();
    if statics.is_empty() {
        return;
    }
    println!();
    println!("| adaptive | phase | its p99 ms | best static | best static p99 ms | ratio |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (contender, phases) in results.iter().filter(|(c, _)| !c.is_static()) {
        for (i, p) in phases.iter().enumerate() {
            let best = statics
                .iter()
                .filter_map(|(c, s)| s.get(i).map(|s| (&c.name, s.p99)))
                .filter(|(_, p99)| p99.is_finite())
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((best_name, best_p99)) = best {
                println!(
                    "| {} | {} | {:.0} | {best_name} | {best_p99:.0} | {:.2} |",
                    contender.name,
                    p.name,
                    p.p99,
                    p.p99 / best_p99
                );
            }
        }
    }
    for (contender, phases) in results {
        if let Some(target) = contender.target() {
            println!();
            for line in slo_goals(&contender.name, target, phases, &statics) {
                println!("{line}");
            }
        }
    }
}

/// The goals of an `slo` contender with `target`, each a line that starts with `yes` or `NO`.
fn slo_goals(
    name: &str,
    target: Duration,
    phases: &[PhaseResult],
    statics: &[&(Contender, Vec<PhaseResult>)],
) -> Vec<String> {
    let target_ms = target.as_secs_f64() * 1e3;
    let verdict = |ok: bool| if ok { "yes" } else { "NO" };
    let misses = |phases: &[PhaseResult]| -> Vec<String> {
        phases
            .iter()
            .filter(|p| p.p99.is_nan() || p.p99 > target_ms)
            .map(|p| format!("{} {:.0} ms", p.name, p.p99))
            .collect()
    };
    let own = misses(phases);
    let mut lines = vec![format!(
        "{}: {name} meets p99 ≤ {target_ms:.0} ms in every phase{}",
        verdict(own.is_empty()),
        if own.is_empty() {
            String::new()
        } else {
            format!(" (missed: {})", own.join(", "))
        }
    )];
    if let Some((_, fast)) = statics
        .iter()
        .find(|(c, _)| c.name == "static:10ms")
        .map(|s| (&s.0, &s.1))
    {
        for (mine, theirs) in phases.iter().zip(fast).filter(|(p, _)| p.name == "idle") {
            let ratio = mine.batches_per_s / theirs.batches_per_s;
            lines.push(format!(
                "{}: at idle {name} commits at most 1/5 of static:10ms's batches/s ({:.1} vs {:.1}, {ratio:.2})",
                verdict(ratio <= 0.2),
                mine.batches_per_s,
                theirs.batches_per_s
            ));
        }
    }
    for (other, theirs) in statics {
        let missed = misses(theirs);
        let costlier = theirs
            .iter()
            .zip(phases)
            .map(|(t, m)| (t.name, t.batches_per_s / m.batches_per_s))
            .filter(|(_, ratio)| ratio.is_finite())
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let (phase, ratio) = costlier.unwrap_or(("-", f64::NAN));
        let why = if missed.is_empty() {
            format!("meets the target; at most {ratio:.1}× the batches/s ({phase})")
        } else {
            format!("misses the target ({})", missed.join(", "))
        };
        lines.push(format!(
            "{}: {} misses the target or commits ≥ 3× {name}'s batches/s somewhere: {why}",
            verdict(!missed.is_empty() || ratio >= 3.0),
            other.name
        ));
    }
    lines
}
