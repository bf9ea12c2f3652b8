//! The Kafka-compatible broker: nisshi as a child process, and the topic the pipeline uses.

use crate::StackError;
use crate::ports::claim_port;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::util::Timeout;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How to run the broker.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// The nisshi executable.
    pub program: PathBuf,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Where the broker's log goes.
    pub log_file: PathBuf,
    /// nisshi's `--storage-engine` URL (`memory://nisshi/` keeps everything in memory).
    pub storage: String,
    /// How long the first rebalance of an empty consumer group waits for more members.
    pub initial_rebalance_delay: Duration,
}

impl BrokerOptions {
    /// Storage in PostgreSQL (the broker creates its tables there): records, offsets and groups survive a
    /// restart of the broker.
    pub fn in_postgres(program: PathBuf, port: u16, log_file: PathBuf, database_url: &str) -> Self {
        Self {
            storage: database_url.to_owned(),
            ..Self::in_memory(program, port, log_file)
        }
    }

    /// In-memory storage on `port` (0: any free port), logging to `log_file`.
    pub fn in_memory(program: PathBuf, port: u16, log_file: PathBuf) -> Self {
        Self {
            program,
            port,
            log_file,
            storage: "memory://nisshi/".into(),
            initial_rebalance_delay: Duration::from_secs(1),
        }
    }
}

/// A running broker child process; it is killed when dropped.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    port: u16,
    options: BrokerOptions,
}

impl Broker {
    /// Starts nisshi and waits until it answers Kafka metadata requests.
    pub async fn start(mut options: BrokerOptions) -> Result<Self, StackError> {
        options.port = claim_port(options.port, "the Kafka broker", "--kafka-port")?;
        let child = spawn(&options)?;
        let mut broker = Self {
            child,
            port: options.port,
            options,
        };
        broker.until_serving("starting the broker").await?;
        tracing::info!(port = broker.port, "nisshi broker started");
        Ok(broker)
    }

    /// `127.0.0.1:port`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (as a crash would) and waits for it to exit.
    pub async fn kill(&mut self) -> Result<(), StackError> {
        // A broker that has exited already (and was waited on) has nothing left to kill.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return Ok(());
        }
        self.child
            .kill()
            .await
            .map_err(StackError::io("killing the broker"))
    }

    /// Stops the broker with SIGINT (nisshi's clean shutdown) and waits up to 5 s, then kills it.
    pub async fn stop(&mut self) -> Result<(), StackError> {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::SIGINT,
            );
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        self.kill().await
    }

    /// Starts the broker again on the same port after [`Broker::kill`] or [`Broker::stop`] (or a crash). Fails
    /// at once if another process holds the port, or if the broker exits before it serves.
    pub async fn restart(&mut self) -> Result<(), StackError> {
        claim_port(self.port, "the Kafka broker", "--kafka-port")?;
        self.child = spawn(&self.options)?;
        self.until_serving("restarting the broker").await
    }

    /// Waits until the broker just spawned serves; fails at once if it exits first (`what` names the step).
    async fn until_serving(&mut self, what: &str) -> Result<(), StackError> {
        let (bootstrap, log) = (self.bootstrap(), self.options.log_file.clone());
        tokio::select! {
            ready = wait_ready(&bootstrap, &log) => ready,
            status = self.child.wait() => Err(StackError::Failed {
                what: what.into(),
                detail: format!(
                    "it exited before serving ({}); see {}",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                    log.display()
                ),
            }),
        }
    }
}

impl crate::Child for Broker {
    const NAME: &'static str = "broker";

    fn log_file(&self) -> PathBuf {
        self.options.log_file.clone()
    }

    async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => format!("unknown ({e})"),
        }
    }

    async fn restart(&mut self) -> Result<(), StackError> {
        Broker::restart(self).await
    }
}

/// Waits until the broker at `bootstrap` serves; a timeout names its log.
async fn wait_ready(bootstrap: &str, log: &std::path::Path) -> Result<(), StackError> {
    wait_for_broker(bootstrap, Duration::from_secs(30))
        .await
        .map_err(|e| match e {
            StackError::Timeout { what, secs, .. } => StackError::Timeout {
                what,
                secs,
                log: log.to_owned(),
            },
            other => other,
        })
}

