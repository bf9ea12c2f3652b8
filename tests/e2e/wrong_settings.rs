//! A wrong setting, tried as a new user would: each gets one clear message that names what is wrong and
//! what to fix, said once, without a Rust `Debug` spelling, and without a retry loop on what cannot heal.

use pacer_stack::{PostgresOptions, PrivatePostgres};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private PostgreSQL (scram passwords) and its URL with the password replaced by a wrong one.
async fn postgres(dir: &tempfile::TempDir) -> PrivatePostgres {
    PrivatePostgres::start_or_reuse(&PostgresOptions {
        state_dir: dir.path().to_path_buf(),
        port: 0,
        database: "pacer".into(),
    })
    .await
    .expect("start the private PostgreSQL (scripts/setup.sh installs it)")
}

fn wrong_password(url: &str) -> String {
    // postgres://user:password@host:port/db
    let (head, rest) = url.split_once("://").expect("a URL");
    let (credentials, host) = rest.split_once('@').expect("credentials in the URL");
    let user = credentials.split(':').next().expect("a user");
    format!("{head}://{user}:wrong-password@{host}")
}

fn other_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a database in the URL");
    format!("{base}/{name}")
}

/// Runs `pacer args…` and waits for it to exit on its own, for at most `within`.
fn run_until_exit(args: &[&str], within: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(args)
        .env("PACER_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pacer");
    let pid = child.id();
    let began = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait for pacer"));
    while !waiter.is_finished() {
        if began.elapsed() > within {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            let out = waiter.join().expect("waiter");
            panic!(
                "pacer {args:?} was still running after {within:?} (a retry loop on what cannot heal?)\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    waiter.join().expect("waiter")
}

/// The last `error:` line pacer printed, checked for the things no message a person reads may have.
fn final_error(out: &Output) -> String {
    assert!(!out.status.success(), "pacer should have failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error:` line in:\n{stderr}"))
        .to_owned();
    for debug in [
        "PgDatabaseError",
        "{ ",
        "Some(",
        "WorkerId(",
        "Io(",
        "Database(",
    ] {
        assert!(
            !line.contains(debug),
            "a Debug spelling ({debug}) in: {line}"
        );
    }
    line
}

fn occurrences(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[tokio::test]
async fn control_with_a_wrong_password_stops_and_says_what_to_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = postgres(&dir).await;
    let url = wrong_password(&pg.url());
    let out = run_until_exit(
        &["control", "--database-url", &url, "--listen", "127.0.0.1:0"],
        Duration::from_secs(30),
    );
    let line = final_error(&out);
    assert!(line.contains("refused the password"), "{line}");
    assert!(line.contains("--database-url"), "{line}");
    assert_eq!(
        occurrences(&line, "password authentication failed"),
        1,
        "{line}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("retrying"),
        "a refused password was retried:\n{stderr}"
    );
}

#[tokio::test]
async fn control_with_a_missing_database_stops_and_says_what_to_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = postgres(&dir).await;
    let url = other_database(&pg.url(), "nosuch");
    let out = run_until_exit(
        &["control", "--database-url", &url, "--listen", "127.0.0.1:0"],
        Duration::from_secs(30),
    );
    let line = final_error(&out);
    assert!(line.contains("no such database"), "{line}");
    assert_eq!(occurrences(&line, "\"nosuch\""), 1, "{line}");
}

#[tokio::test]
async fn worker_with_a_wrong_password_or_a_missing_database_says_the_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = postgres(&dir).await;
    for (url, cause, fix) in [
        (
            wrong_password(&pg.url()),
            "password authentication failed",
            "refused the password",
        ),
        (
            other_database(&pg.url(), "nosuch"),
            "\"nosuch\" does not exist",
            "no such database",
        ),
    ] {
        // The broker is not needed: the worker sets up its tables before it consumes.
        let out = run_until_exit(
            &["worker", "--brokers", "127.0.0.1:9", "--database-url", &url],
            Duration::from_secs(30),
        );
        let line = final_error(&out);
        assert_eq!(occurrences(&line, cause), 1, "{line}");
        assert!(line.contains(fix), "{line}");
    }
}

#[tokio::test]
async fn an_unreachable_broker_is_logged_once_not_per_attempt() {
    // Port 9 (discard) on loopback: nothing listens, every connect is refused at once.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args([
            "ingest",
            "--brokers",
            "127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("PACER_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pacer ingest");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr)
        .expect("read stderr");
    let down = stderr
        .lines()
        .filter(|l| l.contains("every Kafka broker is unreachable"))
        .count();
    assert_eq!(down, 1, "the outage should be logged once:\n{stderr}");
    assert!(down_lines_name_the_brokers(&stderr), "{stderr}");
    let noisy = stderr
        .lines()
        .filter(|l| {
            l.contains("ERROR")
                || l.contains("AllBrokersDown")
                || l.contains("BrokerTransportFailure")
        })
        .count();
    assert_eq!(noisy, 0, "librdkafka's repeats reached the log:\n{stderr}");
}

fn down_lines_name_the_brokers(stderr: &str) -> bool {
    stderr
        .lines()
        .filter(|l| l.contains("every Kafka broker is unreachable"))
        .all(|l| l.contains("127.0.0.1:9"))
}
