//! The worker's wiring: start the control-plane link, wait for PostgreSQL, start the consumer, the
//! `batch_metrics` writer and the batch loop ([`crate::collect`] and [`crate::finish`]); on stop, drain them
//! all before returning.

use crate::attach::{self, WorkerStatus};
use crate::batch_metrics::MetricsWriter;
use crate::collect::Collector;
use crate::config::WorkerConfig;
use crate::finish::Finisher;
use crate::report::BatchReport;
use crate::settings::SettingsHandle;
use crate::sink::{Sink, SinkError};
use pacer_backoff::{Attempt, Backoff, Outcome, Retry};
use pacer_batch::Settings;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Errors that stop a worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The Kafka consumer could not be created or subscribed.
    #[error("Kafka consumer error")]
    Kafka(#[from] KafkaError),
    /// The database could not be set up.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The topics to consume are not a valid subscription.
    #[error(transparent)]
    Topics(#[from] crate::topics::TopicError),
    /// A route's table does not match the pipeline file.
    #[error(transparent)]
    Tables(#[from] crate::tables::TablesError),
    /// PostgreSQL refused the statements that write a batch (a table or column changed since the start,
    /// a missing privilege): the batch is not committed, and is written again once that is fixed.
    #[error(
        "PostgreSQL refuses to write the batch: {0}; a route's table may no longer match the pipeline file (`pacer tables plan` shows what differs) or the worker's role may lack a privilege. Nothing of the batch was committed: it is written again when a worker starts after the fix"
    )]
    Refused(String),
}

/// Runs a worker until `shutdown` completes. The batch being collected is then written and committed, unless
/// PostgreSQL is failing at that moment: then it is left uncommitted, to be re-delivered.
///
/// `settings` sizes the batches; with `config.control` set, the worker also attaches to the control plane,
/// which then changes them (and pauses and resumes the worker). The data path never waits on the control
/// plane: while it is away, the worker keeps its last settings.
pub async fn run(
    config: WorkerConfig,
    settings: SettingsHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    crate::topics::check_topics(&config.topics)?;
    let (stop_tx, stop) = watch::channel(false);
    // The shutdown stops the worker, and so does a batch that cannot be written at all (see `Finisher`).
    let stop_tx = Arc::new(stop_tx);
    let halt = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let (paused_tx, paused) = watch::channel(false);
    let (status_tx, status) = watch::channel(WorkerStatus::default());
    let (reports, attach_task) = match &config.control {
        Some(link) => {
            let (reports_tx, reports_rx) = mpsc::channel(REPORT_QUEUE);
            let task = tokio::spawn(attach::run(
                link.clone(),
                attach::Identity::of(&config),
                settings.clone(),
                paused_tx,
                status,
                reports_rx,
                stop.clone(),
            ));
            (Some(reports_tx), Some(task))
        }
        None => (None, None),
    };
    let (metrics, worker_id) = (config.metrics.clone(), config.worker_id.clone());
    let result = run_batches(
        config,
        settings.subscribe(),
        paused,
        status_tx,
        reports,
        (stop, halt),
    )
    .await;
    metrics.stop(&worker_id);
    if let Some(task) = attach_task {
        // On a normal stop the link has seen the stop and ends by itself; after a failure it would wait for a
        // stop that never comes.
        if result.is_err() {
            task.abort();
        }
        let _ = task.await;
    }
    result
}

/// Reports on their way to the control-plane link, which keeps the newest while the control plane is away.
const REPORT_QUEUE: usize = 256;

async fn run_batches(
    config: WorkerConfig,
    settings: watch::Receiver<Settings>,
    paused: watch::Receiver<bool>,
    status: watch::Sender<WorkerStatus>,
    reports: Option<mpsc::Sender<BatchReport>>,
    (stop, halt): (watch::Receiver<bool>, Arc<watch::Sender<bool>>),
) -> Result<(), WorkerError> {
    let sink =
        Sink::new(&config.database_url, &config.worker_id)?.with_routes(config.routes.clone());
    if !migrate_with_retry(&sink, stop.clone()).await? {
        tracing::info!("stopped before PostgreSQL was reachable");
        return Ok(());
    }
    // A route whose table does not match its declaration would fail every batch: refuse to start instead.
    crate::tables::check(sink.pool(), config.routes.pipeline()).await?;
    let consumer = crate::consumer::create(&config)?;
    // Names and `^` regexes alike: librdkafka matches the regexes against the topics it knows.
    // The topics the pipeline's routes name are read too: a route for a topic nobody consumes would be dead.
    let mut topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    for topic in config.routes.pipeline().topics() {
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    consumer.subscribe(&topics)?;
    tracing::info!(worker = %config.worker_id, topics = %topics.join(","), group = %config.group, "worker started");

    config
        .metrics
        .start(&config.worker_id, consumer.context().clone());
    let (batch_metrics, batch_metrics_task) = MetricsWriter::spawn(
        sink.pool().clone(),
        &config.worker_id,
        config.metrics.clone(),
        stop.clone(),
    );
    // Not a handle on the finisher: holding one would keep the `batch_metrics` queue open at the end.
    let fatal = Arc::new(std::sync::Mutex::new(None));
    let finisher = Arc::new(Finisher {
        metrics: config.metrics.clone(),
        worker_id: config.worker_id.clone(),
        consumer: consumer.clone(),
        sink,
        stop: stop.clone(),
        reports,
        batch_metrics,
        fatal: fatal.clone(),
        halt,
    });
    let mut collector = Collector::new(consumer, finisher, settings, paused, status, stop);
    collector.run().await;
    tracing::info!(worker = %config.worker_id, batches = collector.batches(), "worker stopped");
    // Every batch is finished now: letting go of the writing side closes the `batch_metrics` queue, and the
    // writer drains it while the consumer closes. Closing a consumer blocks (it leaves the group and waits
    // for the broker): not on a runtime thread.
    let consumer = collector.into_consumer();
    let (_closed, drained) = tokio::join!(
        tokio::task::spawn_blocking(move || drop(consumer)),
        batch_metrics_task
    );
    if let Err(e) = drained {
        tracing::warn!(error = %e, "the batch_metrics writer failed; its last rows may be missing");
    }
    let fatal = fatal
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match fatal {
        Some(why) => Err(WorkerError::Refused(why)),
        None => Ok(()),
    }
}

/// Applies the schema, waiting for PostgreSQL while it is unreachable; `Ok(false)` if told to stop first.
async fn migrate_with_retry(
    sink: &Sink,
    mut stop: watch::Receiver<bool>,
) -> Result<bool, SinkError> {
    let mut retry = Retry::new(
        "reach PostgreSQL to apply the schema",
        Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
    );
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let outcome = retry
        .run(stopped, || async {
            match sink.migrate().await {
                Ok(()) => Attempt::Done(()),
                Err(e) if e.heals() => Attempt::Retry(e),
                Err(e) => Attempt::Fatal(e),
            }
        })
        .await;
    match outcome {
        Outcome::Done(()) => Ok(true),
        Outcome::Stopped => Ok(false),
        Outcome::Fatal(e) => Err(e),
    }
}
