//! A deterministic simulator of pacer's workers under a policy, fast enough to compare policies over an
//! hour of load in seconds.
//!
//! It models the real worker (`worker/src/run.rs`): a worker collects a batch for the interval (or until
//! `max_rows`/`max_bytes`), hands it to the one writer, waiting for the previous batch to be written, then
//! starts collecting the next batch while the writer processes this one in a + b·rows (× lognormal noise).
//! Rows that arrive while the collector waits for the writer stay in the log, and the next batch takes them
//! at once (up to `max_rows`), as a Kafka consumer's prefetched queue gives them. Arrivals are a
//! Poisson-like count per 10 ms slot of the load profile's rate, split evenly over the workers. After each
//! batch, at the time it was written, the worker's [`Controller`](crate::Controller) sees an
//! [`Observation`](crate::Observation), in enforce mode with no override: the same loop, rounding and
//! [`Governor`](crate::Governor) as the control plane's. What it admits is pushed, and applies from the next
//! batch that starts collecting after the decision.
//!
//! Events are never simulated one by one: a batch's rows are a weighted range of arrival times, so their
//! end-to-end latencies (end of the batch's processing − arrival) are a range added at once to a
//! logarithmic histogram per phase. Each event counts in the phase it arrived in.

mod arrivals;
mod compare;
mod histogram;
mod profile;
mod worker;

pub use compare::{Comparison, GoalCheck, STATIC_GRID_MS, compare, goal_met, render_table};
pub use profile::{Profile, UnknownProfile, standard_profile};

use crate::config::PolicyConfig;
use std::f64::consts::TAU;
use std::time::Duration;

/// What processing a batch costs: `fixed + per_row × rows`, times lognormal noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// The fixed cost of a batch, a: transaction, offset commit, report.
    pub fixed: Duration,
    /// The cost of one row, b.
    pub per_row: Duration,
    /// σ of the lognormal factor on each batch's processing time (0.1 ≈ ±10 %).
    pub noise: f64,
}

/// Measured on the real pipeline: 8 ms a batch and 20 µs a row (about 50 000 rows/s for a CPU-bound
/// worker), with 10 % noise.
impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            fixed: Duration::from_millis(8),
            per_row: Duration::from_micros(20),
            noise: 0.1,
        }
    }
}

impl CostModel {
    /// The highest total rate (rows/s) `workers` can sustain with the default bounds: each worker at its
    /// largest batch, `max_rows` rows every a + b·`max_rows`.
    pub fn sustainable_rate(&self, workers: usize) -> f64 {
        self.sustainable_rate_within(workers, &crate::Bounds::default())
    }

    /// [`sustainable_rate`](Self::sustainable_rate) for other bounds.
    pub fn sustainable_rate_within(&self, workers: usize, bounds: &crate::Bounds) -> f64 {
        let rows = bounds.max_rows as f64;
        let batch = self.fixed.as_secs_f64() + self.per_row.as_secs_f64() * rows;
        workers as f64 * rows / batch.max(1e-12)
    }
}

/// A sinusoidal swing of a phase's rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wave {
    /// Relative amplitude: the rate swings between rate × (1 ± amplitude).
    pub amplitude: f64,
    /// One full swing.
    pub period: Duration,
}

/// One phase of a load profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Shown in tables.
    pub name: String,
    /// Rows per second over all workers (the mean, if `wave` is set).
    pub rate: f64,
    /// How long the phase lasts.
    pub duration: Duration,
    /// An optional sinusoidal swing around `rate`.
    pub wave: Option<Wave>,
}

impl Phase {
    /// A phase of constant `rate`.
    pub fn new(name: &str, rate: f64, duration: Duration) -> Self {
        Phase {
            name: name.to_owned(),
            rate,
            duration,
            wave: None,
        }
    }

    /// The rate `t` seconds into the phase.
    pub(crate) fn rate_at(&self, t: f64) -> f64 {
        let swing = self.wave.map_or(0.0, |w| {
            let period = w.period.as_secs_f64().max(1e-9);
            w.amplitude * (TAU * t / period).sin()
        });
        (self.rate * (1.0 + swing)).max(0.0)
    }
}

