//! `pacer up` keeps what it started running: a broker or a PostgreSQL killed under load is restarted and the
//! pipeline resumes with nothing lost; a child that fails on every start makes it stop, naming the child and
//! its log; and Ctrl-C during a restart's back-off stops everything cleanly.

use crate::common::ledger::{Load, reckon, refuse_poison};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `pacer up --no-console` as a process, on a state directory of its own.
struct Up {
    child: Child,
    state: tempfile::TempDir,
    stderr: PathBuf,
    ingest: String,
    database_url: String,
    kafka_port: u16,
}

impl Up {
    fn start() -> Up {
        let state = tempfile::Builder::new()
            .prefix("pacer-up-supervise-")
            .tempdir()
            .unwrap();
        let stderr = state.path().join("up.stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pacer"))
            .args([
                "up",
                "--no-console",
                "--http-port",
                "0",
                "--interval",
                "100ms",
            ])
            .arg("--state-dir")
            .arg(state.path())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        // The banner names ingest, the broker and the database.
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (mut ingest, mut database_url, mut kafka) = (None, None, None);
        for line in stdout.lines() {
            let line = line.unwrap();
            let value = line.split_whitespace().nth(1).map(str::to_owned);
            match line.split_whitespace().next() {
                Some("ingest") => {
                    ingest = value.map(|v| v.trim_end_matches("/v1/events").to_owned())
                }
                Some("postgres") => database_url = value,
                Some("kafka") => kafka = value,
                _ => {}
            }
            if line.contains("Ctrl-C stops everything") {
                break;
            }
        }
        let log = std::fs::read_to_string(&stderr).unwrap_or_default();
        let kafka_port = kafka
            .and_then(|k| k.rsplit(':').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no banner from pacer up:\n{log}"));
        Up {
            child,
            state,
            stderr,
            ingest: ingest.unwrap(),
            database_url: database_url.unwrap(),
            kafka_port,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn pid_file(&self) -> PathBuf {
        self.state.path().join("postgres/data/postmaster.pid")
    }

    fn postmaster(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.pid_file()).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// The pid of the nisshi broker `pacer up` runs as its child.
    fn broker(&self) -> Option<i32> {
        let parent = u64::from(self.child.id());
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = pacer_stack::process::Stat::read(pid)?;
                let ours = stat.comm == "nisshi" && stat.running() && stat.field(4) == parent;
                ours.then(|| i32::try_from(pid).ok())?
            })
    }

