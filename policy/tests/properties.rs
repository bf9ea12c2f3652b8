//! Properties of every policy and of the simulator: bounds always hold, odd inputs do not panic, the
//! recommended policy converges after a step and then stays put, the cost fit recovers a line, the
//! simulator is deterministic, and the product requirement is checked on the standard profile.

use pacer_policy::sim::{self, CostModel, Phase, SimConfig, standard_profile};
use pacer_policy::{
    Bounds, Flush, Governor, Observation, ParamDoc, ParamError, PolicyConfig, PolicyKind, Rls,
    Settings,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0_u64..20_000_000_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

fn big() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0_u64), Just(u64::MAX), 0_u64..2_000_000, any::<u64>()]
}

fn flush() -> impl Strategy<Value = Flush> {
    prop_oneof![
        Just(Flush::Interval),
        Just(Flush::MaxRows),
        Just(Flush::MaxBytes),
        Just(Flush::Drain)
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    (duration(), big(), big()).prop_map(|(interval, max_rows, max_bytes)| Settings {
        interval,
        max_rows,
        max_bytes,
    })
}

prop_compose! {
    fn observation()(
        at in duration(), settings in settings(), rows in big(), bytes in big(), flush in flush(),
        collect in duration(), processing in duration(), lag in proptest::option::of(big()),
        e2e_p50 in proptest::option::of(duration()), e2e_max in proptest::option::of(duration()),
        receipt_p99 in proptest::option::of(duration()),
    ) -> Observation {
        Observation { at, settings, rows, bytes, flush, collect, processing, lag, e2e_p50, e2e_max, receipt_p99 }
    }
}

prop_compose! {
    /// Valid bounds: min ≤ max, cold start inside.
    fn bounds()(
        min_ms in 1_u64..1000, span_ms in 0_u64..100_000, min_rows in 1_u64..1000, rows_span in 0_u64..1_000_000,
        max_bytes in 1_u64..1_000_000_000, pick in 0.0_f64..=1.0,
    ) -> Bounds {
        let min_interval = Duration::from_millis(min_ms);
        let max_interval = Duration::from_millis(min_ms + span_ms);
        let max_rows = min_rows + rows_span;
        let cold_start = Settings {
            interval: min_interval + (max_interval - min_interval).mul_f64(pick),
            max_rows: min_rows + (rows_span as f64 * pick) as u64,
            max_bytes: (max_bytes as f64 * pick).max(1.0) as u64,
        };
        Bounds { min_interval, max_interval, min_rows, max_rows, max_bytes, cold_start }
    }
}

/// A policy and one of its parameters.
fn real_param() -> impl Strategy<Value = (PolicyKind, ParamDoc)> {
    proptest::sample::select(PolicyKind::ALL.to_vec()).prop_flat_map(|kind| {
        let docs = PolicyConfig::param_docs(kind).to_vec();
        (Just(kind), proptest::sample::select(docs))
    })
}

/// A value outside `doc`'s range: below its minimum, above its maximum, NaN or infinite.
fn out_of_range(doc: ParamDoc) -> impl Strategy<Value = f64> {
    // Scaled by the bound, so that the step is never lost in its rounding.
    prop_oneof![
        (1e-6_f64..1e6).prop_map(move |d| doc.min - d * (1.0 + doc.min.abs())),
        (1e-6_f64..1e6).prop_map(move |d| doc.max + d * (1.0 + doc.max.abs())),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

/// A parameter that must be refused: `(kind, name, value, Some(doc))` for a real name with a value out of
/// its range, `(kind, name, value, None)` for a name the policy does not have (near misses of real names,
/// and others).
fn bad_param() -> impl Strategy<Value = (PolicyKind, String, f64, Option<ParamDoc>)> {
    let real = real_param().prop_flat_map(|(kind, doc)| {
        (
            Just(kind),
            Just(doc.name.to_owned()),
            out_of_range(doc),
            Just(Some(doc)),
        )
    });
    let near_miss = (real_param(), "[a-z_]{1,2}")
        .prop_map(|((kind, doc), tail)| (kind, format!("{}{tail}", doc.name)));
    let other = (
        proptest::sample::select(PolicyKind::ALL.to_vec()),
        "[a-z_]{1,12}",
    );
    let unknown = prop_oneof![near_miss, other]
        .prop_filter("a real name", |(kind, name)| {
            !PolicyConfig::param_docs(*kind)
                .iter()
                .any(|doc| doc.name == name)
        })
        .prop_flat_map(|(kind, name)| (Just(kind), Just(name), -1e9_f64..1e9, Just(None)));
    prop_oneof![3 => real, 1 => unknown]
}

/// A policy, one of its parameters and a value within its range (either end included).
fn good_param() -> impl Strategy<Value = (PolicyKind, ParamDoc, f64)> {
    real_param().prop_flat_map(|(kind, doc)| {
        let value = prop_oneof![Just(doc.min), Just(doc.max), doc.min..=doc.max];
        (Just(kind), Just(doc), value)
    })
}

fn within(bounds: &Bounds, s: &Settings) -> bool {
    (bounds.min_interval..=bounds.max_interval).contains(&s.interval)
        && (bounds.min_rows..=bounds.max_rows).contains(&s.max_rows)
        && (1..=bounds.max_bytes).contains(&s.max_bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever a policy is shown, its decisions stay within the bounds, carry a reason and do not panic.
    #[test]
    fn decisions_respect_bounds(
        b in bounds(),
        kind in proptest::sample::select(PolicyKind::ALL.to_vec()),
        start in settings(),
        chained in any::<bool>(),
        observations in proptest::collection::vec(observation(), 1..40),
    ) {
        let config = PolicyConfig::default_for(kind, b).expect("valid bounds");
        let mut policy = config.build();
        prop_assert_eq!(policy.kind(), kind);
        let mut current = start;
        for obs in &observations {
            let d = policy.decide(current, obs);
            prop_assert!(within(&b, &d.settings), "{kind}: {:?} outside {:?}", d.settings, b);
            prop_assert!(!d.reason.is_empty());
            prop_assert!(!d.reason.contains("NaN"), "{}", d.reason);
            if chained {
                current = d.settings;
            }
        }
    }

    /// The cost fit recovers fixed and per-row cost from noiseless batches of at least two sizes.
    #[test]
    fn rls_recovers_a_line(a in 0.0_f64..100.0, b in 0.0_f64..100.0,
                           xs in proptest::collection::vec(0.0_f64..50.0, 20..60)) {
        prop_assume!(xs.iter().any(|x| (x - xs[0]).abs() > 1.0));
        let mut rls = Rls::new([0.0, 0.0], 1e12, 0.995);
        for x in &xs {
            let y = a + b * x;
            rls.update_weighted(*x, y, 1.0 / y.max(0.1).powi(2));
        }
        let [fa, fb] = rls.estimate();
        prop_assert!((fa - a).abs() < 1e-3 * (1.0 + a) && (fb - b).abs() < 1e-3 * (1.0 + b), "{fa} {fb} vs {a} {b}");
    }

    /// Unknown names, and real names with values outside their range, are refused with an error that names
    /// the parameter (and its range, or the valid names).
    #[test]
    fn param_errors_name_the_parameter((kind, name, value, doc) in bad_param()) {
        let params = BTreeMap::from([(name.clone(), value)]);
        let err = PolicyConfig::new(kind, &params, Bounds::default());
        let text = err.as_ref().map_or_else(ToString::to_string, |c| format!("accepted: {c:?}"));
        match (err, doc) {
            (Err(ParamError::OutOfRange { name: named, min, max, .. }), Some(doc)) => {
                prop_assert_eq!((named, min, max), (doc.name, doc.min, doc.max));
                let range = format!("must be between {} and {}", doc.min, doc.max);
                prop_assert!(text.contains(&format!("parameter `{name}` of policy `{kind}`")), "{text}");
                prop_assert!(text.contains(&range), "{text}");
            }
            (Err(ParamError::Unknown { .. }), None) => {
                prop_assert!(text.contains(&format!("policy `{kind}` has no parameter `{name}`")), "{text}");
                for doc in PolicyConfig::param_docs(kind) {
                    prop_assert!(text.contains(doc.name), "{text}");
                }
            }
            _ => prop_assert!(false, "`{name}` = {value} for {kind}: {text}"),
        }
    }

    /// A value within its parameter's range is accepted and shown as given, unless it contradicts another
    /// parameter (only `rules` has such a pair: `idle_ratio` below `busy_ratio`).
    #[test]
    fn in_range_values_are_accepted_and_shown((kind, doc, value) in good_param()) {
        let params = BTreeMap::from([(doc.name.to_owned(), value)]);
        match PolicyConfig::new(kind, &params, Bounds::default()) {
            Ok(config) => prop_assert_eq!(config.params().get(doc.name).copied(), Some(value)),
            Err(ParamError::Inconsistent { problem, .. }) => {
                prop_assert_eq!(kind, PolicyKind::Rules);
                prop_assert!(problem.contains(doc.name), "{problem}");
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }

    /// The governor never admits two ordinary (non-urgent) changes within the gap.
    #[test]
    fn governor_rate_limits(steps in proptest::collection::vec((0_u64..500, 1_u64..10_000, 100_u64..100_000), 1..100)) {
        let mut g = Governor::new(Duration::from_secs(1), 0.1);
        let mut current = Settings { interval: Duration::from_millis(500), max_rows: 10_000, max_bytes: 1 << 24 };
        let mut at = Duration::ZERO;
        let mut last: Option<Duration> = None;
        for (dt, interval, rows) in steps {
            at += Duration::from_millis(dt);
            let proposed = Settings { interval: Duration::from_millis(interval), max_rows: rows, max_bytes: 1 << 24 };
            let urgent = proposed.interval >= current.interval * 2 || proposed.max_rows >= current.max_rows * 2;
            if g.admit(at, &current, &proposed) {
                if let (Some(last), false) = (last, urgent) {
                    prop_assert!(at - last >= Duration::from_secs(1));
                }
                last = Some(at);
                current = proposed;
            }
        }
    }
}

fn one_worker(policy: PolicyKind, phases: Vec<Phase>) -> SimConfig {
    let config = PolicyConfig::default_for(policy, Bounds::default()).expect("defaults");
    SimConfig {
        workers: 1,
        ..SimConfig::new(config, phases)
    }
}

/// After a step from 10 % to 60 % load the model settles within seconds near the stable interval,
/// and then changes its settings rarely.
#[test]
fn model_converges_after_a_step_and_holds() {
    let cost = CostModel::default();
    let full = cost.sustainable_rate(1);
    let phases = vec![
        Phase::new("low", 0.1 * full, Duration::from_secs(30)),
        Phase::new("settle", 0.6 * full, Duration::from_secs(20)),
        Phase::new("high", 0.6 * full, Duration::from_secs(90)),
    ];
    let config = one_worker(PolicyKind::Model, phases);
    let mut last_interval = Duration::ZERO;
    let result = sim::run_observed(&config, |step| {
        if let Some(admitted) = step.admitted {
            last_interval = admitted.new.interval;
        }
    });
    let high = &result.phases[2];
    assert!(high.changes <= 9, "{high:?}");
    assert!(!high.lag_growing, "{high:?}");
    // x₀ = a / (1 − b·λ) with λ = 0.6 × 49.8k rows/s: about 20 ms; the model aims at 1.3 x₀ ×/÷ 1.15.
    let load = 0.6 * full * cost.per_row.as_secs_f64();
    let x0 = cost.fixed.as_secs_f64() / (1.0 - load);
    let x = last_interval.as_secs_f64();
    assert!(x > 0.8 * x0 && x < 2.0 * x0, "interval {x} vs x₀ {x0}");
    assert!(high.p99 < Duration::from_millis(100), "{high:?}");
}

/// Under constant load, after the first seconds, the model pushes few changes.
#[test]
fn no_oscillation_under_constant_load() {
    let full = CostModel::default().sustainable_rate(1);
    for share in [0.02, 0.3, 0.9] {
        let phases = vec![
            Phase::new("warm", share * full, Duration::from_secs(20)),
            Phase::new("steady", share * full, Duration::from_secs(120)),
        ];
        let result = sim::run(&one_worker(PolicyKind::Model, phases));
        let steady = &result.phases[1];
        // At most one change per 10 s of the 120 s, where the governor would allow 120 (at 90 % load the
        // shortest stable interval moves 9 % for each 1 % of noise in the rate, and a change may be due).
        assert!(steady.changes <= 12, "load {share}: {steady:?}");
        assert!(!steady.lag_growing, "load {share}: {steady:?}");
    }
}

#[test]
fn sim_is_deterministic() {
    let full = CostModel::default().sustainable_rate(3);
    let phases = standard_profile(full, Duration::from_secs(20));
    let config = SimConfig {
        workers: 3,
        seed: 42,
        ..one_worker(PolicyKind::Model, phases)
    };
    let first = sim::run(&config);
    assert_eq!(first, sim::run(&config));
    // Threads or not, the same result.
    assert_eq!(first, sim::run_observed(&config, |_| {}));
    assert_ne!(first, sim::run(&SimConfig { seed: 43, ..config }));
}

/// The product requirement on the standard profile (1 worker, 2-minute phases to keep the test fast in
/// debug builds; `pacer sim --profile standard` runs 4 workers and 5-minute phases, with the same outcome).
///
/// The recommended policy's p99 is within 1.25× of the best static interval in every phase and its lag
/// stays bounded. The third clause — every static interval at least 2× worse in some phase — does not hold
/// for 10 ms and 25 ms: pacer's worker collects the next batch only once the previous one is handed to the
/// writer, so a short static interval becomes "as fast as the writer goes", which is close to optimal for
/// latency in this cost model (see docs/POLICIES.md). This test pins that outcome.
#[test]
fn goal_on_the_standard_profile() {
    let cost = CostModel::default();
    let phases = standard_profile(cost.sustainable_rate(1), Duration::from_secs(120));
    let base = one_worker(PolicyKind::RECOMMENDED, phases);
    let comparison = sim::compare(
        &base,
        std::slice::from_ref(&base.policy),
        &sim::STATIC_GRID_MS,
    )
    .expect("valid grid");
    let table = sim::render_table(&comparison);
    let check = sim::goal_met(&comparison.adaptive[0], &comparison.statics);
    assert!(check.within_best, "{check}\n{table}");
    assert!(check.lag_bounded, "{check}\n{table}");
    let not_worse: Vec<&String> = check.misses.iter().collect();
    assert!(
        not_worse
            .iter()
            .all(|m| m.starts_with("static 10 ms") || m.starts_with("static 25 ms")),
        "{check}\n{table}"
    );
    // Every static interval of 50 ms or more is at least 2× worse somewhere.
    assert!(comparison.statics.len() == sim::STATIC_GRID_MS.len());
}
