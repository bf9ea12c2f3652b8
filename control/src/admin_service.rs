//! The admin service: reads for anyone, changes for holders of the admin token. Each handler validates its
//! request, asks the state task, and turns the answer into a message.

use crate::auth::Token;
use crate::closing::{BoxStream, Closing};
use crate::convert::{
    self, decision_pb, duration_field, override_pb, policy_pb, scope, snapshot_pb, worker_pb,
};
use crate::domain::{Override, PolicyChange};
use crate::plane::{AdminError, Plane};
use crate::store::DecisionStore;
use pacer_policy::PolicyKind;
use pacer_proto::v1 as pb;
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// The longest interval an override may fix.
const MAX_OVERRIDE_INTERVAL: Duration = Duration::from_secs(3600);
/// The longest an override may last (beyond that, set it without a ttl).
const MAX_TTL: Duration = Duration::from_secs(30 * 86_400);
/// `WatchPipeline` streams open at once; more are refused, so that watchers cannot starve the state task.
const MAX_WATCHERS: usize = 64;

/// The admin service.
#[derive(Debug)]
pub struct AdminService {
    plane: Plane,
    store: DecisionStore,
    token: Token,
    watchers: std::sync::Arc<tokio::sync::Semaphore>,
    closing: Closing,
}

impl AdminService {
    /// A service over `plane` and the decision log; snapshot streams end when `closing` says the control
    /// plane stops.
    pub fn new(plane: Plane, store: DecisionStore, token: Token, closing: Closing) -> Self {
        Self {
            plane,
            store,
            token,
            watchers: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_WATCHERS)),
            closing,
        }
    }

    fn authorize<T>(&self, request: &Request<T>, what: &str) -> Result<(), Status> {
        self.token.check(request.metadata(), what)
    }
}

impl From<AdminError> for Status {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::UnknownWorker(_) => Status::not_found(e.to_string()),
            AdminError::InvalidPolicy(_) => Status::invalid_argument(e.to_string()),
            AdminError::Stopping => Status::unavailable(e.to_string()),
        }
    }
}