/// How the governor between policy and worker is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GovernorConfig {
    /// The shortest time between two ordinary changes.
    pub min_gap: Duration,
    /// Relative change below which a proposal is ignored.
    pub hysteresis: f64,
}

/// What an event waits outside its batch, from its receipt to the time the worker can take it (the broker's
/// acknowledgement, its fetch rounds): `fixed + jitter × u`, with u uniform in [0, 1) drawn per batch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FloorModel {
    /// What every event waits.
    pub fixed: Duration,
    /// The most a batch's events wait beyond `fixed`.
    pub jitter: Duration,
}

/// The control plane's defaults: at most one change a second, none under 10 %.
impl Default for GovernorConfig {
    fn default() -> Self {
        GovernorConfig {
            min_gap: Duration::from_secs(1),
            hysteresis: 0.1,
        }
    }
}

/// How a worker paces its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerModel {
    /// pacer's worker: the next batch starts collecting when the previous one is handed to the writer, so a
    /// worker that is behind collects from a backlog and its batches grow by themselves (the interval is a
    /// floor on the cycle, not its period).
    #[default]
    Pipelined,
    /// A timer-driven worker, like Spark Streaming's job generator: a batch closes every interval whatever
    /// the writer does, and closed batches queue for the writer. Not how pacer works; here to compare with
    /// systems (and the paper behind `fixed-point`) that do.
    Timer,
}

/// One simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Workers sharing the load evenly.
    pub workers: usize,
    /// Processing cost of a batch.
    pub cost: CostModel,
    /// The load, phase after phase.
    pub profile: Vec<Phase>,
    /// The policy every worker runs (one instance each).
    pub policy: PolicyConfig,
    /// The governor between policy and worker.
    pub governor: GovernorConfig,
    /// Seeds arrivals and noise: the same seed gives the same result.
    pub seed: u64,
    /// Bytes per row, for `max_bytes`.
    pub row_bytes: u64,
    /// What events wait before the worker can take them; none by default.
    pub floor: FloorModel,
    /// How workers pace batches.
    pub worker: WorkerModel,
}

impl SimConfig {
    /// `policy` under `profile`, with 4 workers, the default cost model and governor, seed 1, 500-byte rows,
    /// no floor, pacer's pipelined worker.
    pub fn new(policy: PolicyConfig, profile: Vec<Phase>) -> Self {
        SimConfig {
            workers: 4,
            cost: CostModel::default(),
            profile,
            policy,
            governor: GovernorConfig::default(),
            seed: 1,
            row_bytes: 500,
            floor: FloorModel::default(),
            worker: WorkerModel::Pipelined,
        }
    }
}

/// What happened in one phase, over all workers.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseStats {
    /// The phase's name.
    pub name: String,
    /// Median end-to-end latency of the events that arrived in the phase.
    pub p50: Duration,
    /// 99th percentile of the same.
    pub p99: Duration,
    /// Largest lag (rows arrived, not yet written, summed over workers, sampled per second).
    pub peak_lag: u64,
    /// Lag in the phase's last second.
    pub final_lag: u64,
    /// Whether lag grew without bound: the final lag is above 1.5 × the peak of the phase's first half plus
    /// one second of the phase's arrivals. A worker that keeps up ends a phase no worse than its first half.
    pub lag_growing: bool,
    /// Rows that arrived in the phase.
    pub rows: u64,
    /// Setting changes pushed to workers (admitted by the governor), summed over workers.
    pub changes: u64,
    /// Batches written.
    pub batches: u64,
    /// Share of the phase the writers were busy (processing time / (workers × phase length)).
    pub busy: f64,
}

/// The result of one simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimResult {
    /// The policy, as shown in tables: `model`, `static 100 ms`.
    pub label: String,
    /// One entry per phase of the profile.
    pub phases: Vec<PhaseStats>,
}

