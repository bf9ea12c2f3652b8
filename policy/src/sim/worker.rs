//! One simulated worker, batch after batch, and the tally of what all workers did per phase.

use super::arrivals::Arrivals;
use super::histogram::Histogram;
use super::{Phase, PhaseStats, SimConfig, Step, WorkerModel, duration, normal};
use crate::controller::Controller;
use crate::governor::Governor;
use crate::mode::Mode;
use crate::types::{Flush, Observation, Settings};

/// Per-phase accumulators over all workers, and the total lag per second.
#[derive(Debug)]
pub(crate) struct Tally {
    latency: Vec<Histogram>,
    changes: Vec<u64>,
    batches: Vec<u64>,
    processing: Vec<f64>,
    /// Lag summed over workers, per second of simulated time.
    lag: Vec<f64>,
    /// One worker's lag per second (its largest in that second, carried over seconds without a batch).
    worker_lag: Vec<Option<f64>>,
}

impl Tally {
    pub(crate) fn new(phases: usize, seconds: usize) -> Self {
        Tally {
            latency: vec![Histogram::default(); phases.max(1)],
            changes: vec![0; phases.max(1)],
            batches: vec![0; phases.max(1)],
            processing: vec![0.0; phases.max(1)],
            lag: vec![0.0; seconds.max(1)],
            worker_lag: vec![None; seconds.max(1)],
        }
    }

    fn record_lag(&mut self, at: f64, lag: f64) {
        if let Some(slot) = self.worker_lag.get_mut(at.max(0.0) as usize) {
            *slot = Some(slot.map_or(lag, |l| l.max(lag)));
        }
    }

    /// Adds the worker just simulated to the lag totals and clears it for the next.
    fn flush_worker(&mut self) {
        let mut last = 0.0;
        for (total, slot) in self.lag.iter_mut().zip(self.worker_lag.iter_mut()) {
            last = slot.take().unwrap_or(last);
            *total += last;
        }
    }

    /// Adds another worker's tally (after its simulation) to this one.
    pub(crate) fn absorb(&mut self, other: &Tally) {
        for (h, o) in self.latency.iter_mut().zip(&other.latency) {
            h.merge(o);
        }
        for (c, o) in self.changes.iter_mut().zip(&other.changes) {
            *c += o;
        }
        for (b, o) in self.batches.iter_mut().zip(&other.batches) {
            *b += o;
        }
        for (p, o) in self.processing.iter_mut().zip(&other.processing) {
            *p += o;
        }
        for (l, o) in self.lag.iter_mut().zip(&other.lag) {
            *l += o;
        }
    }

    pub(crate) fn phase_stats(
        &self,
        i: usize,
        phase: &Phase,
        start: f64,
        end: f64,
        workers: usize,
    ) -> PhaseStats {
        let h = &self.latency[i];
        let first = start.floor() as usize;
        let last = ((end.ceil() as usize).saturating_sub(1))
            .max(first)
            .min(self.lag.len() - 1);
        let middle = first + (last - first) / 2;
        let window = |a: usize, b: usize| self.lag[a..=b].iter().copied().fold(0.0_f64, f64::max);
        let peak = window(first, last);
        let first_half = window(first, middle);
        let final_lag = self.lag[last];
        let len = (end - start).max(1e-9);
        PhaseStats {
            name: phase.name.clone(),
            p50: duration(h.quantile(0.5).unwrap_or(0.0)),
            p99: duration(h.quantile(0.99).unwrap_or(0.0)),
            peak_lag: peak.round() as u64,
            final_lag: final_lag.round() as u64,
            lag_growing: final_lag > 1.5 * first_half + phase.rate,
            rows: h.total().round() as u64,
            changes: self.changes[i],
            batches: self.batches[i],
            busy: self.processing[i] / (workers as f64 * len),
        }
    }
}

/// The index of the phase that time `t` falls in (the last one after the profile ends).
fn phase_of(ends: &[f64], t: f64) -> usize {
    ends.partition_point(|end| *end <= t)
        .min(ends.len().saturating_sub(1))
}

