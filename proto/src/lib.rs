//! pacer's gRPC contract: the generated code of `proto/pacer/v1/*.proto`, and nothing else.
#![allow(missing_debug_implementations)]

/// Version 1 of the contract (package `pacer.v1`).
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/pacer.v1.rs"));
}