/// Runs `config`: deterministic for a given seed. Workers are independent, so they are simulated on all
/// cores; their results are merged in worker order, so the result does not depend on the number of cores.
pub fn run(config: &SimConfig) -> SimResult {
    let setup = Setup::new(config);
    let workers = config.workers.max(1);
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, workers);
    let mut tallies: Vec<(usize, worker::Tally)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let setup = &setup;
                scope.spawn(move || {
                    (t..workers)
                        .step_by(threads)
                        .map(|w| (w, setup.worker(config, w, &mut |_| {})))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // A panic in a worker thread is a bug in the simulator; pass it on rather than return half a result.
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    tallies.sort_by_key(|(w, _)| *w);
    setup.finish(config, tallies.into_iter().map(|(_, t)| t))
}

/// One decision of one simulated worker, as [`run_observed`] shows it.
#[derive(Debug)]
pub struct Step<'a> {
    /// Which worker (0-based).
    pub worker: usize,
    /// What the policy saw.
    pub observation: &'a crate::Observation,
    /// What it decided, rounded as pushed.
    pub decision: &'a crate::Decision,
    /// What the governor admitted and the worker was sent, if anything.
    pub admitted: Option<&'a crate::Admitted>,
}

/// [`run`], calling `observe` after every decision of every worker (workers one after the other).
pub fn run_observed(config: &SimConfig, mut observe: impl FnMut(&Step<'_>)) -> SimResult {
    let setup = Setup::new(config);
    let tallies: Vec<_> = (0..config.workers.max(1))
        .map(|w| setup.worker(config, w, &mut observe))
        .collect();
    setup.finish(config, tallies)
}

/// What every worker's simulation shares: where the phases end.
struct Setup {
    ends: Vec<f64>,
    seconds: usize,
}

impl Setup {
    fn new(config: &SimConfig) -> Self {
        let ends: Vec<f64> = config
            .profile
            .iter()
            .scan(0.0, |t, p| {
                *t += p.duration.as_secs_f64();
                Some(*t)
            })
            .collect();
        let horizon = ends.last().copied().unwrap_or(0.0);
        Setup {
            seconds: horizon.ceil() as usize + 1,
            ends,
        }
    }

    /// Simulates worker `w` with its own seeded arrivals and noise.
    fn worker(
        &self,
        config: &SimConfig,
        w: usize,
        observe: &mut impl FnMut(&Step<'_>),
    ) -> worker::Tally {
        let workers = config.workers.max(1);
        let stream = config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (w as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut arrivals = arrivals::Arrivals::default();
        arrivals.generate(
            &config.profile,
            workers,
            &mut fastrand::Rng::with_seed(stream),
        );
        let mut noise = fastrand::Rng::with_seed(stream ^ 0x5851_F42D_4C95_7F2D);
        let mut tally = worker::Tally::new(config.profile.len(), self.seconds);
        worker::simulate(
            config, w, &self.ends, &arrivals, &mut noise, &mut tally, observe,
        );
        tally
    }

    /// Merges the workers' tallies, in worker order, into the result.
    fn finish(
        &self,
        config: &SimConfig,
        tallies: impl IntoIterator<Item = worker::Tally>,
    ) -> SimResult {
        let mut total = worker::Tally::new(config.profile.len(), self.seconds);
        for tally in tallies {
            total.absorb(&tally);
        }
        let label = match config.policy.kind() {
            crate::PolicyKind::Static => {
                format!(
                    "static {}",
                    crate::reason::ms(config.policy.initial_settings().interval.as_secs_f64())
                )
            }
            kind => kind.to_string(),
        };
        let phases = config
            .profile
            .iter()
            .enumerate()
            .map(|(i, phase)| {
                let start = if i == 0 { 0.0 } else { self.ends[i - 1] };
                total.phase_stats(i, phase, start, self.ends[i], config.workers.max(1))
            })
            .collect();
        SimResult { label, phases }
    }
}

/// A standard normal deviate (Box–Muller).
pub(crate) fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
}

pub(crate) fn duration(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}
