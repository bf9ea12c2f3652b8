//! The end-to-end harness: each test gets its own private PostgreSQL and nisshi broker (real ones, never
//! mocks), and runs ingest and workers in-process or as `pacer` child processes.

pub mod ledger;

use pacer_stack::{Broker, BrokerOptions, PostgresOptions, PrivatePostgres};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Once;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const TOPIC: &str = "events";

/// A private PostgreSQL cluster and a broker for one test; both stop when it is dropped.
pub struct Stack {
    pub pg: PrivatePostgres,
    pub broker: Broker,
    pub dir: TempDir,
    pub partitions: i32,
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("PACER_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .try_init();
    });
}

impl Stack {
    /// Starts PostgreSQL and the broker and creates the topic. Fails (never skips) if either is missing.
    pub async fn start(partitions: i32) -> Stack {
        Self::start_with(partitions, false).await
    }

    /// The same with the broker's storage in a database of the same PostgreSQL cluster, so that the broker
    /// keeps its records, offsets and groups across a restart.
    pub async fn start_durable(partitions: i32) -> Stack {
        Self::start_with(partitions, true).await
    }

    async fn start_with(partitions: i32, durable: bool) -> Stack {
        init_logs();
        let dir = tempfile::Builder::new()
            .prefix("pacer-test-")
            .tempdir()
            .expect("temp dir");
        let pg = PrivatePostgres::start_or_reuse(&PostgresOptions {
            state_dir: dir.path().to_path_buf(),
            port: 0,
            database: "pacer".into(),
        })
        .await
        .expect("start the private PostgreSQL (scripts/setup.sh installs it)");
        let nisshi =
            pacer_stack::find_nisshi().expect("the nisshi broker (scripts/setup.sh installs it)");
        let log = dir.path().join("nisshi.log");
        let mut options = if durable {
            pg.ensure_database("nisshi")
                .await
                .expect("create the broker's database");
            BrokerOptions::in_postgres(nisshi, 0, log, &pg.url_for("nisshi"))
        } else {
            BrokerOptions::in_memory(nisshi, 0, log)
        };
        options.initial_rebalance_delay = Duration::from_millis(200);
        let broker = Broker::start(options)
            .await
            .expect("start the nisshi broker");
        pacer_stack::create_topic(&broker.bootstrap(), TOPIC, partitions)
            .await
            .expect("create the topic");
        let stack = Stack {
            pg,
            broker,
            dir,
            partitions,
        };
        pacer_worker::Sink::new(&stack.database_url(), "test")
            .unwrap()
            .migrate()
            .await
            .expect("migrate");
        stack
    }

    pub fn database_url(&self) -> String {
        self.pg.url()
    }

    pub fn brokers(&self) -> String {
        self.broker.bootstrap()
    }