/// Simulates one worker over the whole profile, until every row that arrived is written.
pub(crate) fn simulate(
    config: &SimConfig,
    worker: usize,
    ends: &[f64],
    arrivals: &Arrivals,
    noise: &mut fastrand::Rng,
    tally: &mut Tally,
    observe: &mut impl FnMut(&Step<'_>),
) {
    let fixed = config.cost.fixed.as_secs_f64();
    let per_row = config.cost.per_row.as_secs_f64();
    let sigma = config.cost.noise.max(0.0);
    let fixed_floor = config.floor.fixed.as_secs_f64();
    let jitter = config.floor.jitter.as_secs_f64();
    let row_bytes = config.row_bytes.max(1) as f64;
    let mut controller = Controller::new(
        config.policy.build(),
        Governor::new(config.governor.min_gap, config.governor.hysteresis),
    );
    // What the batches run under, and what was last pushed (the control plane's idea of what the worker
    // runs, ahead of it until the next batch starts).
    let mut in_force = config.policy.initial_settings();
    let mut pushed = in_force;
    let mut pending: Option<(f64, Settings)> = None;
    let total = arrivals.count(arrivals.end());
    let (mut taken, mut taken_at) = (0.0, 0.0);
    let (mut start, mut writer_free) = (0.0_f64, 0.0_f64);
    // Far past the profile only if a policy collects slower than rows arrive for an hour: stop anyway.
    let give_up = arrivals.end() + 3600.0;
    while taken < total - 0.5 && start < give_up {
        if let Some((at, settings)) = pending.filter(|(at, _)| *at <= start) {
            in_force = settings;
            pending = None;
            debug_assert!(at <= start);
        }
        let interval = in_force.interval.as_secs_f64().max(1e-3);
        let cap = (in_force.max_rows as f64)
            .min((in_force.max_bytes as f64 / row_bytes).floor())
            .max(1.0);
        let (closed, end_n, flush) = if arrivals.count(start) - taken >= cap {
            (start, taken + cap, size_flush(&in_force, row_bytes))
        } else {
            match arrivals.time_of(taken + cap) {
                Some(full) if full < start + interval => {
                    (full, taken + cap, size_flush(&in_force, row_bytes))
                }
                _ => (
                    start + interval,
                    arrivals.count(start + interval),
                    Flush::Interval,
                ),
            }
        };
        let rows = end_n - taken;
        if rows < 0.5 {
            if start >= arrivals.end() {
                break;
            }
            // The real worker skips an empty batch and collects again; nothing is reported.
            start = closed;
            continue;
        }
        let first_arrival = taken_at;
        let last_arrival = arrivals.time_of(end_n).unwrap_or(closed).min(closed);
        let began = closed.max(writer_free);
        let lognormal = (sigma * normal(noise) - 0.5 * sigma * sigma).exp();
        let processing = (fixed + per_row * rows) * lognormal;
        let written = began + processing;
        writer_free = written;
        // The batch's events were received this long before the worker could take them.
        // (Drawn only with a jitter, so that a profile without one sees the same noise as before.)
        let floor = fixed_floor
            + if jitter > 0.0 {
                jitter * noise.f64()
            } else {
                0.0
            };
        let phase = phase_of(ends, 0.5 * (first_arrival + last_arrival));
        tally.latency[phase].add_range(
            floor + written - last_arrival,
            floor + written - first_arrival,
            rows,
        );
        let done = phase_of(ends, written);
        tally.batches[done] += 1;
        tally.processing[done] += processing;
        let lag = (arrivals.count(written) - end_n).max(0.0);
        tally.record_lag(written, lag);
        taken = end_n;
        taken_at = last_arrival;

        let obs = Observation {
            at: duration(written),
            settings: in_force,
            rows: rows.round() as u64,
            bytes: (rows * row_bytes).round() as u64,
            flush,
            collect: duration(closed - start),
            processing: duration(processing),
            lag: Some(lag.round() as u64),
            e2e_p50: Some(duration(written - 0.5 * (first_arrival + last_arrival))),
            e2e_max: Some(duration(written - first_arrival)),
            // The rows arrived evenly between the first and the last: 1 % of them waited longer.
            receipt_p99: Some(duration(
                floor + written - first_arrival - 0.01 * (last_arrival - first_arrival),
            )),
        };
        let admitted = controller.observe(&obs, pushed, Mode::Enforce, None);
        if let Some(admitted) = &admitted {
            pushed = admitted.new;
            pending = Some((written, pushed));
            tally.changes[done] += 1;
        }
        if let Some(decision) = controller.decision() {
            observe(&Step {
                worker,
                observation: &obs,
                decision,
                admitted: admitted.as_ref(),
            });
        }
        start = match config.worker {
            // The next batch starts collecting once this one is handed to the writer.
            WorkerModel::Pipelined => began,
            // The next batch starts when this one closed; this one waits in the writer's queue.
            WorkerModel::Timer => closed,
        };
    }
    tally.flush_worker();
}

fn size_flush(settings: &Settings, row_bytes: f64) -> Flush {
    if settings.max_rows as f64 * row_bytes <= settings.max_bytes as f64 {
        Flush::MaxRows
    } else {
        Flush::MaxBytes
    }
}
