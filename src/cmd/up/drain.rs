//! Stopping in order: the front (load and ingest) first, then — once they have written what the topic holds —
//! the workers, then the control plane.

use super::spawn::Stack;
use super::{BrokerStorage, UpArgs};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Stops `stack` in order. `ingest_ended`: ingest has already been awaited. `drain_from`: the broker started
/// here, whose topic the workers empty before they stop. `status` (the status lines) ends with the workers.
pub(super) async fn stop(
    stack: &mut Stack,
    ingest_ended: bool,
    drain_from: Option<&str>,
    status: JoinHandle<()>,
    args: &UpArgs,
) {
    // Stop taking events, then let the workers write what the topic holds before they stop, so that a stop
    // leaves nothing behind in the broker started here.
    stack.stops.front.send_replace(true);
    if !ingest_ended {
        let ended = (&mut stack.ingest).await;
        log_end(ended, "ingest failed while stopping", "ingest task failed");
    }
    if let Some(brokers) = drain_from.filter(|_| !stack.workers.is_empty()) {
        tokio::select! {
            _ = drain(brokers, &stack.group, &args.topic, args.broker_storage) => {}
            _ = crate::shutdown::signalled() => tracing::warn!("second stop signal: not waiting for the workers to drain the topic"),
        }
    }
    stack.stops.workers.send_replace(true);
    status.abort();
    while let Some(result) = stack.workers.join_next().await {
        log_end(
            result,
            "a worker failed while stopping",
            "a worker task failed",
        );
    }
    stack.stops.control.send_replace(true);
    let ended = (&mut stack.control).await;
    log_end(
        ended,
        "the control plane failed",
        "the control plane task failed",
    );
}

/// Logs how a task of the stack ended, unless it ended well: `failed` when it returned an error,
/// `task_failed` when the task itself did (a panic, a cancellation).
fn log_end<E: std::fmt::Display>(
    ended: Result<Result<(), E>, tokio::task::JoinError>,
    failed: &str,
    task_failed: &str,
) {
    match ended {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "{failed}"),
        Err(e) => tracing::warn!(error = %e, "{task_failed}"),
    }
}

/// Waits (up to 30 s) until the consumer group has committed everything the topic holds.
async fn drain(brokers: &str, group: &str, topic: &str, storage: BrokerStorage) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match pacer_stack::group_lag(brokers, group, topic).await {
            Ok(0) => {
                tracing::info!("the workers have written everything the topic holds");
                return;
            }
            Ok(lag) if tokio::time::Instant::now() >= deadline => {
                match storage {
                    BrokerStorage::Postgres => tracing::warn!(
                        lag,
                        "stopping with events not yet written; they stay in the broker's storage for the next run"
                    ),
                    BrokerStorage::Memory => tracing::warn!(
                        lag,
                        "stopping with events not yet written; the in-memory broker loses them"
                    ),
                }
                return;
            }
            Ok(lag) => tracing::info!(
                lag,
                "waiting for the workers to write what the topic holds (Ctrl-C again to skip)"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot measure the consumer group's lag; not waiting");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
