//! The batch loop: collect a batch until a limit closes it, write it, commit its offsets, report it.

use crate::attach::{self, WorkerStatus};
use crate::batch::{Batch, FlushReason};
use crate::config::WorkerConfig;
use crate::metrics::BatchReport;
use crate::ownership::OwnershipContext;
use crate::settings::{BatchSettings, SettingsHandle};
use crate::sink::{Sink, SinkError, WriteOutcome, is_data_error, is_unavailable};
use crate::transform::{Transformed, transform};
use pacer_backoff::Backoff;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
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
}

type Kafka = Arc<StreamConsumer<OwnershipContext>>;

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
    let (stop_tx, stop) = watch::channel(false);
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
        stop,
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
    settings: watch::Receiver<BatchSettings>,
    paused: watch::Receiver<bool>,
    status: watch::Sender<WorkerStatus>,
    reports: Option<mpsc::Sender<BatchReport>>,
    stop: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let sink = Sink::new(&config.database_url, &config.worker_id)?;
    if !migrate_with_retry(&sink, stop.clone()).await? {
        tracing::info!("stopped before PostgreSQL was reachable");
        return Ok(());
    }
    let consumer: Kafka = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("client.id", &config.worker_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                config.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (config.session_timeout.as_millis() / 3)
                    .max(100)
                    .to_string(),
            )
            .set("fetch.wait.max.ms", "100")
            .set("statistics.interval.ms", "1000")
            .create_with_context(OwnershipContext::default())?,
    );
    consumer.subscribe(&[&config.topic])?;
    tracing::info!(worker = %config.worker_id, topic = %config.topic, group = %config.group, "worker started");

    config
        .metrics
        .start(&config.worker_id, consumer.context().clone());
    let finisher = Arc::new(Finisher {
        metrics: config.metrics.clone(),
        worker_id: config.worker_id.clone(),
        topic: config.topic.clone(),
        consumer: consumer.clone(),
        sink,
        stop: stop.clone(),
        reports,
    });
    let mut worker = Worker {
        consumer,
        finisher,
        settings,
        paused,
        status,
        carry: VecDeque::new(),
        stop,
        batch_no: 0,
    };
    worker.run().await;
    tracing::info!(worker = %config.worker_id, batches = worker.batch_no, "worker stopped");
    // Closing a consumer blocks (it leaves the group and waits for the broker): not on a runtime thread.
    let Worker {
        consumer, finisher, ..
    } = worker;
    drop(finisher);
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    Ok(())
}

