//! How many workers a pipeline needs, in the spirit of DS2 (Kalavri et al., OSDI 2018): from each worker's
//! *true* rate, the rows it processes per second of busy time, and the rate at which rows arrive.
//!
//! A worker's observed throughput says little about what it could do: an idle worker writes what arrives.
//! Its true rate does not depend on the load: rows divided by the time spent transforming, writing and
//! committing them. With λ rows/s arriving and workers that each process μ rows per busy second, keeping
//! each below a target utilisation u takes k = ⌈λ / (μ · u)⌉ workers. A topic's partitions cap the useful
//! number: a consumer group never gives one partition to two workers, so workers beyond the partition count
//! stand idle, and the advice says when that cap binds.

use std::fmt;

/// What the advice is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleInput<'a> {
    /// Rows arriving per second, over the whole topic.
    pub arrival: f64,
    /// Each worker's true rate: rows per second of busy time (transform, write and commit).
    pub true_rates: &'a [f64],
    /// The utilisation each worker is planned for, in (0, 1]: below 1 leaves room for bursts.
    pub utilisation: f64,
    /// The topic's partitions: the most workers that can share its load.
    pub partitions: u32,
}

/// How many workers keep up, and whether the partitions allow that many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleAdvice {
    /// Workers needed to process the arrivals at the planned utilisation; at least 1.
    pub needed: u32,
    /// Workers that can do useful work: `needed`, or the partition count when that is smaller.
    pub usable: u32,
    /// The rows per second one worker processes when busy (the mean of the true rates).
    pub rate_per_worker: f64,
}

impl ScaleAdvice {
    /// The advice for `input`, or `None` when no worker has a true rate yet (no busy time measured), or
    /// the figures are not finite and positive.
    pub fn new(input: &ScaleInput<'_>) -> Option<Self> {
        let rates: Vec<f64> = input
            .true_rates
            .iter()
            .copied()
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .collect();
        if rates.is_empty()
            || !input.arrival.is_finite()
            || input.arrival < 0.0
            || !(input.utilisation > 0.0 && input.utilisation <= 1.0)
        {
            return None;
        }
        let rate_per_worker = rates.iter().sum::<f64>() / rates.len() as f64;
        let workers = (input.arrival / (rate_per_worker * input.utilisation)).ceil();
        // More workers than u32 holds is "as many as there can be"; the partitions cap them anyway.
        let needed = if workers >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            (workers as u32).max(1)
        };
        Some(Self {
            needed,
            usable: needed.min(input.partitions.max(1)),
            rate_per_worker,
        })
    }

    /// Whether the partitions cap the workers below what the arrivals need.
    pub fn capped(&self) -> bool {
        self.usable < self.needed
    }
}

impl fmt::Display for ScaleAdvice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = self.rate_per_worker.round();
        if self.capped() {
            write!(
                f,
                "{} workers needed at {rate} rows/s each, but the topic's {} partitions let only {} work: add partitions",
                self.needed, self.usable, self.usable
            )
        } else {
            write!(f, "{} workers needed at {rate} rows/s each", self.needed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advice(arrival: f64, rates: &[f64], partitions: u32) -> ScaleAdvice {
        ScaleAdvice::new(&ScaleInput {
            arrival,
            true_rates: rates,
            utilisation: 0.8,
            partitions,
        })
        .unwrap()
    }

    #[test]
    fn the_count_is_the_arrivals_over_the_planned_rate_rounded_up() {
        // 150 % of one worker's rate at 80 % utilisation: ⌈1.5 / 0.8⌉ = 2.
        let a = advice(15_000.0, &[10_000.0], 8);
        assert_eq!((a.needed, a.usable, a.capped()), (2, 2, false));
        assert_eq!(a.to_string(), "2 workers needed at 10000 rows/s each");
        assert_eq!(advice(0.0, &[10_000.0], 8).needed, 1);
        // Two workers of different speeds: their mean.
        assert_eq!(advice(24_000.0, &[10_000.0, 20_000.0], 8).needed, 2);
    }

    #[test]
    fn the_partitions_cap_the_workers_that_can_help() {
        let a = advice(100_000.0, &[10_000.0], 4);
        assert_eq!((a.needed, a.usable, a.capped()), (13, 4, true));
        assert!(a.to_string().contains("only 4 work: add partitions"), "{a}");
    }

    #[test]
    fn without_a_measured_rate_there_is_no_advice() {
        let none = |rates: &[f64], utilisation: f64| {
            ScaleAdvice::new(&ScaleInput {
                arrival: 10.0,
                true_rates: rates,
                utilisation,
                partitions: 4,
            })
        };
        assert_eq!(none(&[], 0.8), None);
        assert_eq!(none(&[0.0, f64::NAN], 0.8), None);
        assert_eq!(none(&[10.0], 0.0), None);
        assert_eq!(none(&[10.0], 1.5), None);
    }
}
