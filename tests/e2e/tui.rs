//! The console's keys against a real control plane in-process on 127.0.0.1:0 (with its real PostgreSQL):
//! each key sequence makes exactly the admin call it should, the call goes through the real client with the
//! admin token, and its effect is seen in the control plane and at a (simulated) worker.

use crate::common::{self, ADMIN_TOKEN, SimWorker, Stack};
use pacer_proto::v1 as pb;
use pacer_tui::{Action, App, Client, ControlTarget, Mode, Outcome, Target};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::time::Duration;

/// The console without a terminal: its state, and the client its calls go through.
struct Console {
    app: App,
    client: Client,
}

impl Console {
    async fn open(url: &str, token: Option<&str>) -> Console {
        let target = ControlTarget {
            url: url.into(),
            token: token.map(str::to_owned),
            ca: None,
        };
        let client = Client::connect(&target).await.expect("connect");
        let mut console = Console {
            app: App::new(url, token.is_some()),
            client,
        };
        console.refresh().await;
        console
    }

    /// Takes a fresh snapshot, as the stream would deliver it.
    async fn refresh(&mut self) {
        let snapshot = self.client.pipeline().await.expect("snapshot");
        self.app.on_snapshot(snapshot);
    }

    /// Presses the keys in order; every call they make is sent to the control plane, answered into the
    /// status line, and returned.
    async fn press(&mut self, keys: &[KeyCode]) -> Vec<Action> {
        let mut calls = Vec::new();
        for &code in keys {
            match self.app.handle_key(KeyEvent::new(code, KeyModifiers::NONE)) {
                Outcome::Nothing => {}
                Outcome::Quit => panic!("{code:?} quit the console"),
                Outcome::Call(action) => {
                    let result = self
                        .client
                        .execute(&action)
                        .await
                        .map_err(|e| e.to_string());
                    self.app.on_result(&action, result);
                    calls.push(action);
                }
            }
        }
        calls
    }

    fn status(&self) -> String {
        self.app
            .status
            .as_ref()
            .map(|s| format!("{}{}", if s.error { "error: " } else { "" }, s.text))
            .unwrap_or_default()
    }
}

fn typed(text: &str) -> Vec<KeyCode> {
    text.chars().map(KeyCode::Char).collect()
}

