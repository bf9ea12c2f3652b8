//! The worker's link to the control plane: one `Attach` stream over which it says hello, sends heartbeats
//! and a report per batch, and receives settings, pause and resume. When the control plane is away the
//! worker keeps its last settings and reconnects with capped, jittered back-off; the data path never waits
//! on this link.

use crate::config::{ControlLink, WorkerConfig};
use crate::ownership::PartitionLag;
use crate::report::BatchReport;
use crate::settings::SettingsHandle;
use pacer_backoff::{Attempt, Backoff, Retry};
use pacer_batch::proto::{duration_pb, flush_pb, lag_pb, settings, settings_pb, timestamp_pb};
use pacer_proto::v1 as pb;
use pb::attach_response::Message as Incoming;
use std::collections::{BTreeSet, VecDeque};
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// What the batch loop tells the link between batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    /// The (topic, partition)s owned now.
    pub partitions: Vec<(String, i32)>,
    /// Records behind per (topic, partition).
    pub lag: Vec<PartitionLag>,
    /// Whether the worker is paused.
    pub paused: bool,
}

/// Who this worker is, for the hello.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    worker_id: String,
    group: String,
    /// The subscription, entries joined with `,`.
    topic: String,
}

impl Identity {
    pub(crate) fn of(config: &WorkerConfig) -> Self {
        Self {
            worker_id: config.worker_id.clone(),
            group: config.group.clone(),
            topic: config.topics.join(","),
        }
    }
}

/// Why a session with the control plane ended.
enum Ended {
    /// The worker is stopping.
    Stop,
    /// The stream closed or failed; reconnect.
    Lost(String),
}

/// Keeps the worker attached until `stop`.
pub(crate) async fn run(
    link: ControlLink,
    identity: Identity,
    settings: SettingsHandle,
    paused: watch::Sender<bool>,
    status: watch::Receiver<WorkerStatus>,
    reports: mpsc::Receiver<BatchReport>,
    stop: watch::Receiver<bool>,
) {
    // Only a session that lasted starts the back-off afresh: one that is accepted and then closed at once
    // (a control plane in trouble, two workers with one id) must not turn into a tight reconnect loop.
    let mut retry = Retry::new(
        format!(
            "stay attached to the control plane at {} (keeping the last settings)",
            link.url
        ),
        Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
    )
    .stable_after(STABLE_SESSION);
    let session = Session {
        link: &link,
        identity: &identity,
        settings: &settings,
        paused: &paused,
        status: &status,
    };
    // The reports and those kept while the control plane is away: a session sends them, and the wait
    // between sessions keeps taking them in. Never used by both at once; a tokio lock keeps the futures Send.
    let queue = tokio::sync::Mutex::new((reports, VecDeque::new()));
    let (session, queue) = (&session, &queue);
    let mut stopped_rx = stop.clone();
    let stopped = async move { stopped(&mut stopped_rx).await };
    let attempt = || {
        let mut stop = stop.clone();
        async move {
            let mut queue = queue.lock().await;
            let (reports, pending) = &mut *queue;
            match session.run(reports, pending, &mut stop).await {
                Ok(Ended::Stop) => Attempt::Done(()),
                Ok(Ended::Lost(reason)) | Err(reason) => Attempt::Retry(reason),
            }
        }
    };
    let idle = |_, _: &String| async move {
        let mut queue = queue.lock().await;
        let (reports, pending) = &mut *queue;
        match reports.recv().await {
            Some(report) => {
                keep(pending, report);
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(()),
        }
    };
    let _ = retry.run_idle(stopped, attempt, idle).await;
}

/// A session at least this long resets the reconnect back-off.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// Reports kept while the control plane is away; the oldest go first.
const PENDING_REPORTS: usize = 256;

fn keep(pending: &mut VecDeque<BatchReport>, report: BatchReport) {
    if pending.len() == PENDING_REPORTS {
        pending.pop_front();
    }
    pending.push_back(report);
}

struct Session<'a> {
    link: &'a ControlLink,
    identity: &'a Identity,
    settings: &'a SettingsHandle,
    paused: &'a watch::Sender<bool>,
    status: &'a watch::Receiver<WorkerStatus>,
}