    async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await
            .unwrap()
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit, at most `within`.
    fn interrupt(&mut self, within: Duration) -> (std::process::ExitStatus, String) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT).unwrap();
        let status = self.wait(within);
        (status, self.log())
    }

    fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("pacer up did not stop within {within:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A test that fails still stops its `pacer up` (and so its broker and PostgreSQL) before its state
/// directory goes.
impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn kill_9(pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
}

async fn rows(pool: &sqlx::PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
}

/// Waits until the pipeline has written `more` rows beyond `from`.
async fn writes_again(pool: &sqlx::PgPool, from: i64, more: i64, what: &str) -> i64 {
    crate::common::eventually(what, Duration::from_secs(120), async || {
        match rows(pool).await {
            Ok(n) if n >= from + more => Ok(n),
            Ok(n) => Err(format!("{n} rows")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Waits until `pid` names the restarted child's process.
async fn restarted(what: &str, pid: impl Fn() -> Option<i32>) -> i32 {
    let what = format!("{what} restarted by pacer up");
    crate::common::eventually(&what, Duration::from_secs(60), async || {
        pid().ok_or("not yet")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_broker_and_a_killed_postgres_are_restarted_and_nothing_is_lost() {
    let mut up = Up::start();
    let pool = up.pool().await;
    crate::common::eventually("the events table", Duration::from_secs(60), async || {
        rows(&pool).await.map_err(|e| e.to_string())
    })
    .await;
    refuse_poison(&pool).await;
    let load = Load::start(format!("{}/v1/events", up.ingest), 400.0, 40);
    writes_again(&pool, 0, 400, "the first rows").await;

    let broker = up.broker().expect("the broker runs as pacer up's child");
    kill_9(broker);
    let new_broker = restarted("the broker", || up.broker().filter(|pid| *pid != broker)).await;
    let now = writes_again(&pool, 0, 0, "PostgreSQL answering").await;
    let after_broker = writes_again(&pool, now, 400, "rows after the broker's restart").await;

    let postmaster = up.postmaster().expect("the postmaster's pid");
    kill_9(postmaster);
    restarted("PostgreSQL", || {
        up.postmaster().filter(|pid| *pid != postmaster)
    })
    .await;
    let now = writes_again(&pool, after_broker, 0, "PostgreSQL answering again").await;
    writes_again(&pool, now, 400, "rows after PostgreSQL's restart").await;
    assert_eq!(
        up.broker(),
        Some(new_broker),
        "the broker lived through PostgreSQL's restart"
    );

    let sent = load.stop().await;
    let tally = reckon(
        "pacer up: broker and postmaster killed",
        &pool,
        &sent,
        Duration::from_secs(150),
    )
    .await;
    assert!(tally.written > 0 && tally.dead_lettered > 0, "{tally:?}");

    // The restarts are counted, and the log told of each exit once.
    let metrics = reqwest::get(format!("{}/metrics", up.ingest))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for child in ["broker", "postgres"] {
        let restarts: f64 = metrics
            .lines()
            .find(|l| l.starts_with(&format!("pacer_stack_restarts_total{{child=\"{child}\"}}")))
            .and_then(|l| l.split_whitespace().last()?.parse().ok())
            .unwrap_or_else(|| panic!("no restart count for {child}:\n{metrics}"));
        assert!(restarts >= 1.0, "{child}: {restarts}");
        let exits = up
            .log()
            .lines()
            .filter(|l| {
                l.contains("a child of pacer up exited")
                    && l.contains(&format!("child=\"{child}\""))
            })
            .count();
        assert_eq!(exits, 1, "{child}:\n{}", up.log());
    }
    let log = up.log();
    assert!(log.contains("signal: 9 (SIGKILL)"), "{log}");
    assert!(
        log.contains(&format!("the postmaster (pid {postmaster}) is gone")),
        "{log}"
    );

    let (status, log) = up.interrupt(Duration::from_secs(90));
    assert!(status.success(), "{status}:\n{log}");
    assert_stopped_postgres(up.state.path(), &log);
}

/// Kills the broker and holds its port, so that every restart fails at once.
fn kill_broker_and_take_its_port(up: &Up) -> std::net::TcpListener {
    kill_9(up.broker().expect("the broker runs as pacer up's child"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpListener::bind(("127.0.0.1", up.kafka_port)) {
            Ok(listener) => return listener,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("cannot take the broker's port {}: {e}", up.kafka_port),
        }
    }
}

fn assert_stopped_postgres(state: &Path, log: &str) {
    assert!(log.contains("private PostgreSQL stopped"), "{log}");
    assert!(
        !state.join("postgres/data/postmaster.pid").exists(),
        "{log}"
    );
}

#[test]
fn a_child_that_fails_on_every_start_makes_pacer_up_stop_and_name_it() {
    let mut up = Up::start();
    let _port = kill_broker_and_take_its_port(&up);
    let status = up.wait(Duration::from_secs(120));
    let log = up.log();
    assert!(!status.success(), "{log}");
    assert!(log.contains("the broker kept failing"), "{log}");
    let broker_log = up.state.path().join("nisshi.log");
    assert!(log.contains(&broker_log.display().to_string()), "{log}");
    assert!(log.contains("is already in use"), "{log}");
    assert_stopped_postgres(up.state.path(), &log);
}

#[test]
fn ctrl_c_during_a_restart_back_off_stops_everything_cleanly() {
    let mut up = Up::start();
    let _port = kill_broker_and_take_its_port(&up);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !up.log().contains("restarting the child failed") {
        assert!(
            Instant::now() < deadline,
            "no failed restart:\n{}",
            up.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, log) = up.interrupt(Duration::from_secs(60));
    assert!(status.success(), "{status}:\n{log}");
    assert!(!log.contains("kept failing"), "{log}");
    assert_stopped_postgres(up.state.path(), &log);
}