fn keys(parts: &[&[KeyCode]]) -> Vec<KeyCode> {
    parts.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_set_and_clear_an_override_on_the_selected_worker() {
    let stack = Stack::start(2).await;
    let control = stack.start_control(stack.control_config(500.0)).await;
    let url = control.url();
    let worker = SimWorker::attach(&url, "sim-a", &[0, 1]).await;
    let mut console = Console::open(&url, Some(ADMIN_TOKEN)).await;

    // Down to the worker, o, 250 in the interval, 4000 in max rows, 10m in the expiry, Enter.
    let calls = console
        .press(&keys(&[
            &[KeyCode::Down, KeyCode::Char('o')],
            &typed("250"),
            &[KeyCode::Tab],
            &typed("4000"),
            &[KeyCode::Tab],
            &typed("10m"),
            &[KeyCode::Enter],
        ]))
        .await;
    assert_eq!(
        calls,
        vec![Action::SetOverride {
            target: Target::Worker("sim-a".into()),
            interval_ms: Some(250),
            max_rows: Some(4000),
            ttl: Some(Duration::from_secs(600)),
        }]
    );
    assert!(
        console.status().starts_with("done: override sim-a"),
        "{}",
        console.status()
    );
    let pushed = worker
        .wait_for("the override's settings", |m| {
            matches!(m, pb::attach_response::Message::Settings(u)
                if u.settings.is_some_and(|s| s.interval_ms == 250 && s.max_rows == 4000))
        })
        .await;
    let pb::attach_response::Message::Settings(update) = pushed else {
        unreachable!()
    };
    assert_eq!(update.source(), pb::SettingsSource::Override);
    let overrides = common::pipeline(&url).await.overrides;
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0].worker_id, "sim-a");
    let expires = overrides[0].expires_at.unwrap().seconds - overrides[0].set_at.unwrap().seconds;
    assert!((599..=601).contains(&expires), "expires after {expires}s");

    // c clears it: one worker, so no confirmation.
    console.refresh().await;
    let calls = console.press(&[KeyCode::Char('c')]).await;
    assert_eq!(
        calls,
        vec![Action::ClearOverride {
            target: Target::Worker("sim-a".into())
        }]
    );
    assert!(
        console.status().contains("the policy decides again"),
        "{}",
        console.status()
    );
    assert!(common::pipeline(&url).await.overrides.is_empty());
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_every_worker_wait_for_a_yes() {
    let stack = Stack::start(2).await;
    let control = stack.start_control(stack.control_config(500.0)).await;
    let url = control.url();
    let worker = SimWorker::attach(&url, "sim-a", &[0, 1]).await;
    let mut console = Console::open(&url, Some(ADMIN_TOKEN)).await;

    // The "every worker" row is selected at first: an override there asks first; n cancels.
    let form = keys(&[&[KeyCode::Char('o')], &typed("100"), &[KeyCode::Enter]]);
    assert!(console.press(&form).await.is_empty());
    assert!(matches!(
        console.app.overlay,
        pacer_tui::Overlay::Confirm(_)
    ));
    assert!(console.press(&[KeyCode::Char('n')]).await.is_empty());
    assert!(console.status().starts_with("cancelled"));
    assert!(common::pipeline(&url).await.overrides.is_empty());

    // y sends it.
    console.press(&form).await;
    let calls = console.press(&[KeyCode::Char('y')]).await;
    assert_eq!(
        calls,
        vec![Action::SetOverride {
            target: Target::All,
            interval_ms: Some(100),
            max_rows: None,
            ttl: None,
        }]
    );
    let overrides = common::pipeline(&url).await.overrides;
    assert_eq!(overrides.len(), 1);
    assert_eq!(
        (overrides[0].worker_id.as_str(), overrides[0].interval_ms),
        ("", 100)
    );
    worker
        .wait_for("the override for every worker", |m| {
            matches!(m, pb::attach_response::Message::Settings(u)
                if u.settings.is_some_and(|s| s.interval_ms == 100))
        })
        .await;

    // Pausing every worker asks too, and Enter (which sends forms) is no yes.
    assert!(console.press(&[KeyCode::Char('p')]).await.is_empty());
    assert!(console.press(&[KeyCode::Enter]).await.is_empty());
    let calls = console.press(&[KeyCode::Char('y')]).await;
    assert_eq!(calls, vec![Action::Pause(Target::All)]);
    assert_eq!(console.status(), "told to pause: sim-a");
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_reach_the_selected_worker_only() {
    let stack = Stack::start(2).await;
    let control = stack.start_control(stack.control_config(500.0)).await;
    let url = control.url();
    let a = SimWorker::attach(&url, "sim-a", &[0]).await;
    let b = SimWorker::attach(&url, "sim-b", &[1]).await;
    let mut console = Console::open(&url, Some(ADMIN_TOKEN)).await;

    // Sorted by id: row 1 is sim-a, row 2 sim-b.
    let calls = console
        .press(&[KeyCode::Down, KeyCode::Down, KeyCode::Char('p')])
        .await;
    assert_eq!(calls, vec![Action::Pause(Target::Worker("sim-b".into()))]);
    b.wait_for("a pause", |m| {
        matches!(m, pb::attach_response::Message::Pause(_))
    })
    .await;
    common::wait_for_pipeline(&url, Duration::from_secs(10), "sim-b paused", |s| {
        s.workers.iter().any(|w| w.worker_id == "sim-b" && w.paused)
    })
    .await;
    let calls = console.press(&[KeyCode::Char('r')]).await;
    assert_eq!(calls, vec![Action::Resume(Target::Worker("sim-b".into()))]);
    b.wait_for("a resume", |m| {
        matches!(m, pb::attach_response::Message::Resume(_))
    })
    .await;
    // sim-a was never told anything of the kind.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let told: Vec<_> = a
        .received()
        .into_iter()
        .filter(|m| {
            matches!(
                m,
                pb::attach_response::Message::Pause(_) | pb::attach_response::Message::Resume(_)
            )
        })
        .collect();
    assert!(told.is_empty(), "sim-a was told {told:?}");
    let snapshot = common::pipeline(&url).await;
    let sim_a = snapshot
        .workers
        .iter()
        .find(|w| w.worker_id == "sim-a")
        .unwrap();
    assert!(!sim_a.paused);
    drop(a);
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_and_policy_switch_after_a_yes_and_bad_parameters_are_refused() {
    let stack = Stack::start(2).await;
    let control = stack.start_control(stack.control_config(500.0)).await;
    let url = control.url();
    let mut console = Console::open(&url, Some(ADMIN_TOKEN)).await;

    // m then y: advise.
    assert!(console.press(&[KeyCode::Char('m')]).await.is_empty());
    let calls = console.press(&[KeyCode::Char('y')]).await;
    assert_eq!(calls, vec![Action::SetMode(Mode::Advise)]);
    let policy = common::pipeline(&url).await.policy.unwrap();
    assert_eq!(policy.mode(), pb::Mode::Advise);

    // P starts at the running policy (static); → → is aimd; rho=0.7; Enter; y.
    let form = keys(&[
        &[KeyCode::Char('P'), KeyCode::Right, KeyCode::Right],
        &typed("rho=0.7"),
        &[KeyCode::Enter],
    ]);
    assert!(console.press(&form).await.is_empty());
    let calls = console.press(&[KeyCode::Char('y')]).await;
    assert_eq!(
        calls,
        vec![Action::SetPolicy {
            name: "aimd".into(),
            params: BTreeMap::from([("rho".into(), 0.7)]),
        }]
    );
    assert!(
        console.status().starts_with("policy now aimd"),
        "{}",
        console.status()
    );
    let policy = common::pipeline(&url).await.policy.unwrap();
    assert_eq!(policy.name, "aimd");
    assert_eq!(policy.params.get("rho"), Some(&0.7));

    // A parameter the policy does not have: the server's error in the status line, nothing changed.
    console.refresh().await;
    let form = keys(&[
        &[KeyCode::Char('P')],
        &[KeyCode::Backspace; 20],
        &typed("nonsense=1"),
        &[KeyCode::Enter, KeyCode::Char('y')],
    ]);
    let calls = console.press(&form).await;
    assert_eq!(calls.len(), 1);
    let status = console.status();
    assert!(
        status.starts_with("error: ") && status.contains("nonsense"),
        "{status}"
    );
    assert_eq!(common::pipeline(&url).await.policy.unwrap().name, "aimd");
    control.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_admin_token_changes_are_refused_and_change_nothing() {
    let stack = Stack::start(2).await;
    let control = stack.start_control(stack.control_config(500.0)).await;
    let url = control.url();
    let _worker = SimWorker::attach(&url, "sim-a", &[0]).await;
    for token in [None, Some("not-the-token")] {
        let mut console = Console::open(&url, token).await;
        let calls = console
            .press(&[KeyCode::Char('m'), KeyCode::Char('y')])
            .await;
        assert_eq!(calls, vec![Action::SetMode(Mode::Advise)]);
        let status = console.status();
        assert!(
            status.starts_with("error: ") && status.contains("refused"),
            "{status}"
        );
        let calls = console.press(&[KeyCode::Down, KeyCode::Char('p')]).await;
        assert_eq!(calls, vec![Action::Pause(Target::Worker("sim-a".into()))]);
        assert!(console.status().contains("refused"), "{}", console.status());
    }
    let snapshot = common::pipeline(&url).await;
    assert_eq!(snapshot.policy.unwrap().mode(), pb::Mode::Enforce);
    assert!(snapshot.workers.iter().all(|w| !w.paused));
    control.stop().await;
}
