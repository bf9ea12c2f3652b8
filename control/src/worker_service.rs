//! `WorkerControl.Attach`: turns a worker's stream into messages for the state task, and the state task's
//! pushes into the stream back. Thin: it checks the token and the hello, and hands everything over.

use crate::auth::Token;
use crate::closing::{BoxStream, Closing};
use crate::domain::{Hello, Report};
use crate::plane::{Plane, Push};
use pacer_batch::proto::duration_pb;
use pacer_proto::v1 as pb;
use pb::attach_request::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// How long a new stream may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The worker-facing service.
#[derive(Debug)]
pub struct WorkerService {
    plane: Plane,
    token: Token,
    heartbeat: Duration,
    next_connection: AtomicU64,
    closing: Closing,
}

impl WorkerService {
    /// A service handing streams to `plane`; workers are told to send a heartbeat every `heartbeat`. Their
    /// streams end when `closing` says the control plane stops.
    pub fn new(plane: Plane, token: Token, heartbeat: Duration, closing: Closing) -> Self {
        Self {
            plane,
            token,
            heartbeat,
            next_connection: AtomicU64::new(1),
            closing,
        }
    }
}

type AttachStream = BoxStream<Result<pb::AttachResponse, Status>>;

#[tonic::async_trait]
impl pb::worker_control_server::WorkerControl for WorkerService {
    type AttachStream = AttachStream;

    async fn attach(
        &self,
        request: Request<Streaming<pb::AttachRequest>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        self.token.check(request.metadata(), "attaching a worker")?;
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no hello within 10 s"))??;
        let hello: Hello = match first.and_then(|m| m.message) {
            Some(Message::Hello(hello)) => hello.try_into()?,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message of an attach stream must be a hello",
                ));
            }
        };
        let worker = hello.worker_id.clone();
        let connection = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let (outbox, mut pushes) = mpsc::channel::<Push>(64);
        let (out, stream) = mpsc::channel::<Result<pb::AttachResponse, Status>>(64);
        let welcome = pb::AttachResponse {
            message: Some(pb::attach_response::Message::Welcome(pb::Welcome {
                heartbeat_interval: Some(duration_pb(self.heartbeat)),
            })),
        };
        // The channel is empty and fresh: this cannot fail.
        let _ = out.try_send(Ok(welcome));
        self.plane.attach(hello, connection, outbox).await;
        let plane = self.plane.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    push = pushes.recv() => match push {
                        Some(push) => {
                            if out.send(Ok(push.into())).await.is_err() {
                                break;
                            }
                        }
                        // The state task let go of this stream: the worker was marked lost or replaced.
                        None => {
                            let _ = out
                                .send(Err(Status::unavailable(
                                    "the control plane closed this stream: the worker missed its heartbeats, or a newer stream with the same worker id replaced it",
                                )))
                                .await;
                            break;
                        }
                    },
                    message = inbound.message() => match message {
                        Ok(Some(pb::AttachRequest { message: Some(message) })) => match message {
                            Message::Heartbeat(heartbeat) => {
                                plane.heartbeat(worker.clone(), connection, heartbeat.into()).await;
                            }
                            Message::Report(report) => match Report::try_from(report) {
                                Ok(report) => plane.report(worker.clone(), connection, report).await,
                                Err(e) => tracing::warn!(worker = %worker, error = %e, "ignoring a report that does not make sense"),
                            },
                            Message::Hello(_) => {
                                tracing::warn!(worker = %worker, "ignoring a second hello on the same stream");
                            }
                        },
                        Ok(Some(_)) => tracing::warn!(worker = %worker, "ignoring an empty message"),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(worker = %worker, error = %e, "worker stream failed");
                            break;
                        }
                    },
                }
            }
            plane.detach(worker, connection).await;
        });
        Ok(Response::new(
            self.closing.bound(ReceiverStream::new(stream)),
        ))
    }
}
