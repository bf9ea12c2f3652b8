//! pacer's batch-sizing policies and their simulator.
//!
//! A policy looks at each finished batch of a worker (an [`Observation`]) and returns the settings the worker
//! should run with next (a [`Decision`]), with a reason an operator can read. Policies are pure: no I/O, no
//! clock reads, no async; everything they know is passed in. That makes them testable and lets [`sim`] run
//! an hour of a hundred workers in seconds. A [`Governor`] sits between a policy and the worker so that
//! settings change at a bounded rate and not for noise.
//!
//! The control plane builds one [`PolicyConfig`] from the operator's choice of [`PolicyKind`] and parameters,
//! then one policy instance per worker with [`PolicyConfig::build`].

#![forbid(unsafe_code)]

mod aimd;
mod common;
mod config;
mod fixed_point;
mod governor;
mod kind;
mod model;
mod rls;
mod rules;
pub mod sim;
mod static_interval;
mod types;

pub use config::{ParamDoc, ParamError, PolicyConfig};
pub use governor::Governor;
pub use kind::{PolicyKind, UnknownPolicy};
pub use rls::Rls;
pub use types::{Bounds, Decision, Flush, Observation, Settings};

/// A batch-sizing policy for one worker.
pub trait Policy: std::fmt::Debug + Send {
    /// Which policy this is.
    fn kind(&self) -> PolicyKind;

    /// The settings after `obs`, given the settings now in force for that worker (`current` may differ from
    /// `obs.settings` when an override or an earlier decision changed them). Deterministic: the same calls in
    /// the same order give the same decisions.
    fn decide(&mut self, current: Settings, obs: &Observation) -> Decision;
}