    pub async fn pool(&self) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url())
            .await
            .unwrap()
    }

    /// Ingest in-process on a free port.
    pub async fn start_ingest(&self) -> Service {
        self.start_ingest_with(|_| {}).await
    }

    /// Ingest in-process on a free port, with settings changed by `adjust`.
    pub async fn start_ingest_with(
        &self,
        adjust: impl FnOnce(&mut pacer_ingest::IngestConfig),
    ) -> Service {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = pacer_ingest::IngestConfig::new(self.brokers(), TOPIC);
        config.max_body_bytes = 1024 * 1024;
        config.delivery_timeout = Duration::from_secs(5);
        adjust(&mut config);
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            pacer_ingest::serve(config, listener, wait(rx))
                .await
                .map_err(|e| e.to_string())
        });
        let service = Service { addr, stop, task };
        service.wait_ready().await;
        service
    }

    pub fn worker_config(&self, id: &str) -> pacer_worker::WorkerConfig {
        let mut config =
            pacer_worker::WorkerConfig::new(self.brokers(), TOPIC, self.database_url());
        config.worker_id = id.into();
        config.group = "test".into();
        config.settings.interval = Duration::from_millis(100);
        config.session_timeout = Duration::from_secs(3);
        config
    }

    /// A worker in-process.
    pub fn start_worker(&self, id: &str) -> Worker {
        start_worker_with(self.worker_config(id))
    }

    /// A control plane's configuration for this stack: tokens [`WORKER_TOKEN`] and [`ADMIN_TOKEN`], the
    /// `static` policy (interval `static_ms`), lost after 2 s, no rate limit beyond 200 ms.
    pub fn control_config(&self, static_ms: f64) -> pacer_control::ControlConfig {
        let params = std::collections::BTreeMap::from([("interval_ms".to_owned(), static_ms)]);
        pacer_control::ControlConfig {
            metrics: pacer_control::ControlMetrics::new(),
            database_url: self.database_url(),
            worker_token: pacer_control::Token::new(Some(WORKER_TOKEN.into())),
            admin_token: pacer_control::Token::new(Some(ADMIN_TOKEN.into())),
            policy: pacer_policy::PolicyConfig::new(
                pacer_policy::PolicyKind::Static,
                &params,
                pacer_policy::Bounds::default(),
            )
            .unwrap(),
            mode: pacer_control::Mode::Enforce,
            heartbeat: Duration::from_millis(500),
            lost_after: Duration::from_secs(2),
            forget_after: Duration::from_secs(600),
            min_gap: Duration::from_millis(200),
            hysteresis: 0.1,
            tls: None,
        }
    }

    /// The control plane in-process on a free port.
    pub async fn start_control(&self, config: pacer_control::ControlConfig) -> ControlPlane {
        let config_has_tls = config.tls.is_some();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            pacer_control::serve(config, listener, wait(rx))
                .await
                .map_err(|e| format!("{e:#}"))
        });
        let tls = config_has_tls;
        let control = ControlPlane { addr, stop, task };
        // Over TLS the caller waits with its own client.
        if !tls {
            control.wait_serving().await;
        }
        control
    }

    /// `pacer control` as a child process with the test tokens and the static policy, serving once this
    /// returns. On `port`: 0 the first time (the process binds a free port itself, so no other process can
    /// take it between a choice and the bind), the port it had when it is restarted. Returns the process and
    /// where it listens.
    pub async fn spawn_control_process(
        &self,
        port: u16,
        static_ms: u32,
    ) -> (tokio::process::Child, SocketAddr) {
        let interval = format!("interval_ms={static_ms}");
        self.spawn_control_with(port, &["--policy", "static", "--param", &interval])
            .await
    }

    /// [`Self::spawn_control_process`] with the policy that `policy` (command-line flags) chooses.
    pub async fn spawn_control_with(
        &self,
        port: u16,
        policy: &[&str],
    ) -> (tokio::process::Child, SocketAddr) {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pacer"));
        command
            .args(["control", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &self.database_url()])
            .args(["--worker-token", WORKER_TOKEN, "--admin-token", ADMIN_TOKEN])
            .args(policy)
            .args(["--lost-after", "2s", "--min-gap", "200ms"]);
        let (child, addresses) = spawn_listening(command, &[CONTROL_LISTENING]).await;
        let addr = addresses[0];
        assert!(port == 0 || addr.port() == port, "{addr}, not port {port}");
        wait_serving(&format!("http://{addr}")).await;
        (child, addr)
    }

    /// A worker's configuration, attached to the control plane at `url` with `token`.
    pub fn attached_config(&self, id: &str, url: &str, token: &str) -> pacer_worker::WorkerConfig {
        let mut config = self.worker_config(id);
        config.control = Some(pacer_worker::ControlLink {
            url: url.into(),
            token: Some(token.into()),
            ca: None,
        });
        config
    }

    /// Produces `n` raw events (`e0`, `e1`, ...) every 100 ms in the background, until stopped.
    pub fn produce_steadily(&self, n: u64) -> Producing {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("linger.ms", "5")
            .create()
            .unwrap();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut next = 0u64;
            while !*stopped.borrow() {
                for i in next..next + n {
                    let payload = event(&format!("e{i}"), i).to_string();
                    let key = format!("k{}", i % 16);
                    producer
                        .send(
                            FutureRecord::to(TOPIC).payload(&payload).key(&key),
                            Duration::from_secs(5),
                        )
                        .await
                        .expect("produce");
                }
                next += n;
                let _ = tokio::time::timeout(Duration::from_millis(100), stopped.changed()).await;
            }
            next
        });
        Producing { stop, task }
    }

    /// A worker as a `pacer worker` child process (so that it can be killed with SIGKILL).
    pub fn spawn_worker_process(&self, id: &str) -> tokio::process::Child {
        self.spawn_worker_process_with(id, &[])
    }

    /// The same, with more flags.
    pub fn spawn_worker_process_with(&self, id: &str, extra: &[&str]) -> tokio::process::Child {
        self.worker_command(id, extra)
            .env("PACER_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("spawn pacer worker")
    }

    /// The command line of a `pacer worker` of this stack, with more flags.
    pub fn worker_command(&self, id: &str, extra: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pacer"));
        command
            .args([
                "worker",
                "--brokers",
                &self.brokers(),
                "--topic",
                TOPIC,
                "--group",
                "test",
            ])
            .args([
                "--database-url",
                &self.database_url(),
                "--worker-id",
                id,
                "--interval",
                "100ms",
            ])
            .args(["--session-timeout", "3s"])
            .args(extra);
        command
    }

    /// Waits until `events` holds `n` rows (or more), or panics after `timeout`.
    pub async fn wait_for_rows(
        &self,
        pool: &PgPool,
        table: &str,
        n: i64,
        timeout: Duration,
    ) -> i64 {
        let query = format!("SELECT count(*) FROM {table}");
        eventually(&format!("{n} rows in {table}"), timeout, async || {
            let count: i64 = sqlx::query_scalar(&query)
                .fetch_one(pool)
                .await
                .unwrap_or(-1);
            if count >= n {
                Ok(count)
            } else {
                Err(format!("{table} holds {count} rows"))
            }
        })
        .await
    }

    /// The sum of the high watermarks of the topic's partitions: how many records it holds.
    pub fn topic_records(&self) -> i64 {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .create()
            .unwrap();
        (0..self.partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(TOPIC, p, Duration::from_secs(5))
                    .expect("watermarks")
                    .1
            })
            .sum()
    }

    /// Produces raw records straight to the topic, not through ingest.
    pub async fn produce_raw(&self, payloads: &[Option<Vec<u8>>]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("enable.idempotence", "true")
            .create()
            .unwrap();
        for payload in payloads {
            let mut record = FutureRecord::<str, [u8]>::to(TOPIC).key("raw");
            if let Some(p) = payload {
                record = record.payload(p);
            }
            producer
                .send(record, Duration::from_secs(5))
                .await
                .map_err(|(e, _)| e)
                .expect("produce");
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.pg.stop_now();
    }
}

