//! The collecting side of the batch loop: read records until a limit closes the batch, transform it, and hand
//! it to the writing side ([`crate::finish`]) with one batch in flight; hold while the control plane has
//! paused the worker.

use crate::attach::WorkerStatus;
use crate::batch::Batch;
use crate::consumer::Kafka;
use crate::finish::{Finisher, Ready, Written};
use crate::stages::{FetchStages, StageClock};
use crate::transform::transform;
use pacer_batch::{Flush, Settings};
use rdkafka::Message;
use rdkafka::consumer::Consumer;
use rdkafka::message::OwnedMessage;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_stream::{Stream, StreamExt as _};

/// The collecting side: reads records into batches and transforms them.
pub(crate) struct Collector {
    consumer: Kafka,
    finisher: Arc<Finisher>,
    settings: watch::Receiver<Settings>,
    /// Set by the control plane: no new batches while true.
    paused: watch::Receiver<bool>,
    /// What the control plane is told between batches.
    status: watch::Sender<WorkerStatus>,
    /// Records that arrived while paused (from partitions assigned during the pause), for the next batch,
    /// with when they were fetched.
    carry: VecDeque<(OwnedMessage, u64, OffsetDateTime)>,
    stop: watch::Receiver<bool>,
    batch_no: u64,
}

impl Collector {
    pub(crate) fn new(
        consumer: Kafka,
        finisher: Arc<Finisher>,
        settings: watch::Receiver<Settings>,
        paused: watch::Receiver<bool>,
        status: watch::Sender<WorkerStatus>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            consumer,
            finisher,
            settings,
            paused,
            status,
            carry: VecDeque::new(),
            stop,
            batch_no: 0,
        }
    }

    /// Batches collected so far.
    pub(crate) fn batches(&self) -> u64 {
        self.batch_no
    }

    /// The consumer, once collecting is over; the writing side is let go (with it the last handle to the
    /// `batch_metrics` writer, which then drains).
    pub(crate) fn into_consumer(self) -> Kafka {
        self.consumer
    }

    /// Collects and transforms batch N+1 while batch N is written and committed: one batch in flight, so
    /// the Kafka fetch and the transform overlap PostgreSQL's work, while writes and offset commits stay in
    /// batch order.
    pub(crate) async fn run(&mut self) {
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
            let (batch, reason, stages) = self.collect(settings).await;
            let poll = started.elapsed();
            if !batch.is_empty() {
                self.batch_no += 1;
                let t0 = Instant::now();
                let transformed = transform(
                    &batch,
                    self.finisher.sink.routes(),
                    OffsetDateTime::now_utc(),
                );
                let ready = Ready {
                    batch_no: self.batch_no,
                    batch,
                    transformed,
                    reason,
                    started_at,
                    poll,
                    transform: t0.elapsed(),
                    stages,
                };
                // Batch N+1 may be written (and its offsets committed) only once batch N is written: a later
                // commit would move the offsets past N's records.
                if !previous_written(in_flight.take()).await {
                    return;
                }
                in_flight = Some(tokio::spawn(self.finisher.clone().finish(ready)));
            }
            if reason == Flush::Drain {
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
                        self.carry.push_back((message.detach(), epoch, OffsetDateTime::now_utc()));
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

    /// Reads records until the interval elapses, a size limit is reached or the worker is told to stop; with
    /// the batch, where its records waited until it closed.
    async fn collect(&mut self, settings: Settings) -> (Batch, Flush, Option<FetchStages>) {
        let (batch, reason, clock) = self.fill(settings).await;
        (batch, reason, clock.close(OffsetDateTime::now_utc()))
    }

    async fn fill(&mut self, settings: Settings) -> (Batch, Flush, StageClock) {
        self.publish_status();
        let mut batch = Batch::new(settings);
        let mut clock = StageClock::default();
        while let Some((message, epoch, fetched_at)) = self.carry.pop_front() {
            clock.fetched(&message, fetched_at);
            if let Some(reason) = batch.push(message, epoch) {
                return (batch, reason, clock);
            }
        }
        // A zero interval would spin; a millisecond is the shortest batch.
        let deadline =
            tokio::time::Instant::now() + settings.interval.max(Duration::from_millis(1));
        if *self.stop.borrow() {
            return (batch, Flush::Drain, clock);
        }
        // One stream and one timer for the whole batch, not one per record.
        let mut stream = self.consumer.stream();
        let interval = tokio::time::sleep_until(deadline);
        tokio::pin!(interval);
        loop {
            tokio::select! {
                _ = self.stop.changed() => return (batch, Flush::Drain, clock),
                () = &mut interval => return (batch, Flush::Interval, clock),
                Some(received) = stream.next() => match received {
                    Ok(message) => {
                        // This record and up to TAKEN_TOGETHER - 1 already waiting behind it arrived together;
                        // then the loop turns again, so that the interval and the stop are seen in time.
                        let fetched_at = OffsetDateTime::now_utc();
                        let mut next = Some(message);
                        let mut taken = 0;
                        while let Some(message) = next {
                            taken += 1;
                            clock.fetched(&message, fetched_at);
                            let context = self.consumer.context();
                            let epoch = || context.epoch(message.topic(), message.partition()).unwrap_or(0);
                            if let Some(reason) = batch.push_with(message.detach(), epoch) {
                                return (batch, reason, clock);
                            }
                            if taken == TAKEN_TOGETHER {
                                break;
                            }
                            next = match ready(&mut stream) {
                                Some(Ok(message)) => Some(message),
                                Some(Err(e)) => {
                                    tracing::warn!(error = %e, "Kafka consumer error");
                                    None
                                }
                                None => None,
                            };
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

/// The most records taken from the stream in one turn of the batch loop, under one fetch time.
const TAKEN_TOGETHER: usize = 64;

/// The stream's next item if it is there now, without waiting.
fn ready<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    match Pin::new(stream).poll_next(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(item) => item,
        Poll::Pending => None,
    }
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
