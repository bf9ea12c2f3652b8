//! Starting the stack: the broker (unless `--brokers` names one) with its topic, then pacer's own tasks — the
//! control plane, ingest and the workers, on one metrics registry — and the optional load.

use super::status::Run;
use super::{BrokerStorage, UpArgs, tokens};
use crate::load::{Events, LoadPlan, LoadStats, Profile, generate_events};
use anyhow::Context;
use pacer_stack::{Broker, BrokerOptions};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The broker, ready and with the topic: the nisshi broker started here, or the Kafka `--brokers` names
/// (then `None`). Also returns the bootstrap servers.
pub(super) async fn broker(
    args: &UpArgs,
    state_dir: &Path,
    broker_database_url: &str,
) -> anyhow::Result<(Option<Broker>, String)> {
    let (broker, brokers) = match &args.brokers {
        Some(brokers) => (None, brokers.clone()),
        None => {
            let (program, log) = (pacer_stack::find_nisshi()?, state_dir.join("nisshi.log"));
            let options = match args.broker_storage {
                BrokerStorage::Memory => BrokerOptions::in_memory(program, args.kafka_port, log),
                BrokerStorage::Postgres => {
                    BrokerOptions::in_postgres(program, args.kafka_port, log, broker_database_url)
                }
            };
            let broker = Broker::start(options)
                .await
                .context("cannot start the nisshi broker")?;
            let brokers = broker.bootstrap();
            (Some(broker), brokers)
        }
    };
    pacer_stack::wait_for_broker(&brokers, Duration::from_secs(30)).await?;
    pacer_stack::create_topic(&brokers, &args.topic, args.partitions).await?;
    Ok((broker, brokers))
}

/// pacer's tasks as they run, and what the rest of `pacer up` needs to know of them.
pub(super) struct Stack {
    /// Ingest's HTTP address.
    pub http: SocketAddr,
    pub control_url: String,
    /// The token the console presents to the control plane.
    pub admin_token: String,
    /// This run's workers, whose batches the status lines count.
    pub run: Run,
    /// The workers' consumer group, whose lag the drain waits on.
    pub group: String,
    pub control: JoinHandle<Result<(), pacer_control::ControlError>>,
    pub ingest: JoinHandle<Result<(), pacer_ingest::StartError>>,
    pub workers: JoinSet<Result<(), pacer_worker::WorkerError>>,
    pub stops: Stops,
}

/// The stops, in the order `drain` sends them.
pub(super) struct Stops {
    /// The front, load and ingest: first.
    pub front: watch::Sender<bool>,
    /// The workers: once they have drained the topic.
    pub workers: watch::Sender<bool>,
    /// The control plane: last.
    pub control: watch::Sender<bool>,
}

