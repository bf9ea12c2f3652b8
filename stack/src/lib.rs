//! The local stack that `pacer up` and the end-to-end tests run on: a private PostgreSQL cluster in a data
//! directory of its own and a Kafka-compatible broker (nisshi), both as child processes on loopback ports.
#![forbid(unsafe_code)]

mod broker;
mod ports;
mod postgres;
pub mod process;
mod supervise;

pub use broker::{Broker, BrokerOptions, create_topic, find_nisshi, group_lag, wait_for_broker};
pub use ports::{free_port, port_is_free};
pub use postgres::{PostgresOptions, PrivatePostgres};
pub use supervise::{Child, ChildState, Health, RestartPolicy, StackMetrics, Supervised};

use std::path::PathBuf;

/// Errors of the local stack; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A program the stack needs is not installed.
    #[error("{program} not found: {hint}")]
    Missing { program: String, hint: String },
    /// A program ran but failed.
    #[error("{what} failed: {detail}")]
    Failed { what: String, detail: String },
    /// A port asked for is in use.
    #[error(
        "port {port} on 127.0.0.1 is already in use ({what}); choose another with {flag}, or 0 for any free port"
    )]
    PortInUse {
        port: u16,
        what: &'static str,
        flag: &'static str,
    },
    /// A supervised child kept failing.
    #[error(
        "the {child} kept failing ({failures} failures within {window_secs} s), so pacer gave up on it and stopped; see its log, {log}"
    )]
    GaveUp {
        child: &'static str,
        failures: usize,
        window_secs: u64,
        log: PathBuf,
    },
    /// Waiting for a service timed out.
    #[error("{what} did not become ready within {secs} s; see {log}")]
    Timeout {
        what: String,
        secs: u64,
        log: PathBuf,
    },
    /// File-system or process error.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// Kafka admin error.
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// PostgreSQL error.
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
}

impl StackError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| StackError::Io { context, source }
    }
}
