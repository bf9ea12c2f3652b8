//! The real `pacer tui` binary in a real terminal (tmux), against a running stack: a `pacer control`
//! process, a `pacer worker` process attached to it and writing events. It must show the worker, keys typed
//! into it must change the worker's interval, it must notice a silent control plane and ride out its
//! restart, and it must give the terminal back as it found it.

use crate::common::{self, ADMIN_TOKEN, Stack, WORKER_TOKEN, eventually};
use std::process::Command;
use std::time::Duration;

/// A tmux server of the test's own, killed when dropped.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn start(width: u16, height: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("pacer-test-{}", std::process::id()),
        };
        let status = tmux
            .command()
            .args(["new-session", "-d", "-s", "console"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux must be installed (scripts/setup.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-t", "console"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Sends keys as tmux names them (`Down`, `Enter`) or as literal text with `-l`.
    pub(crate) fn keys(&self, keys: &[&str]) {
        let status = self
            .command()
            .args(["send-keys", "-t", "console"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(300));
    }

    fn text(&self, text: &str) {
        self.keys(&["-l", text]);
    }

    fn alive(&self) -> bool {
        self.command()
            .args(["has-session", "-t", "console"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub(crate) async fn wait_for_screen(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let what = format!("the console to show {what}");
        eventually(&what, Duration::from_secs(30), async || {
            let screen = self.screen();
            if check(&screen) {
                Ok(screen)
            } else {
                Err(format!("it shows:\n{screen}"))
            }
        })
        .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .command()
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_terminal_shows_the_worker_and_changes_its_interval() {
    let stack = Stack::start(2).await;
    let (mut control, addr) = stack.spawn_control_process(0, 500).await;
    let url = format!("http://{addr}");
    let mut worker = stack.spawn_worker_process_with(
        "tmux-w1",
        &["--control", &url, "--control-token", WORKER_TOKEN],
    );
    let producing = stack.produce_steadily(200);

    let log = stack.dir.path().join("tui.log");
    let stty = stack.dir.path().join("stty.txt");
    // After the console, the same terminal says what state it was left in.
    let command = format!(
        "{} tui --control {url} --admin-token {ADMIN_TOKEN} --log-file {}; stty -a > {}",
        env!("CARGO_BIN_EXE_pacer"),
        log.display(),
        stty.display()
    );
    let tmux = Tmux::start(120, 40, &command);

    // It shows the worker, attached, on the policy's 500 ms.
    let screen = tmux
        .wait_for_screen("the attached worker", |s| {
            s.lines()
                .any(|l| l.contains("tmux-w1") && l.contains("attached") && l.contains("500ms"))
        })
        .await;
    assert!(screen.contains("● connected"), "{screen}");
    assert!(screen.contains("policy static [enforce]"), "{screen}");

    // Select it, open the override form, type 250, Enter.
    tmux.keys(&["Down"]);
    tmux.keys(&["o"]);
    tmux.text("250");
    tmux.keys(&["Enter"]);
    common::wait_for_pipeline(&url, Duration::from_secs(20), "the worker on 250 ms", |s| {
        s.workers.iter().any(|w| {
            w.worker_id == "tmux-w1"
                && w.settings.is_some_and(|s| s.interval_ms == 250)
                && w.last_batch
                    .as_ref()
                    .is_some_and(|b| b.finished_at.is_some())
        })
    })
    .await;
    let screen = tmux
        .wait_for_screen("the new interval and the result", |s| {
            s.contains("done: override tmux-w1: interval 250ms")
                && s.lines().any(|l| {
                    l.contains("tmux-w1")
                        && l.contains("attached")
                        && l.contains("250ms")
                        && l.contains("override")
                })
        })
        .await;
    assert!(screen.contains("override 1 worker"), "{screen}");
    // The ingest figures come from the partitions the real worker reports: every event written was ingested,
    // and the partitions' ends moved.
    common::wait_for_pipeline(&url, Duration::from_secs(20), "ingest figures", |s| {
        s.totals.is_some_and(|t| {
            t.arrived > 0 && t.rows_written > 0 && t.events_ingested >= t.rows_written
        })
    })
    .await;

    // The control plane stops answering without closing anything (SIGSTOP): the console notices the silence.
    let pid = nix::unistd::Pid::from_raw(control.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    tmux.wait_for_screen("the silent control plane", |s| {
        s.contains("disconnected, retrying in")
    })
    .await;
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    tmux.wait_for_screen("the connection back after SIGCONT", |s| {
        s.contains("● connected")
    })
    .await;

    // The control plane goes away: the console says so, keeps the last data, and comes back by itself.
    control.kill().await.unwrap();
    let screen = tmux
        .wait_for_screen("the lost connection", |s| {
            s.contains("disconnected, retrying in")
        })
        .await;
    assert!(screen.contains("tmux-w1"), "{screen}");
    // Back on the same port: the console knows no other address.
    let (mut control, _) = stack.spawn_control_process(addr.port(), 500).await;
    tmux.wait_for_screen("the connection back and the worker re-attached", |s| {
        s.contains("● connected")
            && s.lines()
                .any(|l| l.contains("tmux-w1") && l.contains("attached"))
    })
    .await;

    // q quits and gives the terminal back; the console logged to its file, not to the screen.
    tmux.keys(&["q"]);
    let quit = common::poll(Duration::from_secs(10), async || {
        if tmux.alive() { Err(()) } else { Ok(()) }
    })
    .await;
    assert!(quit.is_ok(), "the console did not quit on q");
    // The terminal was given back as it was: canonical mode and echo on.
    let modes = std::fs::read_to_string(&stty).expect("stty ran after the console");
    let words: Vec<&str> = modes.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "{modes}"
    );
    // The console logged its calls to its file.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("admin call"), "{logged}");

    producing.stop().await;
    worker.kill().await.unwrap();
    control.kill().await.unwrap();
}
