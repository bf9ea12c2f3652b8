//! The controller's loop with a scripted policy: enforce and advise, an override on top, the rounding and
//! the governor's refusals.

use super::*;
use crate::testing::obs;
use std::collections::VecDeque;
use std::time::Duration;

/// A policy that wants the settings it was given, in order, and says what it stepped from.
#[derive(Debug)]
struct Scripted(VecDeque<Settings>);

impl Policy for Scripted {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Rules
    }

    fn decide(&mut self, current: Settings, _obs: &Observation) -> Decision {
        let settings = self.0.pop_front().unwrap_or(current);
        Decision {
            settings,
            reason: format!("from {:?}", current.interval),
            advice: (settings.max_rows > 50_000).then(|| "add workers".to_owned()),
        }
    }
}

fn s(interval_us: u64, max_rows: u64) -> Settings {
    Settings {
        interval: Duration::from_micros(interval_us),
        max_rows,
        max_bytes: 1 << 24,
    }
}

/// A controller whose policy wants `wants` in order, with a governor of 1 s and 10 %.
fn controller(wants: &[Settings]) -> Controller {
    Controller::new(
        Box::new(Scripted(wants.iter().copied().collect())),
        Governor::new(Duration::from_secs(1), 0.1),
    )
}

/// The batch that finished at `at_ms`.
fn at(at_ms: u64) -> Observation {
    obs(at_ms, 100, 1000, 50, 0)
}

fn reason(c: &Controller) -> &str {
    c.decision().map_or("", |d| d.reason.as_str())
}

const RUNNING: Settings = Settings::DEFAULT;

#[test]
fn enforce_steps_from_its_own_settings_and_rounds_them() {
    let mut c = controller(&[s(100_400, 5000), s(20_600, 5000)]);
    let first = c.observe(&at(0), RUNNING, Mode::Enforce, None);
    assert_eq!(
        first,
        Some(Admitted {
            old: RUNNING,
            new: s(100_000, 5000),
            reason: "from 500ms".into(),
        }),
        "whole milliseconds, as pushed"
    );
    assert_eq!(c.policy_settings(), Some(s(100_000, 5000)));
    assert_eq!(c.suggested(), None);
    // The push was lost: the worker still runs the old settings, but the policy steps from its own.
    let second = c.observe(&at(2000), RUNNING, Mode::Enforce, None);
    assert_eq!(reason(&c), "from 100ms");
    assert_eq!(
        second.map(|a| (a.old, a.new)),
        Some((RUNNING, s(21_000, 5000)))
    );
    assert_eq!(
        c.wanted(Mode::Enforce, None, RUNNING),
        (s(21_000, 5000), Source::Policy)
    );
}

#[test]
fn advise_steps_from_its_suggestions_and_never_from_what_runs() {
    let mut c = controller(&[s(100_000, 5000), s(50_000, 5000)]);
    let first = c
        .observe(&at(0), RUNNING, Mode::Advise, None)
        .expect("first change");
    assert_eq!((first.old, first.new), (RUNNING, s(100_000, 5000)));
    assert_eq!(c.suggested(), Some(s(100_000, 5000)));
    let second = c
        .observe(&at(2000), RUNNING, Mode::Advise, None)
        .expect("a 50 % change");
    assert_eq!(reason(&c), "from 100ms");
    assert_eq!(
        (second.old, second.new),
        (s(100_000, 5000), s(50_000, 5000))
    );
    assert_eq!(c.suggested(), Some(s(50_000, 5000)));
    // Nothing the policy said is run in advise mode.
    assert_eq!(
        c.wanted(Mode::Advise, None, RUNNING),
        (RUNNING, Source::Initial)
    );
    c.mode_changed();
    assert_eq!(c.suggested(), None);
    assert_eq!(c.governor().last_change(), None);
}

