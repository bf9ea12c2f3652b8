//! The snapshot stream, kept open: on any failure it reports the disconnection and tries again after a
//! capped, jittered back-off, so the console never needs restarting when the control plane does.

use crate::client::{Client, ControlTarget};
use pacer_backoff::{Attempt, Backoff, Outcome, Retry};
use pacer_proto::v1 as pb;
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the stream tells the console.
#[derive(Debug)]
pub enum Feed {
    /// A new snapshot.
    Snapshot(Box<pb::PipelineSnapshot>),
    /// The stream broke or could not open; the next attempt is after `retry_in`.
    Disconnected {
        /// Why, in words.
        error: String,
        /// How long until the next attempt.
        retry_in: Duration,
    },
}

/// Streams snapshots into `tx` every `period` until `tx` is closed.
pub async fn run(target: ControlTarget, period: Duration, tx: mpsc::Sender<Feed>) {
    let mut retry = Retry::new(
        "stream from the control plane",
        Backoff::new(Duration::from_millis(500), Duration::from_secs(10)),
    );
    let closed = tx.clone();
    let (target, tx) = (&target, &tx);
    let attempt = move || async move {
        match session(target, period, tx).await {
            // A stream that carried snapshots starts the back-off afresh.
            (true, error) => Attempt::Lost(error),
            (false, error) => Attempt::Retry(error),
        }
    };
    // Tells the console why, and when the next attempt is, then waits out the delay.
    let idle = move |retry_in, error: &String| {
        let error = error.clone();
        async move {
            if tx
                .send(Feed::Disconnected { error, retry_in })
                .await
                .is_err()
            {
                return ControlFlow::Break(());
            }
            std::future::pending().await
        }
    };
    let _: Outcome<(), String> = retry
        .run_idle(async move { closed.closed().await }, attempt, idle)
        .await;
}

/// One connection: whether it carried any snapshot, and why it ended.
async fn session(
    target: &ControlTarget,
    period: Duration,
    tx: &mpsc::Sender<Feed>,
) -> (bool, String) {
    let mut client = match Client::connect(target).await {
        Ok(client) => client,
        Err(e) => return (false, e.to_string()),
    };
    let mut stream = match client.watch(period).await {
        Ok(stream) => stream,
        Err(e) => return (false, e.to_string()),
    };
    // A stream that stays open but silent (a control plane stopped, a partition) counts as broken.
    let silence = period * 3 + Duration::from_secs(2);
    let mut received = false;
    loop {
        let Ok(message) = tokio::time::timeout(silence, stream.message()).await else {
            return (received, format!("no snapshot for {}s", silence.as_secs()));
        };
        match message {
            Ok(Some(snapshot)) => {
                received = true;
                if tx.send(Feed::Snapshot(Box::new(snapshot))).await.is_err() {
                    return (received, "the console stopped".into());
                }
            }
            Ok(None) => return (received, "the control plane closed the stream".into()),
            Err(status) => {
                return (
                    received,
                    crate::client::ClientError::Status(status).to_string(),
                );
            }
        }
    }
}