/// Applies the schema, waiting for PostgreSQL while it is unreachable; `Ok(false)` if told to stop first.
async fn migrate_with_retry(
    sink: &Sink,
    mut stop: watch::Receiver<bool>,
) -> Result<bool, SinkError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let result = tokio::select! {
            result = sink.migrate() => result,
            _ = stop.wait_for(|stop| *stop) => return Ok(false),
        };
        match result {
            Ok(()) => return Ok(true),
            Err(
                SinkError::Database(e)
                | SinkError::Migrate(sqlx::migrate::MigrateError::Execute(e)),
            ) if is_unavailable(&e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, ?delay, "cannot reach PostgreSQL to apply the schema; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|stop| *stop) => return Ok(false),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The collecting side: reads records into batches and transforms them.
struct Worker {
    consumer: Kafka,
    finisher: Arc<Finisher>,
    settings: watch::Receiver<BatchSettings>,
    /// Set by the control plane: no new batches while true.
    paused: watch::Receiver<bool>,
    /// What the control plane is told between batches.
    status: watch::Sender<WorkerStatus>,
    /// Records that arrived while paused (from partitions assigned during the pause), for the next batch.
    carry: VecDeque<(OwnedMessage, u64)>,
    stop: watch::Receiver<bool>,
    batch_no: u64,
}

/// Whether a batch reached PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Yes,
    /// The worker was told to stop while the batch was still failing to write; it is not committed.
    No,
}

/// Waits for the batch in flight, if any; false if it was not written (or its task failed), in which case
/// nothing after it may be written or committed.
async fn previous_written(in_flight: Option<tokio::task::JoinHandle<Written>>) -> bool {
    match in_flight {
        None => true,
        Some(task) => match task.await {
            Ok(Written::Yes) => true,
            Ok(Written::No) => false,
            Err(e) => {
                tracing::error!(error = %e, "the task writing a batch failed; stopping without committing more");
                false
            }
        },
    }
}

/// A batch that is collected and transformed, ready to be written.
struct Ready {
    batch_no: u64,
    batch: Batch,
    transformed: Transformed,
    reason: FlushReason,
    started_at: OffsetDateTime,
    poll: Duration,
    transform: Duration,
}

impl Worker {
    /// Collects and transforms batch N+1 while batch N is written and committed: one batch in flight, so
    /// the Kafka fetch and the transform overlap PostgreSQL's work, while writes and offset commits stay in
    /// batch order.
    async fn run(&mut self) {
        let mut in_flight: Option<tokio::task::JoinHandle<Written>> = None;
        loop {
            let paused = *self.paused.borrow();
            if paused && !self.hold().await {
                // Told to stop while paused: what arrived during the pause is left uncommitted.
                previous_written(in_flight.take()).await;
                return;
            }
            let settings = *self.settings.borrow_and_update();
            let started_at = OffsetDateTime::now_utc();
            let started = Instant::now();
            let (batch, reason) = self.collect(settings).await;
            let poll = started.elapsed();
            if !batch.is_empty() {
                self.batch_no += 1;
                let t0 = Instant::now();
                let transformed = transform(&batch, OffsetDateTime::now_utc());
                let ready = Ready {
                    batch_no: self.batch_no,
                    batch,
                    transformed,
                    reason,
                    started_at,
                    poll,
                    transform: t0.elapsed(),
                };
                // Batch N+1 may be written (and its offsets committed) only once batch N is written: a later
                // commit would move the offsets past N's records.
                if !previous_written(in_flight.take()).await {
                    return;
                }
                in_flight = Some(tokio::spawn(self.finisher.clone().finish(ready)));
            }
            if reason == FlushReason::Drain {
                previous_written(in_flight.take()).await;
                return;
            }
        }
    }

    /// Waits while paused: fetching is paused on every owned partition, but the consumer is still polled so
    /// that the group's rebalances go on. False if told to stop meanwhile.
    async fn hold(&mut self) -> bool {
        tracing::info!("worker paused: no new batches until resumed");
        self.set_fetching(false);
        self.publish_status();
        let mut stop = self.stop.clone();
        let mut paused = self.paused.clone();
        // Partitions and lag still change while paused (rebalances): keep the control plane's view fresh.
        let mut refresh = tokio::time::interval(Duration::from_secs(1));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = refresh.tick() => self.publish_status(),
                _ = async { let _ = stop.wait_for(|stop| *stop).await; } => return false,
                changed = paused.changed() => {
                    if changed.is_err() || !*paused.borrow_and_update() {
                        self.paused.borrow_and_update();
                        self.set_fetching(true);
                        tracing::info!("worker resumed");
                        self.publish_status();
                        return true;
                    }
                }
                received = self.consumer.recv() => match received {
                    Ok(message) => {
                        // A partition assigned during the pause starts fetching; keep what it sent, pause it too.
                        let epoch = self.consumer.context().epoch(message.topic(), message.partition()).unwrap_or(0);
                        self.carry.push_back((message.detach(), epoch));
                        self.set_fetching(false);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Kafka consumer error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    /// Pauses or resumes fetching on the partitions owned now.
    fn set_fetching(&self, on: bool) {
        let result = self.consumer.assignment().and_then(|assignment| {
            if on {
                self.consumer.resume(&assignment)
            } else {
                self.consumer.pause(&assignment)
            }
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, on, "cannot change fetching of the assigned partitions");
        }
    }

    /// Tells the control-plane link what the worker owns and how far behind it is.
    fn publish_status(&self) {
        let context = self.consumer.context();
        self.status.send_replace(WorkerStatus {
            partitions: context.partitions(),
            lag: context.lag(),
            paused: *self.paused.borrow(),
        });
    }

    /// Reads records until the interval elapses, a size limit is reached or the worker is told to stop.
    async fn collect(&mut self, settings: BatchSettings) -> (Batch, FlushReason) {
        self.publish_status();
        let mut batch = Batch::new(settings);
        while let Some((message, epoch)) = self.carry.pop_front() {
            if let Some(reason) = batch.push(message, epoch) {
                return (batch, reason);
            }
        }
        // A zero interval would spin; a millisecond is the shortest batch.
        let deadline =
            tokio::time::Instant::now() + settings.interval.max(Duration::from_millis(1));
        if *self.stop.borrow() {
            return (batch, FlushReason::Drain);
        }
        loop {
            tokio::select! {
                _ = self.stop.changed() => return (batch, FlushReason::Drain),
                _ = tokio::time::sleep_until(deadline) => return (batch, FlushReason::Interval),
                received = self.consumer.recv() => match received {
                    Ok(message) => {
                        let epoch = self.consumer.context().epoch(message.topic(), message.partition()).unwrap_or(0);
                        if let Some(reason) = batch.push(message.detach(), epoch) {
                            return (batch, reason);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Kafka consumer error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }
}

/// The writing side: writes a batch, commits its offsets, reports it.
struct Finisher {
    metrics: crate::WorkerMetrics,
    worker_id: String,
    topic: String,
    consumer: Kafka,
    sink: Sink,
    stop: watch::Receiver<bool>,
    reports: Option<mpsc::Sender<BatchReport>>,
}

impl Finisher {
    async fn finish(self: Arc<Self>, ready: Ready) -> Written {
        let Ready {
            batch_no,
            batch,
            transformed,
            reason,
            started_at,
            poll,
            transform,
        } = ready;
        let t1 = Instant::now();
        let Some((outcome, attempts)) = self.write_with_retry(&batch, &transformed).await else {
            tracing::warn!(
                batch = batch_no,
                "stopping before the batch was written; it is not committed and will be re-delivered"
            );
            return Written::No;
        };
        let write_time = t1.elapsed();

        let t2 = Instant::now();
        self.commit(&batch).await;
        let commit_time = t2.elapsed();

        let (e2e_p50, e2e_max) =
            transformed
                .latency_p50_max()
                .map_or((None, None), |(p50, max)| {
                    (
                        Some(p50.try_into().unwrap_or_default()),
                        Some(max.try_into().unwrap_or_default()),
                    )
                });
        let report = BatchReport {
            worker_id: self.worker_id.clone(),
            batch_no,
            started_at,
            finished_at: OffsetDateTime::now_utc(),
            records: batch.len(),
            rows_written: outcome.written,
            duplicates: outcome.duplicates,
            // Records that did not become (or were not already) rows: validation's and PostgreSQL's dead letters.
            invalid: batch
                .len()
                .saturating_sub((outcome.written + outcome.duplicates) as usize),
            bytes: batch.bytes(),
            flush_reason: reason,
            settings: batch.settings(),
            poll,
            transform,
            write: write_time,
            commit: commit_time,
            write_attempts: attempts,
            lag: self.lag(),
            partition_lag: self.consumer.context().lag(),
            e2e_p50,
            e2e_max,
        };
        self.metrics.batch(
            &report,
            &transformed.latencies,
            report.finished_at - transformed.processed_at,
        );
        tracing::debug!(batch = report.batch_no, records = report.records, written = report.rows_written, reason = %reason, "batch written");
        if let Err(e) = report.insert(self.sink.pool()).await {
            tracing::warn!(error = %e, batch = report.batch_no, "could not record batch metrics");
        }
        if let Some(reports) = &self.reports
            && reports.try_send(report).is_err()
        {
            tracing::debug!(
                batch = batch_no,
                "the control plane is away and its report queue is full; report dropped"
            );
        }
        Written::Yes
    }

    /// Writes the batch, retrying with capped back-off while PostgreSQL is failing. `None` if told to stop first.
    ///
    /// A batch that PostgreSQL refuses for its data is written again row by row, and the refused rows become
    /// dead letters; transient failures (connection, shutdown) are retried as they are.
    async fn write_with_retry(
        &self,
        batch: &Batch,
        transformed: &Transformed,
    ) -> Option<(WriteOutcome, u32)> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut attempts = 0;
        let mut isolate = false;
        let mut stop = self.stop.clone();
        loop {
            attempts += 1;
            let result = if isolate {
                self.sink.write_isolating(batch, transformed).await
            } else {
                self.sink.write(transformed).await
            };
            let error = match result {
                Ok(outcome) => return Some((outcome, attempts)),
                Err(e) => e,
            };
            if is_data_error(&error) && !isolate {
                tracing::warn!(error = %error, "PostgreSQL refused the batch; writing it row by row to find the bad rows");
                isolate = true;
                continue;
            }
            let delay = backoff.next_delay();
            tracing::warn!(error = %error, attempt = attempts, ?delay, "writing the batch failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|stop| *stop) => return None,
            }
        }
    }

    /// Commits the next offset of every partition in the batch that this worker still owns under the same
    /// assignment; a partition lost (or lost and regained) meanwhile is left to its new owner.
    async fn commit(&self, batch: &Batch) {
        let offsets = offsets_to_commit(batch, self.consumer.context(), &self.topic);
        if offsets.count() == 0 {
            return;
        }
        let consumer = self.consumer.clone();
        let committed =
            tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync)).await;
        match committed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "offset commit failed; the batch will be re-delivered and absorbed")
            }
            Err(e) => tracing::warn!(error = %e, "offset commit task failed"),
        }
    }

    /// Records behind the end of the owned partitions, from librdkafka's statistics of the last second.
    fn lag(&self) -> Option<i64> {
        let lag = self.consumer.context().lag();
        (!lag.is_empty()).then(|| lag.iter().map(|l| l.lag).sum())
    }
}

/// The offsets a batch may commit: the next offset of each of its partitions that is still owned under the
/// assignment epoch the batch read it in.
pub fn offsets_to_commit(
    batch: &Batch,
    ownership: &OwnershipContext,
    topic: &str,
) -> TopicPartitionList {
    let mut offsets = TopicPartitionList::new();
    for (&partition, mark) in batch.marks() {
        if ownership.epoch(topic, partition) != Some(mark.epoch) {
            tracing::info!(
                partition,
                "partition changed owner during the batch; not committing it"
            );
            continue;
        }
        if let Err(e) =
            offsets.add_partition_offset(topic, partition, Offset::Offset(mark.last_offset + 1))
        {
            tracing::warn!(error = %e, partition, "cannot build the offset commit");
        }
    }
    offsets
}