async fn wait(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// An in-process service that stops when told.
pub struct Service {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), String>>,
}

impl Service {
    pub fn url(&self) -> String {
        format!("http://{}/v1/events", self.addr)
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let url = format!("http://{}/readyz", self.addr);
        eventually(
            "ingest to be ready",
            Duration::from_secs(30),
            async || match client.get(&url).send().await {
                Ok(r) if r.status() == 200 => Ok(()),
                Ok(r) => Err(format!("/readyz answers {}", r.status())),
                Err(e) => Err(format!("/readyz: {e}")),
            },
        )
        .await;
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap().unwrap();
    }
}

/// An in-process worker.
pub struct Worker {
    pub handle: pacer_worker::SettingsHandle,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), String>>,
}

impl Worker {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap().unwrap();
    }
}

/// Events being produced in the background by [`Stack::produce_steadily`].
pub struct Producing {
    stop: watch::Sender<bool>,
    task: JoinHandle<u64>,
}

impl Producing {
    /// Stops producing once the records in flight are delivered; returns how many were produced.
    pub async fn stop(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.unwrap()
    }
}

/// A worker in-process, from its configuration.
pub fn start_worker_with(config: pacer_worker::WorkerConfig) -> Worker {
    let (handle, _) = pacer_worker::SettingsHandle::new(config.settings);
    let settings = handle.clone();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        pacer_worker::run(config, settings, wait(rx))
            .await
            .map_err(|e| e.to_string())
    });
    Worker { handle, stop, task }
}

