//! pacer's batch-sizing policies and their simulator.
//!
//! A policy looks at each finished batch of a worker (an [`Observation`]) and returns the settings the worker
//! should run with next (a [`Decision`]), with a reason an operator can read. Policies are pure: no I/O, no
//! clock reads, no async; everything they know is passed in. That makes them testable and lets [`sim`] run
//! an hour of a hundred workers in seconds. A [`Governor`] sits between a policy and the worker so that
//! settings change at a bounded rate and not for noise.
//!
//! The control plane builds one [`PolicyConfig`] from the operator's choice of [`PolicyKind`] and parameters
//! (checked there, once, into each policy's typed parameters), then one [`Controller`] per worker around a
//! policy instance from [`PolicyConfig::build`]. The controller is the decision loop: the control plane
//! feeds it every report, and [`sim`] drives the same type, so that the simulator judges the code that
//! ships.

#![forbid(unsafe_code)]

// The vocabulary, and the configuration that checks an operator's choice.
mod bounds;
mod config;
mod kind;
mod params;
mod types;

// What the policies share.
mod cost;
mod reason;
mod rls;
mod signals;
mod sizing;
#[cfg(test)]
mod testing;

// The policies.
mod aimd;
mod fixed_point;
mod model;
mod rules;
mod slo;
mod static_interval;

// How many workers the arrivals need (DS2).
mod scale;

// The loop around a policy, and the simulator that drives it.
mod controller;
mod governor;
mod mode;
pub mod sim;

pub use bounds::Bounds;
pub use config::PolicyConfig;
pub use controller::{Admitted, Controller, Source};
pub use governor::Governor;
pub use kind::{PolicyKind, UnknownPolicy};
pub use mode::{Mode, UnknownMode};
pub use pacer_batch::Overlay;
pub use params::{ParamDoc, ParamError};
pub use rls::Rls;
pub use scale::{ScaleAdvice, ScaleInput};
pub use slo::TARGET_PARAM as SLO_TARGET_PARAM;
pub use types::{Decision, Flush, Observation, Settings};

/// A batch-sizing policy for one worker.
pub trait Policy: std::fmt::Debug + Send {
    /// Which policy this is.
    fn kind(&self) -> PolicyKind;

    /// The settings after `obs`, given the settings now in force for that worker (`current` may differ from
    /// `obs.settings` when an override or an earlier decision changed them). Deterministic: the same calls in
    /// the same order give the same decisions.
    fn decide(&mut self, current: Settings, obs: &Observation) -> Decision;
}