fn spawn(options: &BrokerOptions) -> Result<Child, StackError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&options.log_file)
        .map_err(StackError::io(format!(
            "opening {}",
            options.log_file.display()
        )))?;
    let log_err = log
        .try_clone()
        .map_err(StackError::io("duplicating the broker log handle"))?;
    let url = format!("tcp://127.0.0.1:{}", options.port);
    Command::new(&options.program)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", &options.storage])
        .args([
            "--group-initial-rebalance-delay",
            &format!("{}ms", options.initial_rebalance_delay.as_millis()),
        ])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(StackError::io(format!(
            "starting {}",
            options.program.display()
        )))
}

/// Waits until a broker at `bootstrap` answers a metadata request.
pub async fn wait_for_broker(bootstrap: &str, timeout: Duration) -> Result<(), StackError> {
    let producer: Arc<BaseProducer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("log_level", "3")
            .create()?,
    );
    let deadline = Instant::now() + timeout;
    loop {
        let p = producer.clone();
        let ok = tokio::task::spawn_blocking(move || {
            p.client()
                .fetch_metadata(None, Timeout::After(Duration::from_millis(500)))
                .is_ok()
        })
        .await
        .unwrap_or(false);
        if ok {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StackError::Timeout {
                what: format!("the Kafka broker at {bootstrap}"),
                secs: timeout.as_secs(),
                log: PathBuf::new(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates `topic` with `partitions` partitions unless it exists, and waits until its metadata shows them.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), StackError> {
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()?,
    );
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&new_topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(StackError::Failed {
                    what: format!("creating topic {name}"),
                    detail: code.to_string(),
                });
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (a, t) = (admin.clone(), topic.to_owned());
        let found = tokio::task::spawn_blocking(move || {
            a.inner()
                .fetch_metadata(Some(&t), Timeout::After(Duration::from_secs(2)))
                .map(|m| m.topics().first().map_or(0, |t| t.partitions().len()))
        })
        .await;
        match found {
            Ok(Ok(n)) if n > 0 => return Ok(()),
            _ if Instant::now() >= deadline => {
                return Err(StackError::Failed {
                    what: format!("creating topic {topic}"),
                    detail: "the broker does not list the topic's partitions".into(),
                });
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The nisshi executable: `PACER_NISSHI`, then the install cache (`~/.cache/pacer/bin/nisshi`), then `PATH`.
pub fn find_nisshi() -> Result<PathBuf, StackError> {
    if let Some(path) = std::env::var_os("PACER_NISSHI") {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/pacer/bin/nisshi");
    if cached.exists() {
        return Ok(cached);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nisshi"))
        .find(|candidate| candidate.exists())
        .ok_or_else(|| StackError::Missing {
            program: "the nisshi broker".into(),
            hint: "run scripts/setup.sh (it installs nisshi 0.8.1 into ~/.cache/pacer/bin), or set PACER_NISSHI".into(),
        })
}

/// Records of `topic` that consumer group `group` has not committed yet, over all its partitions: the sum of
/// high watermark minus committed offset (a partition with no commit counts from its low watermark).
pub async fn group_lag(bootstrap: &str, group: &str, topic: &str) -> Result<i64, StackError> {
    let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::Consumer;
        let timeout = Duration::from_secs(5);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut list = rdkafka::TopicPartitionList::new();
        for &p in &partitions {
            list.add_partition(&topic, p);
        }
        let committed = consumer.committed_offsets(list, timeout)?;
        let mut lag = 0;
        for &p in &partitions {
            let (low, high) = consumer.fetch_watermarks(&topic, p, timeout)?;
            let done = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                Some(rdkafka::Offset::Offset(offset)) => offset,
                _ => low,
            };
            lag += (high - done).max(0);
        }
        Ok(lag)
    })
    .await
    .map_err(|e| StackError::Failed {
        what: "measuring the consumer group's lag".into(),
        detail: e.to_string(),
    })?
}