/// The worker token of [`Stack::control_config`].
pub const WORKER_TOKEN: &str = "worker-secret";
/// The admin token of [`Stack::control_config`].
pub const ADMIN_TOKEN: &str = "admin-secret";

/// A control plane in-process.
pub struct ControlPlane {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), String>>,
}

impl ControlPlane {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn wait_serving(&self) {
        wait_serving(&self.url()).await;
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap().unwrap();
    }
}

/// Waits until the gRPC health service at `url` says the admin service is serving.
pub async fn wait_serving(url: &str) {
    use tonic_health::pb::health_client::HealthClient;
    let what = format!("the control plane at {url} to be healthy");
    eventually(&what, Duration::from_secs(30), async || {
        let channel = channel(url).await.map_err(|e| e.to_string())?;
        let status = HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest {
                service: "pacer.v1.Admin".into(),
            })
            .await
            .map_err(|e| e.to_string())?
            .into_inner()
            .status;
        if status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    })
    .await;
}

/// A gRPC channel to `url`.
pub async fn channel(url: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect()
        .await
}

/// An admin client of the control plane at `url`.
pub async fn admin(
    url: &str,
) -> pacer_proto::v1::admin_client::AdminClient<tonic::transport::Channel> {
    pacer_proto::v1::admin_client::AdminClient::connect(url.to_owned())
        .await
        .expect("connect to the admin API")
}

/// `message` as a request carrying `token` as its bearer token.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// The control plane's pipeline snapshot now.
pub async fn pipeline(url: &str) -> pacer_proto::v1::PipelineSnapshot {
    admin(url)
        .await
        .get_pipeline(pacer_proto::v1::GetPipelineRequest {})
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap()
}

/// Polls the pipeline snapshot until `check` holds, or panics after `timeout` with the last snapshot.
pub async fn wait_for_pipeline(
    url: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&pacer_proto::v1::PipelineSnapshot) -> bool,
) -> pacer_proto::v1::PipelineSnapshot {
    let mut client = admin(url).await;
    eventually(what, timeout, async || {
        let snapshot = client
            .get_pipeline(pacer_proto::v1::GetPipelineRequest {})
            .await
            .ok()
            .and_then(|r| r.into_inner().snapshot);
        match snapshot {
            Some(snapshot) if check(&snapshot) => Ok(snapshot),
            other => Err(format!("last snapshot: {other:#?}")),
        }
    })
    .await
}

/// Waits until `batch_metrics` accounts for `records` records: its rows are written in the background,
/// after each batch's rows, so a test that saw the rows may not see them yet.
pub async fn wait_for_batch_metrics(pool: &PgPool, records: i64) {
    eventually("batch_metrics", Duration::from_secs(30), async || {
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT sum(records)::bigint FROM batch_metrics")
                .fetch_one(pool)
                .await
                .unwrap();
        let seen = seen.unwrap_or(0);
        (seen >= records)
            .then_some(())
            .ok_or(format!("batch_metrics has {seen} of {records} records"))
    })
    .await;
}

/// A valid CloudEvent with a given id.
pub fn event(id: &str, seq: u64) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": "/test",
        "type": "test.event",
        "partitionkey": format!("k{}", seq % 16),
        "data": { "seq": seq },
    })
}

/// Posts `events` as one batch request; returns the status.
pub async fn post_batch(client: &reqwest::Client, url: &str, events: &[serde_json::Value]) -> u16 {
    let body = serde_json::Value::Array(events.to_vec()).to_string();
    post_batch_answer(client, url, body).await.0
}