type SnapshotStream = BoxStream<Result<pb::PipelineSnapshot, Status>>;

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    type WatchPipelineStream = SnapshotStream;

    async fn list_workers(
        &self,
        _request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let snapshot = self.plane.snapshot().await?;
        Ok(Response::new(pb::ListWorkersResponse {
            workers: snapshot.workers.iter().map(worker_pb).collect(),
        }))
    }

    async fn get_pipeline(
        &self,
        _request: Request<pb::GetPipelineRequest>,
    ) -> Result<Response<pb::GetPipelineResponse>, Status> {
        let snapshot = self.plane.snapshot().await?;
        Ok(Response::new(pb::GetPipelineResponse {
            snapshot: Some(snapshot_pb(&snapshot)),
        }))
    }

    async fn watch_pipeline(
        &self,
        request: Request<pb::WatchPipelineRequest>,
    ) -> Result<Response<Self::WatchPipelineStream>, Status> {
        let period = duration_field("period", request.into_inner().period)?
            .unwrap_or(Duration::from_secs(1));
        if period < Duration::from_millis(100) {
            return Err(Status::invalid_argument("period: must be at least 100 ms"));
        }
        let permit = self.watchers.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "{MAX_WATCHERS} WatchPipeline streams are open already; close one or poll GetPipeline"
            ))
        })?;
        let mut snapshots = self.plane.watch().await?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let _permit = permit;
            // The state task publishes one snapshot per tick for every watcher; each watcher only converts
            // and sends the latest at its own period (the first at once). A period shorter than the tick
            // sends the same snapshot again.
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let message = match snapshots.has_changed() {
                    Ok(_) => Ok(snapshot_pb(&snapshots.borrow_and_update())),
                    Err(_) => Err(Status::from(AdminError::Stopping)),
                };
                let last = message.is_err();
                // A watcher that went away ends this task; a slow one only slows its own stream.
                if tx.send(message).await.is_err() || last {
                    return;
                }
            }
        });
        Ok(Response::new(self.closing.bound(ReceiverStream::new(rx))))
    }

    async fn list_decisions(
        &self,
        request: Request<pb::ListDecisionsRequest>,
    ) -> Result<Response<pb::ListDecisionsResponse>, Status> {
        let request = request.into_inner();
        let limit = match request.limit {
            0 => 50,
            n if n > 1000 => {
                return Err(Status::invalid_argument("limit: at most 1000"));
            }
            n => n,
        };
        let worker = scope("worker_id", request.worker_id)?;
        let decisions = self
            .store
            .recent(limit, worker.as_ref())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot read decisions");
                Status::unavailable(
                    "cannot read decisions from PostgreSQL; see the control plane's log",
                )
            })?;
        Ok(Response::new(pb::ListDecisionsResponse {
            decisions: decisions.iter().map(decision_pb).collect(),
        }))
    }

    async fn set_policy(
        &self,
        request: Request<pb::SetPolicyRequest>,
    ) -> Result<Response<pb::SetPolicyResponse>, Status> {
        self.authorize(&request, "setting the policy")?;
        let request = request.into_inner();
        let kind: PolicyKind = request
            .name
            .parse()
            .map_err(|e| Status::invalid_argument(format!("name: {e}")))?;
        // The state task puts the bounds given over those in force, and validates the whole.
        let change = PolicyChange {
            kind,
            params: request.params.into_iter().collect::<BTreeMap<_, _>>(),
            bounds: request.bounds.map(convert::bounds).unwrap_or_default(),
        };
        let view = self.plane.set_policy(change).await?;
        Ok(Response::new(pb::SetPolicyResponse {
            policy: Some(policy_pb(&view)),
        }))
    }

    async fn set_mode(
        &self,
        request: Request<pb::SetModeRequest>,
    ) -> Result<Response<pb::SetModeResponse>, Status> {
        self.authorize(&request, "setting the mode")?;
        let mode = convert::mode(request.into_inner().mode)?;
        let view = self.plane.set_mode(mode).await?;
        Ok(Response::new(pb::SetModeResponse {
            policy: Some(policy_pb(&view)),
        }))
    }

    async fn set_override(
        &self,
        request: Request<pb::SetOverrideRequest>,
    ) -> Result<Response<pb::SetOverrideResponse>, Status> {
        self.authorize(&request, "setting an override")?;
        let request = request.into_inner();
        let worker = scope("worker_id", request.worker_id)?;
        if request.interval_ms == 0 && request.max_rows == 0 {
            return Err(Status::invalid_argument(
                "set interval_ms or max_rows (or both); an override of nothing is refused",
            ));
        }
        let interval =
            (request.interval_ms > 0).then(|| Duration::from_millis(request.interval_ms));
        if interval.is_some_and(|i| i > MAX_OVERRIDE_INTERVAL) {
            return Err(Status::invalid_argument(
                "interval_ms: at most 3600000 (one hour)",
            ));
        }
        let ttl = duration_field("ttl", request.ttl)?;
        if ttl.is_some_and(|ttl| ttl.is_zero() || ttl > MAX_TTL) {
            return Err(Status::invalid_argument(
                "ttl: must be longer than zero and at most 30 days; leave it out for an override until cleared",
            ));
        }
        let now = OffsetDateTime::now_utc();
        // At most 30 days ahead (checked above): within the calendar, so the sum cannot overflow.
        let ov = Override {
            worker,
            interval,
            max_rows: (request.max_rows > 0).then_some(request.max_rows),
            set_at: now,
            expires_at: ttl.map(|ttl| now + ttl),
        };
        let ov = self.plane.set_override(ov).await?;
        Ok(Response::new(pb::SetOverrideResponse {
            r#override: Some(override_pb(&ov)),
        }))
    }

    async fn clear_override(
        &self,
        request: Request<pb::ClearOverrideRequest>,
    ) -> Result<Response<pb::ClearOverrideResponse>, Status> {
        self.authorize(&request, "clearing an override")?;
        let worker = scope("worker_id", request.into_inner().worker_id)?;
        let cleared = self.plane.clear_override(worker).await?;
        Ok(Response::new(pb::ClearOverrideResponse { cleared }))
    }

    async fn pause_worker(
        &self,
        request: Request<pb::PauseWorkerRequest>,
    ) -> Result<Response<pb::PauseWorkerResponse>, Status> {
        self.authorize(&request, "pausing a worker")?;
        let worker = scope("worker_id", request.into_inner().worker_id)?;
        let ids = self.plane.pause(worker, true).await?;
        Ok(Response::new(pb::PauseWorkerResponse {
            worker_ids: ids.iter().map(|id| id.to_string()).collect(),
        }))
    }

    async fn resume_worker(
        &self,
        request: Request<pb::ResumeWorkerRequest>,
    ) -> Result<Response<pb::ResumeWorkerResponse>, Status> {
        self.authorize(&request, "resuming a worker")?;
        let worker = scope("worker_id", request.into_inner().worker_id)?;
        let ids = self.plane.pause(worker, false).await?;
        Ok(Response::new(pb::ResumeWorkerResponse {
            worker_ids: ids.iter().map(|id| id.to_string()).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::WorkerId;

    #[test]
    fn an_unknown_worker_is_not_found_and_named_as_given() {
        let status = Status::from(AdminError::UnknownWorker(WorkerId::new("nosuch").unwrap()));
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(status.message(), "no worker with id nosuch is known");
    }
}
