use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use tokio::sync::mpsc;

/// A child that exits when told to, and whose restarts succeed or fail as told.
struct Fake {
    exits: mpsc::Receiver<()>,
    restart_ok: Arc<AtomicBool>,
    restarts: Arc<AtomicU32>,
    log: PathBuf,
}

impl Child for Fake {
    const NAME: &'static str = "fake";

    fn log_file(&self) -> PathBuf {
        self.log.clone()
    }

    async fn exited(&mut self) -> String {
        match self.exits.recv().await {
            Some(()) => "signal: 9 (SIGKILL)".into(),
            None => std::future::pending().await,
        }
    }

    async fn restart(&mut self) -> Result<(), StackError> {
        self.restarts.fetch_add(1, Ordering::SeqCst);
        if self.restart_ok.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(StackError::Failed {
                what: "starting the fake".into(),
                detail: "port taken".into(),
            })
        }
    }
}

struct Harness {
    exit: mpsc::Sender<()>,
    restart_ok: Arc<AtomicBool>,
    restarts: Arc<AtomicU32>,
    supervised: Supervised<Fake>,
    metrics: StackMetrics,
}

fn quick() -> RestartPolicy {
    RestartPolicy {
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(40),
        max_failures: 3,
        window: Duration::from_secs(60),
    }
}

fn harness(policy: RestartPolicy, restart_ok: bool) -> Harness {
    let (exit, exits) = mpsc::channel(4);
    let restart_ok = Arc::new(AtomicBool::new(restart_ok));
    let restarts = Arc::new(AtomicU32::new(0));
    let metrics = StackMetrics::new();
    let fake = Fake {
        exits,
        restart_ok: restart_ok.clone(),
        restarts: restarts.clone(),
        log: PathBuf::from("/nonexistent/fake.log"),
    };
    Harness {
        exit,
        restart_ok,
        restarts,
        supervised: Supervised::start(fake, policy, &metrics),
        metrics,
    }
}

async fn wait_for(health: &mut watch::Receiver<Health>, f: impl Fn(&Health) -> bool) -> Health {
    tokio::time::timeout(Duration::from_secs(5), health.wait_for(|h| f(h)))
        .await
        .expect("in time")
        .expect("the supervisor runs")
        .clone()
}

#[test]
fn failures_give_up_only_when_enough_fall_within_the_window() {
    let start = Instant::now();
    let mut failures = Failures::new(3, Duration::from_secs(60));
    assert!(!failures.record(start));
    assert!(!failures.record(start + Duration::from_secs(61)));
    assert!(!failures.record(start + Duration::from_secs(62)));
    // The first fell out of the window; these three are within it.
    assert!(failures.record(start + Duration::from_secs(63)));
}

#[tokio::test]
async fn a_child_that_exits_is_restarted_and_counted() {
    let h = harness(quick(), true);
    let mut health = h.supervised.health();
    for round in 1..=2u64 {
        h.exit.send(()).await.unwrap();
        let now = wait_for(&mut health, |x| {
            x.restarts == round && x.state == ChildState::Running
        })
        .await;
        assert_eq!(now.to_string(), format!("fake up ({round} restarts)"));
    }
    assert_eq!(h.restarts.load(Ordering::SeqCst), 2);
    let counted = h.metrics.restarts.with_label_values(&["fake"]).get();
    assert_eq!(counted, 2);
    assert_eq!(h.metrics.up.with_label_values(&["fake"]).get(), 1);
    h.supervised.stop().await.unwrap();
}

#[tokio::test]
async fn a_child_that_cannot_start_again_is_given_up_on_with_its_log() {
    let h = harness(quick(), false);
    h.exit.send(()).await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(5), h.supervised.gave_up())
        .await
        .expect("gives up in time");
    let message = error.to_string();
    assert!(
        message.contains("fake") && message.contains("/nonexistent/fake.log"),
        "{message}"
    );
    // One exit and two failed restarts make the three failures.
    assert_eq!(h.restarts.load(Ordering::SeqCst), 2);
    assert_eq!(h.metrics.up.with_label_values(&["fake"]).get(), 0);
    assert_eq!(h.supervised.health().borrow().state, ChildState::GaveUp);
    h.supervised.stop().await.unwrap();
}

#[tokio::test]
async fn a_stop_during_the_back_off_ends_the_supervision_at_once() {
    let policy = RestartPolicy {
        backoff_base: Duration::from_secs(60),
        backoff_cap: Duration::from_secs(60),
        ..quick()
    };
    let h = harness(policy, true);
    let mut health = h.supervised.health();
    h.exit.send(()).await.unwrap();
    wait_for(&mut health, |x| x.state == ChildState::Restarting).await;
    let stopped = tokio::time::timeout(Duration::from_secs(2), h.supervised.stop()).await;
    assert!(stopped.expect("stops at once").is_ok());
    assert_eq!(h.restarts.load(Ordering::SeqCst), 0);
    h.restart_ok.store(false, Ordering::SeqCst);
}

#[test]
fn the_tail_of_a_log_is_its_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("child.log");
    let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&path, text).unwrap();
    assert_eq!(tail(&path, 3), "line 18 | line 19 | line 20");
    assert!(tail(&dir.path().join("missing.log"), 3).starts_with("(cannot read the log"));
}