impl Session<'_> {
    async fn channel(&self) -> Result<Channel, String> {
        let mut endpoint = Endpoint::from_shared(self.link.url.clone())
            .map_err(|e| format!("invalid control plane URL: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10));
        if let Some(ca) = &self.link.ca {
            let pem =
                std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| format!("TLS: {e}"))?;
        }
        endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot connect: {e}"))
    }

    async fn run(
        &self,
        reports: &mut mpsc::Receiver<BatchReport>,
        pending: &mut VecDeque<BatchReport>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Ended, String> {
        let channel = tokio::select! {
            channel = self.channel() => channel?,
            _ = stopped(stop) => return Ok(Ended::Stop),
        };
        let (out, rx) = mpsc::channel::<pb::AttachRequest>(64);
        let status = self.status.borrow().clone();
        let hello = pb::Hello {
            worker_id: self.identity.worker_id.clone(),
            host: host(),
            group: self.identity.group.clone(),
            topic: self.identity.topic.clone(),
            partitions: partitions_pb(&status.partitions),
            settings: Some(settings_pb(self.settings.get())),
            paused: *self.paused.borrow(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let _ = out.try_send(message(pb::attach_request::Message::Hello(hello)));
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        if let Some(token) = &self.link.token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| "the worker token is not a valid header value".to_owned())?;
            request.metadata_mut().insert("authorization", value);
        }
        let mut client = pb::worker_control_client::WorkerControlClient::new(channel);
        let response = tokio::select! {
            response = client.attach(request) => response,
            _ = stopped(stop) => return Ok(Ended::Stop),
        };
        let mut inbound = match response {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                tracing::error!(
                    message = status.message(),
                    "the control plane refused this worker's token"
                );
                return Err(format!("refused: {}", status.message()));
            }
            Err(status) => return Err(format!("attach failed: {status}")),
        };
        // What was reported while the control plane was away goes first, oldest first.
        while let Some(report) = pending.pop_front() {
            let message = message(pb::attach_request::Message::Report(report_pb(&report)));
            if out.send(message).await.is_err() {
                return Ok(Ended::Lost("the stream closed".into()));
            }
        }
        let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped(stop) => return Ok(Ended::Stop),
                report = reports.recv() => {
                    let Some(report) = report else { return Ok(Ended::Stop) };
                    let message = message(pb::attach_request::Message::Report(report_pb(&report)));
                    if out.send(message).await.is_err() {
                        return Ok(Ended::Lost("the stream closed".into()));
                    }
                }
                _ = heartbeat.tick() => {
                    let status = self.status.borrow().clone();
                    let beat = pb::Heartbeat {
                        partitions: partitions_pb(&status.partitions),
                        lag: lag_pb(&status.lag),
                        paused: status.paused,
                    };
                    if out.send(message(pb::attach_request::Message::Heartbeat(beat))).await.is_err() {
                        return Ok(Ended::Lost("the stream closed".into()));
                    }
                }
                incoming = inbound.message() => match incoming {
                    Ok(Some(pb::AttachResponse { message: Some(incoming) })) => {
                        self.apply(incoming, &mut heartbeat);
                    }
                    Ok(Some(_)) => tracing::warn!("ignoring an empty message from the control plane"),
                    Ok(None) => return Ok(Ended::Lost("the control plane closed the stream".into())),
                    Err(status) => return Ok(Ended::Lost(format!("stream failed: {status}"))),
                },
            }
        }
    }

    fn apply(&self, incoming: Incoming, heartbeat: &mut tokio::time::Interval) {
        match incoming {
            Incoming::Welcome(welcome) => {
                let every = welcome
                    .heartbeat_interval
                    .and_then(|d| Duration::try_from(d).ok())
                    .filter(|d| *d >= Duration::from_millis(100))
                    .unwrap_or(Duration::from_secs(1));
                *heartbeat = tokio::time::interval(every);
                heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tracing::info!(heartbeat = ?every, "attached to the control plane");
            }
            Incoming::Settings(update) => match settings("settings", update.settings).ok() {
                Some(new) => {
                    let old = self.settings.get();
                    self.settings.set(new);
                    tracing::info!(
                        interval = ?new.interval, max_rows = new.max_rows, max_bytes = new.max_bytes,
                        old_interval = ?old.interval, policy = %update.policy, reason = %update.reason,
                        "settings applied from the control plane"
                    );
                }
                None => {
                    tracing::warn!("ignoring settings from the control plane with a zero limit")
                }
            },
            Incoming::Pause(pause) => {
                tracing::info!(reason = %pause.reason, "the control plane paused this worker");
                self.paused.send_replace(true);
            }
            Incoming::Resume(_) => {
                tracing::info!("the control plane resumed this worker");
                self.paused.send_replace(false);
            }
        }
    }
}

