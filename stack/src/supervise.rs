//! Supervision of the children the stack started, as systemd's `Restart=on-failure` does: a child that exits
//! unexpectedly is logged once (how it ended, the last lines of its log) and started again on the same port
//! and data directory, after a capped back-off. Repeated fast failures (by default 5 within a minute) make
//! the supervisor give up, and whoever runs the stack stops everything with a message that names the child
//! and its log.

use crate::StackError;
use pacer_backoff::Backoff;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use std::collections::VecDeque;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A child process of the stack that can be watched and started again.
pub trait Child: Send + 'static {
    /// Its name in logs and metrics: `broker`, `postgres`.
    const NAME: &'static str;
    /// Where its output goes.
    fn log_file(&self) -> PathBuf;
    /// Resolves once the child has exited, with how it ended (an exit status, a signal). Cancel-safe.
    fn exited(&mut self) -> impl Future<Output = String> + Send;
    /// Starts it again on the same port and data directory, and waits until it serves.
    fn restart(&mut self) -> impl Future<Output = Result<(), StackError>> + Send;
}

/// When to restart, and when to give up.
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    /// The first delay before a restart; it doubles (with jitter) after each failure.
    pub backoff_base: Duration,
    /// The longest delay.
    pub backoff_cap: Duration,
    /// Give up after this many failures (exits and failed restarts)…
    pub max_failures: usize,
    /// …within this long. A child that ran this long since its last restart starts its back-off afresh.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(10),
            max_failures: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// What a supervised child is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Serving.
    Running,
    /// It exited; waiting out the back-off or starting again.
    Restarting,
    /// It kept failing; the supervisor gave up on it.
    GaveUp,
}

/// A supervised child's state, as the status line and the console show it.
#[derive(Debug, Clone)]
pub struct Health {
    pub child: &'static str,
    pub state: ChildState,
    /// Restarts attempted since the stack started.
    pub restarts: u64,
    pub log: PathBuf,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            ChildState::Running => "up",
            ChildState::Restarting => "restarting",
            ChildState::GaveUp => "failed",
        };
        write!(f, "{} {state}", self.child)?;
        if self.restarts > 0 {
            write!(f, " ({} restarts)", self.restarts)?;
        }
        Ok(())
    }
}

/// The supervisors' metrics: `pacer_stack_restarts_total{child}` and `pacer_stack_child_up{child}`.
#[derive(Debug, Clone)]
pub struct StackMetrics {
    restarts: IntCounterVec,
    up: IntGaugeVec,
}

impl Default for StackMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl StackMetrics {
    /// Unregistered metrics; see [`StackMetrics::register`].
    pub fn new() -> Self {
        #[allow(clippy::expect_used, reason = "constant, valid names and labels")]
        let restarts = IntCounterVec::new(
            Opts::new(
                "pacer_stack_restarts_total",
                "Restarts of a child of pacer up (the broker, the private PostgreSQL) after it exited",
            ),
            &["child"],
        )
        .expect("valid metric");
        #[allow(clippy::expect_used, reason = "constant, valid names and labels")]
        let up = IntGaugeVec::new(
            Opts::new(
                "pacer_stack_child_up",
                "1 while a child of pacer up serves, 0 while it is down or being restarted",
            ),
            &["child"],
        )
        .expect("valid metric");
        Self { restarts, up }
    }

    /// Registers the metrics with `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.restarts.clone()))?;
        registry.register(Box::new(self.up.clone()))
    }
}

/// A child under supervision. [`Supervised::stop`] ends the supervision and hands the child back, to be
/// stopped in its turn.
#[derive(Debug)]
pub struct Supervised<C> {
    stop: watch::Sender<bool>,
    task: JoinHandle<C>,
    health: watch::Receiver<Health>,
    policy: RestartPolicy,
}

impl<C: Child> Supervised<C> {
    /// Starts watching `child`, which is running.
    pub fn start(child: C, policy: RestartPolicy, metrics: &StackMetrics) -> Self {
        let (stop, stopped) = watch::channel(false);
        let (health_tx, health) = watch::channel(Health {
            child: C::NAME,
            state: ChildState::Running,
            restarts: 0,
            log: child.log_file(),
        });
        let watch = Watch {
            policy: policy.clone(),
            health: health_tx,
            metrics: metrics.clone(),
            stop: stopped,
        };
        metrics.up.with_label_values(&[C::NAME]).set(1);
        let task = tokio::spawn(watch.run(child));
        Self {
            stop,
            task,
            health,
            policy,
        }
    }

