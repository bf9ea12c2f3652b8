//! `pacer tui`: the operator's console. It shows the pipeline live from the control plane's snapshot stream
//! and steers it through the admin API, one call per key sequence.
//!
//! - [`app`]: the state and what each key does (no I/O);
//! - [`ui`]: drawing it (no I/O, no clock but the one given);
//! - [`client`] and [`feed`]: the admin API and the self-healing snapshot stream;
//! - [`terminal`]: raw mode, the alternate screen, restoring them, reading keys.
#![forbid(unsafe_code)]

pub mod action;
pub mod app;
pub mod client;
pub mod feed;
pub mod format;
pub mod forms;
pub mod history;
pub mod terminal;
pub mod ui;

pub use action::{Action, Mode, Target};
pub use app::{App, Connection, Outcome, Overlay};
pub use client::{Client, ClientError, ControlTarget};

use feed::Feed;
use ratatui::crossterm::event::{Event, KeyEventKind};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How the console runs.
#[derive(Debug, Clone)]
pub struct TuiConfig {
    /// The control plane.
    pub target: ControlTarget,
    /// How often the control plane sends a snapshot (at least 100 ms).
    pub refresh: Duration,
    /// Whether quitting asks first (when it stops more than the console, as under `pacer up`).
    pub confirm_quit: bool,
    /// Under `pacer up`: the state of the processes it supervises, for the header.
    pub stack: Option<tokio::sync::watch::Receiver<StackStatus>>,
}

/// The state of the processes `pacer up` supervises (the broker, the private PostgreSQL), as one line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackStatus {
    /// For example `postgres up, broker restarting (1 restarts)`.
    pub text: String,
    /// False while a child is down or being restarted.
    pub healthy: bool,
}

/// Why the console could not run.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The terminal could not be set up or drawn on.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// Something in the process panicked; the terminal was given back, and the console closed.
    #[error("a panic in the process (see the log); the console closed")]
    Panicked,
}

/// Runs the console until the operator quits or `stop` resolves, then gives the terminal back.
pub async fn run(
    config: TuiConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), TuiError> {
    let mut screen = terminal::Screen::enter()?;
    let (feed_tx, mut feed_rx) = mpsc::channel(16);
    // In a set, so that the stream task ends with the console however the console ends.
    let mut feed = tokio::task::JoinSet::new();
    feed.spawn(feed::run(config.target.clone(), config.refresh, feed_tx));
    let (key_tx, mut key_rx) = mpsc::channel(64);
    let reader = terminal::read_events(key_tx);
    let (result_tx, mut result_rx) = mpsc::channel(16);
    let mut app = App::new(config.target.url.clone(), config.target.token.is_some());
    app.confirm_quit = config.confirm_quit;
    let mut stack = config.stack.clone();
    if let Some(rx) = &stack {
        app.stack = Some(rx.borrow().clone());
    }
    // Once a second for the clocks on screen (uptime, the retry countdown); otherwise only on news.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(stop);
    let outcome = loop {
        if terminal::panicked() {
            break Err(TuiError::Panicked);
        }
        let size = screen.terminal.size()?;
        app.too_small = size.width < ui::MIN_WIDTH || size.height < ui::MIN_HEIGHT;
        screen
            .terminal
            .draw(|frame| ui::draw(frame, &app, Instant::now()))?;
        tokio::select! {
            () = &mut stop => break Ok(()),
            _ = tick.tick() => {}
            Some(status) = stack_changed(&mut stack) => app.stack = Some(status),
            Some(feed) = feed_rx.recv() => match feed {
                Feed::Snapshot(snapshot) => app.on_snapshot(*snapshot),
                Feed::Disconnected { error, retry_in } => {
                    app.on_disconnected(error, Instant::now() + retry_in)
                }
            },
            Some((action, result)) = result_rx.recv() => app.on_result(&action, result),
            event = key_rx.recv() => match event {
                Some(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                    match app.handle_key(key) {
                        Outcome::Nothing => {}
                        Outcome::Quit => break Ok(()),
                        Outcome::Call(action) => {
                            let (target, tx) = (config.target.clone(), result_tx.clone());
                            tokio::spawn(async move {
                                let result = execute(&target, &action).await;
                                let _ = tx.send((action, result)).await;
                            });
                        }
                    }
                }
                Some(_) => {}
                None => break Err(TuiError::Terminal(std::io::Error::other("the terminal closed"))),
            },
        }
    };
    feed.abort_all();
    drop(screen);
    // The reader stops within one poll; wait for it, so that it takes no key meant for what runs next.
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    outcome
}

/// The stack's next state, once it changes; never when there is no stack (or it is gone).
async fn stack_changed(
    stack: &mut Option<tokio::sync::watch::Receiver<StackStatus>>,
) -> Option<StackStatus> {
    if let Some(rx) = stack.as_mut()
        && rx.changed().await.is_ok()
    {
        return Some(rx.borrow_and_update().clone());
    }
    *stack = None;
    std::future::pending().await
}

/// Makes one admin call on a connection of its own, and says how it went.
async fn execute(target: &ControlTarget, action: &Action) -> Result<String, String> {
    let result = match Client::connect(target).await {
        Ok(mut client) => client.execute(action).await,
        Err(e) => Err(e),
    };
    match &result {
        Ok(text) => tracing::info!(%action, result = %text, "admin call"),
        Err(e) => tracing::warn!(%action, error = %e, "admin call failed"),
    }
    result.map_err(|e| format!("{action}: {e}"))
}