/// Completes when the worker is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn message(message: pb::attach_request::Message) -> pb::AttachRequest {
    pb::AttachRequest {
        message: Some(message),
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

// The Hello's and the heartbeat's partition lists are numbers alone, for display; the lag says which topic
// each partition belongs to, and the control plane counts arrivals and backlog per (topic, partition).

/// The owned partition numbers, once each.
fn partitions_pb(partitions: &[(String, i32)]) -> Vec<i32> {
    let numbers: BTreeSet<i32> = partitions.iter().map(|&(_, p)| p).collect();
    numbers.into_iter().collect()
}

fn report_pb(r: &BatchReport) -> pb::BatchReport {
    pb::BatchReport {
        batch_no: r.batch_no,
        started_at: Some(timestamp_pb(r.started_at)),
        finished_at: Some(timestamp_pb(r.finished_at)),
        records: r.records as u64,
        rows_written: r.rows_written,
        duplicates: r.duplicates,
        invalid: r.invalid as u64,
        bytes: r.bytes as u64,
        flush_reason: flush_pb(r.flush_reason).into(),
        settings: Some(settings_pb(r.settings)),
        poll: Some(duration_pb(r.poll)),
        transform: Some(duration_pb(r.transform)),
        write: Some(duration_pb(r.write)),
        commit: Some(duration_pb(r.commit)),
        write_attempts: r.write_attempts,
        lag: lag_pb(&r.partition_lag),
        e2e_p50: r.e2e_p50.map(duration_pb),
        e2e_max: r.e2e_max.map(duration_pb),
        receipt_to_commit: r
            .receipt_to_commit
            .map(|[p50, p99, max]| pb::ReceiptToCommit {
                p50: Some(duration_pb(p50)),
                p99: Some(duration_pb(p99)),
                max: Some(duration_pb(max)),
            }),
        routes: r
            .routes
            .iter()
            .map(|c| pb::RouteCount {
                route: c.route.clone(),
                rows: c.rows,
                dead_letters: c.dead_letters,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_topics_send_each_partition_number_once_and_the_lag_with_its_topic() {
        let owned = [
            ("a".to_owned(), 1),
            ("a".to_owned(), 0),
            ("b".to_owned(), 0),
        ];
        assert_eq!(partitions_pb(&owned), [0, 1]);
        let lag = |topic: &str, partition, lag, end| PartitionLag {
            topic: topic.into(),
            partition,
            lag,
            end,
        };
        let wire = lag_pb(&[lag("a", 0, 5, Some(100)), lag("b", 0, 2, None)]);
        let sent: Vec<(&str, i32, i64, i64)> = wire
            .iter()
            .map(|l| (l.topic.as_str(), l.partition, l.lag, l.end_offset))
            .collect();
        assert_eq!(sent, [("a", 0, 5, 100), ("b", 0, 2, -1)]);
    }
}