    /// The child's state as it changes.
    pub fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// Resolves once the supervisor has given up on the child, with the error to stop on; never otherwise.
    pub async fn gave_up(&self) -> StackError {
        let mut health = self.health.clone();
        let given_up = health
            .wait_for(|h| h.state == ChildState::GaveUp)
            .await
            .map(|h| h.clone());
        match given_up {
            Ok(h) => StackError::GaveUp {
                child: h.child,
                failures: self.policy.max_failures,
                window_secs: self.policy.window.as_secs(),
                log: h.log,
            },
            // The supervisor ended without giving up: it was stopped.
            Err(_) => std::future::pending().await,
        }
    }

    /// Ends the supervision (at once, even during a back-off or a restart) and hands the child back.
    pub async fn stop(self) -> Result<C, StackError> {
        self.stop.send_replace(true);
        self.task.await.map_err(|e| StackError::Failed {
            what: format!("supervising the {}", C::NAME),
            detail: e.to_string(),
        })
    }
}

/// The supervising task's state.
struct Watch {
    policy: RestartPolicy,
    health: watch::Sender<Health>,
    metrics: StackMetrics,
    stop: watch::Receiver<bool>,
}

impl Watch {
    async fn run<C: Child>(mut self, mut child: C) -> C {
        let mut failures = Failures::new(self.policy.max_failures, self.policy.window);
        let mut backoff = Backoff::new(self.policy.backoff_base, self.policy.backoff_cap);
        let mut running_since = Instant::now();
        loop {
            let how = tokio::select! {
                how = child.exited() => how,
                _ = self.stop.wait_for(|s| *s) => return child,
            };
            let log = child.log_file();
            tracing::error!(
                child = C::NAME,
                exit = %how,
                log = %log.display(),
                last_lines = %tail(&log, 10),
                "a child of pacer up exited; restarting it"
            );
            self.set(C::NAME, ChildState::Restarting);
            if running_since.elapsed() >= self.policy.window {
                backoff.reset();
            }
            let mut give_up = failures.record(Instant::now());
            loop {
                if give_up {
                    tracing::error!(
                        child = C::NAME,
                        failures = self.policy.max_failures,
                        window_s = self.policy.window.as_secs(),
                        log = %log.display(),
                        "the child keeps failing; giving up on it"
                    );
                    self.set(C::NAME, ChildState::GaveUp);
                    let _ = self.stop.wait_for(|s| *s).await;
                    return child;
                }
                let delay = backoff.next_delay();
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = self.stop.wait_for(|s| *s) => return child,
                }
                self.metrics.restarts.with_label_values(&[C::NAME]).inc();
                self.health.send_modify(|h| h.restarts += 1);
                let restarted = tokio::select! {
                    result = child.restart() => result,
                    _ = self.stop.wait_for(|s| *s) => return child,
                };
                match restarted {
                    Ok(()) => {
                        tracing::info!(child = C::NAME, "the child is serving again");
                        self.set(C::NAME, ChildState::Running);
                        running_since = Instant::now();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(child = C::NAME, error = %e, "restarting the child failed");
                        give_up = failures.record(Instant::now());
                    }
                }
            }
        }
    }

    fn set(&self, child: &str, state: ChildState) {
        let up = i64::from(state == ChildState::Running);
        self.metrics.up.with_label_values(&[child]).set(up);
        self.health.send_modify(|h| h.state = state);
    }
}

/// The failures within the window; enough of them means give up.
#[derive(Debug)]
struct Failures {
    times: VecDeque<Instant>,
    max: usize,
    window: Duration,
}

impl Failures {
    fn new(max: usize, window: Duration) -> Self {
        Self {
            times: VecDeque::new(),
            max,
            window,
        }
    }

    /// Notes a failure at `now`; true if it makes `max` within the window.
    fn record(&mut self, now: Instant) -> bool {
        self.times.push_back(now);
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.times.pop_front();
        }
        self.times.len() >= self.max
    }
}

/// The last `lines` lines of the log at `path` (from its last 8 KiB), joined with ` | `.
fn tail(path: &Path, lines: usize) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(8192)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let last: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .rev()
                .take(lines)
                .collect();
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

#[cfg(test)]
#[path = "supervise_tests.rs"]
mod tests;
