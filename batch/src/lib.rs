//! The words every pacer crate uses for a micro-batch: the settings that close it ([`Settings`]), why it
//! closed ([`Flush`]), the worker that ran it ([`WorkerId`]) and the defaults. No dependencies, so that the
//! policies, the worker, the control plane and the console share one vocabulary without sharing anything
//! else. With the `proto` feature, [`proto`] converts them to and from the `pacer.v1` messages.
#![forbid(unsafe_code)]

mod flush;
mod overlay;
mod partition_lag;
#[cfg(feature = "proto")]
pub mod proto;
mod route_count;
mod settings;
mod worker_id;

pub use flush::Flush;
pub use overlay::Overlay;
pub use partition_lag::PartitionLag;
pub use route_count::{NO_ROUTE, RouteCount};
pub use settings::Settings;
pub use worker_id::WorkerId;
