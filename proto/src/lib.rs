//! pacer's gRPC contract: the generated code of `proto/pacer/v1/*.proto`, and nothing else.
#![forbid(unsafe_code)]
#![allow(missing_debug_implementations)]

/// Version 1 of the contract (package `pacer.v1`).
#[allow(
    clippy::large_enum_variant,
    reason = "generated: a worker sends one report per batch, so the stream's message enum is not worth boxing"
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/pacer.v1.rs"));

    /// The encoded descriptors of every `pacer.v1` file (and the files they import), for gRPC server
    /// reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/pacer_v1_descriptor.bin"));
}
