//! The worker: a Kafka consumer-group member that runs the micro-batch ETL (parse, enforce the schema, enrich)
//! and writes each batch to PostgreSQL in one transaction, committing Kafka offsets only after that
//! transaction has committed.
#![forbid(unsafe_code)]

mod attach;
mod batch;
mod config;
mod copy;
mod metrics;
mod ownership;
mod run;
mod settings;
mod sink;
mod telemetry;
mod transform;

pub use attach::ControlLink;
pub use batch::{Batch, FlushReason};
pub use config::{WorkerConfig, default_worker_id};
pub use metrics::BatchReport;
pub use ownership::{OwnershipContext, PartitionLag};
pub use pacer_backoff::Backoff;
pub use run::{WorkerError, offsets_to_commit, run};
pub use settings::{BatchSettings, SettingsHandle};
pub use sink::{MIGRATOR, Sink, SinkError, WriteOutcome};
pub use telemetry::{WorkerMetrics, names as metric_names};
pub use transform::{EVENT_COLUMNS, Transformed, transform};
