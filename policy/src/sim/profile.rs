//! Load profiles: sequences of phases, as fractions of what the workers can sustain.

use super::{Phase, Wave};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The named load profiles of `pacer sim --profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// idle (2 %) → spike (90 %) → steady (30 %) → idle (2 %): the product requirement's profile.
    Standard,
    /// One long phase at 50 %.
    Steady,
    /// 10 % then a step up to 80 %.
    Step,
    /// 20 %, a short burst at 95 % (a quarter phase), 20 % again.
    Spike,
    /// A rate swinging between 10 % and 90 % with a period of half a phase, for two phases.
    Sine,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 5] = [
        Profile::Standard,
        Profile::Steady,
        Profile::Step,
        Profile::Spike,
        Profile::Sine,
    ];

    /// The name `--profile` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::Steady => "steady",
            Profile::Step => "step",
            Profile::Spike => "spike",
            Profile::Sine => "sine",
        }
    }

    /// The phases, for workers that together sustain `sustainable` rows/s, with phases of `phase` each.
    pub fn phases(self, sustainable: f64, phase: Duration) -> Vec<Phase> {
        let at = |name: &str, share: f64, len: Duration| Phase::new(name, share * sustainable, len);
        match self {
            Profile::Standard => standard_profile(sustainable, phase),
            Profile::Steady => vec![at("steady", 0.5, phase * 2)],
            Profile::Step => vec![at("low", 0.1, phase), at("high", 0.8, phase)],
            Profile::Spike => vec![
                at("before", 0.2, phase),
                at("burst", 0.95, phase / 4),
                at("after", 0.2, phase),
            ],
            Profile::Sine => vec![Phase {
                wave: Some(Wave {
                    amplitude: 0.8,
                    period: phase / 2,
                }),
                ..at("sine", 0.5, phase * 2)
            }],
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile name that is not one of [`Profile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown load profile `{0}`: choose one of standard, steady, step, spike, sine")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase();
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| UnknownProfile(text.to_owned()))
    }
}

/// idle (2 % of `sustainable`) → spike (90 %) → steady (30 %) → idle (2 %), each `phase` long.
pub fn standard_profile(sustainable: f64, phase: Duration) -> Vec<Phase> {
    vec![
        Phase::new("idle", 0.02 * sustainable, phase),
        Phase::new("spike", 0.9 * sustainable, phase),
        Phase::new("steady", 0.3 * sustainable, phase),
        Phase::new("idle again", 0.02 * sustainable, phase),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_phases_exist() {
        for p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>(), Ok(p));
            let phases = p.phases(1000.0, Duration::from_secs(60));
            assert!(!phases.is_empty());
            assert!(phases.iter().all(|ph| ph.rate > 0.0 && ph.rate <= 1000.0));
        }
        assert!("flat".parse::<Profile>().is_err());
    }

    #[test]
    fn sine_swings() {
        let phases = Profile::Sine.phases(1000.0, Duration::from_secs(60));
        let peak = phases[0].rate_at(7.5);
        assert!((peak - 900.0).abs() < 1e-6, "{peak}");
    }
}
