//! pacer's control plane: keeps the registry of workers and their batch figures, runs the batch-sizing
//! policy on every report and pushes its decisions (or only records them, in advise mode), and serves the
//! admin API with gRPC health checking and server reflection.
#![forbid(unsafe_code)]

mod admin_service;
mod auth;
mod closing;
mod convert;
mod domain;
mod plane;
mod store;
mod telemetry;
mod worker_service;

pub use auth::Token;
pub use domain::{Mode, WorkerId};
pub use store::StoreError;
pub use telemetry::{ControlMetrics, names as metric_names};

use admin_service::AdminService;
use pacer_backoff::{Attempt, Backoff, Outcome, Retry};
use pacer_policy::PolicyConfig;
use pacer_proto::v1 as pb;
use plane::{Plane, PlaneConfig};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use store::DecisionStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use worker_service::WorkerService;

/// How the control plane runs.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// PostgreSQL URL for the decision log.
    pub database_url: String,
    /// The token workers must present; `None` lets any worker attach.
    pub worker_token: Token,
    /// The token admin mutations must present; `None` lets anyone change settings.
    pub admin_token: Token,
    /// The policy to start with.
    pub policy: PolicyConfig,
    /// Enforce or advise, to start with.
    pub mode: Mode,
    /// How often workers send a heartbeat when idle.
    pub heartbeat: Duration,
    /// A worker not heard from for this long is marked lost.
    pub lost_after: Duration,
    /// A lost worker is dropped from the registry after this long (its totals stay counted).
    pub forget_after: Duration,
    /// The least time between two policy changes to one worker.
    pub min_gap: Duration,
    /// The least relative change a policy decision must make to be applied.
    pub hysteresis: f64,
    /// A PEM certificate chain and key, to serve over TLS.
    pub tls: Option<TlsFiles>,
    /// The control plane's metrics (register them in the process's registry to expose them).
    pub metrics: ControlMetrics,
}

/// The files of a TLS identity.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The PEM certificate chain.
    pub cert: PathBuf,
    /// The PEM private key.
    pub key: PathBuf,
}

/// Errors that stop the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The decision log could not be set up.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A TLS file could not be read.
    #[error("cannot read the TLS file {path}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The reflection service could not read the descriptors.
    #[error("cannot build the gRPC reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The task that owns the registry and the policies failed.
    #[error("the control plane's state task failed; see the log")]
    StateTask,
    /// The gRPC server failed.
    #[error("the gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves the control plane on `listener` until `shutdown` completes. PostgreSQL is waited for at start.
pub async fn serve(
    config: ControlConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    let (stop_tx, mut stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let store = DecisionStore::connect(&config.database_url)?;
    let mut retry = Retry::new(
        "set up the decision log in PostgreSQL",
        Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
    );
    let stopped = async {
        let _ = stop.wait_for(|s| *s).await;
    };
    match retry
        .run(stopped, || async {
            match store.migrate().await {
                Ok(()) => Attempt::Done(()),
                Err(e) if e.heals() => Attempt::Retry(e),
                Err(e) => Attempt::Fatal(e),
            }
        })
        .await
    {
        Outcome::Done(()) => {}
        Outcome::Stopped => return Ok(()),
        Outcome::Fatal(e) => return Err(e.into()),
    }

    let (plane, state_task) = Plane::start(
        PlaneConfig {
            policy: config.policy.clone(),
            mode: config.mode,
            lost_after: config.lost_after,
            forget_after: config.forget_after,
            min_gap: config.min_gap,
            hysteresis: config.hysteresis,
            metrics: config.metrics.clone(),
        },
        store.clone(),
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::worker_control_server::WorkerControlServer<WorkerService>>()
        .await;
    health
        .set_serving::<pb::admin_server::AdminServer<AdminService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let mut server = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    if let Some(tls) = &config.tls {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| ControlError::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let identity = Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
        server = server.tls_config(ServerTlsConfig::new().identity(identity))?;
    }
    // If the state task ever fails, nothing can be decided any more: say so to health checks and stop, so that
    // a supervisor restarts the control plane (the workers carry on meanwhile).
    let (failed_tx, mut failed) = watch::channel(false);
    let failed_rx = failed.clone();
    let watchdog_health = health.clone();
    tokio::spawn(async move {
        if let Err(e) = state_task.await {
            tracing::error!(error = %e, "the control plane's state task failed; stopping");
            watchdog_health
                .set_not_serving::<pb::admin_server::AdminServer<AdminService>>()
                .await;
            watchdog_health
                .set_not_serving::<pb::worker_control_server::WorkerControlServer<WorkerService>>()
                .await;
            let _ = failed_tx.send(true);
        }
    });
    // Once stopping, the long-lived streams end too, or the graceful shutdown would wait for them forever.
    let (closing_tx, closing_rx) = watch::channel(false);
    let closing = closing::Closing::new(closing_rx);
    let address = listener.local_addr().ok();
    tracing::info!(
        address = address.map(tracing::field::display),
        policy = config.policy.kind().as_str(),
        mode = config.mode.as_str(),
        tls = config.tls.is_some(),
        "control plane serving"
    );
    server
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(pb::worker_control_server::WorkerControlServer::new(
            WorkerService::new(
                plane.clone(),
                config.worker_token.clone(),
                config.heartbeat,
                closing.clone(),
            ),
        ))
        .add_service(pb::admin_server::AdminServer::new(AdminService::new(
            plane,
            store,
            config.admin_token.clone(),
            closing,
        )))
        // Pushes are small frames that must leave at once: without TCP_NODELAY on the accepted sockets,
        // Nagle's algorithm held some back for about 40 ms (seen with `pacer bench control`).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => {}
                    _ = failed.wait_for(|f| *f) => {}
                }
                let _ = closing_tx.send(true);
            },
        )
        .await?;
    if *failed_rx.borrow() {
        return Err(ControlError::StateTask);
    }
    tracing::info!("control plane stopped");
    Ok(())
}
