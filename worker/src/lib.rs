//! The worker: a Kafka consumer-group member that runs the micro-batch ETL (parse, enforce the schema, enrich)
//! and writes each batch to PostgreSQL in one transaction, committing Kafka offsets only after that
//! transaction has committed.
#![forbid(unsafe_code)]

mod attach;
mod batch;
mod batch_metrics;
mod collect;
mod config;
mod consumer;
mod copy;
mod finish;
mod letter;
mod offsets;
mod ownership;
pub mod replay;
mod report;
mod rows;
mod run;
mod settings;
mod sink;
mod stages;
pub mod tables;
mod telemetry;
mod topics;
mod transform;
mod worker_id;

pub use batch::Batch;
pub use config::{ControlLink, WorkerConfig};
pub use consumer::FETCH_WAIT;
pub use offsets::offsets_to_commit;
pub use ownership::{OwnershipContext, PartitionLag};
pub use pacer_backoff::Backoff;
pub use pacer_batch::{Flush, Settings};
pub use report::{BatchReport, NO_ROUTE, RouteCount};
pub use rows::{Routes, TableRows};
pub use run::{WorkerError, run};
pub use settings::SettingsHandle;
pub use sink::{MIGRATOR, Sink, SinkError, WriteOutcome};
pub use stages::FetchStages;
pub use telemetry::{WorkerMetrics, names as metric_names};
pub use topics::{TopicError, check_topic, check_topics, is_pattern};
pub use transform::{EVENT_COLUMNS, Transformed, transform};
pub use worker_id::default_worker_id;