/// Posts a batch body; returns the status (0 when there was no answer) and the body of the answer.
pub async fn post_batch_answer(client: &reqwest::Client, url: &str, body: String) -> (u16, String) {
    match client
        .post(url)
        .header("content-type", "application/cloudevents-batch+json")
        .body(body)
        .send()
        .await
    {
        Ok(answer) => {
            let status = answer.status().as_u16();
            (status, answer.text().await.unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

/// Posts events `e0..e{total}` in batches of `batch`, at about `rate` events/s, in the background.
/// The task returns how many were acknowledged; any other answer than 202 fails the test.
pub fn post_steadily(url: String, total: u64, batch: u64, rate: f64) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let start = Instant::now();
        let mut inflight = tokio::task::JoinSet::new();
        let mut next = 0;
        let mut acked = 0;
        while next < total {
            let due = (start.elapsed().as_secs_f64() * rate) as u64;
            if next >= due {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            let end = (next + batch).min(total);
            let events: Vec<serde_json::Value> =
                (next..end).map(|i| event(&format!("e{i}"), i)).collect();
            let (client, url) = (client.clone(), url.clone());
            inflight.spawn(async move {
                // A 503 (broker busy) is retried, as a client should; the key makes the retry safe.
                for _ in 0..50 {
                    match post_batch(&client, &url, &events).await {
                        202 => return events.len() as u64,
                        503 => tokio::time::sleep(Duration::from_millis(200)).await,
                        other => panic!("ingest answered {other}"),
                    }
                }
                panic!("ingest kept answering 503");
            });
            next = end;
            while inflight.len() > 16 {
                acked += inflight.join_next().await.unwrap().unwrap();
            }
        }
        while let Some(result) = inflight.join_next().await {
            acked += result.unwrap();
        }
        acked
    })
}

/// Asserts that `events` holds exactly the ids `e0..e{total}` from source `/test`, once each.
pub async fn assert_exactly_once(pool: &PgPool, total: u64) {
    let (rows, distinct, in_range): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE source = '/test' AND substr(id, 2)::bigint < $1) FROM events",
    )
    .bind(total as i64)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        (rows, distinct, in_range),
        (total as i64, total as i64, total as i64)
    );
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(dead, 0);
}

/// An event as the raw payload of a Kafka record, for [`Stack::produce_raw`].
pub fn raw(event: &serde_json::Value) -> Option<Vec<u8>> {
    Some(event.to_string().into_bytes())
}

/// A simulated worker: a real gRPC client of `WorkerControl.Attach` with no Kafka behind it. It says hello,
/// sends a heartbeat every 300 ms, and keeps everything the control plane sends it.
pub struct SimWorker {
    pub id: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<pacer_proto::v1::attach_response::Message>>>,
    task: JoinHandle<()>,
}

impl SimWorker {
    /// Attaches as `id` with the test worker token, owning `partitions`.
    pub async fn attach(url: &str, id: &str, partitions: &[i32]) -> SimWorker {
        use pacer_proto::v1 as pb;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let hello = pb::Hello {
            worker_id: id.into(),
            host: "sim".into(),
            group: "pacer".into(),
            topic: TOPIC.into(),
            partitions: partitions.to_vec(),
            settings: Some(pb::BatchSettings {
                interval_ms: 500,
                max_rows: 10_000,
                max_bytes: 16 << 20,
            }),
            paused: false,
            version: "test".into(),
        };
        tx.send(pb::AttachRequest {
            message: Some(pb::attach_request::Message::Hello(hello)),
        })
        .await
        .unwrap();
        let mut client =
            pb::worker_control_client::WorkerControlClient::new(channel(url).await.unwrap());
        let mut stream = client
            .attach(authed(
                tokio_stream::wrappers::ReceiverStream::new(rx),
                WORKER_TOKEN,
            ))
            .await
            .expect("attach")
            .into_inner();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = received.clone();
        let parts = partitions.to_vec();
        let task = tokio::spawn(async move {
            let mut beat = tokio::time::interval(Duration::from_millis(300));
            let mut paused = false;
            loop {
                tokio::select! {
                    _ = beat.tick() => {
                        let heartbeat = pb::Heartbeat { partitions: parts.clone(), lag: Vec::new(), paused };
                        if tx.send(pb::AttachRequest { message: Some(pb::attach_request::Message::Heartbeat(heartbeat)) }).await.is_err() {
                            return;
                        }
                    }
                    message = stream.message() => match message {
                        Ok(Some(pb::AttachResponse { message: Some(message) })) => {
                            match &message {
                                pb::attach_response::Message::Pause(_) => paused = true,
                                pb::attach_response::Message::Resume(_) => paused = false,
                                _ => {}
                            }
                            kept.lock().unwrap().push(message);
                        }
                        Ok(Some(_)) => {}
                        _ => return,
                    },
                }
            }
        });
        SimWorker {
            id: id.into(),
            received,
            task,
        }
    }

