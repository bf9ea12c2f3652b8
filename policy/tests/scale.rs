//! Properties of the scale advice (DS2): enough workers for the arrivals at the planned utilisation, no
//! more than one beyond that, monotone in the arrival rate, and never more usable workers than partitions.

use pacer_policy::{ScaleAdvice, ScaleInput};
use proptest::prelude::*;

fn input(arrival: f64, rates: &[f64], utilisation: f64, partitions: u32) -> ScaleAdvice {
    ScaleAdvice::new(&ScaleInput {
        arrival,
        true_rates: rates,
        utilisation,
        partitions,
    })
    .expect("positive rates and a utilisation in (0, 1]")
}

proptest! {
    #[test]
    fn the_advice_is_enough_and_not_more(
        arrival in 0.0_f64..10_000_000.0,
        rates in proptest::collection::vec(1.0_f64..1_000_000.0, 1..16),
        utilisation in 0.05_f64..=1.0,
        partitions in 1_u32..512,
    ) {
        let advice = input(arrival, &rates, utilisation, partitions);
        let planned = advice.rate_per_worker * utilisation;
        prop_assert!(f64::from(advice.needed) * planned >= arrival * (1.0 - 1e-9));
        prop_assert!(advice.needed == 1 || f64::from(advice.needed - 1) * planned < arrival * (1.0 + 1e-9));
        prop_assert!(advice.usable <= partitions);
        prop_assert_eq!(advice.usable, advice.needed.min(partitions));
        prop_assert_eq!(advice.capped(), advice.needed > partitions);
    }

    #[test]
    fn more_arrivals_never_need_fewer_workers(
        low in 0.0_f64..5_000_000.0,
        extra in 0.0_f64..5_000_000.0,
        rates in proptest::collection::vec(1.0_f64..1_000_000.0, 1..16),
        utilisation in 0.05_f64..=1.0,
        partitions in 1_u32..512,
    ) {
        let fewer = input(low, &rates, utilisation, partitions);
        let more = input(low + extra, &rates, utilisation, partitions);
        prop_assert!(more.needed >= fewer.needed);
        prop_assert!(more.usable >= fewer.usable);
    }
}
