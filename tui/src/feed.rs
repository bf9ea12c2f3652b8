//! The snapshot stream, kept open: on any failure it reports the disconnection and tries again after a
//! capped, jittered back-off, so the console never needs restarting when the control plane does.

use crate::client::{Client, ControlTarget};
use pacer_backoff::Backoff;
use pacer_proto::v1 as pb;
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
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    loop {
        let (received, error) = session(&target, period, &tx).await;
        if tx.is_closed() {
            return;
        }
        if received {
            backoff.reset();
        }
        let retry_in = backoff.next_delay();
        tracing::info!(%error, ?retry_in, "control plane stream ended; retrying");
        if tx
            .send(Feed::Disconnected { error, retry_in })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
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