    /// Everything the control plane sent so far.
    pub fn received(&self) -> Vec<pacer_proto::v1::attach_response::Message> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until the control plane has sent a message that `check` accepts, and returns it.
    pub async fn wait_for(
        &self,
        what: &str,
        check: impl Fn(&pacer_proto::v1::attach_response::Message) -> bool,
    ) -> pacer_proto::v1::attach_response::Message {
        let what = format!("{} to receive {what}", self.id);
        eventually(&what, Duration::from_secs(10), async || {
            let received = self.received.lock().unwrap();
            match received.iter().find(|m| check(m)) {
                Some(found) => Ok(found.clone()),
                None => Err(format!("it received {received:#?}")),
            }
        })
        .await
    }
}

impl Drop for SimWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How often [`poll`] looks.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Runs `probe` every 100 ms until it gives `Ok`, for at most `timeout`; on timeout, the last `Err` (what
/// was seen instead). The one way the tests wait for a condition; [`eventually`] is the usual form.
pub async fn poll<T, E>(
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(found) => return Ok(found),
            Err(seen) if Instant::now() >= deadline => return Err(seen),
            Err(_) => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

/// [`poll`], failing the test on timeout with `what` it waited for and what was seen instead.
pub async fn eventually<T, E: std::fmt::Display>(
    what: &str,
    timeout: Duration,
    probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    match poll(timeout, probe).await {
        Ok(found) => found,
        Err(seen) => panic!("waited {timeout:?} for {what} in vain; {seen}"),
    }
}

/// The message of the line `pacer control` logs once it listens, with its address.
pub const CONTROL_LISTENING: &str = "control plane serving";
/// The message of the line `pacer ingest` logs once it listens, with its address.
pub const INGEST_LISTENING: &str = "ingest is listening";
/// The message of the line a `--metrics-listen` endpoint logs once it listens, with its address.
pub const METRICS_LISTENING: &str = "serving Prometheus metrics on /metrics";

/// Spawns `command`, a `pacer` command line whose listen addresses have port 0 (the process binds free
/// ports itself: nothing can take them between a choice and the bind), and waits until it has logged each
/// of the `listening` messages. Returns the process (killed when dropped) and the address in each of those
/// lines, in the order of `listening`. The process's log is passed on to the test's stderr.
pub async fn spawn_listening(
    mut command: tokio::process::Command,
    listening: &[&str],
) -> (tokio::process::Child, Vec<SocketAddr>) {
    use tokio::io::AsyncBufReadExt;
    let mut child = command
        // The lines naming the addresses are at info; everything else as quiet as before.
        .env(
            "PACER_LOG",
            "warn,pacer_control=info,pacer_ingest=info,pacer_telemetry=info",
        )
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn pacer");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let wanted: Vec<String> = listening.iter().map(|m| (*m).to_owned()).collect();
    let (found_tx, mut found) = tokio::sync::mpsc::unbounded_channel();
    // Reads the log to its end, so that the process never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{line}");
            for (i, message) in wanted.iter().enumerate() {
                if let Some(addr) = line
                    .split_once(message.as_str())
                    .and_then(|(_, rest)| address_in(rest))
                {
                    let _ = found_tx.send((i, addr));
                }
            }
        }
    });
    let mut addresses: Vec<Option<SocketAddr>> = vec![None; listening.len()];
    let all = async {
        while addresses.iter().any(Option::is_none) {
            match found.recv().await {
                Some((i, addr)) => addresses[i] = Some(addr),
                None => panic!("the process exited before logging {listening:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .unwrap_or_else(|_| panic!("the process did not log {listening:?} within 30 s"));
    (child, addresses.into_iter().flatten().collect())
}

/// The first `host:port` among the fields of a log line (`address=127.0.0.1:41234`).
fn address_in(fields: &str) -> Option<SocketAddr> {
    fields.split_whitespace().find_map(|field| {
        let value = field.split_once('=').map_or(field, |(_, value)| value);
        value
            .trim_start_matches("Some(")
            .trim_end_matches(')')
            .parse()
            .ok()
    })
}