#[test]
fn an_override_on_top_keeps_the_decision_for_after() {
    let overlay = Overlay {
        interval: Some(Duration::from_millis(50)),
        max_rows: None,
    };
    let mut c = controller(&[s(200_000, 8000), s(300_000, 9000)]);
    let admitted = c
        .observe(&at(0), RUNNING, Mode::Enforce, Some(overlay))
        .expect("first change");
    assert_eq!(
        admitted.new,
        s(50_000, 8000),
        "max_rows is left to the policy"
    );
    assert_eq!(admitted.reason, "from 500ms (override in force on top)");
    assert_eq!(c.policy_settings(), Some(s(200_000, 8000)));
    // Refused by the governor (within the gap, not urgent), but kept as where to go after the override.
    let running = admitted.new;
    assert_eq!(
        c.observe(&at(100), running, Mode::Enforce, Some(overlay)),
        None
    );
    assert_eq!(c.policy_settings(), Some(s(300_000, 9000)));
    assert_eq!(
        c.wanted(Mode::Enforce, Some(overlay), RUNNING),
        (s(50_000, 9000), Source::Override)
    );
    assert_eq!(
        c.wanted(Mode::Enforce, None, RUNNING),
        (s(300_000, 9000), Source::Policy)
    );
    assert_eq!(
        c.wanted(Mode::Advise, Some(overlay), RUNNING),
        (overlay.apply(RUNNING), Source::Override)
    );
}

#[test]
fn an_override_in_advise_mode_leaves_the_suggestion_alone() {
    let overlay = Overlay {
        interval: Some(Duration::from_millis(50)),
        max_rows: Some(100),
    };
    let mut c = controller(&[s(200_000, 8000)]);
    let admitted = c
        .observe(&at(0), RUNNING, Mode::Advise, Some(overlay))
        .expect("first change");
    assert_eq!(admitted.new, s(200_000, 8000));
    assert_eq!(admitted.reason, "from 500ms");
    assert_eq!(c.suggested(), Some(s(200_000, 8000)));
    assert_eq!(c.policy_settings(), None);
}

#[test]
fn governor_refusals_change_nothing_but_the_decision() {
    let wants = [
        s(100_000, 5000),
        s(80_000, 5000),
        s(104_000, 5000),
        s(80_000, 60_000),
    ];
    let mut c = controller(&wants);
    let first = c
        .observe(&at(0), RUNNING, Mode::Enforce, None)
        .expect("first");
    let running = first.new;
    // Within the gap and not urgent.
    assert_eq!(c.observe(&at(500), running, Mode::Enforce, None), None);
    assert_eq!(c.policy_settings(), Some(running));
    assert_eq!(
        c.decision().map(|d| d.settings),
        Some(s(80_000, 5000)),
        "the latest decision is kept, refused or not"
    );
    // Past the gap, but 4 %: below the hysteresis.
    assert_eq!(c.observe(&at(2000), running, Mode::Enforce, None), None);
    assert_eq!(c.advice(), None);
    // max_rows × 12 is urgent, whatever the gap.
    let urgent = c
        .observe(&at(2100), running, Mode::Enforce, None)
        .expect("urgent");
    assert_eq!(urgent.new, s(80_000, 60_000));
    assert_eq!(c.advice(), Some("add workers"));
    assert_eq!(
        c.governor().last_change(),
        Some(Duration::from_millis(2100))
    );
}

#[test]
fn a_decision_equal_to_what_runs_is_not_admitted() {
    let mut c = controller(&[RUNNING]);
    assert_eq!(c.observe(&at(0), RUNNING, Mode::Enforce, None), None);
    assert_eq!(c.policy_settings(), None);
    assert_eq!(
        c.wanted(Mode::Enforce, None, RUNNING),
        (RUNNING, Source::Initial)
    );
}

#[test]
fn a_real_policy_runs_through_it() {
    let config = crate::PolicyConfig::default_for(PolicyKind::Model, crate::Bounds::default())
        .expect("defaults");
    let mut c = Controller::new(config.build(), Governor::new(Duration::ZERO, 0.0));
    assert_eq!(c.kind(), PolicyKind::Model);
    let admitted = c
        .observe(&obs(500, 500, 500, 18, 18), RUNNING, Mode::Enforce, None)
        .expect("the cold start is left at once");
    // The model wants 23.4 ms (processing × headroom); the worker is told 23 ms.
    assert_eq!(admitted.new.interval, Duration::from_millis(23));
    assert!(
        admitted.reason.starts_with("model warming up"),
        "{}",
        admitted.reason
    );
}