impl Stack {
    /// Starts the control plane, ingest and the workers on `brokers` and `database_url`.
    pub(super) async fn start(
        args: &UpArgs,
        state_dir: &Path,
        brokers: &str,
        database_url: &str,
        pipeline: Option<Arc<pacer_pipeline::Pipeline>>,
        stack_metrics: &pacer_stack::StackMetrics,
    ) -> anyhow::Result<Self> {
        // The control plane first, so that the workers attach from their first batch.
        let control_listener = bind_or_free(args.control_port, "control plane").await?;
        let control_url = format!("http://{}", control_listener.local_addr()?);
        let worker_token = tokens::random_token()?;
        let admin_token = tokens::admin_token(args.admin_token.as_deref(), state_dir)?;
        // One registry for the whole process: ingest serves it on its HTTP port, at /metrics.
        let registry = pacer_telemetry::registry()?;
        let control_metrics = pacer_control::ControlMetrics::new();
        control_metrics.register(&registry)?;
        let worker_metrics = pacer_worker::WorkerMetrics::new();
        worker_metrics.register(&registry)?;
        stack_metrics.register(&registry)?;
        let control_config = pacer_control::ControlConfig {
            metrics: control_metrics,
            database_url: database_url.to_owned(),
            worker_token: pacer_control::Token::new(Some(worker_token.clone())),
            admin_token: pacer_control::Token::new(Some(admin_token.clone())),
            policy: args.policy.config()?,
            mode: args.policy.mode,
            heartbeat: Duration::from_secs(1),
            lost_after: Duration::from_secs(5),
            forget_after: Duration::from_secs(600),
            min_gap: args.policy.min_gap,
            hysteresis: args.policy.hysteresis,
            tls: None,
        };
        let (control_tx, control_stop) = watch::channel(false);

        let listener = bind_or_free(args.http_port, "HTTP").await?;
        let http = listener.local_addr()?;
        // Two stops: the front (load and ingest) first, then the workers once they have drained the topic.
        let (front_tx, front) = watch::channel(false);
        let (workers_tx, workers_stop) = watch::channel(false);
        let control = tokio::spawn(pacer_control::serve(
            control_config,
            control_listener,
            stopped(control_stop),
        ));

        let mut ingest_config = pacer_ingest::IngestConfig::new(brokers, &args.topic);
        ingest_config.metrics.register(&registry)?;
        ingest_config.registry = Some(registry);
        ingest_config.pipeline = pipeline.clone();
        let routes = Arc::new(match &pipeline {
            Some(pipeline) => pacer_worker::Routes::new(pipeline.as_ref().clone()),
            None => pacer_worker::Routes::default(),
        });
        let ingest = tokio::spawn(pacer_ingest::serve(ingest_config, listener, stopped(front)));
        let mut workers = JoinSet::new();
        let mut group = String::new();
        let run = Run::begin(pacer_worker::default_worker_id());
        for i in 0..args.workers {
            let mut config = pacer_worker::WorkerConfig::new(brokers, &args.topic, database_url);
            config.worker_id = format!("{}-w{i}", run.prefix);
            config.metrics = worker_metrics.clone();
            config.settings = args.batch.settings();
            config.routes = routes.clone();
            config.control = Some(pacer_worker::ControlLink {
                url: control_url.clone(),
                token: Some(worker_token.clone()),
                ca: None,
            });
            group.clone_from(&config.group);
            let (settings, _) = pacer_worker::SettingsHandle::new(config.settings);
            workers.spawn(pacer_worker::run(
                config,
                settings,
                stopped(workers_stop.clone()),
            ));
        }
        Ok(Stack {
            http,
            control_url,
            admin_token,
            run,
            group,
            control,
            ingest,
            workers,
            stops: Stops {
                front: front_tx,
                workers: workers_tx,
                control: control_tx,
            },
        })
    }
}

/// With `--load` or `--load-profile`, posts generated events to ingest at `http` until `stop`; returns the
/// load's counts (all zero without a load).
pub(super) async fn load(
    args: &UpArgs,
    http: SocketAddr,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Arc<LoadStats>> {
    let stats = Arc::new(LoadStats::default());
    if args.load.is_some() || args.load_profile.is_some() {
        let events = match &args.pipeline {
            Some(path) => super::super::load::routed_events(path, &args.topic)?,
            None => Events::Generic,
        };
        let profile = args.load_profile.clone().unwrap_or_else(|| {
            Profile::constant(
                args.load.unwrap_or(0.0),
                args.load_duration
                    .unwrap_or(Duration::from_secs(365 * 86_400)),
            )
        });
        let plan = LoadPlan {
            url: format!("http://{http}"),
            profile,
            batch: 100,
            concurrency: 16,
        };
        // Give the workers a moment to join the group so the first events are not waiting on a rebalance.
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::spawn(generate_events(plan, events, stats.clone(), stop));
    }
    Ok(stats)
}

/// Resolves once `rx` says stop.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn bind_or_free(port: u16, what: &str) -> anyhow::Result<TcpListener> {
    crate::listen::bind_or_free(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), what).await
}
